"""Score a trained head on labelled proteins (behind ``seqvec evaluate`` and ``seqvec compare``)."""
from __future__ import annotations

import logging
import os

from seqvec.classifiers.evaluation.metrics import N_BOOTSTRAP, score_task
from seqvec.classifiers.heads.checkpoint import HeadCheckpoint
from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import TASKS
from seqvec.classifiers.labels.userlabels import align_classes
from seqvec.classifiers.training.data import TaskDataset, build_dataset
from seqvec.classifiers.training.train import predict_dataset
from seqvec.errors import CheckpointError, TaskError

logger = logging.getLogger(__name__)


def check_inputs_match(checkpoint: HeadCheckpoint, identity: dict, input_dim: int | None = None) -> None:
    """Raise if embeddings were not made the way the head's training embeddings were."""
    if input_dim is not None and input_dim != checkpoint.head.input_dim:
        raise CheckpointError(f"head {checkpoint.path} takes {checkpoint.head.input_dim}-dim inputs "
                              f"({_describe(checkpoint.embeddings)}); the embeddings have {input_dim} dims "
                              f"({_describe(identity)})")
    for key in ("encoder", "model_sha256", "layers"):
        mine, theirs = checkpoint.embeddings.get(key), identity.get(key)
        if mine is not None and theirs is not None and mine != theirs:
            raise CheckpointError(f"head {checkpoint.path} was trained on embeddings from "
                                  f"{_describe(checkpoint.embeddings)}; these come from {_describe(identity)}")


def _describe(identity: dict) -> str:
    if not identity:
        return "an unrecorded source"
    sha = identity.get("model_sha256", "")[:12]
    return f"{identity.get('encoder', '?')} {identity.get('model', '?')} ({sha}) layers={identity.get('layers', '?')}"


def evaluate_dataset(checkpoint: HeadCheckpoint, dataset: TaskDataset, *, n_bootstrap: int = N_BOOTSTRAP,
                     seed: int = 0, batch_size: int = 64, device: str = "cpu") -> dict[str, dict]:
    """Metrics (with bootstrap intervals) of every task of ``dataset`` the head predicts (run on ``device``)."""
    probabilities = predict_dataset(checkpoint.head, dataset, batch_size, device=device)
    results = {}
    for task, spec in dataset.tasks.items():
        rows = [i for i, ex in enumerate(dataset.examples) if task in ex.targets]
        results[task] = score_task(spec, [dataset[i].targets[task] for i in rows],
                                   [probabilities[task][i] for i in rows], n_bootstrap=n_bootstrap, seed=seed)
    return results


def test_sets(labels: LabelSet) -> dict[str, list[str]]:
    """The proteins to score: each named test set the files mark (``test``, ``test2``, ...),
    or, when none is marked, every protein except ``pred`` ones (for predicting only)."""
    marked: dict[str, list[str]] = {}
    for rid in labels.ids:
        part = labels.partition.get(rid, "")
        if part.startswith("test"):
            marked.setdefault(part, []).append(rid)
    if marked:
        return dict(sorted(marked.items()))
    return {"all": [rid for rid in labels.ids if labels.partition.get(rid) != "pred"]}


def evaluate_head(checkpoint: HeadCheckpoint, labels: LabelSet, embeddings: str | os.PathLike, *,
                  identity: dict | None = None, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0,
                  ids: list[str] | None = None, device: str = "cpu") -> dict:
    """Score a loaded head on the proteins of ``labels`` (or ``ids`` of them) embedded in ``embeddings``.

    Returns ``{"head", "head_name", "embeddings", "tasks": {task: metrics}}`` where each
    task's metrics are :func:`seqvec.classifiers.evaluation.metrics.score_task` results.
    """
    tasks = {}
    for task, spec in checkpoint.tasks.items():
        if not labels.labels.get(task):
            continue
        if task in labels.specs:
            align_classes(labels, task, spec)
        elif task in TASKS and spec.classes != TASKS[task].classes:
            raise CheckpointError(f"head {checkpoint.path}: task {task!r} has classes {spec.classes}, "
                                  f"the label files use {TASKS[task].classes}")
        tasks[task] = spec
    if not tasks:
        raise TaskError(f"the labels ({', '.join(labels.sources)}) have none of the head's tasks "
                        f"({', '.join(checkpoint.tasks)})")
    check_inputs_match(checkpoint, identity or {})
    dataset = build_dataset(labels, embeddings, tasks, checkpoint.head.input_level, ids=ids)
    check_inputs_match(checkpoint, identity or {}, dataset.input_dim)
    logger.info("evaluating %s on %d proteins (%s)", checkpoint.name, len(dataset), ", ".join(tasks))
    return {"head": str(checkpoint.path), "head_name": checkpoint.name, "embeddings": identity or {},
            "labels": list(labels.sources), "n_bootstrap": n_bootstrap,
            "tasks": evaluate_dataset(checkpoint, dataset, n_bootstrap=n_bootstrap, seed=seed,
                                             device=device)}
