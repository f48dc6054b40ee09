"""``seqvec run``: embed -> train -> evaluate -> report -> plots, each stage resumable.

Layout of the output folder::

    embeddings/<encoder>/   train.h5 (the labelled proteins), test.h5 (test label files)
    heads/<encoder>-<head>/ a head directory (or, with split.cv, one per fold and cv.json)
    evaluate/<encoder>-<head>/metrics.json   test-set metrics (cross-validation: the
                            fold heads' ensemble on the test set, else the pooled
                            out-of-fold predictions)
    report/                 compare.md, compare.json, compare.png
    plots/                  curves_<encoder>-<head>.png, confusion_<encoder>-<head>.png

Each stage folder holds a ``stage.json`` (:mod:`seqvec.workflow.stages`). Only library
functions are called, the same ones behind ``seqvec embed``, ``train``, ``evaluate`` and
``compare``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path

from seqvec.errors import SeqVecError
from seqvec.io.output import Output, atomic_open
from seqvec.workflow import fingerprints
from seqvec.workflow.config import PipelineConfig, load_config
from seqvec.workflow.inputs import Inputs, read_inputs, subset
from seqvec.workflow.stages import Stage

logger = logging.getLogger(__name__)


def _encoder(name: str) -> tuple[str, str | None]:
    """``lm:seqvec-mini`` -> ("lm", "seqvec-mini"); ``onehot`` -> ("onehot", None); ``lm+blosum62:DIR`` ->
    ("lm+blosum62", "DIR")."""
    kind, _, model = name.partition(":")
    return kind, (model or None)


def _label(name: str) -> str:
    kind, model = _encoder(name)
    return kind if model is None else f"{kind}-{Path(model).name}"


def embed_stage(config: PipelineConfig, inputs: Inputs, encoder: str, progress: bool) -> Stage:
    """Embed the labelled (and test) proteins with one encoder."""
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.labels.files import write_fasta
    from seqvec.embeddings.pipeline import embed_fasta, model_spec

    kind, model = _encoder(encoder)
    per_residue = any(head_class(h).input_level == "residue" for h in config.heads)
    settings = fingerprints.embed_settings(config, inputs, encoder, model_spec(model, kind).sha256, per_residue)
    stage = Stage(f"embed {encoder}", Path(config.output) / "embeddings" / _label(encoder), settings)
    if stage.up_to_date():
        return stage
    for part, labels in (("train", inputs.labels), ("test", inputs.test)):
        if labels is None or (part == "test" and not inputs.separate_test):
            continue
        fasta = write_fasta(labels, stage.directory / f"{part}.fasta")
        embed_fasta(fasta, stage.directory / f"{part}.h5", model, encoder=kind, dtype=config.dtype,
                    per_residue=per_residue, per_protein=True, progress=progress)
        fasta.unlink()
    stage.finish({"train": str(stage.directory / "train.h5"),
                  "test": str(stage.directory / ("test.h5" if inputs.separate_test else "train.h5"))})
    return stage


def train_stage(config: PipelineConfig, inputs: Inputs, embedded: Stage, head: str, progress: bool) -> Stage | None:
    """Train one head (or one per fold) on one encoder's embeddings."""
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.selection.crossval import SplitPlan
    from seqvec.classifiers.selection.recipe import HeldOutSet, Validation, train_by_plan
    from seqvec.classifiers.training.data import build_dataset
    from seqvec.classifiers.training.experiment import HeadSpec, file_identity
    from seqvec.classifiers.training.train import FitConfig

    cls = head_class(head)
    tasks = {t: s for t, s in inputs.tasks.items() if s.level == cls.output_level}
    if not tasks:
        logger.info("head %s predicts per-%s outputs; no task of the labels fits", head, cls.output_level)
        return None
    name = f"{Path(embedded.directory).name}-{head}"
    settings = fingerprints.train_settings(config, inputs, embedded.hash, head, list(tasks))
    stage = Stage(f"train {name}", Path(config.output) / "heads" / name, settings)
    if stage.up_to_date():
        return stage
    h5 = embedded.outputs()["train"]
    split = config.split
    plan = SplitPlan(val_fraction=split.val_fraction, identity=split.identity,
                     groups_file=Path(split.groups) if split.groups else None, cv=split.cv,
                     repeat=split.repeat, seed=config.training.seed)
    spec = HeadSpec(head, tasks, FitConfig(**dataclasses.asdict(config.training)), config.head_options.get(head),
                    split.search, file_identity(h5), {"labels": list(config.input.labels)}, progress)
    test = HeldOutSet()
    if plan.cv and inputs.test is not None:
        test = HeldOutSet(build_dataset(inputs.test, embedded.outputs()["test"], tasks, cls.input_level),
                       set(inputs.test.ids))
    train_by_plan(spec, inputs.labels, h5, stage.directory, validation=Validation(plan), test=test,
                  settings=settings, n_bootstrap=config.report.bootstrap)
    stage.finish({"head": head, "tasks": list(tasks), "cv": bool(plan.cv)})
    return stage


