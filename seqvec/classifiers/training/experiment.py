"""From label files and embeddings to a trained head directory.

Steps: make sure the embeddings exist (embed the label files' sequences when the
embedding file is missing), pick the validation proteins, build the datasets, seed, build
the head from the registry, :func:`~seqvec.classifiers.training.train.fit`, save the checkpoint.
:class:`HeadSpec` says what to train; :func:`seqvec.classifiers.selection.recipe.train_by_plan`
(splits, cross-validation, search) is the entry point of ``seqvec train``, ``run`` and ``compare``.
"""
from __future__ import annotations

import inspect
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from seqvec.classifiers.heads.checkpoint import HeadCheckpoint, save_head
from seqvec.classifiers.heads.registry import head_class
from seqvec.classifiers.labels.files import write_fasta
from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import TaskKind, TaskSpec
from seqvec.classifiers.training.data import TaskDataset, build_dataset, embedding_identity, split_ids
from seqvec.classifiers.training.train import (
    FitConfig,
    FitResult,
    check_config,
    choose_thresholds,
    class_counts,
    fit,
    seed_everything,
    standardise_values,
)
from seqvec.errors import DataError, SeqVecError, TaskError, UsageError

logger = logging.getLogger(__name__)

DEFAULT_HEAD = {"protein": "fnn", "residue": "cnn"}  # by task level
DEFAULT_VAL_FRACTION = 0.1


@dataclass(frozen=True)
class HeadSpec:
    """What to train and how: a head (its registry name) for ``tasks``, its training settings and
    options, the grid to search (:mod:`seqvec.classifiers.selection.search`), and what its
    checkpoint records."""

    head: str
    tasks: dict[str, TaskSpec]
    config: FitConfig = FitConfig()
    hparams: dict | None = None  # head options, e.g. {"hidden_dim": 64}
    grid: dict[str, list] = field(default_factory=dict)  # search: key -> values (empty: no search)
    embeddings: dict = field(default_factory=dict)  # identity of the embedding file, kept in the checkpoint
    info: dict = field(default_factory=dict)  # into the checkpoint's training record (label files, ...)
    progress: bool = False
    device: str = "cpu"


def ensure_embeddings(labels: LabelSet, path: str | os.PathLike, *, encoder: str = "lm", model=None,
                      progress: bool = False, **options) -> Path:
    """``path`` if it exists; otherwise embed the label set's sequences into it first.

    ``options`` go to :func:`seqvec.embeddings.pipeline.embed_fasta` (``dtype``, ...).
    """
    path = Path(path)
    if path.exists():
        return path
    from seqvec.embeddings.pipeline import embed_fasta

    logger.info("%s does not exist: embedding %d sequences of %s with %s", path, len(labels.ids),
                ", ".join(labels.sources), encoder if encoder != "lm" else (model or "the default model"))
    reader = logging.getLogger("seqvec.io.fasta")
    level = reader.level
    with tempfile.TemporaryDirectory() as tmp:
        fasta = write_fasta(labels, Path(tmp) / "sequences.fasta")
        reader.setLevel(max(logging.WARNING, level))  # its "read N records from /tmp/..." would name a temporary file
        try:
            embed_fasta(fasta, path, model, encoder=encoder, progress=progress, **options)
        finally:
            reader.setLevel(level)
    return path


