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
            raise UsageError(f"--search {item!r}: expected KEY=VALUE1,VALUE2,... (e.g. lr=1e-3,3e-4)",
                             option="--search", value=item)
        if key in grid:
            raise UsageError(f"--search names {key!r} twice", option="--search", value=key)
        if key == "seed":
            raise UsageError("--search seed=...: choosing the seed on validation data is not a hyper-parameter "
                             "search; use --repeat for several seeds", option="--search", value="seed")
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
        raise UsageError(f"--search: {err}", option="--search") from None
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


def train_searched(train_fn, grid: dict[str, list], config: FitConfig, hparams: dict | None,
                   val: TaskDataset | None, output: str | os.PathLike) -> tuple[HeadCheckpoint, FitResult]:
    """Train one head per grid point with ``train_fn(output, config, hparams)``; keep the best in ``output``.

    ``train_fn`` is :func:`seqvec.classifiers.training.experiment.train_head` with everything
    but these three arguments bound. Without a grid, this is one ``train_fn`` call.
    """
    output = Path(output)
    points = combinations(grid)
    if len(points) == 1 and not grid:
        return train_fn(output, config, hparams)
    if val is None or not len(val):
        raise DataError("--search needs validation proteins to choose by")
    trials = []
    for n, point in enumerate(points):
        point_config, point_hparams = apply(point, config, hparams)
        logger.info("search %d/%d: %s", n + 1, len(points), point)
        checkpoint, result = train_fn(output / "search" / str(n), point_config, point_hparams)
        trials.append((selection_score(checkpoint, val, point_config.batch_size), point, checkpoint, result))
        logger.info("search %d/%d: %s -> validation score %.4f", n + 1, len(points), point, trials[-1][0])
    # the best score; ties (and NaN scores) go to the earlier grid point
    chosen = max(range(len(trials)), key=lambda n: (np.nan_to_num(trials[n][0], nan=-np.inf), -n))
    score, point, best, result = trials[chosen]
    metric = ", ".join(f"{t}: {s.metric}" for t, s in best.tasks.items())
    training = {**best.training, "search": {
        "chosen": point, "score": score, "metric": f"mean validation {metric}", "grid": grid,
        "trials": [{"values": p, "score": s, "head": str(c.path)} for s, p, c, _ in trials]}}
    save_head(output, best.head, best.tasks, embeddings=best.embeddings, training=training)
    for name in ("history.json", "history.csv"):
        if (best.path / name).is_file():
            shutil.copy(best.path / name, output / name)
    logger.info("search: chose %s (validation score %.4f)", point, score)
    return HeadCheckpoint(best.head, best.name, best.tasks, best.embeddings, training, output), result


def describe_tasks(tasks: dict[str, TaskSpec]) -> str:
    """``localization (Q10), membrane (Q2)``."""
    return ", ".join(f"{t} ({s.metric})" for t, s in tasks.items())
