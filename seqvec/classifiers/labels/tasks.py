"""The prediction tasks: kinds, class names and headline metric.

A *task* is one output of a head. Its :class:`TaskKind` says what is predicted:

============================  =========================================  ==================
kind                          target per protein                         loss
============================  =========================================  ==================
``protein_class``             a class index                              cross-entropy
``protein_multilabel``        a 0/1 vector over the labels ``[C]``       binary cross-entropy
``protein_value``             a number                                   mean squared error
``residue_class``             a class index per residue ``[L]``          cross-entropy
``residue_multilabel``        a 0/1 vector per residue ``[L, C]``        binary cross-entropy
``residue_value``             a number per residue ``[L]``               mean squared error
============================  =========================================  ==================

Class targets use ``IGNORE`` (-1) for what is not scored (unresolved residues, masked
residues, unknown labels); multi-label and value targets use NaN. Values are trained
standardised (``value_mean``, ``value_std`` of the training targets, kept with the head)
and reported in the user's units. Multi-label outputs are sigmoid probabilities cut at
``threshold`` (chosen on validation data). The five benchmark tasks below are named
presets of the class kinds; a user's own labels make a task of any kind
(:mod:`seqvec.classifiers.labels.userlabels`).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from seqvec.errors import TaskError, UsageError

IGNORE = -1  # class target of a protein or residue that is not scored for a task
# label file formats that seqvec.classifiers.labels.readers reads (here so that --help stays light)
LABEL_FORMATS = ("biotrainer", "biotrainer-labels", "csv", "deeploc", "deeploc-numeric", "deeploc-json",
                 "netsurfp-csv", "flip", "tape-csv", "chezod")

DEEPLOC_CLASSES = ("Cell.membrane", "Cytoplasm", "Endoplasmic.reticulum", "Extracellular",
                   "Golgi.apparatus", "Lysosome/Vacuole", "Mitochondrion", "Nucleus",
                   "Peroxisome", "Plastid")
SS3_CLASSES = ("H", "E", "C")
SS8_CLASSES = ("H", "G", "I", "E", "B", "T", "S", "C")  # DSSP letters


class TaskKind(str, enum.Enum):
    """What a task predicts: classes, several labels or values, per protein or per residue."""

    PROTEIN_CLASS = "protein_class"
    PROTEIN_MULTILABEL = "protein_multilabel"
    PROTEIN_VALUE = "protein_value"
    RESIDUE_CLASS = "residue_class"
    RESIDUE_MULTILABEL = "residue_multilabel"
    RESIDUE_VALUE = "residue_value"

    @property
    def level(self) -> str:
        """``"protein"`` or ``"residue"``: one target per protein or one per residue."""
        return self.value.split("_")[0]

    @property
    def target(self) -> str:
        """``"class"``, ``"multilabel"`` or ``"value"``."""
        return self.value.split("_")[1]

    @classmethod
    def parse(cls, text: str) -> TaskKind:
        try:
            return cls(text)
        except ValueError:
            raise UsageError(f"unknown task kind {text!r}; choose from {', '.join(k.value for k in cls)}",
                             option="kind", value=text) from None


KIND_NAMES = tuple(k.value for k in TaskKind)

# fields of predict's output beside the tasks (JSON keys, TSV columns): no task may be named so
OUTPUT_FIELDS = ("id", "length", "position", "residue", "_provenance")


def task_name_problem(name: str) -> str | None:
    """What makes ``name`` unusable as a task name (it would overwrite a field of the predictions), or None."""
    if not name or not name.strip() or name != name.strip():
        return "is empty or starts or ends with a space"
    if name in OUTPUT_FIELDS:
        return f"is a field of the predictions ({', '.join(OUTPUT_FIELDS)})"
    if name.endswith("_probabilities"):
        return "ends in _probabilities, the predictions' field of a task's class probabilities"
    if any(c in name for c in "\t\n\r\0,;="):
        return "holds a tab, line break, NUL, comma, semicolon or '='"
    return None
HEADLINE = {"class": "MCC", "multilabel": "macro_F1", "value": "Spearman"}  # of user tasks


@dataclass(frozen=True)
class TaskSpec:
    """What one head output predicts.

    ``kind`` may be given as ``"protein"`` or ``"residue"`` (a class task of that level).
    ``classes`` are the class names (logit order) or the label names of a multi-label
    task; empty for values.
    """

    name: str
    kind: TaskKind
    classes: tuple[str, ...] = ()
    metric: str = ""  # headline metric: Q10, Q2, Q3, Q8 (accuracy), MCC, macro_F1, Spearman
    description: str = ""
    value_mean: float = 0.0  # value tasks: training targets are (value - mean) / std
    value_std: float = 1.0
    threshold: float = 0.5  # multi-label tasks: a label is predicted when its probability >= this
    # multi-label tasks read through a label map: the label file's class -> its labels, kept with the head so
    # that evaluating it reads the same file without the map again (None: the labels are in the file)
    label_map: dict[str, list[str]] | None = field(default=None, compare=False)

    def __post_init__(self):
        kind = self.kind
        if kind in ("protein", "residue"):
            kind = TaskKind(f"{kind}_class")
        object.__setattr__(self, "kind", TaskKind(kind))
        object.__setattr__(self, "classes", tuple(self.classes))
        if not self.metric:
            object.__setattr__(self, "metric", HEADLINE[self.kind.target])
        if self.kind.target != "value" and not self.classes:
            raise TaskError(f"task {self.name!r} ({self.kind.value}) needs its class or label names", task=self.name)

    @property
    def level(self) -> str:
        """``"protein"`` or ``"residue"``."""
        return self.kind.level

    @property
    def n_outputs(self) -> int:
        """Logits of the head for this task: classes or labels, 1 for a value."""
        return 1 if self.kind.target == "value" else len(self.classes)

    def to_json(self) -> dict:
        """What a head directory's config.json stores about the task."""
        entry: dict = {"kind": self.kind.value, "level": self.level, "classes": list(self.classes),
                       "metric": self.metric}
        if self.kind.target == "value":
            entry.update(value_mean=self.value_mean, value_std=self.value_std)
        if self.kind.target == "multilabel":
            entry["threshold"] = self.threshold
        if self.label_map is not None:
            entry["label_map"] = {k: list(v) for k, v in self.label_map.items()}
        return entry


