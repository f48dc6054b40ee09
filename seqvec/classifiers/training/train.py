"""One training loop for every head (per-protein or per-residue, one task or several).

Nothing here knows a particular head: :func:`fit` takes any
:class:`seqvec.classifiers.heads.base.Head` (or any module with the same ``forward(x, mask)
-> {task: logits}`` contract and ``outputs``) and two :class:`TaskDataset` objects.
The loss is the sum over tasks of each task's mean loss over scored items (``IGNORE``
or NaN targets are skipped: padding, masked or unresolved residues, unknown labels):
cross-entropy for classes (optionally with balanced class weights), binary
cross-entropy for multi-label tasks (balanced: positives weighted by negatives /
positives per label), mean squared error of standardised values for value tasks
(:func:`standardise_values` sets the scale from the training targets). After each
epoch the validation loss and the accuracies of the class tasks are computed; training stops when the monitored value has not improved for ``patience``
epochs, and the weights of the best epoch are restored. The learning curve is written
after every epoch to ``run_dir/history.json`` and ``run_dir/history.csv`` (columns:
epoch, train_loss, val_loss, val_accuracy, val_accuracy_<task>..., seconds).
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqvec.classifiers.heads.base import Head
from seqvec.classifiers.labels.tasks import IGNORE, TaskSpec
from seqvec.classifiers.training.data import Batch, TaskDataset, batch_indices
from seqvec.classifiers.training.resume import load_state, restore_random, save_state
from seqvec.errors import DataError, TaskError, TrainingError, UsageError
from seqvec.lm.kernels import warn_if_bf16_is_slow
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
    class_weights: Literal["none", "balanced"] = "none"  # balanced: weight classes by n / (C * n_c) in training
    seed: int = 0  # shuffling, dropout and (via seed_everything) initialisation
    precision: Literal["float32", "bf16"] = "float32"  # training forward pass in float32, or under bfloat16 autocast


@dataclass
class FitResult:
    """What :func:`fit` returns; the model itself holds the best weights."""

    best_epoch: int
    best_score: float | None
    history: list[dict] = field(default_factory=list)


INT64_MAX = 2**63 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_LR = 10.0  # Adam steps of more than this are divergence, not a setting


def _integer_problem(value: object, low: int, high: int = INT64_MAX) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer (got {value!r})"
    if value < low:
        return f"must be >= {low} (got {value})"
    if value > high:
        return f"must be at most {high} (got a number of {len(str(value))} digits)"
    return None


def config_problems(config: FitConfig) -> dict[str, str]:
    """Field -> what is wrong with it, for settings that cannot train (zero epochs, a negative rate, a
    number beyond 64 bits, NaN, ...)."""
    problems = {}
    integers = {"epochs": (config.epochs, 1), "batch_size": (config.batch_size, 1),
                "patience": (config.patience, 1), "seed": (config.seed, 0)}
    if config.max_residues is not None:
        integers["max_residues"] = (config.max_residues, 1)
    for name, (value, low) in integers.items():
        problem = _integer_problem(value, low)
        if problem:
            problems[name] = problem
    if "epochs" in problems and isinstance(config.epochs, int) and config.epochs < 1:
        problems["epochs"] += "; an untrained head is not saved"
    lr, decay = config.lr, config.weight_decay
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and 0 < lr <= MAX_LR):
        problems["lr"] = f"must be a number above 0 and at most {MAX_LR:g} (got {lr!r}); at 0 a head learns nothing"
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not (math.isfinite(decay) and decay >= 0):
        problems["weight_decay"] = f"must be a finite number >= 0 (got {decay!r})"
    if config.monitor not in ("loss", "accuracy"):
        problems["monitor"] = f"must be 'loss' or 'accuracy' (got {config.monitor!r})"
    if config.class_weights not in ("none", "balanced"):
        problems["class_weights"] = f"must be 'none' or 'balanced' (got {config.class_weights!r})"
    if config.precision not in ("float32", "bf16"):
        problems["precision"] = f"must be 'float32' or 'bf16' (got {config.precision!r})"
    return problems


def check_config(config: FitConfig) -> None:
    """Raise a clear error naming every setting that cannot train."""
    problems = config_problems(config)
    if problems:
        raise UsageError("; ".join(f"`FitConfig.{field}` {text}" for field, text in problems.items()),
                         option=f"FitConfig.{next(iter(problems))}", value=problems)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (call before building a head for reproducible initial weights)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def class_counts(dataset: TaskDataset) -> dict[str, dict[str, int]]:
    """Per class or multi-label task, scored training items of each class (positives of each label)."""
    counts = {}
    for name, spec in dataset.tasks.items():
        if spec.kind.target == "value":
            continue
        n = np.zeros(len(spec.classes), dtype=np.int64)
        for ex in dataset.examples:
            if name not in ex.targets:
                continue
            t = np.asarray(ex.targets[name])
            if spec.kind.target == "class":
                t = np.atleast_1d(t)
                np.add.at(n, t[t != IGNORE], 1)
            else:
                n += np.nan_to_num(t.reshape(-1, len(spec.classes))).astype(np.int64).sum(0)
        counts[name] = {c: int(k) for c, k in zip(spec.classes, n)}
    return counts


def balanced_class_weights(dataset: TaskDataset) -> dict[str, torch.Tensor]:
    """Per class task, weights ``n / (C * n_c)`` over scored training items (0 for an absent class);
    per multi-label task, positive weights ``negatives / positives`` of each label (1 if it has none)."""
    weights = {}
    all_counts = class_counts(dataset)
    for name, spec in dataset.tasks.items():
        if spec.kind.target == "value":
            continue
        counts = np.array(list(all_counts[name].values()), dtype=np.float64)
        if spec.kind.target == "class":
            w = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
        else:
            scored = sum(np.isfinite(np.asarray(ex.targets[name], dtype=np.float32)).reshape(-1, len(counts)).all(1).sum()
                         for ex in dataset.examples if name in ex.targets)
            w = np.where(counts > 0, (scored - counts) / np.maximum(counts, 1), 1.0)
        weights[name] = torch.tensor(w, dtype=torch.float32)
    return weights


def standardise_values(tasks: dict[str, TaskSpec], train: TaskDataset) -> dict[str, TaskSpec]:
    """Value tasks get ``value_mean``/``value_std`` of their training targets (others unchanged)."""
    out = dict(tasks)
    for name, spec in tasks.items():
        if spec.kind.target != "value":
            continue
        values = np.concatenate([np.atleast_1d(np.asarray(ex.targets[name], dtype=np.float64))
                                 for ex in train.examples if name in ex.targets] or [np.empty(0)])
        values = values[np.isfinite(values)]
        if not len(values):
            raise TaskError(f"task {name!r}: no training protein has a value", task=name)
        std = float(values.std())
        if not (math.isfinite(std) and math.isfinite(float(values.mean()))) or np.abs(values).max() > FLOAT32_MAX:
            raise TaskError(f"task {name!r}: the training values reach {np.abs(values).max():.3g}, beyond float32 "
                            "(their mean or spread is not finite); training would learn nothing", task=name)
        out[name] = replace(spec, value_mean=float(values.mean()), value_std=std if std > 0 else 1.0)
        logger.info("task %s: training values mean %.4g, sd %.4g (trained standardised)", name, values.mean(), std)
    return out


def task_losses(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                weights: dict[str, torch.Tensor] | None = None,
                specs: dict[str, TaskSpec] | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per task, (summed weighted loss, summed weight) over scored items; the mean loss is their ratio.

    ``outputs[t]`` is ``[B, C]`` or ``[B, L, C]``; ``targets[t]`` as :class:`Batch` describes.
    Without ``specs`` every task is a class task.
    """
    result = {}
    for task, logits in outputs.items():
        kind = specs[task].kind if specs else None
        w = weights.get(task) if weights else None
        if kind is None or kind.target == "class":
            target = targets[task].reshape(-1)  # (N,)
            flat = logits.reshape(-1, logits.shape[-1])  # (N, C)
            scored = target != IGNORE
            per_item = F.cross_entropy(flat[scored], target[scored], weight=w, reduction="sum")
            total = w[target[scored]].sum() if w is not None else scored.sum().to(logits.dtype)
        elif kind.target == "multilabel":
            target = targets[task].reshape(-1, logits.shape[-1])  # (N, C)
            flat = logits.reshape(-1, logits.shape[-1])
            scored = ~torch.isnan(target).any(-1)
            per_item = F.binary_cross_entropy_with_logits(flat[scored], target[scored], pos_weight=w,
                                                          reduction="sum") / logits.shape[-1]
            total = scored.sum().to(logits.dtype)
        else:
            spec = specs[task]  # type: ignore[index]
            target = (targets[task].reshape(-1) - spec.value_mean) / spec.value_std  # (N,)
            flat = logits.reshape(-1)  # (N,), one output
            scored = ~torch.isnan(target)
            per_item = F.mse_loss(flat[scored], target[scored], reduction="sum")
            total = scored.sum().to(logits.dtype)
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
    """Validation loss (sum over tasks of the mean loss) and accuracy per class task and on average.

    ``model`` and ``weights`` must already be on ``device``.
    """
    model.eval()
    sums = {t: [0.0, 0.0, 0, 0] for t in dataset.tasks}  # loss sum, weight sum, correct, scored
    for cpu_batch in dataset.batches(config.batch_size, config.max_residues):
        batch = to_device(cpu_batch, device)
        outputs = model(batch.x, batch.mask)
        for task, (loss, total) in task_losses(outputs, batch.targets, weights, dataset.tasks).items():
            s = sums[task]
            s[0] += float(loss)
            s[1] += float(total)
            if dataset.tasks[task].kind.target == "class":
                target = batch.targets[task]
                scored = target != IGNORE
                s[2] += int(((outputs[task].argmax(-1) == target) & scored).sum())
                s[3] += int(scored.sum())
    result = {"val_loss": sum(s[0] / s[1] for s in sums.values() if s[1] > 0)}
    accuracies = {t: s[2] / s[3] for t, s in sums.items() if s[3] > 0}
    result["val_accuracy"] = float(np.mean(list(accuracies.values()))) if accuracies else float("nan")
    result.update({f"val_accuracy_{t}": a for t, a in accuracies.items()})
    return result