def validation_ids(labels: LabelSet, tasks: dict[str, TaskSpec], fraction: float | None,
                   seed: int) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) from one label set.

    Only proteins with a label for one of ``tasks`` take part. ``fraction`` given: a
    seeded split stratified by the first per-protein task's class.
    Otherwise the validation partition the files mark (FLIP ``VALIDATION=True``) if any,
    else a 10% split. Proteins a file marks as ``test`` are never used for training.
    """
    ids = [i for i in labels.ids if any(i in labels.labels.get(t, {}) for t in tasks)]
    held = [i for i in ids if labels.partition.get(i, "train") not in ("train", "validation")]
    if held:
        sets = sorted({labels.partition[i] for i in held})
        logger.info("%d proteins marked %s in the label files are left out of training (e.g. %s)",
                    len(held), "/".join(sets), held[:3])
        ids = [i for i in ids if labels.partition.get(i, "train") in ("train", "validation")]
    marked = [i for i in ids if labels.partition.get(i) == "validation"]
    if fraction is None and marked:
        logger.info("using the %d proteins the label files mark as validation", len(marked))
        return [i for i in ids if labels.partition.get(i) != "validation"], marked
    first = next(iter(tasks.values()))
    strata = labels.labels.get(first.name) if first.kind == TaskKind.PROTEIN_CLASS else None
    return split_ids(ids, strata, DEFAULT_VAL_FRACTION if fraction is None else fraction, seed)


def datasets(labels: LabelSet, embeddings: str | os.PathLike, tasks: dict[str, TaskSpec], input_level: str, *,
             val_labels: LabelSet | None = None, val_embeddings: str | os.PathLike | None = None,
             val_fraction: float | None = None, seed: int = 0) -> tuple[TaskDataset, TaskDataset]:
    """Training and validation datasets (separate validation files, or a split of the training ones)."""
    if val_labels is not None:
        train = build_dataset(labels, embeddings, tasks, input_level)
        val = build_dataset(val_labels, val_embeddings or embeddings, tasks, input_level)
        overlap = set(train.ids) & set(val.ids)
        if overlap:
            raise DataError(f"{len(overlap)} proteins are in both the training and the validation labels, "
                            f"e.g. {sorted(overlap)[:3]}", ids=sorted(overlap))
        return train, val
    train_ids, val_ids = validation_ids(labels, tasks, val_fraction, seed)
    everything = build_dataset(labels, embeddings, tasks, input_level, ids=train_ids + val_ids)
    kept = set(everything.ids)
    return (everything.subset([i for i in train_ids if i in kept]),
            everything.subset([i for i in val_ids if i in kept]))


def train_head(head: str, tasks: dict[str, TaskSpec], train: TaskDataset, val: TaskDataset | None,
               output: str | os.PathLike, *, config: FitConfig = FitConfig(), hparams: dict | None = None,
               embeddings: dict | None = None, info: dict | None = None, progress: bool = False,
               half: bool = False, device: str = "cpu") -> tuple[HeadCheckpoint, FitResult]:
    """Build, train (on ``device``) and save a head; returns the checkpoint (best weights, on the CPU)
    and the fit history."""
    cls = head_class(head)
    for name, spec in tasks.items():
        if spec.level != cls.output_level:
            raise TaskError(f"head {head!r} predicts per-{cls.output_level} outputs; task {name!r} is "
                            f"per-{spec.level} (use {DEFAULT_HEAD[spec.level]!r})", task=name, head=head)
    check_config(config)
    for name, spec in tasks.items():
        if spec.kind.target == "class" and len(spec.classes) < 2:
            raise TaskError(f"task {name!r} has one class only ({spec.classes[0]!r}): nothing to learn", task=name)
    tasks = standardise_values(tasks, train)
    train.tasks = dict(tasks)
    if val is not None:
        val.tasks = dict(tasks)
    counts = class_counts(train)
    for name, per_class in counts.items():
        logger.info("task %s, training counts: %s", name, ", ".join(f"{c} {n}" for c, n in per_class.items()))
    seed_everything(config.seed)
    takes = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "input_dim", "outputs")]
    unknown = sorted(set(hparams or {}) - set(takes))
    if unknown:
        raise UsageError(f"head {head!r} does not take these options {unknown}; its options: {', '.join(takes)}",
                         option="hparams", value=unknown)
    try:
        model = cls(train.input_dim, {t: s.n_outputs for t, s in tasks.items()}, **(hparams or {}))
    except (TypeError, ValueError, RuntimeError) as err:
        raise UsageError(f"head {head!r}: bad option value in {hparams}: {err}",
                         option="hparams", value=hparams) from None
    logger.info("training %s head (%d parameters) on %d proteins, validating on %d", head,
                sum(p.numel() for p in model.parameters()), len(train), len(val) if val is not None else 0)
    result = fit(model, train, val, config, run_dir=output, progress=progress, device=device)
    tasks = choose_thresholds(model, tasks, val, config)
    best = next((row for row in result.history if row["epoch"] == result.best_epoch), {})
    training = {**(info or {}), "fit": asdict(config), "best_epoch": result.best_epoch,
                "epochs_run": len(result.history), "best": best, "class_counts": counts,
                "n_train": len(train), "n_val": len(val) if val is not None else 0}
    save_head(output, model, tasks, embeddings=embeddings or {}, training=training, half=half)
    return HeadCheckpoint(model, head, tasks, embeddings or {}, training, Path(output)), result


def file_identity(path: str | os.PathLike) -> dict:
    """Embedding identity of a file, empty if the file carries none (e.g. written by hand)."""
    try:
        return embedding_identity(path)
    except SeqVecError:
        return {}
