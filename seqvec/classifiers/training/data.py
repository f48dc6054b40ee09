"""Task datasets: embeddings joined with labels, padded batches, splits.

A :class:`TaskDataset` holds one :class:`Example` per protein: its input (per-protein
``[D]`` or per-residue ``[L, D]``, kept in the stored dtype) and its targets per task
(see :class:`~seqvec.classifiers.labels.tasks.TaskKind`: a class index or an int array ``[L]``
with ``IGNORE`` = not scored; a 0/1 vector ``[C]`` or ``[L, C]``; a number or an array
``[L]``; NaN = not scored). Batches are :class:`Batch` objects with float32 tensors,
padding after each protein.
Reading label files lives in :mod:`seqvec.classifiers.labels.readers`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import IGNORE, TaskSpec
from seqvec.errors import EmbeddingFileError, LabelFormatError, UsageError
from seqvec.io import budget_batches

logger = logging.getLogger(__name__)


@dataclass
class Example:
    """One protein: its input and its targets (task -> int, or int64 array ``[L]``)."""

    id: str
    x: np.ndarray  # [D] (per-protein input) or [L, D] (per-residue input)
    targets: dict[str, int | np.ndarray] = field(default_factory=dict)

    @property
    def length(self) -> int:
        """Residues (1 for per-protein input)."""
        return self.x.shape[0] if self.x.ndim == 2 else 1


@dataclass
class Batch:
    """Padded tensors of several proteins."""

    ids: list[str]
    x: torch.Tensor  # [B, D] or [B, L, D] float32
    mask: torch.Tensor | None  # [B, L] bool, True = real residue; None for per-protein input
    # task -> class tasks: [B] or [B, L] int64, IGNORE where not scored or padding;
    # multi-label: [B, C] or [B, L, C] float32; values: [B] or [B, L] float32; NaN where not scored or padding
    targets: dict[str, torch.Tensor]


class TaskDataset:
    """Examples of one input level, with the tasks their targets belong to."""

    def __init__(self, examples: list[Example], tasks: dict[str, TaskSpec], input_level: str):
        if input_level not in ("protein", "residue"):
            raise ValueError(f"input_level must be 'protein' or 'residue', got {input_level!r}")
        want = 1 if input_level == "protein" else 2
        for ex in examples:
            if ex.x.ndim != want:
                raise ValueError(f"{input_level} input of {ex.id!r} must have {want} dims, got {ex.x.shape}")
        dims = {ex.x.shape[-1] for ex in examples}
        if len(dims) > 1:
            raise ValueError(f"embeddings of different sizes in one dataset: {sorted(dims)}")
        self.examples = examples
        self.tasks = dict(tasks)
        self.input_level = input_level
        self.input_dim = dims.pop() if dims else 0

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]

    @property
    def ids(self) -> list[str]:
        return [ex.id for ex in self.examples]

    def subset(self, ids: list[str]) -> TaskDataset:
        """The examples with these ids, in this order."""
        by_id = {ex.id: ex for ex in self.examples}
        return TaskDataset([by_id[i] for i in ids], self.tasks, self.input_level)

    def collate(self, indices: list[int]) -> Batch:
        """Pad the examples at ``indices`` into one batch."""
        chosen = [self.examples[i] for i in indices]
        if self.input_level == "protein":
            x = torch.from_numpy(np.stack([ex.x for ex in chosen]).astype(np.float32))  # (B, D)
            mask = None
        else:
            longest = max(ex.length for ex in chosen)
            x = torch.zeros(len(chosen), longest, self.input_dim)  # (B, L, D)
            mask = torch.zeros(len(chosen), longest, dtype=torch.bool)  # (B, L)
            for b, ex in enumerate(chosen):
                x[b, : ex.length] = torch.from_numpy(ex.x.astype(np.float32, copy=False))
                mask[b, : ex.length] = True
        targets = {name: _collate_targets(chosen, name, spec, x.shape[1] if mask is not None else 0)
                   for name, spec in self.tasks.items()}
        return Batch([ex.id for ex in chosen], x, mask, targets)

    def batches(self, batch_size: int = 64, max_residues: int | None = None, *, shuffle: bool = False,
                rng: np.random.Generator | None = None) -> Iterator[Batch]:
        """Padded batches of at most ``batch_size`` proteins and ``max_residues`` padded residues.

        Without shuffling, proteins come longest first (little padding). With shuffling,
        proteins are shuffled, sorted by length within windows of 50 batches, and the
        batches shuffled. A batch always takes at least two proteins (batch norm needs
        two in training): a last lone protein takes one from the batch before it, or joins
        it if that batch has only two.
        """
        for indices in batch_indices([ex.length for ex in self.examples], batch_size, max_residues,
                                     shuffle=shuffle, rng=rng):
            yield self.collate(indices)


def _collate_targets(chosen: list[Example], name: str, spec: TaskSpec, longest: int) -> torch.Tensor:
    """One task's padded targets (see :class:`Batch`)."""
    kind = spec.kind
    if kind.target == "class":
        if kind.level == "protein":
            return torch.tensor([int(ex.targets.get(name, IGNORE)) for ex in chosen])
        t = torch.full((len(chosen), longest), IGNORE, dtype=torch.long)  # (B, L)
        for b, ex in enumerate(chosen):
            if name in ex.targets:
                t[b, : ex.length] = torch.from_numpy(np.asarray(ex.targets[name], dtype=np.int64))
        return t
    shape = (len(chosen),) if kind.level == "protein" else (len(chosen), longest)
    if kind.target == "multilabel":
        shape = (*shape, len(spec.classes))
    out = torch.full(shape, float("nan"))  # (B[, L][, C])
    for b, ex in enumerate(chosen):
        if name in ex.targets:
            value = torch.as_tensor(np.asarray(ex.targets[name], dtype=np.float32))
            if kind.level == "protein":
                out[b] = value
            else:
                out[b, : ex.length] = value
    return out


