"""Train/validation splits by plan, and K-fold cross-validation (:mod:`seqvec.classifiers.selection.recipe` uses them).

A :class:`SplitPlan` says how proteins are split: a seeded random split (stratified by
class), whole clusters (MMseqs2 at ``identity``, or the user's ``groups_file``), or a
``split_file`` written before (``split.tsv``). Proteins the label files mark as a test
set, and the proteins of an explicit test set, never take part.

:func:`cross_validate` runs K folds (``repeat`` times with seeds ``seed``,
``seed + 1``, ...): fold ``k`` is held out, the other folds are split once more into
training and validation proteins (early stopping, and the grid search of
:mod:`seqvec.classifiers.selection.search`), one head is trained per fold (``OUT/fold<k>/``, or
``OUT/repeat<r>/fold<k>/``) and scored on its held-out fold. The report
(``OUT/cv.json``, ``OUT/cv.md``) gives each fold's metrics, their mean and sample
standard deviation, and the metrics of the pooled out-of-fold predictions with 95%
bootstrap intervals (per repeat). With a test set, each fold head is scored on it and
so is the mean of their predictions (an ensemble). A finished fold head is reused when
the command is run again with the same settings.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Set
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqvec.classifiers.evaluation.metrics import N_BOOTSTRAP, score_task
from seqvec.classifiers.heads.checkpoint import CONFIG_FILE, HeadCheckpoint, load_head
from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import IGNORE, TaskSpec
from seqvec.classifiers.selection.search import train_searched
from seqvec.classifiers.selection.splits import (
    check_groups,
    cluster_by_identity,
    grouped_split,
    kfold,
    read_groups,
    read_split,
    write_split,
)
from seqvec.classifiers.training.data import TaskDataset, split_ids
from seqvec.classifiers.training.experiment import HeadSpec
from seqvec.classifiers.training.train import predict_dataset
from seqvec.errors import DataError, InputFileError, UsageError
from seqvec.io.output import atomic_open

logger = logging.getLogger(__name__)

DEFAULT_VAL_FRACTION = 0.1
SPLIT_FILE = "split.tsv"
TRAINABLE = ("train", "validation")  # partitions a label file may give proteins that are trained on


@dataclass(frozen=True)
class SplitPlan:
    """How proteins are split (``seqvec train`` sets it from its options, cli/common.py)."""

    val_fraction: float | None = None  # validation share (default 0.1)
    identity: float | None = None  # cluster with MMseqs2 at this minimum identity
    groups_file: Path | None = None  # the user's id -> cluster TSV
    split_file: Path | None = None  # a split.tsv to reuse
    cv: int | None = None  # number of folds (cross-validation)
    repeat: int = 1  # cross-validation runs with seeds seed, seed + 1, ...
    seed: int = 0

    def __post_init__(self):
        if sum(x is not None for x in (self.identity, self.groups_file, self.split_file)) > 1:
            raise UsageError("`SplitPlan.identity`, `SplitPlan.groups_file` and `SplitPlan.split_file` exclude each other",
                             option="SplitPlan.identity")
        if self.repeat < 1:
            raise UsageError(f"`SplitPlan.repeat` must be >= 1, got {self.repeat}", option="SplitPlan.repeat",
                             value=self.repeat)
        if self.repeat > 1 and not self.cv:
            raise UsageError("`SplitPlan.repeat` needs `SplitPlan.cv`", option="SplitPlan.repeat", value=self.repeat)
        if self.repeat > 1 and self.split_file is not None:
            raise UsageError("`SplitPlan.repeat` makes new folds per seed; it cannot reuse one `SplitPlan.split_file`",
                             option="SplitPlan.repeat", value=self.repeat)

    @property
    def fraction(self) -> float:
        return DEFAULT_VAL_FRACTION if self.val_fraction is None else self.val_fraction


def trainable_ids(labels: LabelSet, tasks: dict[str, TaskSpec], test_ids: Set[str] = frozenset()) -> list[str]:
    """Proteins with a label for one of ``tasks``, minus test and prediction-only proteins."""
    ids = [i for i in labels.ids if any(i in labels.labels.get(t, {}) for t in tasks)]
    held = [i for i in ids if labels.partition.get(i, "train") not in TRAINABLE or i in test_ids]
    if held:
        logger.info("%d proteins of a test set (or marked for prediction only) stay out of training, e.g. %s",
                    len(held), held[:3])
    return [i for i in ids if labels.partition.get(i, "train") in TRAINABLE and i not in test_ids]


def strata_of(labels: LabelSet, tasks: dict[str, TaskSpec]) -> dict | None:
    """Class per protein of the first task, when it is a per-protein class task (for stratifying)."""
    first = next(iter(tasks.values()))
    kind = getattr(first, "kind", None)
    is_class = (getattr(kind, "target", "class") == "class") and first.level == "protein"
    return labels.labels.get(first.name) if is_class else None


def clusters(labels: LabelSet, ids: list[str], plan: SplitPlan, threads: int = 1) -> dict[str, str] | None:
    """id -> cluster from ``plan`` (MMseqs2 or the groups file), or None for a random split."""
    if plan.groups_file is not None:
        groups = read_groups(plan.groups_file)
        check_groups(groups, ids, str(plan.groups_file))
        return groups
    if plan.identity is not None:
        missing = [i for i in ids if not labels.sequences.get(i)]
        if missing:
            raise DataError(f"`SplitPlan.identity` needs the sequences; {len(missing)} proteins have none in "
                            f"the label files (e.g. {missing[:3]})", ids=missing)
        return cluster_by_identity({i: labels.sequences[i] for i in ids}, plan.identity, threads=threads)
    return None


def split_pool(ids: list[str], fraction: float, groups: dict | None, strata: dict | None,
               seed: int) -> tuple[list[str], list[str]]:
    """(train, validation) ids: whole clusters when ``groups`` is given, else a random stratified split."""
    if groups is not None:
        return grouped_split(ids, fraction, groups, strata=strata, seed=seed)
    return split_ids(ids, strata, fraction, seed)


def holdout(labels: LabelSet, tasks: dict[str, TaskSpec], plan: SplitPlan, output: str | os.PathLike, *,
            threads: int = 1) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) by ``plan``; the split is written to ``output/split.tsv``.

    Without clusters or a split file, the validation proteins the label files mark are
    used when there are any (and no ``val_fraction`` is given).
    """
    ids = trainable_ids(labels, tasks)
    test = [i for i in labels.ids if labels.partition.get(i, "train") not in (*TRAINABLE, "pred")]
    groups: dict[str, str] | None = None
    if plan.split_file is not None:
        folds, groups = read_split(plan.split_file)
        train, val = _from_split_file(folds, ids, ("train", "val"), plan.split_file)
    else:
        groups = clusters(labels, ids, plan, threads)
        marked = [i for i in ids if labels.partition.get(i) == "validation"]
        if groups is None and marked and plan.val_fraction is None:
            logger.info("using the %d proteins the label files mark as validation", len(marked))
            train, val = [i for i in ids if i not in set(marked)], marked
        else:
            train, val = split_pool(ids, plan.fraction, groups, strata_of(labels, tasks), plan.seed)
    write_split(Path(output) / SPLIT_FILE, {**{i: "train" for i in train}, **{i: "val" for i in val},
                                            **{i: "test" for i in test}}, groups)
    warn_small_validation(len(val), "the validation set")
    return train, val


