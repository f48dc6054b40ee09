"""The chart of ``seqvec compare``: each run's headline metric per task, with its 95% interval."""
from __future__ import annotations

import os
from pathlib import Path

from seqvec.viz.common import DEFAULT_DPI, OKABE_ITO, add_caption, check_output, new_figure, save_figure, styled

HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "++", "--", "**")  # one per model or encoder, so bars do not rely on colour alone


@styled
def plot_comparison(results: dict, path: str | os.PathLike, dpi: int = DEFAULT_DPI,
                    caption: str | None = None) -> Path:
    """One bar chart per task of a ``run_comparison`` result: the headline metric of each
    (encoder, head) run with its 95% bootstrap interval as an error bar."""
    from seqvec.classifiers.evaluation.metrics import is_percent
    from seqvec.classifiers.selection.compare import cell

    check_output(path)
    tasks = [t for t, s in results["tasks"].items() if any(cell(r, t, s) for r in results["runs"])]
    bars = [max(sum(1 for r in results["runs"] if cell(r, t, results["tasks"][t])), 3) for t in tasks] or [3]
    fig = new_figure(max(0.42 * sum(bars) + 1.2 * len(bars), 3.4), 4.2)  # wide enough for the rotated labels
    axes = fig.subplots(1, len(bars), squeeze=False, width_ratios=bars)
    looks: dict[str, int] = {}
    for ax, task in zip(axes[0], tasks):
        spec = results["tasks"][task]
        rows = [(r, c) for r in results["runs"] if (c := cell(r, task, spec)) is not None]
        for i, (run, (v, lo, hi)) in enumerate(rows):
            k = looks.setdefault(run["name"], len(looks))
            ax.bar(i, v, color=OKABE_ITO[k % len(OKABE_ITO)], hatch=HATCHES[k % len(HATCHES)], edgecolor="0.2",
                   linewidth=0.5, yerr=[[v - lo], [hi - v]], capsize=3)
        ax.set_xticks(range(len(rows)), [f"{r['name']} {r['head']}" for r, _ in rows], rotation=35, ha="right")
        ax.set_title(f"{task} ({spec['metric']})")
        ax.set_ylabel(f"{spec['metric']} (%)" if is_percent(spec["metric"]) else spec["metric"])
    fig.suptitle("test set, 95% bootstrap intervals over proteins")
    add_caption(fig, caption)
    return save_figure(fig, path, dpi)
