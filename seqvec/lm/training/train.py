"""Training the language model: one process or many (torchrun / DistributedDataParallel).

The run directory holds ``checkpoint.pt`` (model, optimizer, scheduler, RNG, data
position; tensors and plain values only, read with ``weights_only=True``), ``log.csv``,
``log.json`` (``seqvec train-lm`` draws ``learning_curve.png`` from it) and, at the end, ``model/`` (``options.json`` +
``weights.hdf5`` in the allennlp layout, plus ``softmax.hdf5``). Data order is a pure
function of (seed, epoch), so ``resume`` continues exactly where a killed run stopped:
the checkpoint also holds the corpus fingerprint (another corpus is refused) and the
training loss since the last log row, and ``log.csv`` is cut back to the checkpoint's step,
so the log of a resumed run equals an uninterrupted one's (times aside).

Steps: :func:`_open_run` (new, warm-started or resumed) -> :func:`_train_epoch` per epoch
(:func:`_train_step` per batch; :class:`RunLog` rows; checkpoints) -> validation,
checkpoint -> :func:`export_run`.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from seqvec.errors import CheckpointError, ConfigError, OutputMismatchError
from seqvec.io import World
from seqvec.io.output import atomic_dir
from seqvec.lm.allennlp_io import save_allennlp
from seqvec.lm.bilm import BiLM
from seqvec.lm.config import PRESETS, RESUMABLE, SeqVecConfig, TrainSettings
from seqvec.lm.lm_head import save_softmax
from seqvec.lm.training import corpus

logger = logging.getLogger(__name__)
FORMAT_VERSION = 2  # 1 lacked the corpus fingerprint and the log window; still read
LOG_FIELDS = ["step", "epoch", "residues", "train_loss", "val_loss", "val_perplexity", "lr", "residues_per_s",
              "elapsed_s"]


@dataclass
class Position:
    """Where a run stands (saved in the checkpoint): the data position, the totals, and the
    training loss since the last log row, so that a resumed run logs what an uninterrupted
    one would."""

    epoch: int = 0
    batch: int = 0  # next batch of the epoch
    step: int = 0
    residues: int = 0
    elapsed_s: float = 0.0  # training time over every invocation
    window_loss: float = 0.0  # summed loss (nats) since the last training row
    window_predictions: int = 0
    window_residues: int = 0
    window_start_s: float = 0.0  # elapsed_s when the window started

    def finished(self, settings: TrainSettings) -> bool:
        """True when the run has done its epochs or its ``max_steps``."""
        return self.epoch >= settings.epochs or bool(settings.max_steps) and self.step >= settings.max_steps

    def start_window(self) -> None:
        self.window_loss, self.window_predictions, self.window_residues = 0.0, 0, 0
        self.window_start_s = self.elapsed_s


def _lr_lambda(settings: TrainSettings, total_steps: int):
    def factor(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        progress = (step - settings.warmup_steps) / max(1, total_steps - settings.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


@torch.no_grad()
def evaluate_loss(model: BiLM, sequences: list[str], window: int, max_tokens: int, device: torch.device
                  ) -> tuple[float, float, float]:
    """Mean cross-entropy (nats per prediction) of the forward, backward and both directions."""
    was_training = model.training
    model.eval()
    pieces = corpus.windows(sequences, window, None)
    total = torch.zeros(2, dtype=torch.float64)
    count = 0
    for group in corpus.batches(pieces, max_tokens, None):
        types, lengths = corpus.collate([pieces[i] for i in group])
        total += model(types.to(device), lengths.to(device)).double().cpu()
        count += int((lengths - 1).sum())
    model.train(was_training)
    fwd, bwd = (total / max(count, 1)).tolist()
    return fwd, bwd, (fwd + bwd) / 2


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill never leaves a half-written checkpoint


def load_checkpoint(path: Path) -> dict:
    """Read a training checkpoint (no pickle of arbitrary objects)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds on a garbled file (pickle, zip, EOF, ...)
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: it is not a seqvec training checkpoint "
                              f"({first}); start a new run in another -o") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"cannot read checkpoint {path}: it holds a {type(state).__name__}, not a "
                              "seqvec training checkpoint")
    if state.get("format_version") not in (1, FORMAT_VERSION):
        raise CheckpointError(f"{path}: unsupported checkpoint format {state.get('format_version')}")
    return state


