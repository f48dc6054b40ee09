"""Label files for the CLI: format detection, reading several files, merging.

``seqvec train/evaluate/compare --labels FILE`` accept the native files of the benchmark
sets (see :mod:`seqvec.classifiers.labels.readers` for the formats); the format is detected
from the file, or given with ``--label-format``. Several files are merged by record id:
the DeepLoc training pool is ``--labels deeploc_our_val_set.fasta --labels
deeploc_valid_6000.fasta --labels deeploc_labels_q2.json`` (the JSON adds the membrane
labels that the numeric headers lack).
"""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from seqvec.classifiers.labels.readers import (
    FLIP_FILES,
    READERS,
    LabelFormatError,
    LabelSet,
    chezod_companion,
    read_text,
)
from seqvec.classifiers.labels.tasks import IGNORE, LABEL_FORMATS
from seqvec.classifiers.labels.userlabels import USER_FORMATS, detect_user_format, read_user_labels

logger = logging.getLogger(__name__)


def _first_line(path: Path) -> str:
    for line in read_text(path).splitlines():
        if line.strip():
            return line.strip()
    raise LabelFormatError(f"{path}: file is empty")


def detect_format(path: str | os.PathLike) -> str:
    """The label format of a file or folder (one of ``tasks.LABEL_FORMATS``)."""
    path = Path(path)
    if path.is_dir():
        if all((path / name).is_file() for name in FLIP_FILES):
            return "flip"
        raise LabelFormatError(f"{path} is a folder but not a FLIP split ({', '.join(FLIP_FILES)})")
    if not path.is_file():
        raise LabelFormatError(f"label file {path} does not exist")
    if path.suffix == ".json":
        return "deeploc-json"
    line = _first_line(path)
    if line.startswith(">"):
        if path.name in FLIP_FILES and all((path.parent / n).is_file() for n in FLIP_FILES):
            return "flip"
        user = detect_user_format(path, line)
        if user:
            return user
        tokens = line[1:].split()
        if len(tokens) > 1 and tokens[1][-2:] in ("-M", "-S", "-U"):
            return "deeploc"
        if len(tokens) == 2 and tokens[1].isascii() and tokens[1].isdigit():
            return "deeploc-numeric"
        if chezod_companion(path).is_file():
            return "chezod"
        raise LabelFormatError(f"{path}: FASTA without labels in its headers (first: {line[:60]!r}); "
                               f"label formats: {', '.join(LABEL_FORMATS)}")
    header = [h.strip() for h in next(csv.reader([line]))]
    if header[:4] == ["input", "dssp3", "dssp8", "disorder"]:
        return "netsurfp-csv"
    if header[:3] == ["seq", "sst3", "sst8"]:
        return "tape-csv"
    first = line.partition(":")
    if first[1] and first[2][:1] == "\t":
        return "chezod"
    user = detect_user_format(path, line)
    if user:
        return user
    raise LabelFormatError(f"{path}: cannot tell the label format (first line {line[:60]!r}); "
                           f"give `fmt`, one of {', '.join(LABEL_FORMATS)}")