@contextmanager
def _frozen_batchnorm(model: nn.Module, frozen: bool):
    """Batch norm in eval mode for a one-protein batch (its statistics need two)."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if frozen else []
    for m in layers:
        m.eval()
    try:
        yield
    finally:
        for m in layers:
            m.train()


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
        progress: bool = False, device: torch.device | str = "cpu",
        state_file: str | os.PathLike | None = None, resume: bool = False) -> FitResult:
    """Train ``model`` in place on ``train``, early-stopping on ``val``; returns the history.

    Without ``val`` every epoch runs and the last weights are kept. With ``val`` the
    weights of the best epoch (by ``config.monitor``) are restored at the end. Training
    runs on ``device`` (see :func:`seqvec.devices.resolve_device`); the trained model is
    returned on the CPU.

    With ``state_file``, the whole state of the run (weights, optimiser, random generators,
    early stopping; :mod:`seqvec.classifiers.training.resume`) is written there atomically
    after every epoch. With ``resume`` too, a run whose state file exists continues after
    its last saved epoch and ends with the same weights as an uninterrupted run (a run that
    had already stopped returns at once); without the file it starts from the beginning.
    """
    if len(train) < 1:
        raise DataError("no training proteins")
    check_config(config)
    if config.monitor == "accuracy" and not any(s.kind.target == "class" for s in train.tasks.values()):
        raise UsageError("`FitConfig.monitor` accuracy needs a class task; monitor the validation loss instead",
                         option="FitConfig.monitor", value="accuracy")
    missing = set(train.tasks) - set(getattr(model, "outputs", train.tasks))
    if missing:
        raise TaskError(f"the head has no output for task(s) {', '.join(sorted(missing))}", task=sorted(missing)[0])
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    model.to(device)
    if config.precision == "bf16":
        warn_if_bf16_is_slow(torch.device(device))
    weights = balanced_class_weights(train) if config.class_weights == "balanced" else None
    if weights is not None:
        weights = {task: w.to(device) for task, w in weights.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sign = 1.0 if config.monitor == "loss" else -1.0  # lower is better after the sign
    best = FitResult(best_epoch=0, best_score=None)
    best_state, waited, first, stopped = None, 0, 1, False
    if resume and state_file is None:
        raise UsageError("resuming needs the state file of the run (`state_file`)", option="resume", value=True)
    if resume and Path(state_file).is_file():  # type: ignore[arg-type]
        saved = load_state(Path(state_file), config)  # type: ignore[arg-type]
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        restore_random(saved, rng)
        best.history, best.best_epoch, best.best_score = saved["history"], saved["best_epoch"], saved["best_score"]
        best_state, waited, first, stopped = saved["best_state"], saved["waited"], saved["epoch"] + 1, saved["stopped"]
        logger.info("resuming %s after epoch %d (best epoch %d)", state_file, saved["epoch"], best.best_epoch)
    for epoch in progress_bar(range(first, config.epochs + 1 if not stopped else first), desc="epochs",
                              unit="epoch", enabled=progress, leave=False):
        start = time.perf_counter()
        row = {"epoch": epoch, "train_loss": _train_epoch(model, train, config, optimizer, weights, rng, device,
                                                          epoch)}
        if val is not None and len(val):
            row.update(validate(model, val, config, weights, device))
            _check_finite(row, config, epoch)
        _warn_divergence(best.history, row, config)
        row["seconds"] = round(time.perf_counter() - start, 3)
        best.history.append(row)
        if run_dir is not None:
            _write_history(Path(run_dir), best.history)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" for k, v in row.items()
                                                      if k not in ("epoch", "seconds")))
        if val is None or not len(val):
            best.best_epoch = epoch
        else:
            score = row["val_loss"] if config.monitor == "loss" else row["val_accuracy"]
            if best.best_score is None or sign * score < sign * best.best_score:
                best.best_epoch, best.best_score, waited = epoch, score, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                stopped = waited >= config.patience
        if state_file is not None:
            save_state(Path(state_file), epoch=epoch, model=model, optimizer=optimizer, rng=rng, config=config,
                       history=best.history, best_epoch=best.best_epoch, best_score=best.best_score,
                       best_state=best_state, waited=waited, stopped=stopped)
        if stopped:
            logger.info("early stop after epoch %d (best epoch %d, %s %.4f)", epoch, best.best_epoch,
                        config.monitor, best.best_score)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    bad = [name for name, p in model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
    if bad:
        raise TrainingError(f"training left non-finite weights ({', '.join(bad[:3])}); nothing is saved; "
                            f"lower the learning rate (lr {config.lr:g})", epoch=best.best_epoch)
    model.cpu().eval()
    return best


def _check_finite(row: dict, config: FitConfig, epoch: int) -> None:
    """A non-finite validation loss means the weights diverged: stop, save nothing."""
    if not math.isfinite(row.get("val_loss", 0.0)):
        raise TrainingError(f"the validation loss became {row['val_loss']} in epoch {epoch}: training diverged "
                            f"and nothing is saved; lower the learning rate (lr {config.lr:g})", epoch=epoch)


def _warn_divergence(history: list[dict], row: dict, config: FitConfig) -> None:
    """Warn when the training loss first grows past 10x its value in epoch 1."""
    if not history:
        return
    limit = 10 * abs(history[0]["train_loss"]) + 1e-12
    if row["train_loss"] > limit >= max(r["train_loss"] for r in history):
        logger.warning("the training loss grew from %.4g (epoch 1) to %.4g (epoch %d): training may be diverging; "
                       "consider a lower learning rate (lr %g)", history[0]["train_loss"], row["train_loss"],
                       row["epoch"], config.lr)


def _train_epoch(model: nn.Module, train: TaskDataset, config: FitConfig, optimizer: torch.optim.Optimizer,
                 weights: dict[str, torch.Tensor] | None, rng: np.random.Generator,
                 device: torch.device | str, epoch: int = 1) -> float:
    """One pass over ``train`` in shuffled batches; returns the mean batch loss. A non-finite loss
    raises TrainingError (nothing is saved); so does an epoch without one target to learn from."""
    model.train()
    loss_sum, n_batches = 0.0, 0
    for cpu_batch in train.batches(config.batch_size, config.max_residues, shuffle=True, rng=rng):
        batch = to_device(cpu_batch, device)
        with _frozen_batchnorm(model, len(batch.ids) < 2), \
                torch.autocast(batch.x.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            loss = _batch_loss(task_losses(model(batch.x, batch.mask), batch.targets, weights, train.tasks))
        if loss is None:
            continue
        if not torch.isfinite(loss.detach()).all():
            raise TrainingError(f"the training loss became {float(loss.detach())} in epoch {epoch} (batch of "
                                f"{', '.join(batch.ids[:3])}{', ...' if len(batch.ids) > 3 else ''}): training "
                                f"diverged and nothing is saved; lower the learning rate (lr {config.lr:g}) or check "
                                "the targets for extreme values", epoch=epoch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum, n_batches = loss_sum + float(loss.detach()), n_batches + 1
    if n_batches == 0:
        raise TrainingError("no training protein has a target to learn from (every residue masked or unlabelled): "
                            "a head trained on nothing is not saved", epoch=epoch)
    return loss_sum / n_batches


@torch.no_grad()
def predict_dataset(model: Head, dataset: TaskDataset, batch_size: int = 64,
                    max_residues: int | None = 40_000, device: torch.device | str = "cpu"
                    ) -> dict[str, list[np.ndarray]]:
    """Predictions, task -> one array per protein in dataset order (padding cut).

    Class tasks give probabilities ``[C]`` or ``[L, C]`` (softmax); multi-label tasks the
    probability of each label ``[C]`` or ``[L, C]`` (sigmoid); value tasks a number
    ``[]`` or ``[L]`` in the units of the training targets. Tasks the dataset does not
    name are treated as class tasks. The model runs on ``device`` and is left there.
    """
    model.to(device).eval()
    lengths = [ex.length for ex in dataset.examples]
    results: dict[str, list] = {task: [None] * len(dataset) for task in model.outputs}
    for indices in batch_indices(lengths, batch_size, max_residues):
        batch = to_device(dataset.collate(indices), device)
        for task, logits in model(batch.x, batch.mask).items():
            spec = dataset.tasks.get(task)
            target = spec.kind.target if spec is not None else "class"
            if target == "class":
                out = torch.softmax(logits.float(), dim=-1).cpu().numpy()  # (B, C) or (B, L, C)
            elif target == "multilabel":
                out = torch.sigmoid(logits.float()).cpu().numpy()
            else:
                assert spec is not None  # a value task always has its spec
                out = (logits.double()[..., 0] * spec.value_std + spec.value_mean).cpu().numpy()  # (B,) or (B, L)
            residue_level = out.ndim == (3 if target != "value" else 2)
            for b, i in enumerate(indices):
                results[task][i] = out[b, : lengths[i]] if residue_level else out[b]
    return results


def choose_thresholds(model: Head, tasks: dict[str, TaskSpec], val: TaskDataset | None,
                      config: FitConfig) -> dict[str, TaskSpec]:
    """Multi-label tasks get the probability threshold with the best macro-F1 on ``val`` (0.5 without)."""
    from sklearn.metrics import f1_score

    out = dict(tasks)
    multilabel = [t for t, s in tasks.items() if s.kind.target == "multilabel"]
    if not multilabel or val is None or not len(val):
        return out
    predictions = predict_dataset(model, val, config.batch_size, config.max_residues)
    for task in multilabel:
        rows = [i for i, ex in enumerate(val.examples) if task in ex.targets]
        k = len(tasks[task].classes)
        truth = np.concatenate([np.asarray(val[i].targets[task], dtype=np.float32).reshape(-1, k) for i in rows])
        prob = np.concatenate([np.asarray(predictions[task][i]).reshape(-1, k) for i in rows])
        scored = np.isfinite(truth).all(1)
        truth, prob = truth[scored].astype(int), prob[scored]
        if not len(truth):
            continue
        grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
        scores = [f1_score(truth, (prob >= t).astype(int), average="macro", zero_division=0) for t in grid]
        best = float(grid[int(np.argmax(scores))])
        logger.info("task %s: threshold %.2f (validation macro-F1 %.3f; at 0.5: %.3f)", task, best, max(scores),
                    scores[int(np.argmin(np.abs(grid - 0.5)))])
        out[task] = replace(tasks[task], threshold=best)
    return out