class RunLog:
    """``log.csv`` of a run: one row per ``log_every`` training steps and per validation.

    Only rank 0 writes (``enabled``); rows are appended as they come, so a killed run
    keeps its log, and :meth:`rewind` drops what it wrote after its last checkpoint.
    """

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path = run_dir / "log.csv"
        self.enabled = enabled

    def _write(self, rows: list[dict], mode: str) -> None:
        new = mode == "w" or not self.path.exists()
        with open(self.path, mode, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerows({k: row.get(k, "") for k in LOG_FIELDS} for row in rows)

    def start(self) -> None:
        """A new run: forget the log of any earlier, unfinished attempt in this directory."""
        if self.enabled:
            self.path.unlink(missing_ok=True)

    def rewind(self, step: int) -> None:
        """Keep only the rows up to ``step`` (the checkpoint a run resumes from)."""
        if self.enabled and self.path.exists():
            with open(self.path) as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= step]
            self._write(rows, "w")

    def train_row(self, pos: Position, lr: float) -> None:
        """The mean training loss and speed since the previous training row."""
        seconds = max(pos.elapsed_s - pos.window_start_s, 1e-9)
        if self.enabled:
            self._write([{"step": pos.step, "epoch": pos.epoch, "residues": pos.residues,
                          "train_loss": f"{pos.window_loss / pos.window_predictions:.5f}", "lr": f"{lr:.3e}",
                          "residues_per_s": f"{pos.window_residues / seconds:.0f}",
                          "elapsed_s": f"{pos.elapsed_s:.1f}"}], "a")

    def val_row(self, pos: Position, loss: float) -> None:
        if self.enabled:
            self._write([{"step": pos.step, "epoch": pos.epoch, "residues": pos.residues,
                          "val_loss": f"{loss:.5f}", "val_perplexity": f"{math.exp(loss):.4f}",
                          "elapsed_s": f"{pos.elapsed_s:.1f}"}], "a")

    def finish(self) -> None:
        """``log.json``: the same rows, numbers as numbers."""
        if self.enabled and self.path.exists():
            with open(self.path) as fh:
                rows = [{k: float(v) if v else None for k, v in r.items()} for r in csv.DictReader(fh)]
            (self.path.parent / "log.json").write_text(json.dumps(rows, indent=0) + "\n")


def corpus_sha256(sequences: list[str]) -> str:
    """Fingerprint of a corpus's sequences (not of its file: gzip or not, line width do not matter)."""
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(seq.encode("ascii") + b"\n")
    return digest.hexdigest()


@dataclass
class _Run:
    """One training run between steps: what it trains, on what, and where it writes."""

    run_dir: Path
    world: World
    device: torch.device
    joined: bool  # this run joined the process group (and leaves it at the end)
    config: SeqVecConfig
    settings: TrainSettings
    model: BiLM
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    pos: Position
    log: RunLog
    train_seqs: list[str]
    val_seqs: list[str]
    corpus_sha256: str
    init: str

    def checkpoint(self) -> None:
        if self.world.is_main:
            _save_checkpoint(self.run_dir / "checkpoint.pt", {
                "format_version": FORMAT_VERSION, "config": self.config.to_dict(),
                "settings": asdict(self.settings), "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": torch.get_rng_state(), "position": asdict(self.pos), "corpus_sha256": self.corpus_sha256,
                "init": self.init})
        self.world.barrier()

    def validate(self) -> None:
        if self.world.is_main:
            fwd, bwd, both = evaluate_loss(self.model, self.val_seqs, self.settings.window, self.settings.max_tokens,
                                           self.device)
            self.log.val_row(self.pos, both)
            logger.info("step %d: validation loss %.4f (perplexity %.3f; forward %.4f, backward %.4f)",
                        self.pos.step, both, math.exp(both), fwd, bwd)
        self.world.barrier()