MIN_VALIDATION = 30  # fewer validation proteins than this choose epochs and search values by noise


def warn_small_validation(n: int, where: str) -> None:
    """A warning when a validation set is too small to choose the early-stopping epoch or search values."""
    if n < MIN_VALIDATION:
        logger.warning("%s has only %d proteins: too few to choose the early-stopping epoch or search values "
                       "reliably (fewer than %d); use a larger validation share or more data",
                       where, n, MIN_VALIDATION)


def warn_missing_classes(tasks: dict[str, TaskSpec], train: TaskDataset, held: TaskDataset, where: str) -> None:
    """A warning for each class a fold scores but never trains on (its head cannot predict it)."""
    for task, spec in tasks.items():
        if spec.kind.target != "class":
            continue
        seen, scored = (set(np.concatenate([np.atleast_1d(ex.targets[task]) for ex in data.examples
                                             if task in ex.targets] or [np.empty(0, int)]).tolist()) - {IGNORE}
                        for data in (train, held))
        missing = sorted(scored - seen)
        if missing:
            logger.warning("%s: class(es) %s of %s are held out but absent from training; this fold cannot "
                           "predict them", where, ", ".join(spec.classes[c] for c in missing), task)


def _from_split_file(folds: dict[str, str], ids: list[str], names: tuple[str, ...], path) -> tuple[list[str], ...]:
    missing = [i for i in ids if i not in folds]
    if missing:
        raise InputFileError(f"{path}: {len(missing)} labelled proteins are not in the split, e.g. {missing[:5]}",
                             path=path)
    unknown = sorted({folds[i] for i in ids} - set(names) - {"test"})
    if unknown:
        needs = "a cross-validation split needs `SplitPlan.cv`" if names[0] == "train" else "a train/val split"
        raise InputFileError(f"{path}: folds {unknown} where {', '.join(names)} were expected ({needs})",
                             path=path)
    return tuple([i for i in ids if folds[i] == name] for name in names)


