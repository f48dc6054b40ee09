"""The state of a training run after each epoch, saved atomically so that :func:`fit` can resume it.

One file, ``run_dir/training_state.pt``, replaced atomically after every epoch
(:func:`seqvec.io.output.atomic_open`: a crash leaves the previous epoch's file whole). It
holds everything that decides the next epochs, so that a resumed run ends with the same
weights, bit for bit, as one that was never interrupted:

- the model's and the optimiser's state dicts (Adam's moments and step counts);
- every random state the loop draws from: the shuffling generator (NumPy ``Generator``),
  torch's CPU generator (dropout), Python's ``random`` and NumPy's global state;
- the early-stopping state: the history so far, the best epoch, its score and weights, the
  epochs waited, and whether the run has already stopped;
- the :class:`~seqvec.classifiers.training.train.FitConfig` it was trained with (resuming
  with other settings is an error, except a larger ``epochs`` to train on).

The file is read with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists
and dicts only, no pickled code.
"""
from __future__ import annotations

import logging
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqvec.errors import UsageError
from seqvec.io.output import atomic_open

logger = logging.getLogger(__name__)

STATE_FILE = "training_state.pt"
STATE_VERSION = 1
RESUMABLE_CHANGES = {"epochs"}  # settings a resumed run may change


def state_path(run_dir: str | Path) -> Path:
    """Where :func:`fit` keeps the state of the run in ``run_dir``."""
    return Path(run_dir) / STATE_FILE


def _config_record(config: Any) -> dict:
    return {k: v for k, v in asdict(config).items()}


def save_state(path: Path, *, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
               rng: np.random.Generator, config: Any, history: list[dict], best_epoch: int,
               best_score: float | None, best_state: dict[str, torch.Tensor] | None, waited: int,
               stopped: bool) -> None:
    """Write the state after ``epoch`` atomically (the previous file stays whole until the rename)."""
    state = {
        "version": STATE_VERSION, "epoch": epoch, "config": _config_record(config),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "rng": {"generator": rng.bit_generator.state, "torch": torch.get_rng_state(),
                "python": list(random.getstate()[1]), "python_version": random.getstate()[0],
                "python_gauss": random.getstate()[2],
                "numpy": [v.tolist() if isinstance(v, np.ndarray) else v for v in np.random.get_state()]},
        "history": history, "best_epoch": best_epoch, "best_score": best_score,
        "best_state": None if best_state is None else {k: v.detach().cpu() for k, v in best_state.items()},
        "waited": waited, "stopped": stopped,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb", encoding=None) as handle:
        torch.save(state, handle)


def load_state(path: Path, config: Any) -> dict:
    """The saved state, checked against ``config``; raises UsageError when the settings differ."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("version") != STATE_VERSION:
        raise UsageError(f"{path} is a training state of version {state.get('version')!r}, this seqvec reads "
                         f"{STATE_VERSION}; start a new run", option="resume", value=str(path))
    saved, now = state["config"], _config_record(config)
    changed = {k for k in now if saved.get(k) != now[k]} - RESUMABLE_CHANGES
    if changed:
        raise UsageError(f"cannot resume {path}: it was trained with other settings ("
                         + ", ".join(f"{k} {saved.get(k)!r} there, {now[k]!r} now" for k in sorted(changed))
                         + "); use the same settings or start a new run", option="resume", value=str(path))
    return state


def restore_random(state: dict, rng: np.random.Generator) -> None:
    """Put every random generator of the loop back where the saved epoch left it."""
    saved = state["rng"]
    rng.bit_generator.state = saved["generator"]
    torch.set_rng_state(saved["torch"])
    random.setstate((saved["python_version"], tuple(saved["python"]), saved["python_gauss"]))
    kind, keys, pos, has_gauss, gauss = saved["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
