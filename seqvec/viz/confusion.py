"""Row-normalised confusion matrices with class names."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqvec.errors import DataError, InputFileError
from seqvec.viz.common import (
    DEFAULT_DPI,
    SEQUENTIAL,
    add_caption,
    check_output,
    head_label,
    new_figure,
    save_figure,
    styled,
)


def confusion_from_labels(true: Sequence, predicted: Sequence, classes: Sequence[str] | None = None
                          ) -> tuple[np.ndarray, list[str]]:
    """Counts ``[K, K]`` (rows true, columns predicted) from two label lists of names or indices."""
    from sklearn.metrics import confusion_matrix

    if len(true) != len(predicted):
        raise DataError(f"{len(true)} true labels but {len(predicted)} predictions")
    if classes is None:
        classes = sorted({*map(str, true), *map(str, predicted)})
        true, predicted = list(map(str, true)), list(map(str, predicted))
        labels: list = list(classes)
    else:
        labels = list(range(len(classes))) if isinstance(true[0], (int, np.integer)) else list(classes)
    return confusion_matrix(true, predicted, labels=labels), list(classes)


def read_confusions(path: str | os.PathLike, task: str | None = None) -> list[ConfusionPanel]:
    """One :class:`ConfusionPanel` per task of a JSON file.

    Accepted: ``seqvec evaluate -o`` output (``tasks.<task>.confusion_matrix`` and
    ``classes``; every task unless ``task`` is given), or any object with ``classes`` and
    either ``confusion_matrix`` or ``confusion: {labels, predictions}`` (class indices),
    as ``benchmarks/multiloc.py`` writes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"evaluation file not found: {path}", path=path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path} is not JSON ({err})", path=path) from None
    entries = data["tasks"] if isinstance(data.get("tasks"), dict) else {data.get("task", path.stem): data}
    if task is not None:
        if task not in entries:
            raise InputFileError(f"{path} has no task {task!r} (it has: {', '.join(entries)})", path=path)
        entries = {task: entries[task]}
    result = []
    for name, entry in entries.items():
        classes = entry.get("classes")
        unit = "residues" if entry.get("level") == "residue" else "proteins"
        if classes and entry.get("confusion_matrix"):
            result.append(ConfusionPanel(name, np.asarray(entry["confusion_matrix"]), list(classes), unit))
        elif classes and isinstance(entry.get("confusion"), dict):
            counts, _ = confusion_from_labels(entry["confusion"]["labels"], entry["confusion"]["predictions"], classes)
            result.append(ConfusionPanel(name, counts, list(classes), unit))
    if not result:
        raise InputFileError(f"{path} holds no confusion matrix (expected 'seqvec evaluate -o' output)", path=path)
    return result


@dataclass
class ConfusionPanel:
    """One confusion matrix: counts ``[K, K]`` (rows true, columns predicted) of ``unit``."""

    title: str
    counts: np.ndarray
    classes: list[str]
    unit: str = "proteins"  # what is counted: proteins, or residues for per-residue tasks


def describe_evaluation(path: str | os.PathLike) -> str:
    """A caption naming the head, the model and the labels of a ``seqvec evaluate -o`` JSON file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return f"evaluation: {Path(path).name}"
    parts = []
    if data.get("head"):
        kind = f" ({data['head_name']})" if data.get("head_name") else ""
        parts.append(f"head {head_label(data['head'])}{kind}")
    embeddings = data.get("embeddings") or {}
    if embeddings.get("model") or embeddings.get("encoder"):
        parts.append(f"embeddings: {embeddings.get('model') or embeddings.get('encoder')}")
    if data.get("scored"):  # seqvec run: what was scored and how many
        parts.append(f"scored on: {data['scored']}")
    elif data.get("labels"):
        parts.append("test data: " + ", ".join(Path(p).name for p in data["labels"]))
    return "; ".join(parts) or f"evaluation: {Path(path).name}"


@styled
def plot_confusion(panels: Sequence[ConfusionPanel], path: str | os.PathLike, dpi: int = DEFAULT_DPI,
                   caption: str | None = None) -> Path:
    """One heatmap per panel, each row divided by its true-class count, one shared colour bar.

    Cells show the row share (text colour chosen for contrast); the tick labels carry the
    class sizes in the panel's unit (proteins or residues). Panels are as wide as their
    classes need (a cell is at least 0.45 inch), side by side with nothing left blank.
    """
    check_output(path)
    if not panels:
        raise DataError("no confusion matrix to draw")
    widths = [max(0.45 * len(p.classes), 2.4) for p in panels]  # inches of each heatmap
    fig = new_figure(sum(widths) + 1.5 * len(panels) + 1.1, max(widths) + 2.1)
    axes = fig.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": widths})[0]
    image = None
    for ax, panel in zip(axes, panels):
        image = _heatmap(ax, panel)
    units = {p.unit for p in panels}
    fig.colorbar(image, ax=list(axes), fraction=0.04 if len(panels) > 1 else 0.046, pad=0.02, aspect=20, shrink=0.8,
                 label=f"share of the true class's {units.pop()}" if len(units) == 1 else "share of the true class")
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)


def _heatmap(ax, panel: ConfusionPanel):
    """Draw one row-normalised matrix on ``ax``; returns the image (for the colour bar)."""
    counts = np.asarray(panel.counts, dtype=float)
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    image = ax.imshow(share, cmap=SEQUENTIAL, vmin=0, vmax=1)
    k = len(panel.classes)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=8 if k > 6 else 9,
                        color="black" if share[i, j] > 0.6 else "white")
    ax.set_xticks(range(k))
    ax.set_xticklabels(panel.classes, rotation=45 if max(map(len, panel.classes)) > 2 else 0, ha="right"
                       if max(map(len, panel.classes)) > 2 else "center")
    ax.set_yticks(range(k))
    ax.set_yticklabels([f"{c} ({int(n):,})" for c, n in zip(panel.classes, rows[:, 0])])
    ax.set_xlabel("predicted class")
    ax.set_ylabel(f"true class ({panel.unit})")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{panel.title}\naccuracy {accuracy:.3f}, n = {int(counts.sum()):,} {panel.unit}")
    return image