def _resumed_settings(saved: TrainSettings, changes: Mapping[str, Any], run_dir: Path) -> TrainSettings:
    """The saved settings with ``changes`` applied: only when and how often to stop, log,
    validate and checkpoint may change on resume; anything that changes the steps already
    taken (lr, window, dropout, seed, ...) is refused."""
    unknown = set(changes) - {f.name for f in fields(TrainSettings)}
    if unknown:
        raise ConfigError(f"unknown training settings: {sorted(unknown)}", field=sorted(unknown)[0])
    fixed = {k: v for k, v in changes.items() if k not in RESUMABLE and v != getattr(saved, k)}
    if fixed:
        what = ", ".join(f"{k} {getattr(saved, k)!r} -> {v!r}" for k, v in sorted(fixed.items()))
        raise OutputMismatchError(f"cannot change {what} when resuming: the run was trained with the saved values "
                            f"(only {', '.join(sorted(RESUMABLE))} may change); start a new run instead",
                                  path=run_dir, differences={k: (getattr(saved, k), v) for k, v in fixed.items()})
    updated = replace(saved, **{k: v for k, v in changes.items() if k in RESUMABLE})
    for k in sorted(RESUMABLE):
        if getattr(updated, k) != getattr(saved, k):
            logger.info("resume: %s %r -> %r", k, getattr(saved, k), getattr(updated, k))
    return updated


def _load_state(run_dir: Path, resume: bool, config: SeqVecConfig | None, init: str | None
                ) -> dict | None:
    """The checkpoint to continue from, or None for a new run; refuses a new shape or warm start."""
    ckpt_path = run_dir / "checkpoint.pt"
    if not ckpt_path.exists():
        if resume:
            logger.info("no checkpoint in %s: starting a new run", run_dir)
        return None
    if not resume:
        raise CheckpointError(f"{ckpt_path} exists: pass `resume` to continue that run, or choose another `run_dir`")
    state = load_checkpoint(ckpt_path)
    saved = SeqVecConfig.from_dict(state["config"])
    if config is not None and config != saved:
        raise OutputMismatchError(f"the model shape given differs from the one of the run in {run_dir}: "
                                  f"a resumed run keeps its shape (leave out `config`)", path=run_dir,
                                  differences={"config": (saved, config)})
    if init is not None and "init" in state and init != state["init"]:  # format 1 did not record it
        raise OutputMismatchError(f"`init` {init}: the run in {run_dir} started from "
                                  f"{state.get('init') or 'random weights'}; a resumed run continues from its "
                                  f"checkpoint", path=run_dir, differences={"init": (state.get("init", ""), init)})
    return state


def _read_corpus(corpus_path: str | Path, settings: TrainSettings, state: dict | None, run_dir: Path
                 ) -> tuple[list[str], list[str], str]:
    """(training, validation) sequences and the corpus fingerprint; a resumed run must see its own corpus."""
    sequences = corpus.read_corpus(corpus_path)
    sha = corpus_sha256(sequences)
    if state is not None and state.get("corpus_sha256", sha) != sha:
        raise OutputMismatchError(f"{corpus_path} is not the corpus the run in {run_dir} was trained on (its "
                                  f"sequences differ); resume with the original corpus or start a new run",
                                  path=run_dir, differences={"corpus_sha256": (state["corpus_sha256"], sha)})
    train_seqs, val_seqs = corpus.split_validation(sequences, settings.val_fraction, settings.seed)
    if not train_seqs or not val_seqs:
        raise ConfigError(f"{corpus_path}: {len(sequences)} sequences leave {len(train_seqs)} for training and "
                            f"{len(val_seqs)} for validation at val_fraction {settings.val_fraction}; "
                          f"both need at least one", field="val_fraction", value=settings.val_fraction)
    logger.info("%d training and %d validation sequences", len(train_seqs), len(val_seqs))
    return train_seqs, val_seqs, sha


