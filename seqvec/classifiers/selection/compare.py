"""Encoders x heads x tasks: train, test, and report (behind ``seqvec compare``).

For each encoder the training, validation and test proteins are embedded once into
``OUT/embeddings/<encoder>/{train,val,test}.h5``; for each head one multi-output head is
trained on all requested tasks of its output level (``OUT/heads/<encoder>-<head>/``, a
normal head directory) and scored on the test proteins. A finished head directory with
the same training settings is reused, so an interrupted comparison resumes. Results go
to ``OUT/compare.json`` (every metric) and ``OUT/compare.md`` (headline metrics with 95%
bootstrap intervals); ``seqvec compare`` adds ``OUT/compare.png`` (bars with the intervals,
drawn by :mod:`seqvec.viz.comparison`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seqvec.classifiers.evaluation.card import add_test_section
from seqvec.classifiers.evaluation.evaluate import evaluate_head
from seqvec.classifiers.evaluation.metrics import is_percent
from seqvec.classifiers.heads.checkpoint import CONFIG_FILE, HeadCheckpoint, load_head
from seqvec.classifiers.heads.registry import head_class
from seqvec.classifiers.labels.readers import LabelSet
from seqvec.classifiers.labels.tasks import TaskSpec
from seqvec.classifiers.selection.crossval import SplitPlan, holdout
from seqvec.classifiers.selection.recipe import Validation, train_by_plan
from seqvec.classifiers.training.experiment import HeadSpec, ensure_embeddings, file_identity, validation_ids
from seqvec.classifiers.training.train import FitConfig
from seqvec.errors import DataError, OutputMismatchError
from seqvec.io.output import atomic_open

logger = logging.getLogger(__name__)

BASELINES = ("onehot", "blosum62", "protvec")


@dataclass(frozen=True)
class Encoding:
    """How one group of runs embeds the proteins.

    ``key`` names its folders (``OUT/embeddings/<key>``, ``OUT/heads/<key>-<head>``) and
    ``title`` its rows in tables and charts (default: the model's or encoder's name), so
    one comparison can hold several language models, or one model seen through several
    ``layers`` views. A plain encoder name (``"lm"``, ``"onehot"``, ...) given to
    :func:`run_comparison` stands for ``Encoding(name, name)`` with its ``model``.
    """

    key: str
    encoder: str = "lm"
    model: Any = None
    layers: str = "sum"
    title: str | None = None


def _encoding(item: str | Encoding, model) -> Encoding:
    from seqvec.embeddings.options import uses_lm

    if isinstance(item, Encoding):
        return item
    return Encoding(item, item, model if uses_lm(item) else None)


def _check_model(identity: dict, encoding: Encoding, where: Path) -> None:
    """Refuse embeddings left in ``where`` by another model (e.g. one retrained since)."""
    from seqvec.embeddings.pipeline import model_spec

    wanted = model_spec(encoding.model, encoding.encoder).sha256
    if identity.get("model_sha256") not in (None, wanted):
        raise OutputMismatchError(f"{where} holds embeddings of another {encoding.encoder} model (weights sha256 "
                                  f"{identity['model_sha256'][:12]}..., now {wanted[:12]}...); delete it or "
                                  "choose another output folder")


def _same_files(a: list[str], b: list[str]) -> bool:
    """Whether two lists of label files name the same files (through links or relative paths alike)."""
    return [os.path.realpath(x) for x in a] == [os.path.realpath(x) for x in b]


def _reusable(run_dir: Path, config: FitConfig, tasks: dict[str, TaskSpec], sources: list[str],
              identity: dict, split: str | None = None) -> HeadCheckpoint | None:
    """A finished head in ``run_dir`` trained with these settings, else None."""
    if not (run_dir / CONFIG_FILE).is_file():
        return None
    checkpoint = load_head(run_dir)
    training = checkpoint.training
    if training.get("fit") == asdict(config) and list(checkpoint.tasks) == list(tasks) \
            and _same_files(training.get("labels") or [], sources) and checkpoint.embeddings == identity \
            and training.get("split") == split:
        logger.info("reusing the finished head in %s", run_dir)
        return checkpoint
    return None


def _validation(train: LabelSet, tasks: dict[str, TaskSpec], val: LabelSet | None, val_h5: Path | None,
                split: tuple[list[str], list[str]] | None, val_fraction: float | None, seed: int) -> Validation:
    """The validation proteins of one run: the split made once for all runs, else the ``val`` files,
    else the proteins the label files mark or a seeded ``val_fraction`` split of those with a label."""
    if split is not None:
        return Validation(ids=split)
    if val is not None:
        return Validation(SplitPlan(seed=seed), labels=val, embeddings=val_h5)
    return Validation(ids=validation_ids(train, tasks, val_fraction, seed))


def run_comparison(train: LabelSet, test: LabelSet | None, tasks: dict[str, TaskSpec], out_dir: str | os.PathLike, *,
                   encoders: list[str | Encoding], heads: list[str], config: FitConfig = FitConfig(), model=None,
                   val: LabelSet | None = None, val_fraction: float | None = None,
                   hparams: dict[str, dict] | None = None, n_bootstrap: int = 1000, dtype: str = "float32",
                   split_plan: SplitPlan | None = None, progress: bool = False, device: str = "cpu") -> dict:
    """Train and score every (encoder, head) pair on the tasks the head can predict; write the reports.

    ``encoders``: names (the language-model ones use ``model``) or :class:`Encoding`\\ s.
    The language model and the heads run on ``device``. ``split_plan`` (clusters by identity
    or from a file, or a split file) picks the validation proteins once for all runs
    (``OUT/split.tsv``) when ``val`` is not given. Without ``test``, the records of
    ``train`` marked as test sets (``SET=test``, ``test2``, ...) are the test proteins
    (never trained on).
    """
    out_dir = Path(out_dir)
    test_ids = None
    if test is None:
        test_ids = [rid for rid in train.ids if train.partition.get(rid, "").startswith("test")]
        if not test_ids:
            raise DataError(f"no test proteins: {', '.join(train.sources)} marks none (SET=test); give `test`")
    unlabelled = [t for t in tasks if not train.labels.get(t)]
    if unlabelled:
        logger.warning("requested task(s) %s have no labels in %s: left out of the comparison",
                       ", ".join(unlabelled), ", ".join(Path(p).name for p in train.sources))
    runs = []
    split, split_id = None, None
    if split_plan is not None and val is None:
        split = holdout(train, tasks, split_plan, out_dir)
        split_id = hashlib.sha256(json.dumps(split).encode()).hexdigest()[:16]
    from seqvec.embeddings.options import uses_lm

    for encoding in (_encoding(item, model) for item in encoders):
        where = out_dir / "embeddings" / encoding.key
        embed: dict[str, Any] = dict(encoder=encoding.encoder, model=encoding.model, layers=encoding.layers,
                                     dtype=dtype, progress=progress,
                                     device=device if uses_lm(encoding.encoder) else "cpu")
        train_h5 = ensure_embeddings(train, where / "train.h5", **embed)
        test_h5 = ensure_embeddings(test, where / "test.h5", **embed) if test is not None else train_h5
        val_h5 = ensure_embeddings(val, where / "val.h5", **embed) if val is not None else None
        identity = file_identity(train_h5)
        _check_model(identity, encoding, where)
        for head in heads:
            cls = head_class(head)
            head_tasks = {t: s for t, s in tasks.items() if s.level == cls.output_level and train.labels.get(t)}
            if not head_tasks:
                logger.info("head %s predicts per-%s outputs; no requested task fits", head, cls.output_level)
                continue
            run_dir = out_dir / "heads" / f"{encoding.key}-{head}"
            start = time.perf_counter()
            checkpoint = _reusable(run_dir, config, head_tasks, train.sources, identity, split_id)
            if checkpoint is None:
                spec = HeadSpec(head, head_tasks, config, (hparams or {}).get(head), embeddings=identity,
                                info={"labels": train.sources, "split": split_id}, progress=progress, device=device)
                checkpoint = train_by_plan(spec, train, train_h5, run_dir,
                                           validation=_validation(train, head_tasks, val, val_h5, split,
                                                                  val_fraction, config.seed)).checkpoint
                assert checkpoint is not None  # one head: no cross-validation here
            report = evaluate_head(checkpoint, test if test is not None else train, test_h5,
                                   identity=file_identity(test_h5), n_bootstrap=n_bootstrap, seed=config.seed,
                                   ids=test_ids, device=device)
            add_test_section(checkpoint, f"Test: {_test_title(train, test)} (seqvec compare)", report,
                             labels=(test or train).sources, embeddings=test_h5)
            runs.append({"encoder": encoding.encoder, "key": encoding.key, "model": identity.get("model", encoding.key),
                         "name": encoding.title or identity.get("model", encoding.key), "head": head,
                         "head_dir": str(run_dir), "best_epoch": checkpoint.training.get("best_epoch"),
                         "n_train": checkpoint.training.get("n_train"), "n_val": checkpoint.training.get("n_val"),
                         "seconds": round(time.perf_counter() - start, 1), "tasks": report["tasks"]})
    names = _test_title(train, test)
    for run in runs:
        run["scored"] = scored_on(f"test set ({names})", run["tasks"])
    results = {"tasks": {t: {"metric": s.metric, "level": s.level} for t, s in tasks.items()},
               "train": train.sources, "fit": asdict(config), "runs": runs,
               "test": sorted({run["scored"] for run in runs})}
    write_reports(results, out_dir)
    return results


def _test_title(train: LabelSet, test: LabelSet | None) -> str:
    """``a.fasta`` (a test file) or ``SET=test records of b.fasta``."""
    if test is not None:
        return ", ".join(Path(p).name for p in test.sources)
    return f"SET=test records of {', '.join(Path(p).name for p in train.sources)}"


def scored_on(source: str, tasks: dict[str, dict]) -> str:
    """What an evaluation scored, with its size: ``test set (x.fasta): n = 12 proteins``."""
    counts = sorted({t["n_proteins"] for t in tasks.values()})
    n = (f"n = {counts[0]} proteins" if len(counts) == 1
         else f"n = {counts[0]}-{counts[-1]} proteins (per task)" if counts else "no proteins")
    return f"{source}: {n}"


def cell(run: dict, task: str, spec: dict) -> tuple[float, float, float] | None:
    """(value, low, high) of a run's headline metric for a task, accuracies in percent."""
    result = run["tasks"].get(task)
    if not result or spec["metric"] not in result["metrics"]:
        return None
    m = result["metrics"][spec["metric"]]
    scale = 100.0 if is_percent(spec["metric"]) else 1.0
    return m["value"] * scale, m["ci95"][0] * scale, m["ci95"][1] * scale


