"""The chart of ``seqvec compare``: each run's headline metric per task, with its 95% interval."""
from __future__ import annotations

import os
from pathlib import Path

from seqvec.viz.common import (
    DEFAULT_DPI,
    MIN_FONT,
    OKABE_ITO,
    add_caption,
    check_output,
    new_figure,
    save_figure,
    styled,
)

HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "++", "--", "**")  # one per model or encoder, so bars do not rely on colour alone


@styled
def plot_comparison(results: dict, path: str | os.PathLike, dpi: int = DEFAULT_DPI,
                    caption: str | None = None) -> Path:
    """One bar chart per task of a ``run_comparison`` result: the headline metric of each
    (encoder, head) run with its 95% bootstrap interval as an error bar.

    Each bar carries its value as text (a bar of height 0 is still seen); each panel names
    the number of proteins scored and draws the level a predictor without information
    reaches (the majority class for accuracies, 0 for MCC and correlations) as a dashed line.
    """
    from seqvec.classifiers.evaluation.metrics import chance_level, is_percent
    from seqvec.classifiers.selection.compare import cell

    check_output(path)
    tasks = [t for t, s in results["tasks"].items() if any(cell(r, t, s) for r in results["runs"])]
    bars = [max(sum(1 for r in results["runs"] if cell(r, t, results["tasks"][t])), 3) for t in tasks] or [3]
    fig = new_figure(max(0.42 * sum(bars) + 1.2 * len(bars), 3.4), 4.4)  # wide enough for the rotated labels
    axes = fig.subplots(1, len(bars), squeeze=False, width_ratios=bars)
    looks: dict[str, int] = {}
    for ax, task in zip(axes[0], tasks):
        spec = results["tasks"][task]
        rows = [(r, c) for r in results["runs"] if (c := cell(r, task, spec)) is not None]
        digits = 1 if is_percent(spec["metric"]) else 3
        for i, (run, (v, lo, hi)) in enumerate(rows):
            k = looks.setdefault(run["name"], len(looks))
            ax.bar(i, v, color=OKABE_ITO[k % len(OKABE_ITO)], hatch=HATCHES[k % len(HATCHES)], edgecolor="0.2",
                   linewidth=0.5, yerr=[[v - lo], [hi - v]], capsize=3)
            ax.hlines(v, i - 0.4, i + 0.4, color="0.2", linewidth=1.2)  # a bar of height 0 still shows
            ax.annotate(f"{v:.{digits}f}", (i, max(hi, v, 0.0)), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=MIN_FONT)
        _chance_line(ax, [r["tasks"][task] for r, _ in rows], spec["metric"], chance_level, is_percent)
        ax.set_xticks(range(len(rows)), [f"{r['name']} {r['head']}" for r, _ in rows], rotation=35, ha="right")
        counts = sorted({r["tasks"][task].get("n_proteins") for r, _ in rows} - {None})
        n = "" if not counts else f", n = {counts[0]}" if len(counts) == 1 else f", n = {counts[0]}-{counts[-1]}"
        ax.set_title(f"{task} ({spec['metric']}){n}")
        ax.set_ylabel(f"{spec['metric']} (%)" if is_percent(spec["metric"]) else spec["metric"])
        ax.margins(y=0.15)
    fig.suptitle("95% bootstrap intervals over proteins; " + "; ".join(_scored_sets(results)))
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)


def comparison_caption(results: dict) -> str:
    """The caption of a comparison chart: the training files and what was scored (names, not paths)."""
    train = ", ".join(Path(p).name for p in results["train"])
    return f"train: {train}; scored on: {'; '.join(results.get('test', []))}"


def _scored_sets(results: dict) -> list[str]:
    """What was scored, without the counts (the panels give n): ``test set (x.fasta)``."""
    return sorted({str(t).split(": n = ")[0] for t in results.get("test", [])})


def _chance_line(ax, task_results: list[dict], metric: str, chance_level, is_percent) -> None:
    """A dashed line at the no-information level of a panel (the first run's: all score the same proteins)."""
    level = chance_level(task_results[0], metric) if task_results else None
    if level is None:
        return
    value, name = level
    value *= 100.0 if is_percent(metric) else 1.0
    ax.axhline(value, color="0.3", linestyle="--", linewidth=0.8, zorder=0.5)
    ax.annotate(name, (0.0, value), xycoords=("axes fraction", "data"), xytext=(2, -2),
                textcoords="offset points", ha="left", va="top", fontsize=MIN_FONT, color="0.3")
