"""Annotation transfer: the label of the nearest labelled reference, or a similarity-weighted vote of k.

For every per-protein task kind (:class:`~seqvec.classifiers.labels.tasks.TaskKind`):

- classes: each hit votes for its class with weight ``w = max(similarity, 0)``; the class
  with the largest weight wins (ties: the class of the nearer hit). ``probabilities [C]``
  are the weights' shares.
- multi-label sets (GO terms, ...): each label gets the weighted share of hits that carry
  it; labels with a share >= 0.5 are transferred (k = 1: the hit's set).
- values: the weighted mean of the hits' values.

Only references labelled for the task are searched. Each prediction has a raw
``support``: the summed weight of the hits that agree with it, divided by k (k = 1: the
similarity of the hit), which :mod:`seqvec.search.reliability` turns into a reliability.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from seqvec.classifiers.labels.tasks import IGNORE, TaskSpec
from seqvec.errors import DataError, TaskError
from seqvec.search.neighbours import Neighbours, VectorIndex

logger = logging.getLogger(__name__)

MULTILABEL_SHARE = 0.5  # a label is transferred when at least this weighted share of the hits carries it


@dataclass
class Transferred:
    """Predictions for ``Q`` queries: ``predictions[q]`` as the task's metrics take them (class or label
    probabilities ``[C]``, a value ``[]``) or None (no hit), ``support [Q]`` (NaN: no hit) and the hits."""

    predictions: list[np.ndarray | None]
    support: np.ndarray
    hits: Neighbours


def labelled_targets(index: VectorIndex, spec: TaskSpec, targets: dict) -> tuple[np.ndarray, list]:
    """Positions in the index of the references labelled for the task, and their targets (same order).

    Raises TaskError for a per-residue task and DataError if no reference has a label.
    """
    if spec.level != "protein":
        raise TaskError(f"task {spec.name!r} is {spec.kind.value}: transfer works on per-protein tasks "
                        "(classes, label sets, values)", task=spec.name)
    rows, values = [], []
    for row, rid in enumerate(index.ids):
        value = targets.get(rid)
        if value is not None and _scored(spec, value):
            rows.append(row)
            values.append(value)
    if not rows:
        raise DataError(f"no protein of the index {index.path} has a {spec.name} label "
                        f"({len(targets)} labelled proteins, none of the index's {len(index)} ids)")
    logger.info("%s: %d of the index's %d proteins are labelled", spec.name, len(rows), len(index))
    return np.array(rows, dtype=np.int64), values


def _scored(spec: TaskSpec, value: object) -> bool:
    if spec.kind.target == "class":
        return int(value) != IGNORE  # type: ignore[call-overload]
    return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))


def vote(spec: TaskSpec, hit_targets: list, weights: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """One query's prediction from its hits' targets (nearest first) and weights ``[h]``, and its support."""
    w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0) + 1e-12
    target = spec.kind.target
    if target == "class":
        shares = np.zeros(len(spec.classes))
        np.add.at(shares, np.array([int(t) for t in hit_targets]), w)
        shares[int(hit_targets[0])] += 1e-9  # ties go to the nearer hit
        winner = int(shares.argmax())
        agree = np.array([int(t) == winner for t in hit_targets])
        return shares / shares.sum(), float((w * agree).sum() / k)
    if target == "multilabel":
        sets = np.stack([np.asarray(t, dtype=np.float64) for t in hit_targets])  # (h, C)
        shares = (w[:, None] * sets).sum(0) / w.sum()
        chosen = shares >= MULTILABEL_SHARE
        agree = np.array([_f1(chosen, s > 0.5) for s in sets])
        return shares, float((w * agree).sum() / k)
    values = np.array([float(t) for t in hit_targets])
    return np.asarray((w * values).sum() / w.sum()), float(w.sum() / k)


def _f1(predicted: np.ndarray, true: np.ndarray) -> float:
    """F1 of two label sets (1 when both are empty)."""
    both = int((predicted & true).sum())
    total = int(predicted.sum() + true.sum())
    return 1.0 if total == 0 else 2.0 * both / total


def transfer(index: VectorIndex, vectors: np.ndarray, spec: TaskSpec, targets: dict, *, k: int = 1,
             query_ids: list[str] | None = None, exclude_self: bool = False,
             min_similarity: float | None = None) -> Transferred:
    """Transfer a task's labels to the queries ``vectors [Q, D]`` from their ``k`` nearest labelled references.

    ``targets``: ``{reference id: target}`` as a :class:`~seqvec.classifiers.labels.readers.LabelSet`
    holds them. ``exclude_self`` (needs ``query_ids``) leaves out a reference of the query's own id.
    """
    rows, values = labelled_targets(index, spec, targets)
    hits = index.search(vectors, k, allowed=rows, min_similarity=min_similarity,
                        query_ids=query_ids if exclude_self else None)
    predictions, support = predict_from_hits(spec, hits.rows, hits.similarity, dict(zip(rows.tolist(), values)), k)
    return Transferred(predictions, support, hits)


def predict_from_hits(spec: TaskSpec, rows: np.ndarray, similarity: np.ndarray, target_of: dict, k: int
                      ) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Votes of hits ``rows``/``similarity [Q, h]`` (row -1: none) whose targets ``target_of`` gives:
    the predictions (None: no hit) and their support ``[Q]``."""
    predictions: list[np.ndarray | None] = []
    support = np.full(len(rows), np.nan)
    for q in range(len(rows)):
        found = rows[q] >= 0
        if not found.any():
            predictions.append(None)
            continue
        prediction, support[q] = vote(spec, [target_of[r] for r in rows[q][found]], similarity[q][found], k)
        predictions.append(prediction)
    return predictions, support


def predicted_label(spec: TaskSpec, prediction: np.ndarray | None) -> str:
    """A prediction as the output table writes it: a class name, labels joined by ';', a number, or ''."""
    if prediction is None:
        return ""
    if spec.kind.target == "class":
        return spec.classes[int(np.argmax(prediction))]
    if spec.kind.target == "multilabel":
        return ";".join(c for c, share in zip(spec.classes, prediction) if share >= MULTILABEL_SHARE)
    return f"{float(prediction):.6g}"


def correctness(spec: TaskSpec, prediction: np.ndarray, target: object, tolerance: float) -> float:
    """How right one prediction is, in [0, 1]: class right (1/0), F1 of the label sets, or whether a value
    is within ``tolerance`` of the truth (1/0)."""
    if spec.kind.target == "class":
        return float(int(np.argmax(prediction)) == int(target))  # type: ignore[call-overload]
    if spec.kind.target == "multilabel":
        return _f1(np.asarray(prediction) >= MULTILABEL_SHARE, np.asarray(target, dtype=np.float64) > 0.5)
    return float(abs(float(prediction) - float(target)) <= tolerance)  # type: ignore[arg-type]