def read_label_file(path: str | os.PathLike, fmt: str | None = None, **user) -> LabelSet:
    """Read one label file (format detected unless given).

    ``user`` options (``kind``, ``task_name``, ``sequences``, ``masks``, ``label_map``,
    ``lengths``) apply to the user formats (:mod:`seqvec.classifiers.labels.userlabels`); the
    benchmark formats define their own tasks.
    """
    path = Path(path)
    if not path.exists():
        raise LabelFormatError(f"label file {path} does not exist")
    if fmt is None:
        fmt = detect_format(path)
        if fmt == "flip" and path.is_file() and (user.get("sequences") or user.get("masks")):
            fmt = "biotrainer-labels"  # one file of a FLIP folder given with --sequences: the two-file convention
    if fmt in USER_FORMATS:
        labels = read_user_labels(path, fmt, **user)
    elif fmt in READERS:
        given = sorted(k for k, v in user.items() if v is not None and k not in ("lengths", "sequences"))
        if given:
            raise LabelFormatError(f"{path} is a {fmt} file with its own tasks; "
                                   f"{', '.join('--' + k.replace('_', '-') for k in given)} apply to "
                                   f"{', '.join(USER_FORMATS)} files only")
        labels = READERS[fmt](path)
    else:
        raise LabelFormatError(f"unknown label format {fmt!r}; choose from {', '.join(LABEL_FORMATS)}")
    if not labels.sequences:
        raise LabelFormatError(f"{path}: no records")
    counts = ", ".join(f"{task} {len(v)}" for task, v in labels.labels.items())
    logger.info("%s (%s): %d proteins; labels: %s", path, fmt, len(labels.sequences), counts)
    return labels


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def merge_label_sets(sets: list[LabelSet]) -> LabelSet:
    """Union by record id. A record in several files must agree in sequence and labels.

    The proteins are those of the files that define proteins (FASTA/CSV); label-only
    files (JSON) add labels to those. Without any defining file, all ids are kept.
    """
    if len(sets) == 1:
        return sets[0]
    merged = LabelSet()
    defining = [s for s in sets if s.defines_proteins] or sets
    for s in defining:
        for rid, seq in s.sequences.items():
            known = merged.sequences.get(rid, "")
            if known and seq and known != seq:
                raise LabelFormatError(f"record {rid!r} has different sequences in {', '.join(merged.sources)} "
                                       f"and {', '.join(s.sources)}")
            merged.sequences[rid] = known or seq
    for s in sets:
        merged.sources.extend(s.sources)
        for task, spec in s.specs.items():
            if merged.specs.setdefault(task, spec) != spec:
                raise LabelFormatError(f"task {task!r} is defined differently in {', '.join(s.sources)} "
                                       f"({spec.kind.value}, classes {spec.classes}) and in another file "
                                       f"({merged.specs[task].kind.value}, classes {merged.specs[task].classes}); "
                                       "name the tasks apart with `task_name` or merge the files")
        for task, values in s.labels.items():
            target = merged.labels.setdefault(task, {})
            for rid, value in values.items():
                if rid not in merged.sequences:
                    continue
                if rid in target and not _same(target[rid], value):
                    raise LabelFormatError(f"record {rid!r} has conflicting {task} labels in {', '.join(s.sources)}")
                target[rid] = value
        for rid, part in s.partition.items():
            if rid in merged.sequences:
                merged.partition[rid] = part
    return merged


