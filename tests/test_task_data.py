"""Label readers, format detection, merging, datasets, batching and splits, on real slices."""
import json

import numpy as np
import pytest

from seqvec.classifiers.labels.files import attach_by_sequence, detect_format, read_label_file, read_labels
from seqvec.classifiers.labels.readers import READERS, LabelFormatError
from seqvec.classifiers.labels.tasks import IGNORE, LABEL_FORMATS, TASKS, get_tasks
from seqvec.classifiers.labels.userlabels import USER_FORMATS
from seqvec.classifiers.training.data import Example, TaskDataset, batch_indices, build_dataset, split_ids
from seqvec.errors import SeqVecError


@pytest.fixture(scope="module")
def tasks_dir(data_dir):
    return data_dir / "tasks"


@pytest.mark.parametrize("name, fmt", [
    ("deeploc_pool_small.fasta", "deeploc"), ("deeploc_test_small.fasta", "deeploc"),
    ("deeploc_numeric_small.fasta", "deeploc-numeric"), ("deeploc_labels_q2_small.json", "deeploc-json"),
    ("CB513_small.csv", "netsurfp-csv"), ("flip_small", "flip"), ("flip_small/mask.fasta", "flip"),
    ("tape_small.csv", "tape-csv"), ("CheZOD_small_CheZOD_scores.txt", "chezod"),
    ("CheZOD_small_sequences.fasta", "chezod")])
def test_detect_format(tasks_dir, name, fmt):
    assert detect_format(tasks_dir / name) == fmt


def test_every_label_format_has_a_reader():
    assert set(READERS) | set(USER_FORMATS) == set(LABEL_FORMATS)


def test_detect_format_rejects_unlabelled_fasta(data_dir):
    with pytest.raises(LabelFormatError, match="without labels"):
        detect_format(data_dir / "test.fasta")
    with pytest.raises(LabelFormatError, match="does not exist"):
        detect_format(data_dir / "nope.fasta")


def test_deeploc_headers(tasks_dir):
    path = tasks_dir / "deeploc_pool_small.fasta"
    labels = read_label_file(path)
    headers = [line[1:].split() for line in path.read_text().splitlines() if line.startswith(">")]
    assert len(labels.sequences) == len(headers) == 42
    loc, mem = labels.labels["localization"], labels.labels["membrane"]
    for rid, token in headers:
        location, membrane = token.rsplit("-", 1)
        if location == "Cytoplasm-Nucleus":  # the dual label: no location class
            assert rid not in loc
        else:
            assert TASKS["localization"].classes[loc[rid]] == location
        if membrane == "U":  # unknown: no membrane label
            assert rid not in mem
        else:
            assert TASKS["membrane"].classes[mem[rid]] == {"M": "membrane", "S": "soluble"}[membrane]
    assert len(loc) == 40 and len(mem) == 31
    test = read_label_file(tasks_dir / "deeploc_test_small.fasta")
    assert set(test.partition.values()) == {"test"} and len(test.partition) == 12


def test_deeploc_numeric_and_json_merge(tasks_dir):
    merged = read_labels([tasks_dir / "deeploc_numeric_small.fasta", tasks_dir / "deeploc_labels_q2_small.json"])
    assert len(merged.sequences) == 8  # the JSON adds labels, not proteins (Q9H400 is not added)
    assert "Q9H400" not in merged.labels["membrane"]
    assert TASKS["localization"].classes[merged.labels["localization"]["Q9FJ17"]] == "Nucleus"  # code 6
    assert "Q9FJ17" not in merged.labels["membrane"]  # U
    assert TASKS["membrane"].classes[merged.labels["membrane"]["Q9LSD8"]] == "membrane"
    # the pool: a record in both FASTA files merges into one (same sequence and label)
    pool = read_labels([tasks_dir / "deeploc_pool_small.fasta", tasks_dir / "deeploc_numeric_small.fasta"])
    assert len(pool.sequences) == 42 + 7


def test_conflicting_labels_raise(tasks_dir, tmp_path):
    bad = tmp_path / "bad.json"
    first = next(iter(json.loads((tasks_dir / "deeploc_labels_q2_small.json").read_text())))
    bad.write_text(json.dumps({first: "S"}))  # Q9LSD8 is M in the other file
    with pytest.raises(LabelFormatError, match="conflicting membrane"):
        read_labels([tasks_dir / "deeploc_numeric_small.fasta", tasks_dir / "deeploc_labels_q2_small.json", bad])


def test_cb513_masks(tasks_dir):
    labels = read_label_file(tasks_dir / "CB513_small.csv")
    assert len(labels.sequences) == 20 and "CB513_small_1" in labels.sequences
    import csv
    rows = list(csv.reader(open(tasks_dir / "CB513_small.csv"), skipinitialspace=True))[1:]
    for n, row in enumerate(rows, start=1):
        rid = f"CB513_small_{n}"
        resolved = np.array(row[3].split(), dtype=float) == 1.0
        cb_mask = np.array(row[4].split(), dtype=float) == 1.0
        ss3, ss8, dis = (labels.labels[t][rid] for t in ("ss3", "ss8", "disorder"))
        assert len(ss3) == len(labels.sequences[rid]) == len(row[0].split())
        np.testing.assert_array_equal(ss3 != IGNORE, resolved & cb_mask)
        np.testing.assert_array_equal(ss8 != IGNORE, resolved & cb_mask)
        np.testing.assert_array_equal(dis, (~resolved).astype(int))  # every residue has a disorder label
        letters = np.array(row[1].split())
        np.testing.assert_array_equal(np.array(TASKS["ss3"].classes)[ss3[ss3 != IGNORE]], letters[ss3 != IGNORE])
    assert sum(int(d.sum()) for d in labels.labels["disorder"].values()) > 0


