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
- Every class task also gets ``accuracy`` (named Q10 ... for the presets),
  ``balanced_accuracy`` (mean recall over the classes present in the truth),
  ``macro_F1`` (mean F1 over the classes present in the truth or the predictions, as
  scikit-learn's default) and per-class precision, recall and F1 (``per_class``).
- **Multi-label** tasks (a label is predicted when its probability reaches the task's
  threshold): ``micro_F1`` (pooled over labels), ``macro_F1`` (mean over labels present
  in the truth or the predictions), ``subset_accuracy`` (every label right; per protein
  or per residue) and per-label precision, recall, F1 and MCC (``per_label``).
- **Value** tasks: ``Spearman``, ``Pearson``, ``RMSE`` and ``MAE`` over scored items
  pooled (residues of all proteins for per-residue values), in the user's units.

Intervals: 1000 bootstrap draws (seeded) that resample **proteins** with replacement (a
protein's residues stay together); the interval is the 2.5th to 97.5th percentile. Point
values come from scikit-learn; the draws use the same formulas on summed confusion
matrices (tested equal).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, matthews_corrcoef

from seqvec.classifiers.labels.tasks import IGNORE, TaskSpec
from seqvec.errors import UsageError

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


def _value(value: float | np.ndarray, draws: np.ndarray) -> dict:
    return {"value": float(value), "ci95": _interval(draws)}


MAX_BOOTSTRAP = 10_000  # draws x proteins counts are held at once; more draws hardly move a 95% interval


def _bootstrap_counts(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """How often each of ``n`` proteins is drawn in each bootstrap sample, ``[draws, n]``."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or not 1 <= n_bootstrap <= MAX_BOOTSTRAP:
        raise UsageError(f"`n_bootstrap` must be an integer from 1 to {MAX_BOOTSTRAP}, got {n_bootstrap!r}",
                         option="n_bootstrap", value=n_bootstrap)
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_bootstrap)])


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 (0 where undefined, as scikit-learn's zero_division=0)."""
    def ratio(a, b):
        return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)
    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)


def _class_summary(c: np.ndarray) -> dict[str, np.ndarray]:
    """Balanced accuracy and macro-F1 of confusion matrices ``[..., K, K]``, and per-class P/R/F1."""
    c = c.astype(np.float64)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    support, predicted = c.sum(-1), c.sum(-2)
    precision, recall, f1 = _prf(tp, predicted - tp, support - tp)
    present = support > 0
    seen = present | (predicted > 0)
    balanced = np.divide((recall * present).sum(-1), present.sum(-1),
                         out=np.full(present.shape[:-1], np.nan), where=present.sum(-1) > 0)
    macro = np.divide((f1 * seen).sum(-1), seen.sum(-1), out=np.full(seen.shape[:-1], np.nan),
                      where=seen.sum(-1) > 0)
    return {"balanced_accuracy": balanced, "macro_F1": macro, "precision": precision, "recall": recall, "F1": f1}


def score_task(spec: TaskSpec, targets: list, predictions: list[np.ndarray], *,
               n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Metrics of one task (see the module docstring), by the task's kind.

    targets : per protein, as :class:`~seqvec.classifiers.training.data.Example` holds them.
    predictions : per protein, from :func:`~seqvec.classifiers.training.train.predict_dataset`:
        class probabilities ``[C]``/``[L, C]`` (or logits), label probabilities, or values.
    """
    target = spec.kind.target
    if target == "multilabel":
        return score_multilabel(spec, targets, predictions, n_bootstrap=n_bootstrap, seed=seed)
    if target == "value":
        return score_values(spec, targets, predictions, n_bootstrap=n_bootstrap, seed=seed)
    return score_classes(spec, targets, predictions, n_bootstrap=n_bootstrap, seed=seed)


def _empty(spec: TaskSpec) -> dict:
    return {"task": spec.name, "kind": spec.kind.value, "level": spec.level, "classes": list(spec.classes),
            "n_proteins": 0, "n_scored": 0, "metrics": {}}


def score_classes(spec: TaskSpec, targets: list, probabilities: list[np.ndarray], *,
                  n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Metrics of a class task: targets are class indices (``IGNORE`` = not scored)."""
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
        return {**_empty(spec), "per_class_mcc": {}, "per_class": {}, "confusion_matrix": []}
    per_protein = np.stack(matrices)  # (P, K, K)
    y_true, y_pred = np.concatenate(truth), np.concatenate(pred)
    labels = list(range(k))
    n = len(per_protein)
    counts = _bootstrap_counts(n, n_bootstrap, seed)  # (draws, P)
    drawn = np.einsum("bp,pij->bij", counts.astype(np.float64), per_protein)  # (draws, K, K)
    accuracy_name = spec.metric if spec.metric.startswith("Q") else "accuracy"
    with warnings.catch_warnings():  # one class only: sklearn warns, and MCC is 0 as documented
        warnings.simplefilter("ignore", UserWarning)
        mcc = matthews_corrcoef(y_true, y_pred)
    total = per_protein.sum(0)
    point, draws = _class_summary(total), _class_summary(drawn)
    metrics = {accuracy_name: _value(accuracy_score(y_true, y_pred), _accuracy(drawn)),
               "MCC": _value(mcc, mcc_from_confusion(drawn))}
    if spec.level == "residue":
        protein_acc = _accuracy(per_protein)  # (P,)
        boot = (counts * protein_acc).sum(1) / counts.sum(1)
        metrics[f"{accuracy_name}_per_protein"] = _value(protein_acc.mean(), boot)
    metrics["balanced_accuracy"] = _value(point["balanced_accuracy"], draws["balanced_accuracy"])
    metrics["macro_F1"] = _value(point["macro_F1"], draws["macro_F1"])
    per_class = per_class_mcc_from_confusion(total)
    per_class_draws = per_class_mcc_from_confusion(drawn)  # (draws, K)
    return {
        "task": spec.name, "kind": spec.kind.value, "level": spec.level, "classes": list(spec.classes),
        "n_proteins": int(n), "n_scored": int(len(y_true)),
        "metrics": metrics,
        "per_class_mcc": {c: {"value": float(per_class[i]), "ci95": _interval(per_class_draws[:, i])}
                          for i, c in enumerate(spec.classes)},
        "per_class": {c: {"support": int(total[i].sum()),
                          **{m: _value(point[m][i], draws[m][:, i]) for m in ("precision", "recall", "F1")}}
                      for i, c in enumerate(spec.classes)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def score_multilabel(spec: TaskSpec, targets: list, probabilities: list[np.ndarray], *,
                     n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Metrics of a multi-label task: targets 0/1 ``[C]`` or ``[L, C]`` (NaN rows not scored)."""
    k = len(spec.classes)
    tallies, exact, items = [], [], []
    for target, prob in zip(targets, probabilities):
        t = np.asarray(target, dtype=np.float64).reshape(-1, k)
        p = np.asarray(prob, dtype=np.float64).reshape(-1, k) >= spec.threshold
        scored = np.isfinite(t).all(1)
        if not scored.any():
            continue
        yes, said = t[scored] > 0.5, p[scored]
        tallies.append(np.stack([(yes & said).sum(0), (~yes & said).sum(0), (yes & ~said).sum(0),
                                 (~yes & ~said).sum(0)], -1))  # (K, 4)
        exact.append((yes == said).all(1).sum())
        items.append(len(yes))
    if not tallies:
        return {**_empty(spec), "threshold": spec.threshold, "per_label": {}}
    per_protein = np.stack(tallies).astype(np.float64)  # (P, K, 4)
    n = len(per_protein)
    counts = _bootstrap_counts(n, n_bootstrap, seed).astype(np.float64)
    exact_a, items_a = np.array(exact, dtype=np.float64), np.array(items, dtype=np.float64)

    def summary(tally: np.ndarray, n_exact, n_items) -> dict[str, np.ndarray]:
        tp, fp, fn, tn = (tally[..., i] for i in range(4))  # each (..., K)
        precision, recall, f1 = _prf(tp, fp, fn)
        seen = (tp + fn + fp) > 0
        micro = _prf(tp.sum(-1), fp.sum(-1), fn.sum(-1))[2]
        macro = np.divide((f1 * seen).sum(-1), seen.sum(-1), out=np.zeros(seen.shape[:-1]), where=seen.sum(-1) > 0)
        binary = np.stack([np.stack([tn, fp], -1), np.stack([fn, tp], -1)], -2)  # (..., K, 2, 2)
        return {"micro_F1": micro, "macro_F1": macro, "subset_accuracy": n_exact / n_items,
                "precision": precision, "recall": recall, "F1": f1, "MCC": mcc_from_confusion(binary)}

    point = summary(per_protein.sum(0), exact_a.sum(), items_a.sum())
    draws = summary(np.einsum("bp,pkc->bkc", counts, per_protein), counts @ exact_a, counts @ items_a)
    total = per_protein.sum(0)
    return {
        "task": spec.name, "kind": spec.kind.value, "level": spec.level, "classes": list(spec.classes),
        "n_proteins": int(n), "n_scored": int(items_a.sum()), "threshold": spec.threshold,
        "metrics": {m: _value(point[m], draws[m]) for m in ("macro_F1", "micro_F1", "subset_accuracy")},
        "per_label": {c: {"support": int(total[i, 0] + total[i, 2]), "predicted": int(total[i, 0] + total[i, 1]),
                          **{m: _value(point[m][i], draws[m][:, i]) for m in ("precision", "recall", "F1", "MCC")}}
                      for i, c in enumerate(spec.classes)},
    }


def _weighted_ranks(inverse: np.ndarray, n_unique: int, weights: np.ndarray) -> np.ndarray:
    """Mid-ranks of items that occur ``weights`` times each (``inverse``: their tie-group index, sorted)."""
    group = np.bincount(inverse, weights=weights, minlength=n_unique)
    mid = np.cumsum(group) - (group - 1) / 2
    return mid[inverse]


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    mx, my = (w * x).sum() / total, (w * y).sum() / total
    cov = (w * (x - mx) * (y - my)).sum()
    var = np.sqrt((w * (x - mx) ** 2).sum() * (w * (y - my) ** 2).sum())
    return float(cov / var) if var > 0 else float("nan")


def score_values(spec: TaskSpec, targets: list, values: list[np.ndarray], *,
                 n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Metrics of a value task: targets numbers or ``[L]`` arrays (NaN = not scored)."""
    truth: list[np.ndarray] = []
    pred: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    for t, p in zip(targets, values):
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        p = np.atleast_1d(np.asarray(p, dtype=np.float64))
        scored = np.isfinite(t)
        if not scored.any():
            continue
        truth.append(t[scored])
        pred.append(p[scored])
        owner.append(np.full(int(scored.sum()), len(owner)))
    if not truth:
        return _empty(spec)
    y, f, who = np.concatenate(truth), np.concatenate(pred), np.concatenate(owner)
    n = len(truth)
    _, y_inv = np.unique(y, return_inverse=True)
    _, f_inv = np.unique(f, return_inverse=True)
    n_y, n_f = int(y_inv.max()) + 1, int(f_inv.max()) + 1

    def summary(w: np.ndarray) -> dict[str, float]:
        keep = w > 0
        ww, yy, ff = w[keep], y[keep], f[keep]
        err = ff - yy
        return {"Spearman": _weighted_pearson(_weighted_ranks(y_inv[keep], n_y, ww),
                                              _weighted_ranks(f_inv[keep], n_f, ww), ww),
                "Pearson": _weighted_pearson(yy, ff, ww),
                "RMSE": float(np.sqrt((ww * err**2).sum() / ww.sum())),
                "MAE": float((ww * np.abs(err)).sum() / ww.sum())}

    point = summary(np.ones(len(y)))
    counts = _bootstrap_counts(n, n_bootstrap, seed)
    rows = [summary(c[who].astype(np.float64)) for c in counts]
    metrics = {m: _value(point[m], np.array([r[m] for r in rows])) for m in ("Spearman", "Pearson", "RMSE", "MAE")}
    return {"task": spec.name, "kind": spec.kind.value, "level": spec.level, "classes": [],
            "n_proteins": int(n), "n_scored": int(len(y)), "metrics": metrics,
            "truth_mean": float(y.mean()), "truth_sd": float(y.std())}


PERCENT = ("accuracy", "balanced_accuracy", "subset_accuracy")


def is_percent(metric: str) -> bool:
    """Whether a metric is shown in percent (accuracies: Q10, Q3, balanced accuracy, ...)."""
    return metric.startswith("Q") or metric.split("_per_protein")[0] in PERCENT


def metric_text(metric: str, m: dict) -> tuple[str, str, str]:
    """A metric as printed: its name (``" (%)"`` added where shown in percent), its value and its
    95% interval, e.g. ``("Q10 (%)", "58.90", "[57.20, 60.70]")``."""
    lo, hi = m["ci95"]
    if is_percent(metric):
        return f"{metric} (%)", f"{100 * m['value']:.2f}", f"[{100 * lo:.2f}, {100 * hi:.2f}]"
    return metric, f"{m['value']:.4f}", f"[{lo:.4f}, {hi:.4f}]"


def chance_level(result: dict, metric: str) -> tuple[float, str] | None:
    """The score a predictor without information reaches on this evaluation, as a fraction
    (None where there is no such level, e.g. RMSE): always the majority class for accuracies,
    1/K for balanced accuracy, 0 for MCC and correlations."""
    base = metric.split("_per_protein")[0]
    matrix = np.asarray(result.get("confusion_matrix") or [], dtype=np.float64)
    if (base.startswith("Q") or base == "accuracy") and matrix.size and matrix.sum() > 0:
        return float(matrix.sum(1).max() / matrix.sum()), "majority class"
    if base == "balanced_accuracy" and result.get("classes"):
        return 1.0 / len(result["classes"]), "chance"
    if base in ("MCC", "Spearman", "Pearson"):
        return 0.0, "chance"
    return None


def format_result(result: dict) -> str:
    """Human-readable lines for one task result: accuracies in percent (as ``seqvec compare``
    shows them), every other metric as it is (MCC, F1, correlations, RMSE, MAE)."""
    unit = "residues" if result["level"] == "residue" else "proteins"
    lines = [f"{result['task']} ({result.get('kind', result['level'])}): {result['n_proteins']:,} proteins, "
             f"{result['n_scored']:,} scored {unit}",
             f"  {'metric':<26} {'value':>7}  95% CI"]
    for name, m in result["metrics"].items():
        label, value, interval = metric_text(name, m)
        lines.append(f"  {label:<26} {value:>7}  {interval}")
    if result.get("per_class_mcc"):
        mccs = ", ".join(f"{c} {m['value']:.2f}" for c, m in result["per_class_mcc"].items())
        lines.append(f"  per-class MCC: {mccs}")
    if result.get("per_class"):
        f1s = ", ".join(f"{c} {m['F1']['value']:.2f} (n={m['support']})" for c, m in result["per_class"].items())
        lines.append(f"  per-class F1: {f1s}")
    if result.get("per_label"):
        lines.append(f"  threshold {result['threshold']:.2f}; per label F1 / MCC:")
        for c, m in result["per_label"].items():
            lines.append(f"    {c:<20} F1 {m['F1']['value']:.3f} [{m['F1']['ci95'][0]:.3f}, {m['F1']['ci95'][1]:.3f}]"
                         f"  MCC {m['MCC']['value']:.3f} [{m['MCC']['ci95'][0]:.3f}, {m['MCC']['ci95'][1]:.3f}]"
                         f"  (n={m['support']})")
    return "\n".join(lines)
