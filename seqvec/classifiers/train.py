"""One training loop for every head (per-protein or per-residue, one task or several).

Nothing here knows a particular head: :func:`fit` takes any
:class:`seqvec.classifiers.base.Head` (or any module with the same ``forward(x, mask)
-> {task: logits}`` contract and ``outputs``) and two :class:`TaskDataset` objects.
The loss is the sum over tasks of the cross-entropy over scored items (targets
``IGNORE`` are skipped: padding, unresolved residues, unknown labels), optionally with
balanced class weights. After each epoch the validation loss and accuracies are
computed; training stops when the monitored value has not improved for ``patience``
epochs, and the weights of the best epoch are restored. The learning curve is written
after every epoch to ``run_dir/history.json`` and ``run_dir/history.csv`` (columns:
epoch, train_loss, val_loss, val_accuracy, val_accuracy_<task>..., seconds).
"""
from __future__ import annotations

import csv
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqvec.classifiers.base import Head
from seqvec.classifiers.data import Batch, TaskDataset, batch_indices
from seqvec.classifiers.tasks import IGNORE
from seqvec.errors import SeqVecError
from seqvec.progress import progress_bar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """Hyper-parameters of :func:`fit`."""

    epochs: int = 30  # upper bound; early stopping usually ends sooner
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam L2 penalty
    batch_size: int = 64  # proteins per batch
    max_residues: int | None = 40_000  # padded residues per batch (per-residue input only)
    patience: int = 5  # epochs without improvement before stopping (needs validation data)
    monitor: Literal["loss", "accuracy"] = "loss"  # validation loss (lower) or mean accuracy (higher)
    class_weights: bool = False  # weight classes by n / (C * n_c) in the training set
    seed: int = 0  # shuffling, dropout and (via seed_everything) initialisation


@dataclass
class FitResult:
    """What :func:`fit` returns; the model itself holds the best weights."""

    best_epoch: int
    best_score: float | None
    history: list[dict] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (call before building a head for reproducible initial weights)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def balanced_class_weights(dataset: TaskDataset) -> dict[str, torch.Tensor]:
    """Per task, weights ``n / (C * n_c)`` over scored training items (0 for an absent class)."""
    weights = {}
    for name, spec in dataset.tasks.items():
        counts = np.zeros(len(spec.classes))
        for ex in dataset.examples:
            if name in ex.targets:
                t = np.atleast_1d(np.asarray(ex.targets[name]))
                np.add.at(counts, t[t != IGNORE], 1)
        w = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
        weights[name] = torch.tensor(w, dtype=torch.float32)
    return weights


