"""seqvec train with --cv, --groups, --split and --search, in-process on small real slices."""
from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict

import pytest

from seqvec.classifiers.selection.search import combinations, parse_search
from seqvec.classifiers.selection.splits import read_split
from seqvec.cli.main import main
from seqvec.errors import SeqVecError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pool(data_dir, tmp_path_factory):
    """The small DeepLoc pool, its one-hot embeddings (made once) and a clustering of it."""
    root = tmp_path_factory.mktemp("cv")
    labels = data_dir / "tasks" / "deeploc_pool_small.fasta"
    ids = [line[1:].split()[0] for line in labels.read_text().splitlines() if line.startswith(">")]
    groups = root / "groups.tsv"
    groups.write_text("".join(f"{rid}\tc{n // 3}\n" for n, rid in enumerate(ids)))  # clusters of 3
    h5 = root / "pool.h5"
    assert main(["train", "-q", "--task", "localization", "--embeddings", str(h5), "--encoder", "onehot",
                 "--labels", str(labels), "-o", str(root / "warmup"), "--epochs", "1"]) == 0
    return {"labels": labels, "h5": h5, "groups": groups, "root": root}


def train(pool, out, *extra) -> int:
    return main(["train", "-q", "--task", "localization", "--embeddings", str(pool["h5"]),
                 "--labels", str(pool["labels"]), "-o", str(out), "--epochs", "2", *extra])


def test_cv_with_groups_keeps_clusters_in_one_fold(pool, tmp_path, capsys):
    out = tmp_path / "cv"
    assert train(pool, out, "--cv", "3", "--groups", str(pool["groups"]), "--bootstrap", "100") == 0
    printed = capsys.readouterr().out
    assert "3-fold cross-validation x 1 (clusters of" in printed and "| localization | Q10 |" in printed
    folds, clusters = read_split(out / "split.tsv")
    by_cluster = defaultdict(set)
    for rid, fold in folds.items():
        by_cluster[clusters[rid]].add(fold)
    assert all(len(f) == 1 for f in by_cluster.values()) and set(folds.values()) == {"0", "1", "2"}
    report = json.loads((out / "cv.json").read_text())
    assert report["n_proteins"] == len(folds) == 40  # 42 records, 2 Cytoplasm-Nucleus without a location
    fold_entries = report["repeats"][0]["folds"]
    assert sum(f["n_held_out"] for f in fold_entries) == 40
    assert all(f["n_train"] + f["n_val"] + f["n_held_out"] == 40 for f in fold_entries)
    summary = report["summary"]["localization"]
    values = [f["held_out"]["localization"]["metrics"]["Q10"]["value"] for f in fold_entries]
    assert summary["folds"]["mean"] == pytest.approx(sum(values) / 3)
    pooled = summary["pooled"][0]
    assert pooled["ci95"][0] <= pooled["value"] <= pooled["ci95"][1]
    assert report["repeats"][0]["pooled"]["localization"]["n_proteins"] == 40
    for k in range(3):
        config = json.loads((out / f"fold{k}" / "config.json").read_text())
        assert config["training"]["cv"]["fold"] == k
    assert (out / "cv.md").read_text().startswith("# seqvec cross-validation")


def test_cv_rerun_reuses_finished_folds_and_repeat_makes_new_folds(pool, tmp_path):
    out = tmp_path / "cv"
    assert train(pool, out, "--cv", "2", "--repeat", "2", "--bootstrap", "50") == 0
    first = [read_split(out / f"repeat{r}" / "split.tsv")[0] for r in (0, 1)]
    assert first[0] != first[1]  # seeds 0 and 1
    weights = out / "repeat1" / "fold0" / "weights.pt"
    stamp = weights.stat().st_mtime_ns
    assert train(pool, out, "--cv", "2", "--repeat", "2", "--bootstrap", "50") == 0
    assert weights.stat().st_mtime_ns == stamp  # reused, not retrained
    assert train(pool, out, "--cv", "2", "--repeat", "2", "--bootstrap", "50", "--lr", "0.01") == 0
    assert weights.stat().st_mtime_ns != stamp  # other settings: retrained
    assert len(json.loads((out / "cv.json").read_text())["summary"]["localization"]["folds"]["values"]) == 4


def test_cv_with_a_test_set_scores_fold_heads_and_their_ensemble(pool, data_dir, tmp_path):
    out = tmp_path / "cv"
    test_labels = data_dir / "tasks" / "deeploc_test_small.fasta"
    assert train(pool, out, "--cv", "2", "--test-set", str(test_labels), "--test-embeddings",
                 str(tmp_path / "test.h5"), "--encoder", "onehot", "--bootstrap", "50") == 0
    report = json.loads((out / "cv.json").read_text())
    assert report["n_test"] == 12
    assert all(f["test"]["localization"]["n_proteins"] == 12 for f in report["repeats"][0]["folds"])
    assert report["repeats"][0]["test_ensemble"]["localization"]["n_proteins"] == 12
    folds, _ = read_split(out / "split.tsv")
    assert sum(f == "test" for f in folds.values()) == 12