def _open_run(corpus_path: str | Path, run_dir: Path, config: SeqVecConfig | None, settings: TrainSettings | None,
              *, resume: bool, changes: Mapping[str, Any] | None, init: str | None, device: str) -> _Run:
    """Set a run up: from its checkpoint (resume) or from scratch / a warm start."""
    from torch.nn.parallel import DistributedDataParallel

    world = World.from_env()
    dev = torch.device(world.device(device))
    joined = world.start(dev.type)
    state = _load_state(run_dir, resume, config, init)
    if state is not None:
        config = SeqVecConfig.from_dict(state["config"])
        settings = _resumed_settings(TrainSettings(**state["settings"]), changes or {}, run_dir)
        logger.info("resuming %s at step %d", run_dir, state["position"]["step"])
    else:
        settings = replace(settings or TrainSettings(), **(changes or {}))
        if world.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    train_seqs, val_seqs, sha = _read_corpus(corpus_path, settings, state, run_dir)
    if state is None and init is not None:
        model = _warm_start(init, settings.dropout)
        config = model.config
    else:
        model = BiLM(config or PRESETS["mini"], settings.dropout)
    model = model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = len(corpus.epoch_batches(train_seqs, settings.window, settings.max_tokens, settings.seed, 0)[1])
    factor = _lr_lambda(settings, settings.max_steps or steps_per_epoch * settings.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    run = _Run(run_dir, world, dev, joined, model.config, settings, model,
               DistributedDataParallel(model) if world.size > 1 else model, optimizer, scheduler, Position(),
               RunLog(run_dir, world.is_main), train_seqs, val_seqs, sha, init or "")
    if state is None:
        run.log.start()
        return run
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * factor(scheduler.last_epoch)  # the schedule of the (possibly new) length
    torch.set_rng_state(state["rng"])
    run.pos = Position(**state["position"])
    run.init = state.get("init", "")
    run.log.rewind(run.pos.step)
    return run


def _train_step(run: _Run, pieces: list, group: list[int]) -> None:
    """One optimizer step on one global batch (this rank's share of it); updates the position."""
    world, pos = run.world, run.pos
    mine = corpus.shard(group, pieces, world.rank, world.size)
    weight = 1.0 if mine else 0.0  # a rank without windows runs one with weight 0 (DDP needs every rank)
    n_pred = sum(len(pieces[i]) - 1 for i in group)
    types, lengths = corpus.collate([pieces[i] for i in mine or group[:1]])
    losses = run.net(types.to(run.device), lengths.to(run.device))
    # DDP averages gradients over ranks: scale so the result is the global mean
    loss = losses.sum() * weight * world.size / (2 * n_pred)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.settings.clip_norm)
    run.optimizer.step()
    run.scheduler.step()
    summed = (losses.detach() * weight).sum()
    if world.size > 1:
        dist.all_reduce(summed)
    residues = sum(len(pieces[i]) for i in group)
    pos.step += 1
    pos.batch += 1
    pos.residues += residues
    pos.window_loss += summed.item() / 2
    pos.window_predictions += n_pred
    pos.window_residues += residues


def _train_epoch(run: _Run, clock: _Clock, progress: bool) -> bool:
    """Train from the current position to the end of its epoch (then move the position to
    the next epoch); True when asked to stop (``max_steps`` or ``max_minutes`` reached)."""
    from seqvec.progress import progress_bar

    settings, pos = run.settings, run.pos
    pieces, groups = corpus.epoch_batches(run.train_seqs, settings.window, settings.max_tokens, settings.seed,
                                          pos.epoch)
    bar = progress_bar(total=len(groups), initial=pos.batch, desc=f"epoch {pos.epoch + 1}/{settings.epochs}",
                       unit="batch", enabled=progress and run.world.is_main, dynamic_ncols=True)
    stop = False
    try:
        while pos.batch < len(groups) and not stop:
            _train_step(run, pieces, groups[pos.batch])
            pos.elapsed_s = clock.elapsed()
            bar.update()
            if pos.step % settings.log_every == 0 or pos.batch == len(groups):
                run.log.train_row(pos, float(run.scheduler.get_last_lr()[0]))
                bar.set_postfix(loss=f"{pos.window_loss / pos.window_predictions:.3f}")
                pos.start_window()
            if settings.val_every and pos.step % settings.val_every == 0:
                run.validate()
            stop = run.world.any(clock.out_of_time() or pos.finished(settings))
            if not stop and pos.step % settings.checkpoint_every == 0:
                run.checkpoint()
    finally:
        bar.close()
    if pos.batch == len(groups):
        pos.epoch += 1
        pos.batch = 0
    return stop