def fold_assignments(labels: LabelSet, tasks: dict[str, TaskSpec], plan: SplitPlan, test_ids: Set[str],
                     threads: int = 1) -> tuple[list[str], list[dict[str, int]], dict[str, str] | None]:
    """(trainable ids, one {id: fold} per repeat, clusters or None)."""
    ids = trainable_ids(labels, tasks, test_ids)
    k = plan.cv or 0
    if plan.split_file is not None:
        folds, given = read_split(plan.split_file)
        names = tuple(str(n) for n in range(k))
        per_fold = _from_split_file(folds, ids, names, plan.split_file)
        return ids, [{i: n for n, members in enumerate(per_fold) for i in members}], given
    groups = clusters(labels, ids, plan, threads)
    strata = strata_of(labels, tasks)
    return ids, [kfold(ids, k, strata=strata, groups=groups, seed=plan.seed + r) for r in range(plan.repeat)], groups


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _reuse(fold_dir: Path, fingerprint: str) -> HeadCheckpoint | None:
    if (fold_dir / CONFIG_FILE).is_file():
        checkpoint = load_head(fold_dir)
        if checkpoint.training.get("cv", {}).get("fingerprint") == fingerprint:
            logger.info("reusing the finished fold head in %s", fold_dir)
            return checkpoint
    return None


def _predict(checkpoint: HeadCheckpoint, dataset: TaskDataset) -> dict[str, list[np.ndarray]]:
    dataset = dataset.subset(dataset.ids)
    dataset.tasks = {t: checkpoint.tasks.get(t, s) for t, s in dataset.tasks.items()}
    return predict_dataset(checkpoint.head, dataset)


def _score(tasks: dict[str, TaskSpec], dataset: TaskDataset, predictions: dict[str, list], n_bootstrap: int,
           seed: int) -> dict[str, dict]:
    results = {}
    for task, spec in tasks.items():
        rows = [i for i, ex in enumerate(dataset.examples) if task in ex.targets]
        if rows:
            results[task] = score_task(spec, [dataset[i].targets[task] for i in rows],
                                       [predictions[task][i] for i in rows], n_bootstrap=n_bootstrap, seed=seed)
    return results


def cross_validate(spec: HeadSpec, labels: LabelSet, dataset: TaskDataset, plan: SplitPlan,
                   output: str | os.PathLike, *, test: TaskDataset | None = None,
                   test_ids: Set[str] = frozenset(), settings: dict | None = None,
                   n_bootstrap: int = N_BOOTSTRAP, threads: int = 1) -> dict:
    """K-fold cross-validation (see the module docstring); returns the report written to ``cv.json``.

    Each fold trains ``spec`` (searching its grid, if any) on the other folds.
    ``dataset`` holds every trainable protein; ``settings`` (training options) go into
    each fold head's fingerprint, so that a rerun reuses only heads trained the same way.
    """
    output, tasks = Path(output), spec.tasks
    if not plan.cv or plan.cv < 2:
        raise UsageError(f"cross-validation needs `SplitPlan.cv` >= 2, got {plan.cv}", option="SplitPlan.cv", value=plan.cv)
    ids, assignments, groups = fold_assignments(labels, tasks, plan, test_ids, threads)
    present = set(dataset.ids)
    ids = [i for i in ids if i in present]
    strata = strata_of(labels, tasks)
    repeats = []
    for r, fold_of in enumerate(assignments):
        base = output if plan.repeat == 1 else output / f"repeat{r}"
        write_split(base / SPLIT_FILE, {**{i: fold_of[i] for i in ids},
                                        **{i: "test" for i in (test.ids if test is not None else [])}}, groups)
        oof: dict[str, list] = {t: [None] * len(ids) for t in tasks}
        position = {i: n for n, i in enumerate(ids)}
        folds, test_predictions = [], []
        for k in range(plan.cv):
            held = [i for i in ids if fold_of[i] == k]
            inner = split_pool([i for i in ids if fold_of[i] != k], plan.fraction, groups, strata, plan.seed + r)
            checkpoint, entry, predictions = _fold(spec, dataset, held, inner, base / f"fold{k}", (r, k),
                                                   settings, n_bootstrap, plan.seed)
            for task in tasks:
                for n, rid in enumerate(held):
                    oof[task][position[rid]] = predictions[task][n]
            if test is not None and len(test):
                test_predictions.append(_predict(checkpoint, test))
                entry["test"] = _score(checkpoint.tasks, test, test_predictions[-1], n_bootstrap, plan.seed)
            folds.append(entry)
        specs = checkpoint.tasks
        repeat = {"repeat": r, "seed": plan.seed + r, "folds": folds,
                  "pooled": _score(specs, dataset.subset(ids), oof, n_bootstrap, plan.seed)}
        if test is not None and test_predictions:
            ensemble = {t: [np.mean([p[t][n] for p in test_predictions], axis=0) for n in range(len(test))]
                        for t in tasks}
            repeat["test_ensemble"] = _score(specs, test, ensemble, n_bootstrap, plan.seed)
        repeats.append(repeat)
    report = summarise(tasks, repeats, plan, groups is not None, len(ids), len(test) if test is not None else 0)
    write_report(report, output)
    return report


