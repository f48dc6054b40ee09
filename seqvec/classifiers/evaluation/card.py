"""``MODEL_CARD.md``: what a trained head is, in Markdown for people (as biotrainer's ``out.yml`` for programs).

Written beside ``config.json`` when a head is trained (:func:`write_card`): the task and
its classes with counts, the data files with their sha256 digests, the encoder and
language model, the head and its size, the split protocol (which proteins chose the
epoch), validation metrics with 95% bootstrap intervals, intended use and limits. Each
later ``seqvec evaluate`` on a test set adds (or refreshes) one section
(:func:`add_test_section`), written atomically under the card's lock.
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from seqvec import __version__
from seqvec.classifiers.evaluation.evaluate import evaluate_dataset
from seqvec.classifiers.evaluation.metrics import N_BOOTSTRAP, metric_text
from seqvec.classifiers.heads.checkpoint import HeadCheckpoint, is_bundled
from seqvec.classifiers.labels.tasks import TaskSpec
from seqvec.classifiers.training.data import TaskDataset
from seqvec.errors import OutputWriteError
from seqvec.io.output import Output, atomic_open
from seqvec.lm.allennlp_io import file_sha256

logger = logging.getLogger(__name__)

CARD_FILE = "MODEL_CARD.md"
_SECTION = re.compile(r"<!-- seqvec:test (?P<key>[0-9a-f]{16}) -->\n.*?<!-- /seqvec:test -->\n", re.S)
KIND_WORDS = {"class": "classes", "multilabel": "several labels (multi-label)", "value": "a number (regression)"}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (what ``sha256sum`` prints), or of a folder's files (names and bytes,
    in sorted order)."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(f.relative_to(path)).encode())
        digest.update(file_sha256(f).encode())
    return digest.hexdigest()


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _task_rows(tasks: dict[str, TaskSpec]) -> list[str]:
    rows = ["| task | kind | predicts | headline metric |", "|---|---|---|---|"]
    for name, spec in tasks.items():
        what = KIND_WORDS[spec.kind.target] + (f" ({len(spec.classes)})" if spec.classes else "")
        rows.append(f"| {name} | per-{spec.level} {spec.kind.target} (`{spec.kind.value}`) | {what} | {spec.metric} |")
    return rows


def _class_lines(tasks: dict[str, TaskSpec], training: dict) -> list[str]:
    lines = []
    for name, spec in tasks.items():
        counts = training.get("class_counts", {}).get(name, {})
        unit = "residues" if spec.level == "residue" else "proteins"
        if spec.kind.target == "value":
            lines.append(f"- {name}: values in the labels' units; training mean {spec.value_mean:.4g}, "
                         f"sd {spec.value_std:.4g}")
            continue
        listed = ", ".join(f"{c} {counts.get(c, 0):,}" if counts else c for c in spec.classes)
        lines.append(f"- {name} ({'training ' + unit + ' per class' if counts else 'classes'}): {listed}")
        if spec.kind.target == "multilabel":
            lines.append(f"  - a label is predicted when its probability is at least {spec.threshold:.2f} "
                         "(chosen on the validation proteins)")
        if spec.label_map:
            mapped = "; ".join(f"{k} -> {', '.join(v) or '(none)'}" for k, v in spec.label_map.items())
            lines.append(f"  - label map (classes of the label file -> labels): {mapped}")
    return lines


def _data_rows(files: Mapping[str, Sequence[str | os.PathLike]]) -> list[str]:
    rows = ["| role | file | sha256 |", "|---|---|---|"]
    for role, paths in files.items():
        for path in paths:
            path = Path(path)
            digest = f"`{file_digest(path)}`" if path.exists() else "(missing when the card was written)"
            rows.append(f"| {role} | {path.name} | {digest} |")
    return rows


def metric_rows(tasks: dict[str, dict]) -> list[str]:
    """A Markdown table of every metric of every task (accuracies in %), with its 95% interval."""
    rows = ["| task | metric | value | 95% CI | n |", "|---|---|---|---|---|"]
    for name, result in tasks.items():
        unit = "residues" if result.get("level") == "residue" else "proteins"
        n = f"{result['n_proteins']:,} proteins" + (f", {result['n_scored']:,} {unit}" if unit == "residues" else "")
        for metric, m in result["metrics"].items():
            rows.append("| " + " | ".join((name, *metric_text(metric, m), n)) + " |")
    return rows


def _length_range(dataset: TaskDataset, sequences: dict[str, str]) -> str:
    lengths = [ex.length for ex in dataset.examples] if dataset.input_level == "residue" else \
        [len(sequences.get(i, "")) for i in dataset.ids]
    lengths = [n for n in lengths if n]
    if not lengths:
        return "lengths not recorded (the labels carried no sequences)"
    return f"{min(lengths):,} to {max(lengths):,} residues (median {int(np.median(lengths)):,})"


def write_card(checkpoint: HeadCheckpoint, train: TaskDataset, val: TaskDataset | None, *,
               files: Mapping[str, Sequence[str | os.PathLike]], protocol: list[str], sequences: dict[str, str],
               n_bootstrap: int = N_BOOTSTRAP, seed: int = 0, no_validation: str = "None: no validation proteins."
               ) -> Path:
    """Write ``MODEL_CARD.md`` into the head's directory (``checkpoint.path``).

    ``files``: role -> data files (digested here); ``protocol``: lines that say how the
    validation proteins were chosen; ``sequences``: id -> sequence (the training lengths
    of per-protein inputs). The validation proteins are scored here with ``n_bootstrap``
    draws (``[N]`` proteins resampled); without them the section says ``no_validation``.
    """
    assert checkpoint.path is not None
    tasks, training, emb = checkpoint.tasks, checkpoint.training, checkpoint.embeddings
    n_params = sum(p.numel() for p in checkpoint.head.parameters())
    fit = training.get("fit", {})
    lines = [f"# Model card: {checkpoint.name} head for {', '.join(tasks)}", "",
             f"A `{checkpoint.name}` head for {', '.join(f'`{t}`' for t in tasks)}, trained by seqvec {__version__} "
             f"on {_today()}. Load it with `seqvec predict --heads DIR` or `seqvec.load_heads`; "
             "`seqvec export-head DIR -o head.onnx` takes it out of seqvec.", "", "## Task", "",
             *_task_rows(tasks), "", *_class_lines(tasks, training), "",
             "## Intended use and limits", "",
             f"- Predicts {', '.join(tasks)} for proteins like its {training.get('n_train', len(train)):,} training "
             "proteins "
             f"({', '.join(Path(p).name for p in files.get('training labels', []))}): "
             f"{_length_range(train, sequences)}. Proteins far from these (other organisms, little sequence "
             "identity to the training set, much longer or shorter) are outside what was validated.",
             "- Class probabilities are softmax (or sigmoid) outputs, not calibrated probabilities.",
             "- New proteins must be embedded as the training proteins were (encoder, model, layers below); "
             "`seqvec predict` and `seqvec evaluate` refuse embeddings made otherwise.",
             "- The validation metrics below are optimistic (those proteins chose the training epoch); "
             "trust only the test sections for what to expect.", "",
             "## Data", "", *_data_rows(files), "",
             "## Encoder and language model", "",
             f"- encoder `{emb.get('encoder', 'not recorded')}`, model `{emb.get('model', 'none')}`"
             + (f" (weights sha256 `{emb['model_sha256']}`)" if emb.get("model_sha256") else "")
             + f", layers `{emb.get('layers', 'not recorded')}`, {checkpoint.head.input_dim}-dimensional inputs "
             f"per {checkpoint.head.input_level}", "",
             "## Head", "",
             f"- `{checkpoint.name}`, options {checkpoint.head.hparams}: {n_params:,} parameters",
             "- training: " + ", ".join(f"{k} {v}" for k, v in fit.items()),
             f"- best epoch {training.get('best_epoch')} of {training.get('epochs_run')} (monitor: validation "
             f"{fit.get('monitor', 'loss')})", "",
             "## Split protocol", "", *(f"- {line}" for line in protocol), ""]
    if val is not None and len(val):
        scored = val.subset(val.ids)
        scored.tasks = dict(tasks)
        results = evaluate_dataset(checkpoint, scored, n_bootstrap=n_bootstrap, seed=seed)
        lines += [f"## Metrics: validation proteins (n = {len(val):,}; optimistic: they chose the epoch)", "",
                  f"95% intervals from {n_bootstrap:,} bootstrap draws over proteins.", "", *metric_rows(results), ""]
    else:
        lines += ["## Metrics: validation proteins", "", no_validation, ""]
    lines += ["## Metrics: test sets", "", "Each `seqvec evaluate` of this head on a test set adds a section here.", ""]
    path = checkpoint.path / CARD_FILE
    with atomic_open(path) as handle:
        handle.write("\n".join(lines))
    logger.info("wrote %s", path)
    return path


def add_test_section(head: HeadCheckpoint, title: str, report: dict, *, labels: Sequence[str | os.PathLike],
                     embeddings: str | os.PathLike) -> Path | None:
    """Add (or refresh) the test section ``title`` of a head's card with the metrics of ``report``
    (:func:`~seqvec.classifiers.evaluation.evaluate.evaluate_head`). No card (a head trained
    before cards, a bundled head): nothing is written and None is returned."""
    if head.path is None or is_bundled(head.path):
        return None
    path = head.path / CARD_FILE
    if not path.is_file():
        logger.info("%s has no %s (trained by an older seqvec): no test section written", head.path, CARD_FILE)
        return None
    key = hashlib.sha256(title.encode()).hexdigest()[:16]
    digests = ", ".join(f"{Path(p).name} `{file_digest(p)[:16]}`" for p in [*labels, embeddings] if Path(p).exists())
    section = "\n".join([f"<!-- seqvec:test {key} -->", f"### {title}", "",
                         f"Scored by seqvec {__version__} on {_today()} with {report.get('n_bootstrap', N_BOOTSTRAP):,}"
                         f" bootstrap draws; files (sha256, first 16 digits): {digests}.", "",
                         *metric_rows(report["tasks"]), "", "<!-- /seqvec:test -->", ""])
    try:
        with Output(path, overwrite=True) as out:  # the lock keeps two evaluations from losing a section
            text = path.read_text(encoding="utf-8")
            found = [m for m in _SECTION.finditer(text) if m.group("key") == key]
            text = (text[:found[0].start()] + section + text[found[0].end():] if found
                    else text.rstrip("\n") + "\n\n" + section)
            out.write_text(text)
    except (OutputWriteError, PermissionError) as err:
        logger.warning("could not add the test metrics to %s: %s", path, err)
        return None
    logger.info("%s %s section %r", "refreshed" if found else "added", path, title)
    return path
