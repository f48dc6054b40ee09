"""Training the language model: one process or many (torchrun / DistributedDataParallel).

The run directory holds ``checkpoint.pt`` (model, optimizer, scheduler, RNG, data
position; tensors and plain values only, read with ``weights_only=True``), ``log.csv``,
``log.json`` (``seqvec train-lm`` draws ``learning_curve.png`` from it) and, at the end, ``model/`` (``options.json`` +
``weights.hdf5`` in the allennlp layout, plus ``softmax.hdf5``). Data order is a pure
function of (seed, epoch), so ``resume`` continues exactly where a killed run stopped.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from seqvec.errors import CheckpointError
from seqvec.io import World
from seqvec.lm import corpus
from seqvec.lm.allennlp_io import save_allennlp
from seqvec.lm.bilm import BiLM
from seqvec.lm.config import SeqVecConfig, TrainSettings
from seqvec.lm.lm_head import save_softmax

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1
LOG_FIELDS = ["step", "epoch", "residues", "train_loss", "val_loss", "val_perplexity", "lr", "residues_per_s",
              "elapsed_s"]


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
    except (OSError, RuntimeError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from None
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint format {state.get('format_version')}")
    return state


def _append_log(run_dir: Path, row: dict) -> None:
    path = run_dir / "log.csv"
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})


def _restore_log(run_dir: Path, step: int) -> None:
    """Drop log rows a killed run wrote after its last checkpoint."""
    path = run_dir / "log.csv"
    if path.exists():
        with open(path) as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= step]
        path.unlink()
        for r in rows:
            _append_log(run_dir, r)


def train_lm(corpus_path: str | Path, run_dir: str | Path, config: SeqVecConfig, settings: TrainSettings, *,
             device: str = "cpu", resume: bool = False, max_minutes: float = 0, progress: bool = True) -> Path | None:
    """Train (or resume) a biLM on a FASTA corpus until ``settings.epochs``, ``settings.max_steps``
    or ``max_minutes``; returns the exported model directory on rank 0 (None on other ranks)."""
    from torch.nn.parallel import DistributedDataParallel

    from seqvec.progress import progress_bar

    world = World.from_env()
    dev = torch.device(world.device(device))
    joined = world.start(dev.type)
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoint.pt"
    state = None
    if ckpt_path.exists():
        if not resume:
            raise CheckpointError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another -o")
        state = load_checkpoint(ckpt_path)
        config, settings = SeqVecConfig.from_dict(state["config"]), TrainSettings(**state["settings"])
        logger.info("resuming %s at step %d", run_dir, state["position"]["step"])
    elif world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    sequences = corpus.read_corpus(corpus_path)
    train_seqs, val_seqs = corpus.split_validation(sequences, settings.val_fraction, settings.seed)
    logger.info("%d training and %d validation sequences", len(train_seqs), len(val_seqs))

    model = BiLM(config, settings.dropout).to(dev)
    net = DistributedDataParallel(model) if world.size > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = len(corpus.epoch_batches(train_seqs, settings.window, settings.max_tokens, settings.seed, 0)[1])
    total_steps = settings.max_steps or steps_per_epoch * settings.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(settings, total_steps))
    pos: dict = {"epoch": 0, "batch": 0, "step": 0, "residues": 0, "elapsed_s": 0.0}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        pos = dict(state["position"])
        if world.is_main:
            _restore_log(run_dir, pos["step"])

    def checkpoint() -> None:
        if world.is_main:
            _save_checkpoint(ckpt_path, {
                "format_version": FORMAT_VERSION, "config": config.to_dict(), "settings": asdict(settings),
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(), "position": dict(pos)})
        world.barrier()

    def validate() -> None:
        if world.is_main:
            fwd, bwd, both = evaluate_loss(model, val_seqs, settings.window, settings.max_tokens, dev)
            _append_log(run_dir, {"step": pos["step"], "epoch": pos["epoch"], "residues": pos["residues"],
                                  "val_loss": f"{both:.5f}", "val_perplexity": f"{math.exp(both):.4f}",
                                  "elapsed_s": f"{pos['elapsed_s']:.1f}"})
            logger.info("step %d: validation loss %.4f (perplexity %.3f; forward %.4f, backward %.4f)",
                        pos["step"], both, math.exp(both), fwd, bwd)
        world.barrier()

    start, start_elapsed = time.monotonic(), pos["elapsed_s"]
    window_loss, window_preds, window_res, window_t = 0.0, 0, 0, time.monotonic()
    stopped = False
    while pos["epoch"] < settings.epochs and not stopped:
        pieces, groups = corpus.epoch_batches(train_seqs, settings.window, settings.max_tokens, settings.seed,
                                              pos["epoch"])
        bar = progress_bar(total=len(groups), initial=pos["batch"], desc=f"epoch {pos['epoch'] + 1}/{settings.epochs}",
                           unit="batch", enabled=progress and world.is_main, dynamic_ncols=True)
        while pos["batch"] < len(groups):
            group = groups[pos["batch"]]
            mine = corpus.shard(group, pieces, world.rank, world.size) or group[:1]
            weight = 1.0 if corpus.shard(group, pieces, world.rank, world.size) else 0.0
            n_pred = sum(len(pieces[i]) - 1 for i in group)
            types, lengths = corpus.collate([pieces[i] for i in mine])
            losses = net(types.to(dev), lengths.to(dev))
            # DDP averages gradients over ranks: scale so the result is the global mean
            loss = losses.sum() * weight * world.size / (2 * n_pred)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
            optimizer.step()
            scheduler.step()
            summed = (losses.detach() * weight).sum()
            if world.size > 1:
                dist.all_reduce(summed)
            residues = sum(len(pieces[i]) for i in group)
            pos["step"] += 1
            pos["batch"] += 1
            pos["residues"] += residues
            pos["elapsed_s"] = start_elapsed + time.monotonic() - start
            window_loss += summed.item() / 2
            window_preds += n_pred
            window_res += residues
            bar.update()
            if pos["step"] % settings.log_every == 0 or pos["batch"] == len(groups):
                rate = window_res / max(time.monotonic() - window_t, 1e-9)
                if world.is_main:
                    _append_log(run_dir, {"step": pos["step"], "epoch": pos["epoch"], "residues": pos["residues"],
                                          "train_loss": f"{window_loss / window_preds:.5f}",
                                          "lr": f"{scheduler.get_last_lr()[0]:.3e}",
                                          "residues_per_s": f"{rate:.0f}", "elapsed_s": f"{pos['elapsed_s']:.1f}"})
                bar.set_postfix(loss=f"{window_loss / window_preds:.3f}", res_s=f"{rate:.0f}")
                window_loss, window_preds, window_res, window_t = 0.0, 0, 0, time.monotonic()
            if settings.val_every and pos["step"] % settings.val_every == 0:
                validate()
            out_of_time = bool(max_minutes) and (time.monotonic() - start) > 60 * max_minutes
            at_max_steps = bool(settings.max_steps) and pos["step"] >= settings.max_steps
            if world.any(out_of_time or at_max_steps):
                stopped = True
                break
            if pos["step"] % settings.checkpoint_every == 0:
                checkpoint()
        bar.close()
        if not stopped:
            pos["epoch"] += 1
            pos["batch"] = 0
        validate()
        checkpoint()
    result = None
    if world.is_main:
        _write_json_log(run_dir)
        result = export_run(model, run_dir, pos)
    if joined:
        world.stop()
    return result


def export_run(model: BiLM, run_dir: Path, pos: dict) -> Path:
    """Write ``run_dir/model``: allennlp ``options.json`` + ``weights.hdf5``, and ``softmax.hdf5``."""
    out = run_dir / "model"
    lm = model.to_seqvec_lm().cpu()
    extra = dict(lm.config.extra_options)
    extra.update({"n_train_tokens": int(pos["residues"]), "n_tokens_vocab": len(corpus.VOCAB),
                  "bidirectional": True})
    lm.config = SeqVecConfig.from_dict({**lm.config.to_dict(), "extra_options": sorted(extra.items())})
    save_allennlp(lm, out)
    save_softmax(model.softmax, corpus.VOCAB, out / "softmax.hdf5")
    logger.info("exported the model to %s", out)
    return out


def _write_json_log(run_dir: Path) -> None:
    with open(run_dir / "log.csv") as fh:
        rows = [{k: float(v) if v else None for k, v in r.items()} for r in csv.DictReader(fh)]
    (run_dir / "log.json").write_text(json.dumps(rows, indent=0) + "\n")