def task_losses(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                weights: dict[str, torch.Tensor] | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per task, (summed weighted cross-entropy, summed weight) over scored items.

    ``outputs[t]`` is ``[B, C]`` or ``[B, L, C]``; ``targets[t]`` ``[B]`` or ``[B, L]``.
    The mean loss of a task is the first over the second.
    """
    result = {}
    for task, logits in outputs.items():
        target = targets[task].reshape(-1)  # (N,)
        logits = logits.reshape(-1, logits.shape[-1])  # (N, C)
        scored = target != IGNORE
        w = weights.get(task) if weights else None
        per_item = F.cross_entropy(logits[scored], target[scored], weight=w, reduction="sum")
        total = w[target[scored]].sum() if w is not None else scored.sum().to(logits.dtype)
        result[task] = (per_item, total)
    return result


def _batch_loss(losses: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor | None:
    """Sum over tasks of the mean loss; tasks without a scored item add nothing."""
    parts = [s / n for s, n in losses.values() if n > 0]
    return torch.stack(parts).sum() if parts else None


def to_device(batch: Batch, device: torch.device | str) -> Batch:
    """``batch`` with its tensors on ``device`` (the same object when they are there already)."""
    if batch.x.device == torch.device(device):
        return batch
    return Batch(batch.ids, batch.x.to(device), None if batch.mask is None else batch.mask.to(device),
                 {task: t.to(device) for task, t in batch.targets.items()})


@torch.no_grad()
def validate(model: nn.Module, dataset: TaskDataset, config: FitConfig,
             weights: dict[str, torch.Tensor] | None = None, device: torch.device | str = "cpu") -> dict[str, float]:
    """Validation loss (sum over tasks of the mean loss) and accuracy per task and on average.

    ``model`` and ``weights`` must already be on ``device``.
    """
    model.eval()
    sums = {t: [0.0, 0.0, 0, 0] for t in dataset.tasks}  # loss sum, weight sum, correct, scored
    for cpu_batch in dataset.batches(config.batch_size, config.max_residues):
        batch = to_device(cpu_batch, device)
        outputs = model(batch.x, batch.mask)
        for task, (loss, total) in task_losses(outputs, batch.targets, weights).items():
            target = batch.targets[task]
            scored = target != IGNORE
            correct = (outputs[task].argmax(-1) == target) & scored
            s = sums[task]
            s[0] += float(loss)
            s[1] += float(total)
            s[2] += int(correct.sum())
            s[3] += int(scored.sum())
    result = {"val_loss": sum(s[0] / s[1] for s in sums.values() if s[1] > 0)}
    accuracies = {t: s[2] / s[3] for t, s in sums.items() if s[3] > 0}
    result["val_accuracy"] = float(np.mean(list(accuracies.values()))) if accuracies else float("nan")
    result.update({f"val_accuracy_{t}": a for t, a in accuracies.items()})
    return result


def _write_history(run_dir: Path, history: list[dict]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    columns = list(dict.fromkeys(k for row in history for k in row))
    with open(run_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(history)


def fit(model: nn.Module, train: TaskDataset, val: TaskDataset | None = None,
        config: FitConfig = FitConfig(), run_dir: str | os.PathLike | None = None,
        progress: bool = False, device: torch.device | str = "cpu") -> FitResult:
    """Train ``model`` in place on ``train``, early-stopping on ``val``; returns the history.

    Without ``val`` every epoch runs and the last weights are kept. With ``val`` the
    weights of the best epoch (by ``config.monitor``) are restored at the end. Training
    runs on ``device`` (see :func:`seqvec.devices.resolve_device`); the trained model is
    returned on the CPU.
    """
    if len(train) < 2:
        raise SeqVecError(f"need at least 2 training proteins, got {len(train)}")
    if config.monitor not in ("loss", "accuracy"):
        raise SeqVecError(f"monitor must be 'loss' or 'accuracy', got {config.monitor!r}")
    missing = set(train.tasks) - set(getattr(model, "outputs", train.tasks))
    if missing:
        raise SeqVecError(f"the head has no output for task(s) {', '.join(sorted(missing))}")
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    model.to(device)
    weights = balanced_class_weights(train) if config.class_weights else None
    if weights is not None:
        weights = {task: w.to(device) for task, w in weights.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sign = 1.0 if config.monitor == "loss" else -1.0  # lower is better after the sign
    best = FitResult(best_epoch=0, best_score=None)
    best_state, waited = None, 0
    for epoch in progress_bar(range(1, config.epochs + 1), desc="epochs", unit="epoch", enabled=progress, leave=False):
        start = time.perf_counter()
        model.train()
        loss_sum, n_batches = 0.0, 0
        for cpu_batch in train.batches(config.batch_size, config.max_residues, shuffle=True, rng=rng):
            batch = to_device(cpu_batch, device)
            loss = _batch_loss(task_losses(model(batch.x, batch.mask), batch.targets, weights))
            if loss is None:
                continue
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum, n_batches = loss_sum + float(loss.detach()), n_batches + 1
        row = {"epoch": epoch, "train_loss": loss_sum / max(n_batches, 1)}
        if val is not None and len(val):
            row.update(validate(model, val, config, weights, device))
        row["seconds"] = round(time.perf_counter() - start, 3)
        best.history.append(row)
        if run_dir is not None:
            _write_history(Path(run_dir), best.history)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" for k, v in row.items()
                                                      if k not in ("epoch", "seconds")))
        if val is None or not len(val):
            best.best_epoch = epoch
            continue
        score = row["val_loss"] if config.monitor == "loss" else row["val_accuracy"]
        if best.best_score is None or sign * score < sign * best.best_score:
            best.best_epoch, best.best_score, waited = epoch, score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:
                logger.info("early stop after epoch %d (best epoch %d, %s %.4f)", epoch, best.best_epoch,
                            config.monitor, best.best_score)
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.cpu().eval()
    return best


@torch.no_grad()
def predict_dataset(model: Head, dataset: TaskDataset, batch_size: int = 64,
                    max_residues: int | None = 40_000, device: torch.device | str = "cpu"
                    ) -> dict[str, list[np.ndarray]]:
    """Class probabilities, task -> one array per protein in dataset order.

    Per-protein outputs give ``[C]`` arrays, per-residue outputs ``[L, C]`` (padding cut).
    The model runs on ``device`` and is left there.
    """
    model.to(device).eval()
    lengths = [ex.length for ex in dataset.examples]
    results: dict[str, list] = {task: [None] * len(dataset) for task in model.outputs}
    for indices in batch_indices(lengths, batch_size, max_residues):
        batch = to_device(dataset.collate(indices), device)
        for task, logits in model(batch.x, batch.mask).items():
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()  # (B, C) or (B, L, C)
            for b, i in enumerate(indices):
                results[task][i] = probs[b, : lengths[i]] if probs.ndim == 3 else probs[b]
    return results