def test_split_file_is_reused(pool, tmp_path):
    first = tmp_path / "a"
    assert train(pool, first, "--groups", str(pool["groups"]), "--val-fraction", "0.25") == 0
    folds, clusters = read_split(first / "split.tsv")
    val = {i for i, f in folds.items() if f == "val"}
    assert val and all(clusters[i] not in {clusters[j] for j in folds if j not in val} for i in val)
    second = tmp_path / "b"
    assert train(pool, second, "--split", str(first / "split.tsv")) == 0
    assert read_split(second / "split.tsv")[0] == folds
    config = json.loads((second / "config.json").read_text())
    assert config["training"]["n_val"] == len(val)


def test_search_chooses_on_validation_and_records_the_choice(pool, tmp_path, capsys):
    out = tmp_path / "s"
    assert train(pool, out, "--search", "lr=1e-2,1e-3", "hidden_dim=8,16") == 0
    search = json.loads((out / "config.json").read_text())["training"]["search"]
    assert len(search["trials"]) == 4
    best = max(search["trials"], key=lambda t: t["score"])
    assert search["chosen"] == best["values"] and search["score"] == best["score"]
    assert search["metric"] == "mean validation localization: Q10"
    config = json.loads((out / "config.json").read_text())
    assert config["head_config"]["hidden_dim"] == search["chosen"]["hidden_dim"]
    assert config["training"]["fit"]["lr"] == search["chosen"]["lr"]
    assert f"search: chose {search['chosen']}" in capsys.readouterr().out
    assert list(csv.DictReader(open(out / "history.csv")))


def test_bad_split_options(pool, tmp_path, capsys):
    assert train(pool, tmp_path / "x", "--groups", str(pool["groups"]), "--split-by-identity", "0.3") == 2
    assert "exclude each other" in capsys.readouterr().err
    assert train(pool, tmp_path / "x", "--repeat", "2") == 2
    assert "--repeat needs --cv" in capsys.readouterr().err
    assert train(pool, tmp_path / "x", "--cv", "2", "--test-set", "test9") == 2
    assert "--test-set test9: no protein of the label files is in that set" in capsys.readouterr().err


def test_parse_search():
    grid = parse_search(["lr=1e-3,3e-4", "hidden_dim=32,64", "activation=relu"])
    assert grid == {"lr": [1e-3, 3e-4], "hidden_dim": [32, 64], "activation": ["relu"]}
    assert len(combinations(grid)) == 4 and combinations({}) == [{}]
    for bad, message in ((["lr"], "expected KEY=VALUE1"), (["lr=1", "lr=2"], "twice"), (["seed=1,2"], "`SplitPlan.repeat`")):
        with pytest.raises(SeqVecError, match=message):
            parse_search(bad)


def test_compare_splits_by_groups_once_for_every_run(pool, data_dir, tmp_path):
    out = tmp_path / "cmp"
    command = ["compare", "-q", "--encoders", "onehot,blosum62", "--heads", "fnn", "--tasks", "localization",
               "--train", str(pool["labels"]), "--test", str(data_dir / "tasks" / "deeploc_test_small.fasta"),
               "--groups", str(pool["groups"]), "--val-fraction", "0.25", "--epochs", "2", "--bootstrap", "50",
               "-o", str(out)]
    assert main(command) == 0
    folds, clusters = read_split(out / "split.tsv")
    val = {i for i, f in folds.items() if f == "val"}
    assert val and not {clusters[i] for i in val} & {clusters[i] for i, f in folds.items() if f == "train"}
    for encoder in ("onehot", "blosum62"):
        config = json.loads((out / "heads" / f"{encoder}-fnn" / "config.json").read_text())
        assert config["training"]["n_val"] == len(val) and config["training"]["split"]


@pytest.mark.skipif(shutil.which("mmseqs") is None,
                    reason="MMseqs2 (`mmseqs`) is not on PATH: apt-get install mmseqs2 (CI installs it)")
def test_cv_by_identity_on_user_labels_keeps_homologs_in_one_fold(data_dir, tmp_path, capsys):
    from Bio import SeqIO

    from seqvec.classifiers.selection.splits import identity_hits

    slice_dir = data_dir / "splits"
    out = tmp_path / "cv"
    assert main(["train", "-q", "--labels", str(slice_dir / "multiloc_slice_classes.tsv"), "--sequences",
                 str(slice_dir / "multiloc_slice.fasta"), "--embeddings", str(tmp_path / "ml.h5"), "--encoder",
                 "onehot", "--cv", "3", "--split-by-identity", "0.3", "--epochs", "2", "--bootstrap", "50",
                 "-o", str(out)]) == 0
    assert "3-fold cross-validation x 1 (MMseqs2 clusters at 30% identity), 150 proteins" in capsys.readouterr().out
    folds, clusters = read_split(out / "split.tsv")
    assert len(set(clusters.values())) < 150  # homologs share clusters
    sequences = {r.id: str(r.seq) for r in SeqIO.parse(slice_dir / "multiloc_slice.fasta", "fasta")}
    linked = [(q, t) for q, t, _ in identity_hits(sequences, sequences, 0.3) if q != t]
    assert linked and all(folds[q] == folds[t] for q, t in linked)
