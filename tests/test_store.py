"""seqvec.open_embeddings: one reader for every layout (columnar, shards, per-id, UniProt, biotrainer)."""
import hashlib
import json

import h5py
import numpy as np
import pytest

import seqvec
from seqvec.embeddings.columnar import ColumnarWriter, Shapes, create_columnar, sequence_digest
from seqvec.embeddings.h5 import write_record
from seqvec.embeddings.shards import INDEX_NAME, shard_name, shard_ranges, write_index
from seqvec.errors import EmbeddingFileError, MissingViewError

IDS = ["P1", "a/b", ".hidden", "%x", "Q9ÄY", "long_" + "z" * 300]


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(0)
    lengths = [5, 1, 7, 3, 4, 2]
    residues = {i: rng.standard_normal((n, 6)).astype(np.float32) for i, n in zip(IDS, lengths)}
    vectors = {i: x.mean(axis=0) for i, x in residues.items()}
    return residues, vectors


def write_columnar(path, residues, vectors, ids=None, attrs=None, shuffle=True):
    ids = list(residues) if ids is None else ids
    lengths = np.array([len(residues[i]) for i in ids])
    create_columnar(path, ids, lengths, [sequence_digest("A" * n) for n in lengths],
                    Shapes(6, (0, 6), "float32"), {"fingerprint": json.dumps({"a": 1}), **(attrs or {})})
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    writer = ColumnarWriter(path, offsets)
    rows = list(range(len(ids)))[::-1] if shuffle else list(range(len(ids)))  # any order
    writer.write(rows, [residues[ids[r]] for r in rows], [vectors[ids[r]] for r in rows])
    writer.close()
    return path


def write_per_id(path, residues, vectors):
    with h5py.File(path, "w") as f:
        f.attrs["model"] = "m"
        for i in residues:
            write_record(f, "per_residue", i, residues[i], len(residues[i]), "float32", "gzip")
            write_record(f, "per_protein", i, vectors[i], len(residues[i]), "float32", "gzip")
    return path


def write_uniprot(path, vectors):
    with h5py.File(path, "w") as f:
        for i, v in vectors.items():
            if "/" not in i and not i.startswith("."):
                f.create_dataset(i, data=v)
    return path


def write_biotrainer(path, arrays):
    with h5py.File(path, "w") as f:
        for i, x in arrays.items():
            f.create_dataset(hashlib.md5(i.encode()).hexdigest(), data=x).attrs["original_id"] = i
    return path


def test_columnar_reads_back_every_view(tmp_path, records):
    residues, vectors = records
    with seqvec.open_embeddings(write_columnar(tmp_path / "c.h5", residues, vectors)) as store:
        assert store.layout == "columnar" and store.ids == IDS and len(store) == len(IDS)
        assert store.views == ("per_protein", "per_residue")
        np.testing.assert_array_equal(store.lengths, [len(residues[i]) for i in IDS])
        np.testing.assert_array_equal(store.per_protein(), np.stack([vectors[i] for i in IDS]))
        np.testing.assert_array_equal(store.per_protein(["%x", "P1", "%x"]),
                                      np.stack([vectors["%x"], vectors["P1"], vectors["%x"]]))
        for i in IDS:
            np.testing.assert_array_equal(store.per_residue(i), residues[i])
        assert "Q9ÄY" in store and "nope" not in store
        assert store.attrs["format"] == "seqvec-columnar" and store.attrs["fingerprint"] == {"a": 1}
        with h5py.File(tmp_path / "c.h5", "r") as f:  # h5py alone, as docs/embeddings.md says
            assert f["records/id"].asstr()[()].tolist() == IDS
            o = f["offsets"][()]
            np.testing.assert_array_equal(f["per_residue"][o[2]:o[3]], residues[".hidden"])


@pytest.mark.parametrize("writer", ["columnar", "per-id"])
def test_iter_batches_bounded_and_complete(tmp_path, records, writer):
    residues, vectors = records
    path = (write_columnar(tmp_path / "s.h5", residues, vectors) if writer == "columnar"
            else write_per_id(tmp_path / "s.h5", residues, vectors))
    with seqvec.open_embeddings(path) as store:
        assert store.layout == writer
        batches = list(store.iter_batches("per_protein", batch_bytes=2 * 4096))
        assert [len(ids) for ids, _ in batches] == [2, 2, 2]
        assert [i for ids, _ in batches for i in ids] == IDS
        for ids, arrays in store.iter_batches("per_residue", batch_bytes=1):
            assert len(ids) == 1
            np.testing.assert_array_equal(arrays[0], residues[ids[0]])


def test_per_id_layout(tmp_path, records):
    residues, vectors = records
    with seqvec.open_embeddings(write_per_id(tmp_path / "old.h5", residues, vectors)) as store:
        assert store.layout == "per-id" and store.ids == IDS
        np.testing.assert_array_equal(store.per_protein(), np.stack([vectors[i] for i in IDS]))
        np.testing.assert_array_equal(store.per_residue("a/b"), residues["a/b"])
        np.testing.assert_array_equal(store.lengths, [len(residues[i]) for i in IDS])
        assert store.identity == {"model": "m"}


