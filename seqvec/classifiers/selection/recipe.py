"""Train a head by plan: the one recipe behind ``seqvec train``, ``seqvec run`` and ``seqvec compare``.

:func:`train_by_plan` takes what to train (a :class:`~seqvec.classifiers.training.experiment.HeadSpec`:
head, tasks, settings, the grid to search), the labelled proteins with their embeddings,
and how to validate (a :class:`Validation`): a holdout split by a
:class:`~seqvec.classifiers.selection.crossval.SplitPlan` (random, MMseqs2 clusters, the
user's groups or a split file; written to ``OUT/split.tsv``), separate validation files,
given ids, or K-fold cross-validation (``plan.cv``) with an optional test set kept out of
the folds (:func:`held_out_set`). It returns the trained head, or the cross-validation report.
"""
from __future__ import annotations

import os
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from seqvec.classifiers.evaluation.card import CARD_FILE, add_test_section, write_card
from seqvec.classifiers.evaluation.metrics import N_BOOTSTRAP
from seqvec.classifiers.heads.checkpoint import CONFIG_FILE, HeadCheckpoint, load_head
from seqvec.classifiers.heads.registry import head_class
from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import TaskSpec
from seqvec.classifiers.selection.crossval import (
    SplitPlan,
    cross_validate,
    datasets_from_ids,
    holdout_datasets,
    test_proteins,
    trainable_ids,
)
from seqvec.classifiers.selection.search import train_searched
from seqvec.classifiers.training.data import TaskDataset, build_dataset
from seqvec.classifiers.training.experiment import HeadSpec, datasets
from seqvec.classifiers.training.train import FitResult
from seqvec.errors import UsageError


@dataclass(frozen=True)
class Validation:
    """How the validation proteins are chosen: by ``plan`` (the default: a seeded 10% split, or the
    proteins the label files mark), or from separate ``labels`` (embedded in ``embeddings``), or
    as given ``ids`` (train ids, validation ids). ``plan.cv`` asks for cross-validation."""

    plan: SplitPlan = SplitPlan()
    labels: LabelSet | None = None  # separate validation proteins
    embeddings: str | os.PathLike | None = None  # their embeddings (default: the training file)
    ids: tuple[list[str], list[str]] | None = None  # a split made before (train ids, validation ids)

    def __post_init__(self):
        if self.labels is not None and self.ids is not None:
            raise UsageError("`Validation.labels` and `Validation.ids` exclude each other", option="Validation.ids")
        given = self.labels is not None or self.ids is not None
        if given and self.plan.cv:
            raise UsageError("cross-validation (`SplitPlan.cv`) makes its own validation proteins in each fold; "
                             "give no `Validation.labels`", option="Validation.labels")
        if given and self.plan != SplitPlan(val_fraction=self.plan.val_fraction, seed=self.plan.seed):
            raise UsageError("`Validation.labels` gives the validation proteins; leave out `SplitPlan.identity`, "
                             "`SplitPlan.groups_file` and `SplitPlan.split_file`", option="Validation.labels")


@dataclass(frozen=True)
class HeldOutSet:
    """Proteins kept out of cross-validation and scored by every fold head: ``dataset`` (None: none
    to score) and ``ids``, every protein to keep out of the folds."""

    dataset: TaskDataset | None = None
    ids: Set[str] = frozenset()


@dataclass(frozen=True)
class Trained:
    """What :func:`train_by_plan` made: one head (``checkpoint``, ``result``) or, with
    cross-validation, the report written to ``OUT/cv.json`` (``cv``)."""

    checkpoint: HeadCheckpoint | None = None
    result: FitResult | None = None
    cv: dict | None = None


def train_by_plan(spec: HeadSpec, labels: LabelSet, embeddings: str | os.PathLike, output: str | os.PathLike, *,
                  validation: Validation = Validation(), test: HeldOutSet = HeldOutSet(),
                  settings: dict | None = None, n_bootstrap: int = N_BOOTSTRAP) -> Trained:
    """Train ``spec`` on the labelled proteins of ``labels`` (embedded in ``embeddings``) into ``output``.

    Holdout: the training and validation datasets by ``validation``, then one head (or
    the best of ``spec.grid``). Cross-validation (``validation.plan.cv``): one head per
    fold, each scored on its held-out fold and on ``test``; ``settings`` (what the
    caller's options were) decide whether a finished fold head is reused.
    """
    input_level = head_class(spec.head).input_level
    plan = validation.plan
    if plan.cv:
        dataset = build_dataset(labels, embeddings, spec.tasks, input_level,
                                ids=trainable_ids(labels, spec.tasks, test.ids))
        report = cross_validate(spec, labels, dataset, plan, output, test=test.dataset, test_ids=test.ids,
                                settings=settings, n_bootstrap=n_bootstrap)
        fold_cards(report, dataset, labels, embeddings, n_bootstrap)
        return Trained(cv=report)
    if validation.labels is not None:
        train, val = datasets(labels, embeddings, spec.tasks, input_level, val_labels=validation.labels,
                              val_embeddings=validation.embeddings, seed=plan.seed)
    elif validation.ids is not None:
        train, val = datasets_from_ids(labels, embeddings, spec.tasks, input_level, *validation.ids)
    else:
        train, val = holdout_datasets(labels, embeddings, spec.tasks, input_level, plan, output)
    checkpoint, result = train_searched(spec, train, val, output)
    val_files = list(validation.labels.sources) if validation.labels is not None else []
    files: dict[str, list] = {"training labels": list(labels.sources), "embeddings": [embeddings],
             **({"validation labels": val_files} if val_files else {}),
             **({"validation embeddings": [validation.embeddings]} if val_files and validation.embeddings else {})}
    write_card(checkpoint, train, val, files=files, protocol=protocol(validation, labels, train, val, checkpoint),
               sequences={**labels.sequences, **(validation.labels.sequences if validation.labels else {})},
               n_bootstrap=n_bootstrap, seed=plan.seed)
    return Trained(checkpoint, result)