def batch_indices(lengths: list[int], batch_size: int, max_residues: int | None = None, *,
                  shuffle: bool = False, rng: np.random.Generator | None = None) -> list[list[int]]:
    """Group protein indices into batches (see :meth:`TaskDataset.batches`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sizes = np.asarray(lengths)
    rng = rng if rng is not None else np.random.default_rng()
    if shuffle:
        order = rng.permutation(len(sizes))
        window = batch_size * 50
        order = np.concatenate([chunk[np.argsort(-sizes[chunk], kind="stable")]
                                for chunk in np.split(order, range(window, len(order), window))]
                               ) if len(order) else order
    else:
        order = np.argsort(-sizes, kind="stable")
    batches = budget_batches(sizes.tolist(), max_residues, order=order.tolist(), max_items=batch_size,
                             min_items=2)
    current = batches.pop() if batches else []
    if len(current) == 1 and batches and batch_size > 1:
        # a lone last protein takes the shortest of the batch before (or joins it if that has two)
        if len(batches[-1]) > 2:
            current.insert(0, batches[-1].pop())
        else:
            batches[-1].append(current.pop())
    if current:
        batches.append(current)
    if shuffle:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


def embedding_identity(path: str | os.PathLike) -> dict:
    """What made an embedding file (encoder, model name and weight hash, layer view), where it says."""
    from seqvec.embeddings.store import open_embeddings

    with open_embeddings(path) as store:
        return store.identity


def load_inputs(path: str | os.PathLike, ids: list[str], input_level: str) -> dict[str, np.ndarray]:
    """Per-protein ``[D]`` or per-residue ``[L, D]`` inputs of ``ids`` from an embedding file.

    A file without per-protein vectors gives the mean over residues instead (the SeqVec
    reduction). Per-residue arrays must be one layer view (``--layers sum`` or one layer).
    """
    from seqvec.embeddings.store import open_embeddings

    with open_embeddings(path) as store:
        if input_level == "protein":
            if "per_protein" in store.views or "per_residue" not in store.views:
                return dict(zip(ids, store.per_protein(ids)))  # [N, D] in one read
            logger.info("%s has no per-protein view; using the mean of the per-residue embeddings", path)
            return {i: a.mean(axis=0) for i, a in store.iter_per_residue(ids)}
        arrays = dict(store.iter_per_residue(ids))
    for rid, a in arrays.items():
        if a.ndim != 2:
            raise EmbeddingFileError(f"{path}: per-residue embedding of {rid!r} has shape {a.shape}; heads take "
                                     "one [L, D] view per protein: embed with `layers` sum (or one layer)",
                                     path=path, view="per_residue")
    return arrays


def build_dataset(labels: LabelSet, embeddings: str | os.PathLike | dict[str, np.ndarray],
                  tasks: dict[str, TaskSpec], input_level: str, ids: list[str] | None = None) -> TaskDataset:
    """Join labels and embeddings for ``tasks``; proteins without any label for them are left out.

    ``embeddings`` is an HDF5 path or an ``{id: array}`` dict; every labelled protein
    must be in it, and per-residue embeddings must match the label length.
    """
    wanted = [rid for rid in (labels.ids if ids is None else ids)
              if any(rid in labels.labels.get(t, {}) for t in tasks)]
    skipped = (len(labels.ids) if ids is None else len(ids)) - len(wanted)
    if skipped:
        logger.info("%d proteins have no label for %s and are left out", skipped, ", ".join(tasks))
    if not wanted:
        raise LabelFormatError(f"no protein has a label for {', '.join(tasks)} in {', '.join(labels.sources)}")
    wanted = _drop_missing(wanted, embeddings, labels)
    if isinstance(embeddings, dict):
        arrays = {rid: embeddings[rid] for rid in wanted}
    else:
        arrays = load_inputs(embeddings, wanted, input_level)
    examples = []
    for rid in wanted:
        targets = {t: labels.labels[t][rid] for t in tasks if rid in labels.labels.get(t, {})}
        for t, value in targets.items():
            n = np.shape(value)[0] if tasks[t].level == "residue" else None
            if n is not None and input_level == "residue" and n != arrays[rid].shape[0]:
                raise LabelFormatError(f"protein {rid!r}: {n} {t} labels but {arrays[rid].shape[0]} embedded residues "
                                       f"({', '.join(labels.sources)})")
        examples.append(Example(rid, arrays[rid], targets))
    return TaskDataset(examples, tasks, input_level)


MISSING_TOLERANCE = 0.05  # labelled proteins without an embedding: above this share it is an error


def check_lengths(ids: list[str], lengths: dict[str, int], labels: LabelSet, where: str) -> None:
    """Each protein's embedded length (where the file records one) must be its sequence's length (where
    the labels give one): ids that match but sequences that do not mean the file embeds other proteins."""
    wrong = [(rid, len(labels.sequences[rid]), lengths[rid]) for rid in ids
             if lengths.get(rid) and labels.sequences.get(rid) and lengths[rid] != len(labels.sequences[rid])]
    if not wrong:
        return
    shown = ", ".join(f"{rid!r} ({n} residues, {m} embedded)" for rid, n, m in wrong[:10])
    more = f" and {len(wrong) - 10} more" if len(wrong) > 10 else ""
    raise EmbeddingFileError(f"{len(wrong)} proteins of {', '.join(labels.sources)} have another length in {where} "
                             f"than their sequence: {shown}{more}; the file embeds other sequences under these ids "
                             f"(embed the label file's sequences again, into another file)",
                             path=None if where == "the embeddings" else where, missing_ids=[w[0] for w in wrong])


def check_digests(ids: list[str], digests: dict[str, str], labels: LabelSet, where: str | os.PathLike) -> None:
    """Where the file records each sequence's md5, it must be the labels' sequence's."""
    import hashlib

    wrong = [rid for rid in ids if digests.get(rid) and labels.sequences.get(rid)
             and hashlib.md5(labels.sequences[rid].encode("ascii")).hexdigest() != digests[rid]]
    if wrong:
        shown = ", ".join(map(repr, wrong[:10])) + (f" and {len(wrong) - 10} more" if len(wrong) > 10 else "")
        raise EmbeddingFileError(f"{len(wrong)} proteins of {', '.join(labels.sources)} were embedded in {where} from "
                                 f"other sequences (their sequence digests differ): {shown}", path=where,
                                 missing_ids=wrong)