def test_flip_and_tape(tasks_dir):
    flip = read_label_file(tasks_dir / "flip_small")
    assert len(flip.sequences) == 15
    assert sorted(set(flip.partition.values())) == ["train", "validation"]
    assert sum(p == "validation" for p in flip.partition.values()) == 4
    for rid, ss3 in flip.labels["ss3"].items():
        np.testing.assert_array_equal(ss3 == IGNORE, flip.labels["disorder"][rid] == 1)
    tape = read_label_file(tasks_dir / "tape_small.csv")
    assert len(tape.sequences) == 8 and set(tape.labels) == {"ss3", "ss8"}
    assert all((v != IGNORE).all() for v in tape.labels["ss8"].values())
    merged = attach_by_sequence(flip, tape)
    assert len(merged.sequences) == 15 + 5  # 3 TAPE rows join FLIP records by sequence
    assert len(merged.labels["ss8"]) == 8
    joined = [rid for rid in merged.labels["ss8"] if rid in flip.sequences]
    assert len(joined) == 3
    for rid in joined:  # the FLIP mask now also hides the unresolved residues' 8-state labels
        unresolved = flip.labels["disorder"][rid] == 1
        assert (merged.labels["ss8"][rid][unresolved] == IGNORE).all()
        np.testing.assert_array_equal(merged.labels["ss3"][rid], flip.labels["ss3"][rid])  # FLIP's kept


def test_chezod(tasks_dir):
    labels = read_label_file(tasks_dir / "CheZOD_small_sequences.fasta")
    assert len(labels.sequences) == 6
    line = (tasks_dir / "CheZOD_small_CheZOD_scores.txt").read_text().splitlines()[0]
    rid, _, values = line.partition(":")
    z = np.array([float(v) for v in values.split(",")])
    got = labels.labels["disorder"][rid]
    np.testing.assert_array_equal(got[z == 999], IGNORE)
    np.testing.assert_array_equal(got[z != 999], (z[z != 999] < 8).astype(int))
    assert len(got) == len(labels.sequences[rid])


def test_get_tasks():
    assert list(get_tasks("ss3, ss8")) == ["ss3", "ss8"]
    with pytest.raises(SeqVecError, match="unknown task"):
        get_tasks("ss9")
    with pytest.raises(SeqVecError, match="mix per-protein and per-residue"):
        get_tasks("ss3,localization")


def test_split_is_seeded_stratified_and_order_free():
    ids = [f"p{i}" for i in range(200)]
    strata = {i: int(i[1:]) % 4 for i in ids}
    train, val = split_ids(ids, strata, 0.1, seed=3)
    assert len(val) == 20 and not set(train) & set(val) and len(train) + len(val) == 200
    assert sorted(strata[i] for i in val) == sorted([0, 1, 2, 3] * 5)  # 10% of each class
    again = split_ids(list(reversed(ids)), strata, 0.1, seed=3)
    assert set(again[1]) == set(val)
    assert set(split_ids(ids, strata, 0.1, seed=4)[1]) != set(val)


def test_batches_cover_everything_within_budget():
    lengths = [5, 50, 7, 300, 20, 20, 1, 90, 64]
    for shuffle in (False, True):
        batches = batch_indices(lengths, 3, max_residues=200, shuffle=shuffle, rng=np.random.default_rng(0))
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for b in batches:
            assert 2 <= len(b) <= 3
            assert len(b) == 2 or len(b) * max(lengths[i] for i in b) <= 200


def test_collate_pads_and_masks():
    tasks = get_tasks("ss3")
    ds = TaskDataset([Example("a", np.ones((3, 4)), {"ss3": np.array([0, IGNORE, 2])}),
                      Example("b", np.ones((5, 4)), {"ss3": np.array([1, 1, 1, 1, 1])})], tasks, "residue")
    batch = ds.collate([0, 1])
    assert batch.x.shape == (2, 5, 4) and batch.x.dtype.is_floating_point
    assert batch.mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch.targets["ss3"].tolist() == [[0, IGNORE, 2, IGNORE, IGNORE], [1] * 5]
    assert float(batch.x[0, 3:].abs().sum()) == 0.0


def test_build_dataset_checks_lengths_and_presence(tasks_dir):
    labels = read_label_file(tasks_dir / "CB513_small.csv")
    arrays = {rid: np.zeros((len(s), 3), np.float32) for rid, s in labels.sequences.items()}
    ds = build_dataset(labels, arrays, get_tasks("ss3,disorder"), "residue")
    assert len(ds) == 20 and ds.input_dim == 3
    arrays["CB513_small_2"] = np.zeros((4, 3), np.float32)
    with pytest.raises(SeqVecError, match="CB513_small_2"):
        build_dataset(labels, arrays, get_tasks("ss3"), "residue")
    del arrays["CB513_small_2"]
    # one of 20 (5%) without an embedding is left out with a warning naming it; two are an error listing both
    assert "CB513_small_2" not in build_dataset(labels, arrays, get_tasks("ss3"), "residue").ids
    del arrays["CB513_small_3"]
    with pytest.raises(SeqVecError, match="2 of 20 labelled proteins .* no embedding.*'CB513_small_2', 'CB513_small_3'"):
        build_dataset(labels, arrays, get_tasks("ss3"), "residue")