def test_uniprot_and_biotrainer_layouts(tmp_path, records):
    residues, vectors = records
    with seqvec.open_embeddings(write_uniprot(tmp_path / "per-protein.h5", vectors)) as store:
        assert store.layout == "uniprot" and set(store.ids) == {"P1", "%x", "Q9ÄY", IDS[-1]}
        np.testing.assert_array_equal(store.per_protein(["P1"])[0], vectors["P1"])
        with pytest.raises(MissingViewError, match="per_residue"):
            store.per_residue("P1")
        with pytest.raises(EmbeddingFileError, match="lengths"):
            _ = store.lengths
    with seqvec.open_embeddings(write_biotrainer(tmp_path / "bt.h5", residues)) as store:
        assert store.layout == "biotrainer" and sorted(store.ids) == sorted(IDS)
        assert store.views == ("per_residue",)
        np.testing.assert_array_equal(store.per_residue(".hidden"), residues[".hidden"])
        np.testing.assert_array_equal(sorted(store.lengths), sorted(len(x) for x in residues.values()))


def test_clear_errors(tmp_path, records):
    residues, vectors = records
    with pytest.raises(EmbeddingFileError, match="not found"):
        seqvec.open_embeddings(tmp_path / "absent.h5")
    (tmp_path / "text.h5").write_text("no")
    with pytest.raises(EmbeddingFileError, match="not a readable HDF5"):
        seqvec.open_embeddings(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_group("weights")
    with pytest.raises(EmbeddingFileError, match="no embedding layout"):
        seqvec.open_embeddings(tmp_path / "other.h5")
    with seqvec.open_embeddings(write_columnar(tmp_path / "c.h5", residues, vectors)) as store:
        with pytest.raises(EmbeddingFileError, match="2 ids not in") as err:
            store.per_protein(["P1", "x", "y"])
        assert err.value.missing_ids == ["x", "y"]


def test_shard_ranges_contiguous_balanced_deterministic():
    rng = np.random.default_rng(1)
    lengths = rng.integers(30, 500, 1000)
    for n in (1, 2, 3, 7, 1000, 1003):
        ranges = shard_ranges(lengths, n)
        assert len(ranges) == n and ranges[0][0] == 0 and ranges[-1][1] == len(lengths)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        sums = [lengths[a:b].sum() for a, b in ranges]
        if n <= 7:
            assert max(sums) - min(sums) <= 2 * lengths.max()
        assert shard_ranges(lengths, n) == ranges


def test_shard_folder_reads_as_one_store(tmp_path, records):
    residues, vectors = records
    ranges = [(0, 2), (2, 2), (2, 6)]  # an empty shard too
    for k, (a, b) in enumerate(ranges, 1):
        part = IDS[a:b]
        write_columnar(tmp_path / shard_name(k, 3), {i: residues[i] for i in part}, vectors, ids=part,
                       attrs={"fingerprint": json.dumps({"a": 1, "shard": f"{k}/3"})})
    assert write_index(tmp_path, 3) == tmp_path / INDEX_NAME
    with seqvec.open_embeddings(tmp_path) as store:
        assert store.layout == "shards" and store.ids == IDS
        np.testing.assert_array_equal(store.per_protein(), np.stack([vectors[i] for i in IDS]))
        for i in IDS:
            np.testing.assert_array_equal(store.per_residue(i), residues[i])
    (tmp_path / shard_name(2, 3)).unlink()
    with pytest.raises(EmbeddingFileError, match="missing"):
        seqvec.open_embeddings(tmp_path)
    assert write_index(tmp_path, 3) is None  # a shard is missing: no index over it


@pytest.mark.parametrize("layout", ["uniprot", "biotrainer"])
def test_train_and_evaluate_on_a_file_made_by_another_tool(tmp_path, data_dir, layout):
    """ProtT5-style per-protein vectors from UniProt (or biotrainer) train and evaluate a seqvec head."""
    from seqvec.cli.main import main

    labels = data_dir / "biotrainer" / "sequence_to_class" / "labels.fasta"
    ids = [line.split()[0][1:] for line in labels.read_text().splitlines() if line.startswith(">")]
    rng = np.random.default_rng(0)
    vectors = {i: rng.standard_normal(1024).astype(np.float32) for i in ids}
    path = tmp_path / "per-protein.h5"
    (write_uniprot if layout == "uniprot" else write_biotrainer)(path, vectors)
    with seqvec.open_embeddings(path) as store:
        assert store.layout == layout and store.identity == {}
    out = tmp_path / "head"
    assert main(["train", "-q", "--labels", str(labels), "--embeddings", str(path), "--head", "fnn",
                 "--epochs", "2", "-o", str(out)]) == 0
    assert main(["evaluate", "-q", "--head", str(out), "--labels", str(labels), "--embeddings", str(path),
                 "--bootstrap", "10", "-o", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["tasks"]["labels"]["n_proteins"] >= 1


def test_old_per_id_reference_file_opens(data_dir):
    """tests/data/tiny_fresh.h5 (allennlp's per-id layout, written without seqvec) reads as before."""
    with h5py.File(data_dir / "tiny_fresh.h5") as f:
        expected = {k: f["per_residue"][k][()] for k in f["per_residue"]}
    with seqvec.open_embeddings(data_dir / "tiny_fresh.h5") as store:
        assert store.layout == "per-id" and len(store) == 11 and set(store.ids) == set(expected)
        assert store.per_protein().shape == (11, 32)
        for record_id, x in expected.items():
            np.testing.assert_array_equal(store.per_residue(record_id), x)
            assert store.lengths[store.index[record_id]] == x.shape[1]
