"""The prediction tasks: their level, class names and headline metric.

A *task* is one output of a head. Per-protein tasks have one class index per protein;
per-residue tasks have one class index per residue, with ``IGNORE`` (-1) marking
residues that are not scored (unresolved in the structure, outside the CB513 mask, no
CheZOD score). Class order below is the order of the logits of every head.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqvec.errors import SeqVecError

IGNORE = -1  # target value of a protein or residue that is not scored for a task
# label file formats that seqvec.classifiers.readers reads (here so that --help stays light)
LABEL_FORMATS = ("deeploc", "deeploc-numeric", "deeploc-json", "netsurfp-csv", "flip", "tape-csv", "chezod")

DEEPLOC_CLASSES = ("Cell.membrane", "Cytoplasm", "Endoplasmic.reticulum", "Extracellular",
                   "Golgi.apparatus", "Lysosome/Vacuole", "Mitochondrion", "Nucleus",
                   "Peroxisome", "Plastid")
SS3_CLASSES = ("H", "E", "C")
SS8_CLASSES = ("H", "G", "I", "E", "B", "T", "S", "C")  # DSSP letters


@dataclass(frozen=True)
class TaskSpec:
    """What one head output predicts."""

    name: str
    level: Literal["protein", "residue"]  # one label per protein or per residue
    classes: tuple[str, ...]  # logit order
    metric: str  # headline metric: Q10, Q2, Q3, Q8 (accuracy) or MCC
    description: str


TASKS: dict[str, TaskSpec] = {
    "localization": TaskSpec("localization", "protein", DEEPLOC_CLASSES, "Q10",
                             "subcellular location, the 10 DeepLoc classes"),
    "membrane": TaskSpec("membrane", "protein", ("membrane", "soluble"), "Q2",
                         "membrane-bound vs soluble (DeepLoc M/S; U is not scored)"),
    "ss3": TaskSpec("ss3", "residue", SS3_CLASSES, "Q3", "3-state secondary structure (DSSP H/E/C)"),
    "ss8": TaskSpec("ss8", "residue", SS8_CLASSES, "Q8", "8-state secondary structure (DSSP)"),
    "disorder": TaskSpec("disorder", "residue", ("ordered", "disordered"), "MCC",
                         "residue disorder: unresolved in the structure (NetSurfP) or CheZOD Z < 8"),
}


def get_tasks(names: str | list[str] | tuple[str, ...]) -> dict[str, TaskSpec]:
    """Task specs by name; ``names`` may be a comma-separated string. All must share one level."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise SeqVecError(f"unknown task(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                          f"choose from {', '.join(TASKS)}")
    specs = {n: TASKS[n] for n in dict.fromkeys(names)}
    levels = {s.level for s in specs.values()}
    if len(levels) > 1:
        raise SeqVecError(f"tasks {', '.join(specs)} mix per-protein and per-residue outputs; "
                          "train them as separate heads")
    return specs
