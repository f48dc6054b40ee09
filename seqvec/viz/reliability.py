"""The reliability curve of annotation transfer: the metric of the predictions kept above a reliability
threshold against the share of queries they cover (from ``seqvec evaluate --predictions -o`` JSON)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from seqvec.errors import InputFileError
from seqvec.viz.common import DEFAULT_DPI, add_caption, check_output, class_style, new_figure, save_figure, styled


def read_curve(path: str | os.PathLike) -> dict:
    """An evaluation JSON of a transfer table, checked to hold a reliability curve."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"evaluation JSON not found: {path}", path=path)
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputFileError(f"{path} is not JSON ({err})", path=path) from None
    if not isinstance(report, dict) or not report.get("reliability_curve"):
        raise InputFileError(f"{path} has no reliability curve: score a transfer table with "
                             "seqvec.search.scoring.score_predictions (the command 'seqvec evaluate' with its "
                             "`predictions`) and save its report as JSON", path=path)
    return report


@styled
def plot_reliability(curves: dict[str, dict], path: str | os.PathLike, dpi: int = DEFAULT_DPI,
                     caption: str | None = None, marks: dict[str, tuple[float, float]] | None = None) -> Path:
    """Left: the headline metric against coverage as the reliability threshold rises, one line per
    ``{name: evaluation report}``; right: the observed metric against the mean reliability of the
    predictions kept (on the diagonal when the calibration holds). ``marks``: single
    ``{name: (coverage, metric)}`` points to compare with (e.g. a sequence search's hits)."""
    check_output(path)
    fig = new_figure(9.0, 4.0)
    left, right = fig.subplots(1, 2)
    metric = ""
    for k, (name, report) in enumerate(curves.items()):
        curve = report["reliability_curve"]
        metric = curve[0]["metric"]
        style = class_style(k)
        left.plot([p["coverage"] for p in curve], [p["value"] for p in curve], label=name, markersize=4, **style)
        right.plot([p["mean_reliability"] for p in curve], [p["value"] for p in curve], label=name, markersize=4,
                   linestyle="none", **style)
    for k, (name, (coverage, value)) in enumerate((marks or {}).items(), len(curves)):
        left.plot([coverage], [value], linestyle="none", markersize=9, label=name, **class_style(k))
    left.set_xlabel("coverage (share of queries with reliability >= threshold)")
    left.set_ylabel(f"{metric} of the predictions kept")
    left.legend(fontsize="small")
    right.plot([0, 1], [0, 1], color="0.5", linestyle=":", linewidth=1)
    right.set_xlabel("mean reliability of the predictions kept")
    right.set_ylabel(f"observed {metric}")
    fig.suptitle("annotation transfer: accuracy against reliability")
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)
