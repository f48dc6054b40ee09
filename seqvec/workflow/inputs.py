"""The inputs of ``seqvec run``: label sets, tasks and the test proteins, with the digests
of every input file (what the stages' fingerprints are built from)."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import TaskSpec
from seqvec.workflow.config import PipelineConfig
from seqvec.workflow.stages import file_digest

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Inputs:
    """The label sets and tasks of a pipeline."""

    labels: LabelSet
    tasks: dict[str, TaskSpec]
    test: LabelSet | None  # test proteins (label files, or the named sets of the labels)
    digest: dict  # file -> sha256 of every input file
    test_sets: tuple[str, ...] = ()  # the named test sets of the labels that are scored
    separate_test: bool = False  # some test proteins come from their own label files


def _marked_test_sets(labels: LabelSet) -> list[str]:
    """The test sets the label files mark (``SET=test``, ``test2``, ...)."""
    from seqvec.classifiers.selection.crossval import TRAINABLE

    return sorted(set(labels.partition.values()) - {*TRAINABLE, "pred"})


def read_inputs(config: PipelineConfig) -> Inputs:
    """Read the label files, pick the tasks, gather the test proteins.

    Without ``input.test``, the records the labels mark as test sets are the test set;
    ``test: []`` scores none of them (a warning says so before any work).
    """
    from seqvec.classifiers.labels.files import read_labels
    from seqvec.classifiers.labels.tasks import get_tasks
    from seqvec.classifiers.selection.crossval import test_proteins

    spec = config.input
    user = {k: v for k, v in (("kind", spec.kind), ("sequences", spec.sequences and Path(spec.sequences))) if v is not None}
    labels = read_labels([Path(p) for p in spec.labels], spec.label_format, **user)
    tasks = get_tasks(list(spec.tasks) or (None if labels.specs else labels.tasks()), labels.specs)
    marked = _marked_test_sets(labels)
    given = spec.test if spec.test is not None else tuple(marked)
    files = [t for t in given if Path(t).exists()]
    names = [t for t in given if not Path(t).exists()]
    n_marked = sum(1 for i in labels.ids if labels.partition.get(i) in marked)
    if spec.test is None and marked:
        logger.warning("input.test not given: scoring the %d proteins the labels mark as %s (never trained on)",
                       n_marked, ", ".join(marked))
    unscored = [m for m in marked if m not in names]
    if unscored:
        logger.warning("the labels mark %d proteins as %s; they are kept out of training and NOT scored, because "
                       "input.test is %s (name them in input.test to score them)",
                       sum(1 for i in labels.ids if labels.partition.get(i) in unscored), ", ".join(unscored),
                       list(spec.test or []))
    test = read_labels([Path(p) for p in files], spec.label_format, **user) if files else None
    if names:
        named = subset(labels, sorted(test_proteins(labels, names)))
        test = named if test is None else merge(test, named)
    inputs = [*spec.labels, *files, *([spec.sequences] if spec.sequences else []),
              *([config.split.groups] if config.split.groups else [])]
    return Inputs(labels, tasks, test, {p: file_digest(p) for p in inputs}, tuple(names), bool(files))


def subset(labels: LabelSet, ids: list[str]) -> LabelSet:
    """The proteins ``ids`` of a label set (all their labels)."""
    keep = set(ids)
    return dataclasses.replace(labels, sequences={i: s for i, s in labels.sequences.items() if i in keep},
                               labels={t: {i: v for i, v in values.items() if i in keep}
                                       for t, values in labels.labels.items()},
                               partition={i: p for i, p in labels.partition.items() if i in keep})


def merge(a: LabelSet, b: LabelSet) -> LabelSet:
    """Two label sets of different proteins as one."""
    from seqvec.classifiers.labels.files import merge_label_sets

    return merge_label_sets([a, b])