def _drop_missing(wanted: list[str], embeddings: str | os.PathLike | dict, labels: LabelSet) -> list[str]:
    """``wanted`` without the ids that have no embedding (listed); an error if more than a few lack one,
    or if an embedding's length differs from its protein's sequence (:func:`check_lengths`)."""
    if isinstance(embeddings, dict):
        present = {rid: (a.shape[0] if np.ndim(a) == 2 else 0) for rid, a in embeddings.items()}
    else:
        from seqvec.embeddings.store import open_embeddings

        with open_embeddings(embeddings) as store:
            try:
                stored = store.lengths.tolist()
            except EmbeddingFileError:  # a foreign per-protein file does not record lengths
                stored = [0] * len(store.ids)
            present = dict(zip(store.ids, stored))
    check_lengths([rid for rid in wanted if rid in present], present, labels,
                  "the embeddings" if isinstance(embeddings, dict) else str(embeddings))
    if not isinstance(embeddings, dict) and Path(embeddings).is_file():
        from seqvec.embeddings.h5 import read_h5_digests

        check_digests([rid for rid in wanted if rid in present], read_h5_digests(embeddings), labels, embeddings)
    missing = [rid for rid in wanted if rid not in present]
    if not missing:
        return wanted
    shown = ", ".join(map(repr, missing[:20])) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
    where = embeddings if not isinstance(embeddings, dict) else "the embeddings"
    if len(missing) > MISSING_TOLERANCE * len(wanted):
        raise EmbeddingFileError(f"{len(missing)} of {len(wanted)} labelled proteins of {', '.join(labels.sources)} "
                                 f"have no embedding in {where}: {shown} (embed the labelled proteins into a new file: "
                                 "an embeddings path that does not exist yet is made from the labels' sequences)",
                                 path=None if isinstance(embeddings, dict) else embeddings,
                                 missing_ids=missing)
    logger.warning("%d of %d labelled proteins have no embedding in %s and are left out: %s", len(missing),
                   len(wanted), where, shown)
    return [rid for rid in wanted if rid in present]


