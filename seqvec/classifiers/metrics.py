"""Metrics as the papers report them, with 95% bootstrap intervals over proteins.

Definitions (``IGNORE`` targets are never scored):

- **Q10, Q2** (per-protein tasks): accuracy over proteins with a label.
- **Q3, Q8** (per-residue): accuracy over all scored residues pooled; ``Q3_per_protein``
  is the mean over proteins of each protein's accuracy (proteins without a scored
  residue are left out).
- **MCC**: Matthews correlation coefficient over scored items (the multi-class form of
  Gorodkin 2004 for more than two classes, as scikit-learn computes it); the headline
  number for disorder. ``per_class_mcc`` is each class against the rest.
- **confusion_matrix**: rows = true class, columns = predicted class, in task class order.

Intervals: 1000 bootstrap draws (seeded) that resample **proteins** with replacement (a
protein's residues stay together); the interval is the 2.5th to 97.5th percentile. Point
values come from scikit-learn; the draws use the same formulas on summed confusion
matrices (tested equal).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, matthews_corrcoef

from seqvec.classifiers.tasks import IGNORE, TaskSpec

N_BOOTSTRAP = 1000


def mcc_from_confusion(c: np.ndarray) -> np.ndarray:
    """Multi-class MCC of confusion matrices ``[..., K, K]`` (0 where undefined, as scikit-learn)."""
    c = c.astype(np.float64)
    t_sum, p_sum = c.sum(axis=-1), c.sum(axis=-2)  # (..., K) true / predicted counts
    n = c.sum(axis=(-2, -1))
    correct = np.trace(c, axis1=-2, axis2=-1)
    cov_tp = correct * n - (t_sum * p_sum).sum(-1)
    cov_pp = n**2 - (p_sum * p_sum).sum(-1)
    cov_tt = n**2 - (t_sum * t_sum).sum(-1)
    denom = np.sqrt(cov_tt * cov_pp)
    return np.divide(cov_tp, denom, out=np.zeros_like(cov_tp), where=denom > 0)


def per_class_mcc_from_confusion(c: np.ndarray) -> np.ndarray:
    """One-vs-rest MCC of each class, ``[..., K, K] -> [..., K]``."""
    c = c.astype(np.float64)
    k = c.shape[-1]
    out = np.empty(c.shape[:-2] + (k,))
    for i in range(k):
        rest = [j for j in range(k) if j != i]
        tp = c[..., i, i]
        fn = c[..., i, rest].sum(-1)
        fp = c[..., rest, i].sum(-1)
        tn = c.sum(axis=(-2, -1)) - tp - fn - fp
        binary = np.stack([np.stack([tn, fp], -1), np.stack([fn, tp], -1)], -2)  # (..., 2, 2)
        out[..., i] = mcc_from_confusion(binary)
    return out


def _accuracy(c: np.ndarray) -> np.ndarray:
    n = c.sum(axis=(-2, -1))
    return np.divide(np.trace(c, axis1=-2, axis2=-1), n, out=np.full(n.shape, np.nan), where=n > 0)


def _interval(draws: np.ndarray) -> list[float]:
    lo, hi = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    return [float(lo), float(hi)] if np.ndim(lo) == 0 else [lo.tolist(), hi.tolist()]


def _value(value: float, draws: np.ndarray) -> dict:
    return {"value": float(value), "ci95": _interval(draws)}


def score_task(spec: TaskSpec, targets: list, probabilities: list[np.ndarray], *,
               n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Metrics of one task.

    targets : per protein, a class index (per-protein task) or an int array ``[L]``
        (per-residue task), ``IGNORE`` where not scored.
    probabilities : per protein, ``[C]`` or ``[L, C]`` class probabilities (or logits).
    """
    k = len(spec.classes)
    matrices, truth, pred = [], [], []
    for target, prob in zip(targets, probabilities):
        t = np.atleast_1d(np.asarray(target, dtype=np.int64))
        p = np.atleast_1d(np.asarray(prob).argmax(-1))
        scored = t != IGNORE
        if not scored.any():
            continue
        t, p = t[scored], p[scored]
        matrices.append(np.bincount(t * k + p, minlength=k * k).reshape(k, k))
        truth.append(t)
        pred.append(p)
    if not matrices:
        return {"task": spec.name, "level": spec.level, "classes": list(spec.classes), "n_proteins": 0,
                "n_scored": 0, "metrics": {}, "per_class_mcc": {}, "confusion_matrix": []}
    per_protein = np.stack(matrices)  # (P, K, K)
    y_true, y_pred = np.concatenate(truth), np.concatenate(pred)
    labels = list(range(k))
    rng = np.random.default_rng(seed)
    n = len(per_protein)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_bootstrap)])  # (draws, P)
    drawn = np.einsum("bp,pij->bij", counts.astype(np.float64), per_protein)  # (draws, K, K)
    accuracy_name = spec.metric if spec.metric.startswith("Q") else "accuracy"
    with warnings.catch_warnings():  # one class only: sklearn warns, and MCC is 0 as documented
        warnings.simplefilter("ignore", UserWarning)
        mcc = matthews_corrcoef(y_true, y_pred)
    metrics = {accuracy_name: _value(accuracy_score(y_true, y_pred), _accuracy(drawn)),
               "MCC": _value(mcc, mcc_from_confusion(drawn))}
    if spec.level == "residue":
        protein_acc = _accuracy(per_protein)  # (P,)
        boot = (counts * protein_acc).sum(1) / counts.sum(1)
        metrics[f"{accuracy_name}_per_protein"] = _value(protein_acc.mean(), boot)
    per_class = per_class_mcc_from_confusion(per_protein.sum(0))
    per_class_draws = per_class_mcc_from_confusion(drawn)  # (draws, K)
    return {
        "task": spec.name, "level": spec.level, "classes": list(spec.classes),
        "n_proteins": int(n), "n_scored": int(len(y_true)),
        "metrics": metrics,
        "per_class_mcc": {c: {"value": float(per_class[i]), "ci95": _interval(per_class_draws[:, i])}
                          for i, c in enumerate(spec.classes)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def format_result(result: dict) -> str:
    """Human-readable lines for one task result: every value a fraction, as in the JSON report."""
    unit = "residues" if result["level"] == "residue" else "proteins"
    lines = [f"{result['task']}: {result['n_proteins']:,} proteins, {result['n_scored']:,} scored {unit}",
             f"  {'metric':<22} {'value':>7}  95% CI"]
    for name, m in result["metrics"].items():
        lo, hi = m["ci95"]
        lines.append(f"  {name:<22} {m['value']:7.4f}  [{lo:.4f}, {hi:.4f}]")
    mccs = ", ".join(f"{c} {m['value']:.2f}" for c, m in result["per_class_mcc"].items())
    lines.append(f"  per-class MCC: {mccs}")
    return "\n".join(lines)
