"""Leave-one-out on the reference: the best k, and a reliability score calibrated on it.

Each labelled reference (or a seeded sample of ``sample`` of them) is transferred from the
others (its own id left out). That gives, for every k tried, the task's headline metric
(Q10, MCC, macro-F1, Spearman: all larger-is-better) to choose k by, and pairs of
(support, correctness) for the chosen k. An isotonic (monotone) fit of correctness on
support turns the support of a new prediction into its **reliability**: the fraction of
reference predictions with that support that were right. Correctness is 1/0 for classes,
the F1 of the label sets for multi-label tasks, and for values whether the transferred
value lies within ``tolerance`` (half the standard deviation of the reference values) of the
truth. A user keeps the predictions above a reliability threshold and knows, from the
reference, how often those are right.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression

from seqvec.classifiers.evaluation.metrics import score_task
from seqvec.classifiers.labels.tasks import TaskSpec
from seqvec.errors import DataError
from seqvec.search.neighbours import VectorIndex
from seqvec.search.transfer import correctness, labelled_targets, predict_from_hits

logger = logging.getLogger(__name__)

K_CHOICES = (1, 3, 5, 10, 20, 50)  # tried by leave-one-out when k is chosen automatically
CALIBRATION_SAMPLE = 5000  # references transferred for the calibration (all if fewer)


@dataclass
class Calibration:
    """The leave-one-out result of one k: ``support``/``correct`` per reference and the fitted curve."""

    k: int
    support: np.ndarray
    correct: np.ndarray
    tolerance: float
    fit: IsotonicRegression

    def reliability(self, support: np.ndarray) -> np.ndarray:
        """Reliability in [0, 1] of predictions with this support (NaN where support is NaN: no hit)."""
        support = np.asarray(support, dtype=np.float64)
        out = np.full(support.shape, np.nan)
        finite = np.isfinite(support)
        if finite.any():
            out[finite] = self.fit.predict(support[finite])
        return out

    def table(self, points: int = 11) -> list[dict]:
        """The calibration at ``points`` support quantiles: support, reliability (JSON-ready)."""
        qs = np.quantile(self.support, np.linspace(0, 1, points)) if len(self.support) else []
        return [{"support": float(s), "reliability": float(self.fit.predict([s])[0])} for s in qs]


@dataclass
class LeaveOneOut:
    """Leave-one-out on the reference: ``scores[k]`` (headline metric) for each k tried, the ``best_k``
    and its :class:`Calibration` (``calibrations`` for every k)."""

    metric: str
    scores: dict[int, float]
    best_k: int
    calibrations: dict[int, Calibration]
    n: int


def value_tolerance(spec: TaskSpec, values: list) -> float:
    """Half the standard deviation of the reference values (0 for class and label tasks)."""
    return 0.5 * float(np.std(np.asarray(values, dtype=np.float64))) if spec.kind.target == "value" else 0.0


def leave_one_out(index: VectorIndex, spec: TaskSpec, targets: dict, ks: Sequence[int] = K_CHOICES, *,
                  sample: int = CALIBRATION_SAMPLE, seed: int = 0, min_similarity: float | None = None
                  ) -> LeaveOneOut:
    """Transfer each labelled reference (a seeded sample of ``sample``) from the others, for every k in ``ks``.

    One search for the largest k serves all (the k nearest are the first k of the largest).
    """
    rows, values = labelled_targets(index, spec, targets)
    if len(rows) < 2:
        raise DataError(f"leave-one-out needs at least 2 references labelled for {spec.name}, found {len(rows)}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=min(sample, len(rows)), replace=False))
    query_rows = rows[chosen]
    vectors = index.vectors()[query_rows]  # [n, D]
    ids = [index.ids[r] for r in query_rows]
    largest = max(ks)
    hits = index.search(vectors, largest, allowed=rows, query_ids=ids, min_similarity=min_similarity)
    target_of = dict(zip(rows.tolist(), values))
    truth = [target_of[r] for r in query_rows.tolist()]
    tolerance = value_tolerance(spec, values)
    scores, calibrations = {}, {}
    for k in sorted(set(ks)):
        predictions, support = predict_from_hits(spec, hits.rows[:, :k], hits.similarity[:, :k], target_of, k)
        scored = [i for i, p in enumerate(predictions) if p is not None]
        made = [p for p in predictions if p is not None]
        if not scored:
            continue
        result = score_task(spec, [truth[i] for i in scored], made, n_bootstrap=1)
        scores[k] = float(result["metrics"][spec.metric]["value"])
        correct = np.array([correctness(spec, p, truth[i], tolerance) for i, p in zip(scored, made)])
        fit = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        fit.fit(support[scored], correct)
        calibrations[k] = Calibration(k, support[scored], correct, tolerance, fit)
        logger.info("leave-one-out on %d references, k=%d: %s %.4f", len(scored), k, spec.metric, scores[k])
    if not scores:
        raise DataError(f"leave-one-out found no neighbours for {spec.name} (is `min_similarity` too high?)")
    best = max(scores, key=lambda k: (scores[k], -k))
    return LeaveOneOut(spec.metric, scores, best, calibrations, len(query_rows))

