"""Learning curves: a head's training log (``history.json`` / ``history.csv`` of ``fit``) and a
language model's (``log.csv`` of ``train_lm``)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from seqvec.errors import InputFileError
from seqvec.viz.common import (
    DEFAULT_DPI,
    add_caption,
    check_output,
    class_style,
    head_label,
    new_figure,
    save_figure,
    styled,
)


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a training log: a run folder (its ``history.json``), a ``.json`` list or a ``.csv``."""
    path = Path(path)
    if path.is_dir():
        path = path / "history.json" if (path / "history.json").is_file() else path / "history.csv"
    if not path.is_file():
        raise InputFileError(f"training log not found: {path}", path=path)
    if path.suffix == ".json":
        rows = json.loads(path.read_text())
        rows = rows.get("history", rows) if isinstance(rows, dict) else rows
    else:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    try:
        history = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in rows]
    except (TypeError, ValueError, AttributeError) as err:
        raise InputFileError(f"{path} is not a training log with numeric columns ({err})", path=path) from None
    if not history or "epoch" not in history[0]:
        raise InputFileError(f"{path} has no rows with an 'epoch' column", path=path)
    return history


def describe_log(path: str | os.PathLike) -> tuple[str, str]:
    """(title, caption) of a head's learning curves: the head and its tasks, the embeddings and
    the training files (by name, never a path); a bare log file gets its file name."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    try:
        config = json.loads((folder / "config.json").read_text())
        tasks = ", ".join(config["tasks"])
    except (OSError, ValueError, KeyError, TypeError):
        return path.name, f"training log: {path.name}"
    embeddings = config.get("embeddings") or {}
    source = embeddings.get("model") or embeddings.get("encoder") or "unrecorded embeddings"
    labels = ", ".join(Path(p).name for p in (config.get("training") or {}).get("labels", []))
    caption = f"{config.get('head', 'head')} head on {source}" + (f"; trained on {labels}" if labels else "")
    head = f"{config.get('head', 'head')} head"
    label = head_label(folder)
    return f"{label} ({head}): {tasks}" if label.startswith("bundled:") else f"{head}: {tasks}", caption


@styled
def plot_curves(history: list[dict[str, float]], path: str | os.PathLike, title: str = "",
                dpi: int = DEFAULT_DPI, caption: str | None = None) -> Path:
    """Losses (left) and validation metrics (right) per epoch; the best validation epoch is marked.

    Each line has its own marker as well as its own colour.
    """
    from matplotlib.ticker import MaxNLocator

    check_output(path)
    epochs = [row["epoch"] for row in history]
    losses = [k for k in history[0] if k.endswith("loss")]
    metrics = [k for k in dict.fromkeys(k for row in history for k in row)
               if k not in losses and k not in ("epoch", "seconds")]
    per_task = [k for k in metrics if k.startswith("val_accuracy_")]
    if len(per_task) == 1:  # one task: its accuracy is the mean accuracy, draw it once
        metrics = [k for k in metrics if k != "val_accuracy"]
    fig = new_figure(10 if metrics else 5.5, 3.8)
    axes = fig.subplots(1, 2 if metrics else 1, squeeze=False)
    for k, key in enumerate(losses):
        axes[0, 0].plot(epochs, [row.get(key) for row in history], ms=4, label=key.replace("_", " "),
                        **class_style(k))
    axes[0, 0].set_ylabel("loss")
    if "val_loss" in history[0]:
        best = min(history, key=lambda row: row["val_loss"])
        axes[0, 0].axvline(best["epoch"], color="0.5", linestyle="--", linewidth=1,
                           label=f"lowest val loss (epoch {best['epoch']:.0f})")
    for k, key in enumerate(metrics):
        axes[0, 1].plot(epochs, [row.get(key) for row in history], ms=4, label=key.replace("_", " "),
                        **class_style(k))
    if metrics:
        axes[0, 1].set_ylabel("validation accuracy (fraction)")
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)


def read_lm_log(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a language-model run's ``log.csv`` (a run folder or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / "log.csv"
    if not path.is_file():
        raise InputFileError(f"language-model training log not found: {path}", path=path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "residues" not in rows[0]:
        raise InputFileError(f"{path} is not a train-lm log.csv (no 'residues' column)", path=path)
    return rows


@styled
def plot_lm_curve(rows: list[dict[str, str]], path: str | os.PathLike, dpi: int = DEFAULT_DPI,
                  caption: str | None = None) -> Path:
    """Training and validation cross-entropy (nats per residue) against residues seen."""
    check_output(path)
    fig = new_figure(6, 4)
    ax = fig.subplots()
    for k, (key, label) in enumerate((("train_loss", "train"), ("val_loss", "validation"))):
        points = [(float(r["residues"]) / 1e6, float(r[key])) for r in rows if r.get(key)]
        if points:
            style = class_style(k)
            ax.plot(*zip(*points), color=style["color"], marker=style["marker"] if key == "val_loss" else None,
                    ms=4, label=label)
    ax.set_xlabel("training residues (millions)")
    ax.set_ylabel("cross-entropy (nats / residue)")
    ax.set_title("language model learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)