VALIDATION_SOURCE = "validation proteins (no test set; optimistic: they chose the early-stopping epoch)"


def _test_names(config: PipelineConfig, inputs: Inputs) -> str:
    """`` (deeploc_test.fasta; SET=test of labels.fasta)``: where the test proteins come from."""
    files = [Path(t).name for t in (config.input.test or ()) if Path(t).exists()]
    marked = [f"SET={n} of {', '.join(Path(p).name for p in config.input.labels)}" for n in inputs.test_sets]
    return f" ({'; '.join(files + marked)})" if files or marked else ""


def evaluate_stage(config: PipelineConfig, inputs: Inputs, embedded: Stage, trained: Stage) -> Stage:
    """Test-set metrics of a head; without a test set, the out-of-fold metrics of cross-validation,
    or the validation proteins' metrics (optimistic: they chose the early-stopping epoch)."""
    from seqvec.classifiers.evaluation.card import add_test_section
    from seqvec.classifiers.evaluation.evaluate import evaluate_head
    from seqvec.classifiers.heads.checkpoint import load_head
    from seqvec.classifiers.selection.compare import scored_on
    from seqvec.classifiers.selection.crossval import SPLIT_FILE
    from seqvec.classifiers.selection.splits import read_split
    from seqvec.classifiers.training.experiment import file_identity

    out = trained.outputs()
    stage = Stage(f"evaluate {trained.directory.name}", Path(config.output) / "evaluate" / trained.directory.name,
                  fingerprints.evaluate_settings(config, inputs, embedded.hash, trained.hash))
    if stage.up_to_date():
        return stage
    if out["cv"]:
        report = json.loads((trained.directory / "cv.json").read_text())
        repeat = report["repeats"][0]
        tasks = repeat.get("test_ensemble") or repeat["pooled"]
        k = config.split.cv
        source = (f"test set{_test_names(config, inputs)}, mean of the {k} fold heads" if "test_ensemble" in repeat
                  else f"pooled out-of-fold predictions of {k}-fold cross-validation")
        result = {"head": str(trained.directory), "source": source, "tasks": tasks}
    else:
        if inputs.test is not None:
            labels, h5, source = inputs.test, embedded.outputs()["test"], f"test set{_test_names(config, inputs)}"
        else:
            folds, _ = read_split(trained.directory / SPLIT_FILE)
            labels = subset(inputs.labels, [i for i, fold in folds.items() if fold == "val"])
            h5, source = embedded.outputs()["train"], VALIDATION_SOURCE
        head = load_head(trained.directory)
        result = evaluate_head(head, labels, h5, identity=file_identity(h5),
                               n_bootstrap=config.report.bootstrap, seed=config.training.seed)
        result["source"] = source
        if inputs.test is not None:
            add_test_section(head, f"Test: {source} (seqvec run)", result, labels=list(labels.sources), embeddings=h5)
    result["scored"] = scored_on(result["source"], result["tasks"])
    with atomic_open(stage.directory / "metrics.json") as handle:
        handle.write(json.dumps(result, indent=1) + "\n")
    stage.finish({"metrics": str(stage.directory / "metrics.json")})
    return stage