def format_cell(values: tuple[float, float, float] | None, metric: str) -> str:
    if values is None:
        return "–"
    digits = 1 if is_percent(metric) else 3
    v, lo, hi = values
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def markdown_table(results: dict) -> str:
    """Headline metric per task (columns) and run (rows), with 95% intervals."""
    tasks = results["tasks"]
    header = ["encoder", "head", *(f"{t} {s['metric']}" for t, s in tasks.items())]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in results["runs"]:
        cells = [format_cell(cell(run, t, s), s["metric"]) for t, s in tasks.items()]
        lines.append(f"| {run['name']} | {run['head']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(results: dict, baselines_of: tuple[str, ...] = BASELINES) -> list[str]:
    """Per task, head and non-baseline encoding: does it beat every baseline with non-overlapping 95% CIs?

    ``baselines_of``: the encoders that count as baselines (e.g. ``("protvec",)`` for LM vs ProtVec alone).
    """
    everyone = "every baseline" if set(baselines_of) == set(BASELINES) else " and ".join(baselines_of)
    lines = []
    for task, spec in results["tasks"].items():
        by_head: dict[str, dict[str, tuple]] = {}
        for run in results["runs"]:
            values = cell(run, task, spec)
            if values is not None:
                is_baseline = run["encoder"] in baselines_of
                by_head.setdefault(run["head"], {})[run["name"]] = (run["name"], values, is_baseline)
        for head, found in by_head.items():  # row name -> (row name, (value, low, high), is a baseline)
            baselines = [(name, values) for name, values, baseline in found.values() if baseline]
            if not baselines:
                continue
            best_name, best = max(baselines, key=lambda entry: entry[1][0])
            metric = spec["metric"]
            for name, values, baseline in found.values():
                if baseline or run_is_baseline(name, results):
                    continue
                v, lo, _ = values
                if lo > max(b[2] for _, b in baselines):
                    word = f"beats {everyone} (95% CIs do not overlap)"
                elif v > best[0]:
                    word = f"is ahead of {best_name}, but the 95% CIs overlap: not a clear win"
                else:
                    word = f"does NOT beat {best_name}"
                lines.append(f"{task} {metric} ({head}): {name} {format_cell(values, metric)} {word} "
                             f"(best baseline {best_name}: {format_cell(best, metric)}).")
    return lines


def run_is_baseline(name: str, results: dict) -> bool:
    """Whether the row ``name`` is one of the baseline encoders (it is never judged against another)."""
    return any(run["name"] == name and run["encoder"] in BASELINES for run in results["runs"])


def write_reports(results: dict, out_dir: str | os.PathLike) -> list[Path]:
    """compare.json and compare.md in ``out_dir`` (``seqvec compare`` adds the chart, compare.png)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "compare.json") as handle:
        handle.write(json.dumps(results, indent=1) + "\n")
    text = ["# seqvec compare", "", f"train: {', '.join(Path(p).name for p in results['train'])}  ",
            f"scored on: {'; '.join(results['test'])}", "", markdown_table(results), ""]
    notes = verdicts(results)
    if notes:
        text += ["Language model vs baselines:", "", *(f"- {n}" for n in notes), ""]
    with atomic_open(out_dir / "compare.md") as handle:
        handle.write("\n".join(text))
    return [out_dir / "compare.json", out_dir / "compare.md"]