def split_ids(ids: list[str], strata: dict[str, object] | None = None, fraction: float = 0.1,
              seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded train/validation split, stratified by ``strata`` (id -> class; absent = own stratum).

    ``round(fraction * n)`` proteins go to validation, shared among the strata in
    proportion to their sizes (largest remainders get the leftover places). The result
    does not depend on the order of ``ids``.
    """
    if not 0 < fraction < 1:
        raise UsageError(f"validation fraction must lie in (0, 1), got {fraction}",
                         option="val_fraction", value=fraction)
    strata = strata or {}
    groups: dict[str, list[str]] = {}
    for rid in sorted(set(ids)):
        groups.setdefault(repr(strata.get(rid)), []).append(rid)
    keys = sorted(groups)
    rng = np.random.default_rng(seed)
    quota = np.array([fraction * len(groups[k]) for k in keys])
    take = np.floor(quota).astype(int)
    leftover = int(round(fraction * sum(len(g) for g in groups.values()))) - int(take.sum())
    tie_break = rng.random(len(keys))
    for i in sorted(range(len(keys)), key=lambda i: (-(quota[i] - take[i]), tie_break[i]))[:max(leftover, 0)]:
        take[i] += 1
    val: set[str] = set()
    for key, n in zip(keys, take):
        members = groups[key]
        val.update(members[k] for k in rng.permutation(len(members))[:n])
    return [i for i in ids if i not in val], [i for i in ids if i in val]
