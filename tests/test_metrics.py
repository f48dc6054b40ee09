"""Metrics: hand-computed cases, agreement with scikit-learn, bootstrap over proteins."""
import math
import re

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from seqvec.classifiers.evaluation.metrics import (
    format_result,
    mcc_from_confusion,
    per_class_mcc_from_confusion,
    score_task,
)
from seqvec.classifiers.labels.tasks import IGNORE, TASKS


def onehot(classes, k):
    return np.eye(k)[np.asarray(classes)]


def test_binary_protein_task_by_hand():
    # truth M M S S, predicted M S S S: tp(S)=2 tn=1 fp=1 fn=0
    result = score_task(TASKS["membrane"], [0, 0, 1, 1], list(onehot([0, 1, 1, 1], 2)))
    assert result["metrics"]["Q2"]["value"] == pytest.approx(0.75)
    assert result["metrics"]["MCC"]["value"] == pytest.approx(2 / math.sqrt(12))
    assert result["confusion_matrix"] == [[1, 1], [0, 2]]  # rows truth, columns prediction
    assert result["n_proteins"] == 4 and TASKS["membrane"].metric == "Q2"


def test_unlabelled_proteins_are_not_scored():
    result = score_task(TASKS["membrane"], [0, IGNORE, 1], list(onehot([0, 0, 1], 2)))
    assert result["n_proteins"] == 2 and result["metrics"]["Q2"]["value"] == 1.0


def test_residue_task_pooled_and_per_protein_by_hand():
    # protein A: 3 scored residues, 1 right; protein B: 2 scored, both right
    targets = [np.array([0, 1, 1, IGNORE]), np.array([2, 2])]
    preds = [onehot([0, 0, 0, 2], 3), onehot([2, 2], 3)]
    result = score_task(TASKS["ss3"], targets, preds)
    assert result["n_scored"] == 5 and result["n_proteins"] == 2
    assert result["metrics"]["Q3"]["value"] == pytest.approx(3 / 5)
    assert result["metrics"]["Q3_per_protein"]["value"] == pytest.approx((1 / 3 + 1) / 2)
    assert result["confusion_matrix"] == [[1, 0, 0], [2, 0, 0], [0, 0, 2]]
    # class H (index 0): tp 1, fp 2, fn 0, tn 2
    assert result["per_class_mcc"]["H"]["value"] == pytest.approx((1 * 2 - 2 * 0) / math.sqrt(3 * 1 * 4 * 2))


def test_disorder_headline_is_mcc():
    result = score_task(TASKS["disorder"], [np.array([0, 0, 1, 1])], [onehot([0, 1, 1, 1], 2)])
    name = TASKS["disorder"].metric
    assert name == "MCC" and result["metrics"][name]["value"] == pytest.approx(2 / math.sqrt(12))
    assert "accuracy" in result["metrics"]


def test_confusion_formulas_match_sklearn():
    rng = np.random.default_rng(0)
    for k in (2, 3, 8):
        y, p = rng.integers(0, k, 300), rng.integers(0, k, 300)
        p[:150] = y[:150]
        c = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
        assert mcc_from_confusion(c) == pytest.approx(matthews_corrcoef(y, p))
        for i, m in enumerate(per_class_mcc_from_confusion(c)):
            assert m == pytest.approx(matthews_corrcoef(y == i, p == i))
    assert mcc_from_confusion(np.array([[5, 0], [0, 0]])) == 0.0  # undefined -> 0, as sklearn


def test_bootstrap_resamples_proteins_not_residues():
    # one protein: every draw is that protein, so the interval has zero width
    # (a residue-level bootstrap would give a wide one for 50% accuracy)
    target = np.array([0, 1] * 20)
    result = score_task(TASKS["ss3"], [target], [onehot(np.zeros(40, int), 3)])
    assert result["metrics"]["Q3"]["value"] == 0.5
    assert result["metrics"]["Q3"]["ci95"] == [0.5, 0.5]


def test_bootstrap_interval_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(1)
    targets = [rng.integers(0, 10) for _ in range(200)]
    preds = [onehot(t if rng.random() < 0.6 else rng.integers(0, 10), 10) for t in targets]
    a = score_task(TASKS["localization"], targets, preds, seed=5)
    b = score_task(TASKS["localization"], targets, preds, seed=5)
    c = score_task(TASKS["localization"], targets, preds, seed=6)
    q10 = a["metrics"]["Q10"]
    assert q10 == b["metrics"]["Q10"] and q10["ci95"] != c["metrics"]["Q10"]["ci95"]
    lo, hi = q10["ci95"]
    assert lo < q10["value"] < hi
    # binomial standard error ~ sqrt(p(1-p)/n): the 95% interval is about +-2 of them
    se = math.sqrt(q10["value"] * (1 - q10["value"]) / 200)
    assert 2.5 * se < hi - lo < 5.5 * se


def test_format_result_lists_every_metric():
    result = score_task(TASKS["ss8"], [np.arange(8)], [onehot(np.arange(8), 8)])
    text = format_result(result)
    assert "Q8 " in text and "Q8_per_protein" in text and "per-class MCC" in text
    assert "Q8 (%)" in text and " 100.00  [100.00, 100.00]" in text  # accuracies in percent, as compare shows
    assert re.search(r"\n  MCC +1\.0000  \[1\.0000, 1\.0000\]", text)  # other metrics as they are


def test_format_result_of_values_says_nothing_of_percent_or_fractions():
    from seqvec.classifiers.labels.tasks import TaskKind, TaskSpec

    spec = TaskSpec("score", TaskKind.PROTEIN_VALUE)
    text = format_result(score_task(spec, [0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 1.0, 0.3]))
    assert "RMSE" in text and "(%)" not in text and "fraction" not in text