TASKS: dict[str, TaskSpec] = {
    "localization": TaskSpec("localization", TaskKind.PROTEIN_CLASS, DEEPLOC_CLASSES, "Q10",
                             "subcellular location, the 10 DeepLoc classes"),
    "membrane": TaskSpec("membrane", TaskKind.PROTEIN_CLASS, ("membrane", "soluble"), "Q2",
                         "membrane-bound vs soluble (DeepLoc M/S; U is not scored)"),
    "ss3": TaskSpec("ss3", TaskKind.RESIDUE_CLASS, SS3_CLASSES, "Q3", "3-state secondary structure (DSSP H/E/C)"),
    "ss8": TaskSpec("ss8", TaskKind.RESIDUE_CLASS, SS8_CLASSES, "Q8", "8-state secondary structure (DSSP)"),
    "disorder": TaskSpec("disorder", TaskKind.RESIDUE_CLASS, ("ordered", "disordered"), "MCC",
                         "residue disorder: unresolved in the structure (NetSurfP) or CheZOD Z < 8"),
}


def get_tasks(names: str | list[str] | tuple[str, ...] | None,
              user: dict[str, TaskSpec] | None = None) -> dict[str, TaskSpec]:
    """Task specs by name: presets or the ``user`` tasks of the label files (these win).

    ``names`` may be a comma-separated string; empty or None means every user task. All
    must share one level.
    """
    user = user or {}
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names or user)
    known = {**TASKS, **user}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise TaskError(f"unknown task(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                        f"choose from {', '.join(known)}" + ("" if user else
                        " (or give a label file of your own: biotrainer FASTA or CSV)"))
    specs = {n: known[n] for n in dict.fromkeys(names)}
    levels = {s.level for s in specs.values()}
    if len(levels) > 1:
        raise TaskError(f"tasks {', '.join(specs)} mix per-protein and per-residue outputs; "
                        "train them as separate heads")
    return specs
