"""Reports that cannot mislead: warnings where a result cannot be trusted, charts with the
no-information level, n per panel and visible zero bars, figure titles without paths."""
from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from seqvec.classifiers.evaluation.metrics import chance_level
from seqvec.classifiers.labels.tasks import TASKS, TaskKind, TaskSpec
from seqvec.classifiers.training.data import Example, TaskDataset

pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


def test_chance_level_is_the_majority_class_for_accuracies_and_zero_for_mcc():
    result = {"classes": ["a", "b", "c"], "confusion_matrix": [[5, 1, 0], [2, 1, 0], [0, 0, 1]]}
    assert chance_level(result, "Q3") == (6 / 10, "majority class")
    assert chance_level(result, "Q3_per_protein") == (6 / 10, "majority class")
    assert chance_level(result, "balanced_accuracy") == (1 / 3, "chance")
    assert chance_level(result, "MCC") == (0.0, "chance")
    assert chance_level({}, "Spearman") == (0.0, "chance")
    assert chance_level({}, "RMSE") is None


def _run(name: str, value: float, n: int = 12) -> dict:
    task = {"n_proteins": n, "classes": ["x", "y"], "confusion_matrix": [[9, 0], [3, 0]],
            "metrics": {"Q2": {"value": value, "ci95": [max(value - 0.1, 0), min(value + 0.1, 1)]}}}
    return {"name": name, "head": "fnn", "encoder": name, "tasks": {"membrane": task}}


def test_comparison_chart_shows_zero_bars_n_and_the_majority_line(tmp_path):
    from seqvec.viz.comparison import comparison_caption, plot_comparison

    results = {"tasks": {"membrane": {"metric": "Q2", "level": "protein"}}, "train": ["/abs/path/train.fasta"],
               "test": ["test set (t.fasta): n = 12 proteins"], "runs": [_run("onehot", 0.0), _run("lm", 0.75)]}
    svg = plot_comparison(results, tmp_path / "c.svg", caption=comparison_caption(results)).read_text()
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)  # text stays text in seqvec's SVGs
    assert "membrane (Q2), n = 12" in texts and "majority class" in texts
    assert "0.0" in texts and "75.0" in texts  # each bar labelled with its value, the zero-height one too
    assert "train: train.fasta; scored on: test set (t.fasta): n = 12 proteins" in texts and "/abs/path" not in svg


def test_a_fold_scoring_a_class_it_never_trained_on_is_warned(caplog):
    from seqvec.classifiers.selection.crossval import warn_missing_classes

    spec = TaskSpec("loc", TaskKind.PROTEIN_CLASS, ("a", "b", "c"))
    make = lambda ys: TaskDataset([Example(f"p{i}", np.zeros(4, np.float32), {"loc": y}) for i, y in enumerate(ys)],
                                  {"loc": spec}, "protein")  # noqa: E731
    with caplog.at_level(logging.WARNING):
        warn_missing_classes({"loc": spec}, make([0, 1, 0]), make([0, 1]), "fold 0")
        assert not caplog.records
        warn_missing_classes({"loc": spec}, make([0, 0]), make([1, 2, 0]), "repeat 0, fold 1")
    assert "repeat 0, fold 1: class(es) b, c of loc are held out but absent from training" in caplog.text


def test_a_small_validation_set_is_warned_with_its_size(caplog):
    from seqvec.classifiers.selection.crossval import warn_small_validation

    with caplog.at_level(logging.WARNING):
        warn_small_validation(40, "the validation set")
        assert not caplog.records
        warn_small_validation(7, "the validation set")
    assert "the validation set has only 7 proteins: too few to choose the early-stopping epoch" in caplog.text


def test_compare_warns_about_a_requested_task_without_labels(data_dir, tmp_path, caplog):
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.selection.compare import run_comparison
    from seqvec.classifiers.training.train import FitConfig

    tasks = data_dir / "tasks"
    train, test = (read_labels([tasks / f"deeploc_{n}_small.fasta"]) for n in ("pool", "test"))
    with caplog.at_level(logging.WARNING):
        results = run_comparison(train, test, {t: TASKS[t] for t in ("membrane", "ss8")}, tmp_path,
                                 encoders=["onehot"], heads=["fnn", "cnn"], config=FitConfig(epochs=1), n_bootstrap=10)
    assert "requested task(s) ss8 have no labels in deeploc_pool_small.fasta: left out" in caplog.text
    assert [set(r["tasks"]) for r in results["runs"]] == [{"membrane"}]
    assert results["test"] == ["test set (deeploc_test_small.fasta): n = 12 proteins"]


def test_curves_are_titled_by_head_and_task_never_by_path(tmp_path):
    from seqvec.classifiers.heads.checkpoint import resolve_head
    from seqvec.viz.curves import describe_log

    head = tmp_path / "some" / "deep" / "run"
    head.mkdir(parents=True)
    (head / "config.json").write_text(json.dumps({
        "head": "la", "tasks": {"localization": {}}, "embeddings": {"model": "seqvec-mini-v2"},
        "training": {"labels": [str(tmp_path / "deeploc.fasta")]}}))
    title, caption = describe_log(head / "history.json")
    assert title == "la head: localization"
    assert caption == "la head on seqvec-mini-v2; trained on deeploc.fasta" and str(tmp_path) not in caption
    assert describe_log(tmp_path / "log.csv") == ("log.csv", "training log: log.csv")
    assert describe_log(resolve_head("bundled:protein"))[0] == "bundled:protein (la head): localization, membrane"


def _uniprot_file(path, ids):
    """UniProt's per-protein.h5 layout: one dataset per accession at the root."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for i in ids:
            f.create_dataset(i, data=rng.random(16, dtype=np.float32))
    return path


def test_a_foreign_per_protein_file_trains_and_is_never_to_be_deleted(data_dir, tmp_path, capsys):
    from seqvec.cli.main import main

    labels = data_dir / "tasks" / "deeploc_pool_small.fasta"
    ids = [line[1:].split()[0] for line in labels.read_text().splitlines() if line.startswith(">")]
    whole = _uniprot_file(tmp_path / "per-protein.h5", ids)
    args = ["train", "-q", "--labels", str(labels), "--task", "localization", "--head", "fnn", "--epochs", "1"]
    assert main([*args, "--embeddings", str(whole), "-o", str(tmp_path / "head")]) == 0
    few = _uniprot_file(tmp_path / "few.h5", ids[:5])
    before = few.read_bytes()
    assert main([*args, "--embeddings", str(few), "-o", str(tmp_path / "head2")]) != 0
    err = capsys.readouterr().err
    assert "have no embedding in" in err and "delete" not in err
    assert few.read_bytes() == before
