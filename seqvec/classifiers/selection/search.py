"""A small grid search over training and head hyper-parameters, scored on validation data only.

``--search lr=1e-3,3e-4 hidden_dim=32,64`` trains one head per combination (here 4) on
the training proteins, scores each on the *validation* proteins (the mean over the
head's tasks of each task's headline metric: Q10, Q3, MCC, macro-F1, Spearman, ...; all
are larger-is-better) and keeps the best. Test proteins are never seen. The chosen
values, every combination's score and the metric are stored in the head's
``config.json`` under ``training.search``; the other heads stay in ``OUT/search/<n>/``
for inspection.

Keys that are fields of :class:`~seqvec.classifiers.training.train.FitConfig` (``lr``,
``weight_decay``, ``batch_size``, ...) change training; any other key is a head option
(``hidden_dim``, ``dropout``, ...), as ``--head-option`` would give it.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from seqvec.classifiers.evaluation.metrics import score_task
from seqvec.classifiers.heads.checkpoint import HeadCheckpoint, save_head
from seqvec.classifiers.labels.tasks import TaskSpec
from seqvec.classifiers.training.data import TaskDataset
from seqvec.classifiers.training.experiment import HeadSpec, train_head
from seqvec.classifiers.training.train import FitConfig, FitResult, predict_dataset
from seqvec.errors import DataError, UsageError

logger = logging.getLogger(__name__)

FIT_KEYS = tuple(f.name for f in fields(FitConfig))


def parse_search(items: list[str] | None) -> dict[str, list]:
    """``["lr=1e-3,3e-4", "hidden_dim=32,64"]`` -> ``{"lr": [0.001, 0.0003], "hidden_dim": [32, 64]}``.

    Values are read as JSON where they parse (numbers, true/false), else kept as text.
    """
    grid: dict[str, list] = {}
    for item in items or []:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UsageError(f"`search` {item!r}: expected KEY=VALUE1,VALUE2,... (e.g. lr=1e-3,3e-4)",
                             option="search", value=item)
        if key in grid:
            raise UsageError(f"`search` names {key!r} twice", option="search", value=key)
        if key == "seed":
            raise UsageError("`search` seed=...: choosing the seed on validation data is not a hyper-parameter "
                             "search; use `SplitPlan.repeat` for several seeds", option="search", value="seed")
        parsed = []
        for value in values.split(","):
            try:
                parsed.append(json.loads(value))
            except json.JSONDecodeError:
                parsed.append(value.strip())
        grid[key] = parsed
    return grid


def combinations(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values (one empty combination for an empty grid)."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def apply(point: dict, config: FitConfig, hparams: dict | None) -> tuple[FitConfig, dict]:
    """The training settings and head options of one grid point."""
    fit_part = {k: v for k, v in point.items() if k in FIT_KEYS}
    try:
        config = replace(config, **fit_part)
    except TypeError as err:
        raise UsageError(f"`search`: {err}", option="search") from None
    return config, {**(hparams or {}), **{k: v for k, v in point.items() if k not in FIT_KEYS}}


def selection_score(checkpoint: HeadCheckpoint, dataset: TaskDataset, batch_size: int = 64) -> float:
    """Mean over the head's tasks of the headline metric on ``dataset`` (larger is better)."""
    dataset = dataset.subset(dataset.ids)
    dataset.tasks = dict(checkpoint.tasks)
    predictions = predict_dataset(checkpoint.head, dataset, batch_size)
    values = []
    for task, spec in checkpoint.tasks.items():
        rows = [i for i, ex in enumerate(dataset.examples) if task in ex.targets]
        if not rows:
            continue
        result = score_task(spec, [dataset[i].targets[task] for i in rows], [predictions[task][i] for i in rows],
                            n_bootstrap=1)
        name = spec.metric if spec.metric in result["metrics"] else next(iter(result["metrics"]), None)
        if name is not None:
            values.append(result["metrics"][name]["value"])
    if not values:
        raise DataError("the validation proteins have no label for the head's tasks: nothing to choose by")
    return float(np.nanmean(values))


def train_searched(spec: HeadSpec, train: TaskDataset, val: TaskDataset | None, output: str | os.PathLike,
                   extra: dict | None = None) -> tuple[HeadCheckpoint, FitResult]:
    """Train one head per point of ``spec.grid``; keep the best (by validation score) in ``output``.

    Without a grid, this trains one head. ``extra`` joins ``spec.info`` in each head's
    training record (a fold's place in a cross-validation, say).
    """
    output = Path(output)
    info = {**spec.info, **(extra or {})}
    if not spec.grid:
        return _train(spec, spec.config, spec.hparams, train, val, output, info)
    if val is None or not len(val):
        raise DataError("a search (`HeadSpec.grid`) needs validation proteins to choose by")
    points = combinations(spec.grid)
    trials = []
    for n, point in enumerate(points):
        point_config, point_hparams = apply(point, spec.config, spec.hparams)
        logger.info("search %d/%d: %s", n + 1, len(points), point)
        checkpoint, result = _train(spec, point_config, point_hparams, train, val, output / "search" / str(n), info)
        trials.append((selection_score(checkpoint, val, point_config.batch_size), point, checkpoint, result))
        logger.info("search %d/%d: %s -> validation score %.4f", n + 1, len(points), point, trials[-1][0])
    # the best score; ties (and NaN scores) go to the earlier grid point
    chosen = max(range(len(trials)), key=lambda n: (np.nan_to_num(trials[n][0], nan=-np.inf), -n))
    score, point, best, result = trials[chosen]
    metric = ", ".join(f"{t}: {s.metric}" for t, s in best.tasks.items())
    training = {**best.training, "search": {
        "chosen": point, "score": score, "metric": f"mean validation {metric}", "grid": spec.grid,
        "trials": [{"values": p, "score": s, "head": str(c.path)} for s, p, c, _ in trials]}}
    save_head(output, best.head, best.tasks, embeddings=best.embeddings, training=training)
    for name in ("history.json", "history.csv"):
        if (output / "search" / str(chosen) / name).is_file():  # the best head's own directory
            shutil.copy(output / "search" / str(chosen) / name, output / name)
    logger.info("search: chose %s (validation score %.4f)", point, score)
    return HeadCheckpoint(best.head, best.name, best.tasks, best.embeddings, training, output), result


def _train(spec: HeadSpec, config: FitConfig, hparams: dict | None, train: TaskDataset, val: TaskDataset | None,
           output: Path, info: dict) -> tuple[HeadCheckpoint, FitResult]:
    return train_head(spec.head, spec.tasks, train, val, output, config=config, hparams=hparams,
                      embeddings=spec.embeddings, info=info, progress=spec.progress, device=spec.device)


def describe_tasks(tasks: dict[str, TaskSpec]) -> str:
    """``localization (Q10), membrane (Q2)``."""
    return ", ".join(f"{t} ({s.metric})" for t, s in tasks.items())