class _Clock:
    """Training time: what earlier invocations spent plus this one's, and this one's limit."""

    def __init__(self, elapsed_before: float, max_minutes: float):
        self.start, self.before, self.max_minutes = time.monotonic(), elapsed_before, max_minutes

    def elapsed(self) -> float:
        return self.before + time.monotonic() - self.start

    def out_of_time(self) -> bool:
        return bool(self.max_minutes) and time.monotonic() - self.start > 60 * self.max_minutes


def train_lm(corpus_path: str | Path, run_dir: str | Path, config: SeqVecConfig | None = None,
             settings: TrainSettings | None = None, *, device: str = "cpu", resume: bool = False,
             max_minutes: float = 0, progress: bool = True, init: str | None = None,
             changes: Mapping[str, Any] | None = None) -> Path | None:
    """Train (or resume) a biLM on a FASTA corpus until ``settings.epochs``, ``settings.max_steps``
    or ``max_minutes``; returns the exported model directory on rank 0 (None on other ranks).

    A new run uses ``config`` (default: the ``mini`` preset) and ``settings`` (default:
    :class:`TrainSettings`) updated with ``changes``; ``init`` (a model name or directory
    with ``softmax.hdf5``) starts it from that model's weights, whose shape then replaces
    ``config``. A resumed run keeps the shape, settings and corpus of its checkpoint;
    ``changes`` may alter only :data:`RESUMABLE` (e.g. more epochs or steps), anything else
    is refused. A finished run trains no further: it is exported again if needed.
    """
    run_dir = Path(run_dir)
    run = _open_run(corpus_path, run_dir, config, settings, resume=resume, changes=changes, init=init,
                    device=device)
    pos, settings = run.pos, run.settings
    if pos.finished(settings):
        logger.info("the run in %s is complete (step %d): nothing to train", run_dir, pos.step)
    clock = _Clock(pos.elapsed_s, max_minutes)
    if pos.window_predictions == 0:
        pos.start_window()
    stop = False
    while not (stop or pos.finished(settings)):
        stop = _train_epoch(run, clock, progress)
        run.validate()
        run.checkpoint()
    result = None
    if run.world.is_main:
        run.log.finish()
        result = export_run(run.model, run_dir, pos)
    if run.joined:
        run.world.stop()
    return result


def _warm_start(init: str, dropout: float) -> BiLM:
    """The training model initialised from a saved model and its softmax."""
    from seqvec.lm.lm_head import load_softmax
    from seqvec.lm.pretrained import load_model, resolve

    lm = load_model(init)
    _, options_path, _ = resolve(init)
    softmax, vocab = load_softmax(options_path.parent / "softmax.hdf5", lm.config.projection_dim)
    if vocab != corpus.VOCAB:
        raise CheckpointError(f"{init}: its softmax vocabulary {vocab} is not seqvec's")
    extra = dict(lm.config.extra_options)
    extra["warm_start"] = lm.name
    extra["warm_start_tokens"] = int(extra.pop("n_train_tokens", 0)) + int(extra.pop("warm_start_tokens", 0))
    lm.config = SeqVecConfig.from_dict({**lm.config.to_dict(), "extra_options": sorted(extra.items())})
    logger.info("starting from the weights of %s", lm.name)
    return BiLM.from_pretrained(lm, softmax, dropout)


def export_run(model: BiLM, run_dir: Path, pos: Position) -> Path:
    """Write ``run_dir/model``: allennlp ``options.json`` + ``weights.hdf5``, and ``softmax.hdf5``."""
    out = run_dir / "model"
    lm = model.to_seqvec_lm().cpu()
    extra = dict(lm.config.extra_options)
    # a warm-started model has also seen the residues of the model it started from
    extra.update({"n_train_tokens": pos.residues + int(extra.get("warm_start_tokens", 0)),
                  "n_tokens_vocab": len(corpus.VOCAB),
                  "bidirectional": True})
    lm.config = SeqVecConfig.from_dict({**lm.config.to_dict(), "extra_options": sorted(extra.items())})
    with atomic_dir(out) as staging:  # an exported model appears whole, replacing the last export
        save_allennlp(lm, staging)
        save_softmax(model.softmax, corpus.VOCAB, staging / "softmax.hdf5")
    logger.info("exported the model to %s", out)
    return out