def read_labels(paths: list[str | os.PathLike] | str | os.PathLike, fmt: str | None = None, **user) -> LabelSet:
    """Read and merge label files (``fmt`` and the ``user`` options apply to all of them).

    The public way to read labels: one path or a list; the ``user`` options are those of
    :func:`read_label_file` (``kind``, ``task_name``, ``sequences``, ``masks``,
    ``label_map``, ``lengths``). A user task is named after its file's stem unless
    ``task_name`` is given.

    Files with record ids are merged by id (:func:`merge_label_sets`); files without
    (the CSV formats) then join them by identical sequence (:func:`attach_by_sequence`),
    so a TAPE row that repeats a FLIP protein adds its labels to that protein instead of
    counting it twice.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise LabelFormatError("no label file given")
    sets = [read_label_file(p, fmt, **user) for p in paths]
    with_ids = [s for s in sets if s.native_ids]
    merged = merge_label_sets(with_ids) if with_ids else None
    for extra in (s for s in sets if not s.native_ids):
        merged = extra if merged is None else attach_by_sequence(merged, extra)
    assert merged is not None  # paths is not empty
    return merged


def write_fasta(labels: LabelSet, path: str | os.PathLike, ids: list[str] | None = None) -> Path:
    """Write the sequences of a label set (for embedding); every record needs its sequence."""
    ids = labels.ids if ids is None else ids
    missing = [rid for rid in ids if not labels.sequences.get(rid)]
    if missing:
        raise LabelFormatError(f"{len(missing)} records have no sequence in the label files "
                               f"(e.g. {missing[:3]}); embed them from a FASTA file instead")
    path = Path(path)
    with open(path, "w") as handle:
        for rid in ids:
            handle.write(f">{rid}\n{labels.sequences[rid]}\n")
    return path


def attach_by_sequence(base: LabelSet, extra: LabelSet) -> LabelSet:
    """Add ``extra``'s records to ``base``, joining records with identical sequences.

    For a record of ``extra`` whose sequence is in ``base``, its labels for tasks the
    ``base`` record lacks are attached to the ``base`` id; residues that ``base`` marks as
    unresolved (``disorder`` class 1, the NetSurfP definition) are then not scored, since
    a file without a resolved mask labels them as coil. Other records are added under
    their own ids. This is how the 8-state labels of the TAPE file (no mask) join the
    FLIP training set (1,571 shared sequences) without counting a protein twice.
    """
    by_sequence = {seq: rid for rid, seq in base.sequences.items() if seq}
    merged = LabelSet(dict(base.sequences), {t: dict(v) for t, v in base.labels.items()}, dict(base.partition),
                      base.sources + extra.sources, base.defines_proteins, base.native_ids,
                      {**extra.specs, **base.specs})
    joined = added = 0
    for rid, seq in extra.sequences.items():
        target = by_sequence.get(seq)
        if target is None:
            added += 1
            merged.sequences[rid] = seq
            if rid in extra.partition:
                merged.partition[rid] = extra.partition[rid]
        else:
            joined += 1
        unresolved = base.labels.get("disorder", {}).get(target) if target else None
        for task, values in extra.labels.items():
            if rid not in values or (target and target in base.labels.get(task, {})):
                continue
            value = values[rid]
            if target and unresolved is not None and np.ndim(value):
                value = np.where(np.asarray(unresolved) == 1, IGNORE, value)
            merged.labels.setdefault(task, {})[target or rid] = value
    logger.info("joined %d records by identical sequence, added %d new ones", joined, added)
    return merged


# names a label column may go by in a table or on the command line -> task name
TASK_ALIASES = {"location": "localization"}


def _read_table_column(path: Path, column: str | None) -> tuple[dict[str, str], str]:
    """``{id: value}`` of one column of a CSV/TSV table whose first column is the id."""
    with open(path, newline="") as handle:
        head = handle.read(8192)
    try:
        dialect = csv.Sniffer().sniff(head, delimiters=",\t;")
    except csv.Error:
        raise LabelFormatError(f"{path}: neither a label file ({', '.join(LABEL_FORMATS)}) nor a CSV/TSV table "
                               "with an id column and a header") from None
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, dialect))
    if len(rows) < 2 or len(rows[0]) < 2:
        raise LabelFormatError(f"{path}: expected a header row and at least two columns (id, label)")
    header = [h.strip() for h in rows[0]]
    wanted = column or header[1]
    names = [wanted, *(alias for alias, task in TASK_ALIASES.items() if task == wanted), TASK_ALIASES.get(wanted)]
    k = next((header.index(n) for n in names if n in header), None)
    if k is None:
        raise LabelFormatError(f"{path} has no column {wanted!r} (columns: {', '.join(header)})")
    return {row[0]: row[k] for row in rows[1:] if len(row) > k and row[k] != ""}, header[k]


def class_labels(path: str | os.PathLike, column: str | None = None) -> tuple[dict[str, str], str]:
    """Per-protein class names by record id, for plots: ``({id: class name}, column)``.

    ``path`` is any label file :func:`read_label_file` reads (``column`` names a
    per-protein task, ``location`` meaning ``localization``; default: the first one the
    file has), or else a CSV/TSV table with the id first and a header (``column`` names
    a header; default: the second column), such as ``seqvec predict -o x.tsv`` writes.
    """
    from seqvec.classifiers.labels.tasks import TASKS, TaskKind

    path = Path(path)
    if not path.exists():
        raise LabelFormatError(f"label file {path} does not exist")
    try:
        fmt = detect_format(path)
    except LabelFormatError:
        return _read_table_column(path, column)
    if fmt == "csv":  # a table: any named column (a user's labels, or seqvec predict's TSV)
        return _read_table_column(path, column)
    labels = read_label_file(path, fmt)
    specs = {**{t: TASKS[t] for t in labels.labels if t in TASKS}, **labels.specs}
    protein_tasks = [t for t, spec in specs.items() if spec.kind == TaskKind.PROTEIN_CLASS and labels.labels.get(t)]
    task = TASK_ALIASES.get(column, column) if column else (protein_tasks[0] if protein_tasks else None)
    if task not in protein_tasks:
        raise LabelFormatError(f"{path} ({fmt}) has no per-protein labels {column!r}; it has: "
                               f"{', '.join(protein_tasks) or 'none'}")
    classes = specs[task].classes
    return {rid: classes[int(value)] for rid, value in labels.labels[task].items() if int(value) != IGNORE}, task
