"""The Python API of search and transfer: what ``seqvec search`` and ``seqvec transfer`` run.

>>> import seqvec                                                        # doctest: +SKIP
>>> seqvec.build_index("reference.h5", "reference.index")                # exact cosine index
>>> hits = seqvec.search_index("queries.fasta", "reference.index", k=10)       # rows of HIT_COLUMNS
>>> labels = seqvec.read_labels("reference_labels.fasta")
>>> result = seqvec.transfer_labels("queries.h5", "reference.index", labels, k=None)   # k by leave-one-out
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import TASKS, TaskSpec
from seqvec.errors import ArgumentTypeError, TaskError
from seqvec.io.arguments import path_argument
from seqvec.search.neighbours import VectorIndex, load_index
from seqvec.search.query import Queries, hit_rows, read_queries
from seqvec.search.reliability import CALIBRATION_SAMPLE, K_CHOICES, LeaveOneOut, leave_one_out
from seqvec.search.transfer import predicted_label, transfer

logger = logging.getLogger(__name__)

IndexLike = VectorIndex | str | os.PathLike


def _index(index: IndexLike) -> VectorIndex:
    return index if isinstance(index, VectorIndex) else load_index(path_argument(index, "index"))


def _queries(query: str | os.PathLike | Queries, index: VectorIndex, model: str | None, device: str,
             progress: bool) -> Queries:
    if isinstance(query, Queries):
        return query
    return read_queries(path_argument(query, "query"), index, model=model, device=device, progress=progress)


def _k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int):
        raise ArgumentTypeError(f"k must be an int (hits per query), got {k!r}", argument="k", value=k)


def search_index(query: str | os.PathLike | Queries, index: IndexLike, k: int = 10, *, min_similarity: float | None = None,
           exclude_self: bool = False, model: str | None = None, device: str = "cpu", progress: bool = False
           ) -> list[tuple]:
    """The ``k`` nearest references of every query: rows ``(query, rank, target, similarity, distance)``.

    ``query``: an embedding file, or a FASTA embedded with the index's model and encoder
    (``model`` overrides the name the index records). ``exclude_self`` leaves out a
    reference of the query's own id; ``min_similarity`` drops weaker hits.
    """
    _k(k)
    index = _index(index)
    queries = _queries(query, index, model, device, progress)
    hits = index.search(queries.vectors, k, min_similarity=min_similarity,
                        query_ids=queries.ids if exclude_self else None)
    return hit_rows(index, queries.ids, hits)


def task_of(labels: LabelSet, name: str | None) -> TaskSpec:
    """The per-protein task of a label set to transfer: ``name``, or its only per-protein task."""
    specs = {t: labels.specs.get(t) or TASKS.get(t) for t in labels.tasks()}
    usable = {t: s for t, s in specs.items() if s is not None and s.level == "protein"}
    if name is not None:
        if name not in usable:
            raise TaskError(f"task {name!r} is not a per-protein task of the labels (they hold: "
                            f"{', '.join(usable) or 'none'})", task=name)
        return usable[name]
    if len(usable) != 1:
        raise TaskError(f"the labels hold {len(usable)} per-protein tasks ({', '.join(usable) or 'none'}); "
                        "choose one with `task`", task=None)
    return next(iter(usable.values()))


@dataclass
class TransferResult:
    """Predictions of one task for the queries: ``rows`` of ``header`` and the leave-one-out behind them."""

    task: TaskSpec
    k: int
    header: tuple[str, ...]
    rows: list[tuple]
    loo: LeaveOneOut


def transfer_labels(query: str | os.PathLike | Queries, index: IndexLike, labels: LabelSet,
                    task: str | None = None, k: int | None = 1, *, min_similarity: float | None = None,
                    exclude_self: bool = False, calibration_sample: int = CALIBRATION_SAMPLE, seed: int = 0,
                    model: str | None = None, device: str = "cpu", progress: bool = False) -> TransferResult:
    """Transfer a per-protein task's labels from the index's labelled references to the queries.

    ``k``: hits that vote (1: the nearest hit); None chooses it by leave-one-out on the
    reference among :data:`~seqvec.search.reliability.K_CHOICES`. Each row is ``(query,
    label, reliability, support, hits)``; reliability is calibrated by leave-one-out on
    the reference (``calibration_sample`` references, seeded); hits are ``id:similarity``
    joined by ``;``. A query without a hit gets an empty label and reliability.
    """
    if k is not None:
        _k(k)
    if not isinstance(labels, LabelSet):
        raise ArgumentTypeError(f"labels must be a LabelSet (seqvec.read_labels(...)), got a {type(labels).__name__}",
                                argument="labels", value=labels)
    index = _index(index)
    spec = task_of(labels, task)
    targets = labels.labels[spec.name]
    ks = K_CHOICES if k is None else (k,)
    loo = leave_one_out(index, spec, targets, ks, sample=calibration_sample, seed=seed,
                        min_similarity=min_similarity)
    chosen = loo.best_k if k is None else k
    if k is None:
        logger.info("k = %d chosen by leave-one-out (%s: %s)", chosen, loo.metric,
                    ", ".join(f"k={n} {v:.4f}" for n, v in loo.scores.items()))
    queries = _queries(query, index, model, device, progress)
    result = transfer(index, queries.vectors, spec, targets, k=chosen, query_ids=queries.ids,
                      exclude_self=exclude_self, min_similarity=min_similarity)
    reliability = loo.calibrations[chosen].reliability(result.support) if chosen in loo.calibrations else \
        result.support * float("nan")
    rows = []
    for q, query_id in enumerate(queries.ids):
        found = result.hits.rows[q] >= 0
        hits = ";".join(f"{index.ids[r]}:{s:.4f}" for r, s in zip(result.hits.rows[q][found],
                                                                  result.hits.similarity[q][found]))
        rows.append((query_id, predicted_label(spec, result.predictions[q]), _number(reliability[q]),
                     _number(result.support[q]), hits))
    return TransferResult(spec, chosen, ("query", spec.name, "reliability", "support", "hits"), rows, loo)


def _number(value: float) -> float | str:
    return "" if value != value else float(value)  # NaN (no hit) -> empty cell
