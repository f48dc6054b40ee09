"""Identity-aware splits with the real MMseqs2 on a real MultiLoc slice, CV folds, split files."""
from __future__ import annotations

import shutil
from collections import Counter

import pytest

from seqvec.classifiers.selection import splits
from seqvec.errors import MissingProgramError, SeqVecError

needs_mmseqs = pytest.mark.skipif(
    shutil.which("mmseqs") is None,
    reason="MMseqs2 (`mmseqs`) is not on PATH: apt-get install mmseqs2 (CI installs it, so this never skips there)")


@pytest.fixture(scope="module")
def multiloc(data_dir):
    """150 MultiLoc proteins (20 groups of 2-6 homologs at 30% identity + singletons) and their classes."""
    from Bio import SeqIO

    sequences = {r.id: str(r.seq) for r in SeqIO.parse(data_dir / "splits" / "multiloc_slice.fasta", "fasta")}
    rows = (data_dir / "splits" / "multiloc_slice_classes.tsv").read_text().splitlines()[1:]
    classes = dict(row.split("\t") for row in rows)
    return sequences, classes


@pytest.fixture(scope="module")
def clusters(multiloc):
    return splits.cluster_by_identity(multiloc[0], 0.3)


@pytest.fixture(scope="module")
def linked_pairs(multiloc):
    """Every pair of different proteins that passes the 30% / 80% criteria, by exhaustive search."""
    sequences = multiloc[0]
    return {(q, t) for q, t, _ in splits.identity_hits(sequences, sequences, 0.3) if q != t}


def crossing(pairs, side: dict) -> list:
    return [(q, t) for q, t in pairs if side[q] != side[t]]


@needs_mmseqs
def test_identity_split_keeps_homologs_on_one_side(multiloc, clusters, linked_pairs):
    sequences, classes = multiloc
    ids = list(sequences)
    assert len(linked_pairs) >= 20  # the slice holds homologs, so the check below could fail
    assert len(set(clusters.values())) < len(ids)
    train, val = splits.grouped_split(ids, 0.2, clusters, strata=classes, seed=0)
    assert sorted(train + val) == sorted(ids) and 0.1 * len(ids) < len(val) < 0.3 * len(ids)
    side = {**{i: "train" for i in train}, **{i: "val" for i in val}}
    assert crossing(linked_pairs, side) == []
    # a random split of the same proteins does put linked pairs on both sides
    from seqvec.classifiers.training.data import split_ids

    random_train, random_val = split_ids(ids, classes, 0.2, seed=0)
    assert crossing(linked_pairs, {**{i: "train" for i in random_train}, **{i: "val" for i in random_val}})


@needs_mmseqs
def test_identity_folds_keep_homologs_in_one_fold(multiloc, clusters, linked_pairs):
    sequences, classes = multiloc
    folds = splits.kfold(list(sequences), 5, strata=classes, groups=clusters, seed=0)
    assert sorted(Counter(folds.values())) == [0, 1, 2, 3, 4]
    assert crossing(linked_pairs, folds) == []
    assert min(Counter(folds.values()).values()) > 15
    assert crossing(linked_pairs, splits.kfold(list(sequences), 5, strata=classes, seed=0))


@pytest.mark.slow
@needs_mmseqs
def test_higher_identity_threshold_gives_more_clusters(multiloc, clusters):
    finer = splits.cluster_by_identity(multiloc[0], 0.9)
    assert len(set(finer.values())) > len(set(clusters.values()))
    # every 90% cluster lies inside one 30% cluster
    assert all(len({clusters[i] for i in finer if finer[i] == c}) == 1 for c in set(finer.values()))


def test_missing_mmseqs_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(MissingProgramError, match="apt-get install mmseqs2.*bioconda.*--groups"):
        splits.cluster_by_identity({"a": "MKV"}, 0.3)


def test_bad_identity_is_an_error():
    with pytest.raises(SeqVecError, match=r"identity must lie in \(0, 1\], got 30"):
        splits.mmseqs_options(30)


def test_kfold_is_stratified_seeded_and_order_free():
    ids = [f"p{i}" for i in range(60)]
    strata = {rid: i % 3 for i, rid in enumerate(ids)}
    folds = splits.kfold(ids, 5, strata=strata, seed=1)
    for fold in range(5):
        members = [rid for rid in ids if folds[rid] == fold]
        assert Counter(strata[r] for r in members) == {0: 4, 1: 4, 2: 4}
    assert splits.kfold(list(reversed(ids)), 5, strata=strata, seed=1) == folds
    assert splits.kfold(ids, 5, strata=strata, seed=2) != folds


def test_kfold_groups_and_too_few_clusters():
    ids = [f"p{i}" for i in range(20)]
    groups = {rid: f"c{i // 4}" for i, rid in enumerate(ids)}  # 5 clusters of 4
    folds = splits.kfold(ids, 5, groups=groups)
    assert all(len({folds[r] for r in ids if groups[r] == c}) == 1 for c in set(groups.values()))
    assert sorted(Counter(folds.values()).values()) == [4] * 5
    with pytest.raises(SeqVecError, match="6 folds need at least 6 clusters; there are 5"):
        splits.kfold(ids, 6, groups=groups)
    with pytest.raises(SeqVecError, match="1 of 20 proteins have no cluster"):
        splits.kfold(ids, 5, groups={r: c for r, c in groups.items() if r != "p3"})


def test_split_file_round_trip_and_errors(tmp_path):
    path = splits.write_split(tmp_path / "split.tsv", {"a": "train", "b": "val", "c": 3}, {"a": "a", "b": "a"})
    assert path.read_text().splitlines() == ["id\tcluster\tfold", "a\ta\ttrain", "b\ta\tval", "c\tc\t3"]
    assert splits.read_split(path) == ({"a": "train", "b": "val", "c": "3"}, {"a": "a", "b": "a", "c": "c"})
    assert splits.read_groups(path) == {"a": "a", "b": "a", "c": "c"}  # a split file is a groups file
    (tmp_path / "bad.tsv").write_text("id\tcluster\tfold\na\ta\tvalidation\n")
    with pytest.raises(SeqVecError, match="row 2: fold 'validation' is not train, val, test"):
        splits.read_split(tmp_path / "bad.tsv")
    with pytest.raises(SeqVecError, match="not a split file"):
        splits.read_split(_write(tmp_path / "g.tsv", "a\tx\n"))


def test_read_groups(tmp_path):
    assert splits.read_groups(_write(tmp_path / "g.tsv", "a\tx\nb\tx\n\nc\ty\n")) == {"a": "x", "b": "x", "c": "y"}
    assert splits.read_groups(_write(tmp_path / "h.tsv", "cluster\tid\nx\ta\n")) == {"a": "x"}
    with pytest.raises(SeqVecError, match=r"row 2: protein 'a' is in cluster 'x' and 'y'"):
        splits.read_groups(_write(tmp_path / "c.tsv", "a\tx\na\ty\n"))
    with pytest.raises(SeqVecError, match="row 1: expected tab-separated columns id, cluster"):
        splits.read_groups(_write(tmp_path / "d.tsv", "a x\n"))
    with pytest.raises(SeqVecError, match="no such file"):
        splits.read_groups(tmp_path / "missing.tsv")


def _write(path, text):
    path.write_text(text)
    return path
