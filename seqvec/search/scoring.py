"""Scoring a transfer's predictions table against labels: the heads' metrics, coverage and the
reliability curve (the headline metric of the predictions kept above each reliability threshold)."""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from seqvec.classifiers.evaluation.metrics import N_BOOTSTRAP, score_task
from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import TASKS, TaskSpec
from seqvec.errors import InputFileError, TaskError

logger = logging.getLogger(__name__)

CURVE_POINTS = 20  # reliability thresholds of the curve (quantiles of the predictions' reliability)


def read_predictions(path: str | os.PathLike) -> tuple[str, dict[str, str], dict[str, float]]:
    """A ``seqvec transfer`` table: the task's name, ``{query: label text}`` and ``{query: reliability}``."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"predictions table not found: {path}", path=path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if not rows or len(rows[0]) < 3 or rows[0][0] != "query" or rows[0][2] != "reliability":
        raise InputFileError(f"{path} is not a 'seqvec transfer' table (header: query, TASK, reliability, ...)",
                             path=path, row=1)
    task, labels, reliability = rows[0][1], {}, {}
    for number, row in enumerate(rows[1:], 2):
        if len(row) < 3:
            raise InputFileError(f"{path}: row {number} has {len(row)} columns, expected at least 3", path=path,
                                 row=number)
        labels[row[0]] = row[1]
        try:
            reliability[row[0]] = float(row[2]) if row[2] else float("nan")
        except ValueError:
            raise InputFileError(f"{path}: row {number}: reliability {row[2]!r} is not a number", path=path,
                                 row=number) from None
    return task, labels, reliability


def as_prediction(spec: TaskSpec, text: str, where: str) -> np.ndarray | None:
    """A table cell as the metrics take it: one-hot class ``[C]``, 0/1 labels ``[C]``, a value; None if empty."""
    if text == "" and spec.kind.target != "multilabel":
        return None
    if spec.kind.target == "value":
        return np.asarray(float(text))
    names = [text] if spec.kind.target == "class" else [t for t in text.split(";") if t]
    unknown = [n for n in names if n not in spec.classes]
    if unknown:
        raise TaskError(f"{where}: {unknown[0]!r} is not a class of task {spec.name!r} ({', '.join(spec.classes)})",
                        task=spec.name)
    return np.isin(np.array(spec.classes), names).astype(np.float64)


def score_predictions(path: str | os.PathLike, labels: LabelSet, *, n_bootstrap: int = N_BOOTSTRAP,
                      seed: int = 0) -> dict:
    """Metrics (95% bootstrap intervals) of a transfer table on the queries the labels cover, their
    coverage (share with a prediction) and the reliability curve."""
    task, texts, reliability = read_predictions(path)
    spec = labels.specs.get(task) or TASKS.get(task)
    if spec is None or task not in labels.labels:
        raise TaskError(f"the labels have no task {task!r} (the predictions' column); they hold "
                        f"{', '.join(labels.tasks()) or 'none'}", task=task)
    targets = labels.labels[task]
    labelled = [q for q in texts if q in targets]
    if not labelled:
        raise TaskError(f"none of the {len(texts)} queries in {path} has a {task} label", task=task)
    converted = {q: as_prediction(spec, texts[q], f"{path}: query {q!r}") for q in labelled}
    predicted = [q for q in labelled if converted[q] is not None]
    predictions = [p for p in converted.values() if p is not None]
    truth = [targets[q] for q in predicted]
    result = score_task(spec, truth, predictions, n_bootstrap=n_bootstrap, seed=seed)
    logger.info("%s: %d of %d labelled queries have a prediction", path, len(predicted), len(labelled))
    return {"task": task, "n_queries": len(texts), "n_labelled": len(labelled), "n_predicted": len(predicted),
            "coverage": len(predicted) / len(labelled), "result": result,
            "reliability_curve": reliability_curve(spec, truth, predictions, [reliability[q] for q in predicted],
                                                   len(labelled))}


def reliability_curve(spec: TaskSpec, truth: list, predictions: list, reliability: list[float],
                      n_labelled: int, points: int = CURVE_POINTS) -> list[dict]:
    """For reliability thresholds (quantiles), the coverage of the labelled queries and the headline
    metric of the predictions kept (reliability >= threshold), with their mean reliability."""
    rel = np.asarray(reliability, dtype=np.float64)
    if not np.isfinite(rel).any():
        return []
    thresholds = np.unique(np.quantile(rel[np.isfinite(rel)], np.linspace(0, 1, points, endpoint=False)))
    curve = []
    for t in thresholds:
        kept = np.flatnonzero(rel >= t)
        value = score_task(spec, [truth[i] for i in kept], [predictions[i] for i in kept], n_bootstrap=1)
        curve.append({"threshold": float(t), "n": int(len(kept)), "coverage": len(kept) / n_labelled,
                      "metric": spec.metric, "value": float(value["metrics"][spec.metric]["value"]),
                      "mean_reliability": float(rel[kept].mean())})
    return curve
