"""Row-normalised confusion matrices with class names."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqvec.errors import SeqVecError
from seqvec.viz.common import check_output, pyplot, save_figure


def confusion_from_labels(true: Sequence, predicted: Sequence, classes: Sequence[str] | None = None
                          ) -> tuple[np.ndarray, list[str]]:
    """Counts ``[K, K]`` (rows true, columns predicted) from two label lists of names or indices."""
    from sklearn.metrics import confusion_matrix

    if len(true) != len(predicted):
        raise SeqVecError(f"{len(true)} true labels but {len(predicted)} predictions")
    if classes is None:
        classes = sorted({*map(str, true), *map(str, predicted)})
        true, predicted = list(map(str, true)), list(map(str, predicted))
        labels: list = list(classes)
    else:
        labels = list(range(len(classes))) if isinstance(true[0], (int, np.integer)) else list(classes)
    return confusion_matrix(true, predicted, labels=labels), list(classes)


def read_confusions(path: str | os.PathLike, task: str | None = None) -> list[tuple[str, np.ndarray, list[str]]]:
    """``[(title, counts, classes), ...]`` from a JSON file.

    Accepted: ``seqvec evaluate -o`` output (``tasks.<task>.confusion_matrix`` and
    ``classes``; every task unless ``task`` is given), or any object with ``classes`` and
    either ``confusion_matrix`` or ``confusion: {labels, predictions}`` (class indices),
    as ``benchmarks/multiloc.py`` writes.
    """
    path = Path(path)
    if not path.is_file():
        raise SeqVecError(f"evaluation file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SeqVecError(f"{path} is not JSON ({err})") from None
    entries = data["tasks"] if isinstance(data.get("tasks"), dict) else {data.get("task", path.stem): data}
    if task is not None:
        if task not in entries:
            raise SeqVecError(f"{path} has no task {task!r} (it has: {', '.join(entries)})")
        entries = {task: entries[task]}
    result = []
    for name, entry in entries.items():
        classes = entry.get("classes")
        if classes and entry.get("confusion_matrix"):
            result.append((name, np.asarray(entry["confusion_matrix"]), list(classes)))
        elif classes and isinstance(entry.get("confusion"), dict):
            counts, _ = confusion_from_labels(entry["confusion"]["labels"], entry["confusion"]["predictions"], classes)
            result.append((name, counts, list(classes)))
    if not result:
        raise SeqVecError(f"{path} holds no confusion matrix (expected 'seqvec evaluate -o' output)")
    return result


def plot_confusion(panels: Sequence[tuple[str, np.ndarray, list[str]]], path: str | os.PathLike,
                   dpi: int = 150) -> Path:
    """One heatmap per ``(title, counts [K, K], classes)``: each row divided by its true-class count.

    Cells show the row share; the tick labels carry the class sizes.
    """
    check_output(path)
    plt = pyplot()
    sizes = [max(4.0, 0.55 * len(classes) + 2.5) for _, _, classes in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(sizes) + 0.8, max(sizes)), squeeze=False)
    for ax, (title, counts, classes) in zip(axes[0], panels):
        counts = np.asarray(counts, dtype=float)
        rows = counts.sum(1, keepdims=True)
        share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        k = len(classes)
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7 if k > 6 else 9,
                            color="white" if share[i, j] > 0.55 else "black")
        ax.set_xticks(range(k))
        ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k))
        ax.set_yticklabels([f"{c} ({int(n)})" for c, n in zip(classes, rows[:, 0])], fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true (proteins)")
        accuracy = np.trace(counts) / max(counts.sum(), 1)
        ax.set_title(f"{title}: accuracy {accuracy:.3f}, n = {int(counts.sum())}", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return save_figure(fig, path, dpi)