def _fold(spec: HeadSpec, dataset: TaskDataset, held: list[str], inner: tuple[list[str], list[str]],
          fold_dir: Path, where: tuple[int, int], settings: dict | None, n_bootstrap: int,
          seed: int) -> tuple[HeadCheckpoint, dict, dict[str, list]]:
    """Train (or reuse) one fold's head and score it on the held-out proteins."""
    (inner_train, inner_val), (r, k) = inner, where
    fingerprint = _fingerprint(settings, sorted(inner_train), sorted(inner_val), list(spec.tasks))
    checkpoint = _reuse(fold_dir, fingerprint)
    if checkpoint is None:
        logger.info("repeat %d, fold %d: training on %d proteins, validating on %d, holding out %d",
                    r, k, len(inner_train), len(inner_val), len(held))
        checkpoint, _ = train_searched(spec, dataset.subset(inner_train), dataset.subset(inner_val), fold_dir,
                                       {"cv": {"fingerprint": fingerprint, "repeat": r, "fold": k}})
    held_set = dataset.subset(held)
    warn_small_validation(len(inner_val), f"repeat {r}, fold {k}: the validation set")
    warn_missing_classes(spec.tasks, dataset.subset(inner_train), held_set, f"repeat {r}, fold {k}")
    predictions = _predict(checkpoint, held_set)
    entry = {"repeat": r, "fold": k, "head": str(fold_dir), "n_train": len(inner_train), "n_val": len(inner_val),
             "n_held_out": len(held), "best_epoch": checkpoint.training.get("best_epoch"),
             "search": checkpoint.training.get("search", {}).get("chosen"),
             "held_out": _score(checkpoint.tasks, held_set, predictions, n_bootstrap, seed)}
    return checkpoint, entry, predictions


def _spread(values: list[float | None]) -> dict:
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return {"mean": float(np.mean(kept)) if kept else None,
            "sd": float(np.std(kept, ddof=1)) if len(kept) > 1 else None, "values": kept}


def _headline(result: dict | None, metric: str) -> float | None:
    m = (result or {}).get("metrics", {}).get(metric)
    return m["value"] if m else None


def summarise(tasks: dict[str, TaskSpec], repeats: list[dict], plan: SplitPlan, grouped: bool, n: int,
              n_test: int) -> dict:
    """Headline metrics: per fold, mean +- sd over all folds, pooled out-of-fold, test."""
    summary = {}
    folds = [f for rep in repeats for f in rep["folds"]]
    for task, spec in tasks.items():
        metric = spec.metric
        entry = {"metric": metric, "folds": _spread([_headline(f["held_out"].get(task), metric) for f in folds]),
                 "pooled": [rep["pooled"][task]["metrics"].get(metric) for rep in repeats if task in rep["pooled"]]}
        if n_test:
            entry["test_folds"] = _spread([_headline(f.get("test", {}).get(task), metric) for f in folds])
            entry["test_ensemble"] = [rep["test_ensemble"][task]["metrics"].get(metric) for rep in repeats
                                      if task in rep.get("test_ensemble", {})]
        summary[task] = entry
    split = ("given split file" if plan.split_file else
             f"MMseqs2 clusters at {100 * plan.identity:.0f}% identity" if plan.identity is not None else
             f"clusters of {plan.groups_file}" if plan.groups_file else "random (stratified where possible)")
    return {"cv": plan.cv, "repeat": plan.repeat, "seed": plan.seed, "split": split, "grouped": grouped,
            "n_proteins": n, "n_test": n_test, "val_fraction": plan.fraction,
            "plan": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(plan).items()},
            "summary": summary, "repeats": repeats}


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if metric.startswith("Q") or "accuracy" in metric else f"{value:.3f}"