def report_stage(config: PipelineConfig, inputs: Inputs, runs: list[tuple[Stage, Stage, Stage]]) -> Stage:
    """The comparison table and bar chart over every (encoder, head)."""
    from seqvec.classifiers.selection.compare import write_reports

    stage = Stage("report", Path(config.output) / "report",
                  fingerprints.report_settings(config, [e.hash for _, _, e in runs]))
    if stage.up_to_date():
        return stage
    rows = []
    for embedded, trained, evaluated in runs:
        metrics = json.loads((evaluated.directory / "metrics.json").read_text())
        label = _label(embedded.settings["encoder"])
        rows.append({"encoder": embedded.settings["encoder"], "key": label, "model": label, "name": label,
                     "head": trained.outputs()["head"], "head_dir": str(trained.directory),
                     "source": metrics["source"], "scored": metrics["scored"], "tasks": metrics["tasks"]})
    results = {"tasks": {t: {"metric": s.metric, "level": s.level} for t, s in inputs.tasks.items()},
               "train": [Path(p).name for p in config.input.labels],
               "test": sorted({r["scored"] for r in rows}), "fit": dataclasses.asdict(config.training), "runs": rows}
    write_reports(results, stage.directory)
    if config.report.plots:
        from seqvec.viz.comparison import comparison_caption, plot_comparison

        plot_comparison(results, stage.directory / "compare.png", caption=comparison_caption(results))
    stage.finish({"report": str(stage.directory / "compare.md")})
    return stage


def plots_stage(config: PipelineConfig, runs: list[tuple[Stage, Stage, Stage]]) -> Stage | None:
    """Learning curves and confusion matrices."""
    from seqvec.viz.confusion import describe_evaluation, plot_confusion, read_confusions
    from seqvec.viz.curves import describe_log, plot_curves, read_history

    if not config.report.plots:
        return None
    stage = Stage("plots", Path(config.output) / "plots", fingerprints.plots_settings([e.hash for _, _, e in runs]))
    if stage.up_to_date():
        return stage
    written = []
    for _, trained, evaluated in runs:  # the same titles and captions as seqvec plot curves / confusion
        name = trained.directory.name
        history = next(iter(sorted(trained.directory.rglob("history.json"))), None)
        if history is not None:
            title, caption = describe_log(history)
            written.append(str(plot_curves(read_history(history), stage.directory / f"curves_{name}.png",
                                           title=title, caption=caption)))
        try:
            panels = read_confusions(evaluated.directory / "metrics.json")
        except SeqVecError:  # no class task
            continue
        written.append(str(plot_confusion(panels, stage.directory / f"confusion_{name}.png",
                                          caption=describe_evaluation(evaluated.directory / "metrics.json"))))
    stage.finish({"plots": written})
    return stage


def run_pipeline(config: PipelineConfig | str | os.PathLike, *, progress: bool = False) -> dict:
    """Run (or resume) every stage; returns ``{stage name: its outputs}``."""
    if not isinstance(config, PipelineConfig):
        config = load_config(config)
    inputs = [*config.input.labels, config.input.sequences, config.split.groups,
              *(t for t in config.input.test or () if Path(t).exists())]
    # the output folder is the pipeline's workspace (finished stages are kept): never an input, writable,
    # and one run at a time (OUTPUT.lock beside it), all checked before any stage runs
    with Output(config.output, inputs=inputs, workspace=True):
        Path(config.output).mkdir(exist_ok=True)
        return _run(config, progress)


def _run(config: PipelineConfig, progress: bool) -> dict:
    start = time.perf_counter()
    inputs = read_inputs(config)
    logger.info("pipeline: %d proteins, tasks %s, %d test proteins", len(inputs.labels.ids), ", ".join(inputs.tasks),
                len(inputs.test.ids) if inputs.test is not None else 0)
    runs, done = [], {}
    for encoder in config.encoders:
        embedded = embed_stage(config, inputs, encoder, progress)
        done[embedded.name] = embedded.outputs()
        for head in config.heads:
            trained = train_stage(config, inputs, embedded, head, progress)
            if trained is None:
                continue
            done[trained.name] = trained.outputs()
            evaluated = evaluate_stage(config, inputs, embedded, trained)
            done[evaluated.name] = evaluated.outputs()
            runs.append((embedded, trained, evaluated))
    if runs:
        done["report"] = report_stage(config, inputs, runs).outputs()
        plots = plots_stage(config, runs)
        if plots is not None:
            done["plots"] = plots.outputs()
    logger.info("pipeline finished in %.0f s: %s", time.perf_counter() - start, config.output)
    return done