def fold_cards(report: dict, dataset: TaskDataset, labels: LabelSet, embeddings: str | os.PathLike,
               n_bootstrap: int) -> None:
    """A model card for each fold head of a cross-validation (kept when the head was reused), with its
    held-out fold and the test set as test sections."""
    k = report["cv"]
    for repeat in report["repeats"]:
        for entry in repeat["folds"]:
            head = load_head(entry["head"])
            card = Path(entry["head"]) / CARD_FILE
            if card.is_file() and card.stat().st_mtime >= (Path(entry["head"]) / CONFIG_FILE).stat().st_mtime:
                continue
            lines = [f"fold {entry['fold'] + 1} of a {k}-fold cross-validation (repeat {entry['repeat']}, seed "
                     f"{repeat['seed']}; {report['split']}): trained on {entry['n_train']:,} proteins of the other "
                     f"folds, early-stopping epoch chosen on {entry['n_val']:,} of them (a seeded inner split)",
                     f"its own fold ({entry['n_held_out']:,} proteins) was held out and is scored below; "
                     "cv.md beside the fold folders pools every fold"]
            write_card(head, dataset, None, files={"training labels": list(labels.sources), "embeddings": [embeddings]},
                       protocol=lines, sequences=labels.sequences, n_bootstrap=n_bootstrap,
                       no_validation=f"Not scored apart: the {entry['n_val']:,} inner validation proteins chose "
                                     "the epoch; the held-out fold below is this head's honest estimate.")
            report_of = {"n_bootstrap": n_bootstrap}
            add_test_section(head, f"Held-out fold {entry['fold'] + 1} of {k} (cross-validation)",
                             {**report_of, "tasks": entry["held_out"]}, labels=labels.sources, embeddings=embeddings)
            if entry.get("test"):
                add_test_section(head, "Test set kept out of the cross-validation", {**report_of, "tasks": entry["test"]},
                                 labels=labels.sources, embeddings=embeddings)


def protocol(validation: Validation, labels: LabelSet, train: TaskDataset, val: TaskDataset,
             checkpoint: HeadCheckpoint) -> list[str]:
    """How a holdout head was trained and validated, in sentences for its model card."""
    plan = validation.plan
    if validation.labels is not None:
        how = f"separate validation files ({', '.join(Path(p).name for p in validation.labels.sources)})"
    elif validation.ids is not None:
        how = "a split made before this training (the same validation proteins as the other heads of the run)"
    elif plan.split_file is not None:
        how = f"the split file {plan.split_file.name} (reused)"
    elif plan.identity is not None or plan.groups_file is not None:
        clusters = (f"MMseqs2 clusters at {plan.identity:.0%} sequence identity" if plan.identity is not None
                    else f"the clusters of {plan.groups_file.name}")  # type: ignore[union-attr]
        how = f"a seeded {plan.fraction:.0%} split of {clusters} (seed {plan.seed}), each cluster on one side"
    elif plan.val_fraction is None and any(p == "validation" for p in labels.partition.values()):
        how = "the proteins the label files mark as validation (SET=val, VALIDATION=True)"
    else:
        how = f"a seeded {plan.fraction:.0%} random split (seed {plan.seed}), stratified by class where there are classes"
    fit, search = checkpoint.training.get("fit", {}), checkpoint.training.get("search")
    chose = ("the early-stopping epoch" + (f" and the searched values {search['chosen']} (grid {search['grid']})"
                                           if search else ""))
    test_sets = sorted({p for p in labels.partition.values() if p.startswith("test")})
    held = sum(1 for p in labels.partition.values() if p.startswith("test"))
    lines = [f"training: {len(train):,} proteins; validation: {len(val):,} proteins, {how}",
             f"the validation proteins chose {chose} (monitor: validation {fit.get('monitor', 'loss')}, "
             f"patience {fit.get('patience')} epochs); no cross-validation",
             (f"{held:,} proteins the label files put in test sets ({', '.join(test_sets)}) were not trained or "
              "validated on" if held else "the label files mark no test proteins") +
             "; `seqvec evaluate` on a test set adds its metrics below"]
    if plan.split_file is None and validation.labels is None and validation.ids is None:
        lines.append("the split is written to split.tsv beside this card (id, cluster, fold)")
    return lines


def held_out_set(labels: LabelSet, embeddings: str | os.PathLike, tasks: dict[str, TaskSpec], input_level: str,
                 *, names: Sequence[str] = (), files: LabelSet | None = None,
                 files_embeddings: str | os.PathLike | None = None) -> HeldOutSet:
    """The test set of a cross-validation: the proteins ``labels`` puts in the sets ``names``
    (``SET=test``, ``test2``, ...) and those of separate label ``files`` (embedded in
    ``files_embeddings``, default ``embeddings``)."""
    ids = test_proteins(labels, list(names)) if names else set()
    dataset = None
    if files is not None:
        dataset = build_dataset(files, Path(files_embeddings or embeddings), tasks, input_level)
        ids |= set(dataset.ids)
    if names:
        named = build_dataset(labels, embeddings, tasks, input_level,
                              ids=sorted(ids - set(dataset.ids if dataset else [])))
        dataset = named if dataset is None else TaskDataset(dataset.examples + named.examples, tasks, input_level)
    return HeldOutSet(dataset, ids)