def _fmt_spread(metric: str, d: dict) -> str:
    return f"{_fmt(metric, d['mean'])} ± {_fmt(metric, d['sd'])}"


def _fmt_intervals(metric: str, items: list) -> str:
    return "; ".join(f"{_fmt(metric, x['value'])} [{_fmt(metric, x['ci95'][0])}, {_fmt(metric, x['ci95'][1])}]"
                     for x in items if x) or "–"


def markdown(report: dict) -> str:
    """The cross-validation summary as a Markdown table (accuracies in percent)."""
    test = report["n_test"]
    lines = [f"{report['cv']}-fold cross-validation x {report['repeat']} ({report['split']}), "
             f"{report['n_proteins']} proteins" + (f"; test set: {test} proteins" if test else ""), "",
             "| task | metric | folds mean ± sd | pooled out-of-fold [95% CI] |"
             + (" test, fold heads mean ± sd | test, ensemble [95% CI] |" if test else ""),
             "|---|---|---|---|" + ("---|---|" if test else "")]
    for task, s in report["summary"].items():
        m = s["metric"]
        row = f"| {task} | {m} | {_fmt_spread(m, s['folds'])} | {_fmt_intervals(m, s['pooled'])} |"
        if test:
            row += f" {_fmt_spread(m, s['test_folds'])} | {_fmt_intervals(m, s['test_ensemble'])} |"
        lines.append(row)
    return "\n".join(lines)


def write_report(report: dict, output: str | os.PathLike) -> list[Path]:
    """``cv.json`` (everything) and ``cv.md`` (the summary table) in ``output``."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_open(output / "cv.json") as handle:  # the reports of a workspace are replaced whole
        handle.write(json.dumps(report, indent=1, default=float) + "\n")
    with atomic_open(output / "cv.md") as handle:
        handle.write("# seqvec cross-validation\n\n" + markdown(report) + "\n")
    return [output / "cv.json", output / "cv.md"]


def holdout_datasets(labels: LabelSet, embeddings: str | os.PathLike, tasks: dict[str, TaskSpec],
                     input_level: str, plan: SplitPlan, output: str | os.PathLike,
                     threads: int = 1) -> tuple[TaskDataset, TaskDataset]:
    """Training and validation datasets split by ``plan`` (:func:`holdout`; writes ``split.tsv``)."""
    train_ids, val_ids = holdout(labels, tasks, plan, output, threads=threads)
    return datasets_from_ids(labels, embeddings, tasks, input_level, train_ids, val_ids)


def datasets_from_ids(labels: LabelSet, embeddings: str | os.PathLike, tasks: dict[str, TaskSpec],
                      input_level: str, train_ids: list[str], val_ids: list[str]) -> tuple[TaskDataset, TaskDataset]:
    """Training and validation datasets of given ids (those without a label for ``tasks`` left out)."""
    from seqvec.classifiers.training.data import build_dataset

    everything = build_dataset(labels, embeddings, tasks, input_level, ids=train_ids + val_ids)
    kept = set(everything.ids)
    return (everything.subset([i for i in train_ids if i in kept]),
            everything.subset([i for i in val_ids if i in kept]))


def test_proteins(labels: LabelSet, names: list[str]) -> set[str]:
    """Ids of the proteins the label files put in the named test sets (``SET=test``, ``test2``, ...)."""
    found = {i for i, part in labels.partition.items() if part in names}
    empty = [n for n in names if not any(labels.partition.get(i) == n for i in labels.ids)]
    if empty:
        sets = sorted(set(labels.partition.values()) - {"train", "validation", "pred"})
        raise UsageError(f"`names` {', '.join(empty)}: no protein of the label files is in that set "
                         f"(their test sets: {', '.join(sets) or 'none'}); give a test set's name or label file",
                         option="names", value=empty)
    return found
