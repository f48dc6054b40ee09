"""Learning curves from a training run's log (``history.json`` / ``history.csv`` of ``fit``)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from seqvec.errors import SeqVecError
from seqvec.viz.common import check_output, pyplot, save_figure


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a training log: a run folder (its ``history.json``), a ``.json`` list or a ``.csv``."""
    path = Path(path)
    if path.is_dir():
        path = path / "history.json" if (path / "history.json").is_file() else path / "history.csv"
    if not path.is_file():
        raise SeqVecError(f"training log not found: {path}")
    if path.suffix == ".json":
        rows = json.loads(path.read_text())
        rows = rows.get("history", rows) if isinstance(rows, dict) else rows
    else:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    try:
        history = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in rows]
    except (TypeError, ValueError, AttributeError) as err:
        raise SeqVecError(f"{path} is not a training log with numeric columns ({err})") from None
    if not history or "epoch" not in history[0]:
        raise SeqVecError(f"{path} has no rows with an 'epoch' column")
    return history


def plot_curves(history: list[dict[str, float]], path: str | os.PathLike, title: str = "",
                dpi: int = 150) -> Path:
    """Losses (left) and validation metrics (right) per epoch; the best validation epoch is marked."""
    check_output(path)
    plt = pyplot()
    epochs = [row["epoch"] for row in history]
    losses = [k for k in history[0] if k.endswith("loss")]
    metrics = [k for k in dict.fromkeys(k for row in history for k in row)
               if k not in losses and k not in ("epoch", "seconds")]
    per_task = [k for k in metrics if k.startswith("val_accuracy_")]
    if len(per_task) == 1:  # one task: its accuracy is the mean accuracy, draw it once
        metrics = [k for k in metrics if k != "val_accuracy"]
    fig, axes = plt.subplots(1, 2 if metrics else 1, figsize=(11 if metrics else 6, 4), squeeze=False)
    for key in losses:
        axes[0, 0].plot(epochs, [row.get(key) for row in history], marker="o", ms=3, label=key.replace("_", " "))
    axes[0, 0].set_ylabel("loss")
    if "val_loss" in history[0]:
        best = min(history, key=lambda row: row["val_loss"])
        axes[0, 0].axvline(best["epoch"], color="0.6", linestyle="--", linewidth=1,
                           label=f"lowest val loss (epoch {best['epoch']:.0f})")
    for key in metrics:
        axes[0, 1].plot(epochs, [row.get(key) for row in history], marker="o", ms=3, label=key.replace("_", " "))
    if metrics:
        axes[0, 1].set_ylabel("validation metric")
    from matplotlib.ticker import MaxNLocator

    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi)
