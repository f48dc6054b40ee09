"""Reusing an earlier benchmarks/tasks.py report: its rows stay as measured, new encoders are added.

``tasks.py --reuse docs/benchmarks.json --encoders protvec`` trains only the ProtVec rows and
writes a report holding them beside the earlier rows (one-hot, BLOSUM62, the language
models and their variants), which are not trained again. The earlier runs' training
histories are not in the JSON, so their "epochs run" and "training time" columns are read
from the earlier Markdown report's Runs table (``docs/benchmarks.md`` beside the JSON).
"""
from __future__ import annotations

import json
from pathlib import Path

ORDER = {"onehot": 0, "blosum62": 1, "protvec": 2}  # baselines first, then the language models as they came


def load_earlier(report_json: Path) -> tuple[dict, dict]:
    """(results, meta) of an earlier report; each run gains ``epochs_run``/``train_seconds`` from its Markdown."""
    saved = json.loads(report_json.read_text())
    meta = saved.pop("meta")
    saved.pop("published", None)
    table = runs_table(report_json.with_suffix(".md"))
    for run in saved["runs"]:
        if "epochs_run" not in run and (run["name"], run["head"]) in table:
            run["epochs_run"], run["train_seconds"] = table[(run["name"], run["head"])]
    return saved, meta


def runs_table(report_md: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(encoder row, head) -> (epochs run, training seconds) from a report's "## Runs" table."""
    if not report_md.is_file():
        return {}
    text = report_md.read_text()
    if "## Runs" not in text:
        return {}
    found = {}
    for line in text.split("## Runs", 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] not in ("encoder", "---"):
            found[(cells[0], cells[1])] = (cells[5], cells[6])
    return found


def merge(earlier: dict, new: dict, new_keys: set[str]) -> dict:
    """``earlier``'s results with the runs of ``new_keys`` replaced by ``new``'s, baselines first."""
    kept = [r for r in earlier["runs"] if r["key"] not in new_keys]
    runs = sorted(kept + new["runs"], key=lambda r: ORDER.get(r["encoder"], len(ORDER)))
    return {**earlier, "runs": runs}
