"""A user's own labels: biotrainer's FASTA conventions and CSV/TSV, for any task kind.

Three formats, all read into a :class:`~seqvec.classifiers.labels.readers.LabelSet` that also
carries the task's :class:`~seqvec.classifiers.labels.tasks.TaskSpec` (``LabelSet.specs``):

``biotrainer``
    One FASTA for every kind (biotrainer's current convention): the sequence in the body,
    whitespace-separated header fields ``TARGET=`` (a class or a number per protein; a
    string of one class character per residue; numbers joined by ``;`` per residue;
    several labels joined by ``;`` for multi-label), ``SET=train|val|test|test2|...|pred``
    and an optional ``MASK=`` of 0/1 per residue (0 = not trained on, not scored).
    Other header words are ignored.
``biotrainer-labels``
    biotrainer's older two-file convention (how FLIP ships per-residue tasks): a labels
    FASTA whose body is the target (one character per residue, or a class name) and whose
    header has ``SET=train|test`` and ``VALIDATION=True|False``; the sequences come from a
    FASTA with the same ids (``--sequences``), or from the embedding file's lengths. An
    optional mask FASTA (``--masks``) holds 0/1 per residue.
``csv``
    CSV or TSV (tab-separated when the first line has a tab): ``id,label[,set]`` per
    protein, ``id,labels`` per residue (a string, or numbers joined by ``;``). A header
    row is recognised by its first cell (``id``, ``name``, ``accession``,
    ``sequence_id``); columns named ``set``/``split``, ``validation`` and ``mask`` are read
    by name. FLIP's CSVs (``sequence,target,set,validation``) are read too (ids
    ``<file stem>_<row>``).

The kind is inferred unless given (``--kind``): a label string as long as the sequence
(for most records) -> per-residue classes; else numbers -> values (``;``-joined numbers
-> per residue); labels joined by ``;`` -> multi-label; else per-protein classes. ``label_map`` (``--label-map``)
turns classes into sets of labels, e.g. FLIP's binding digits into the three labels
small / nucleic / metal. Every problem is a :class:`LabelFormatError` naming the file,
the record and the value.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqvec.classifiers.labels.readers import (
    LabelSet,
    check_sequence,
    check_unique,
    fasta_records,
    is_number,
    parse_number,
    read_text,
)
from seqvec.classifiers.labels.tasks import IGNORE, TaskKind, TaskSpec, task_name_problem
from seqvec.errors import LabelFormatError

logger = logging.getLogger(__name__)

USER_FORMATS = ("biotrainer", "biotrainer-labels", "csv")
HEADER_KEYS = ("TARGET", "SET", "VALIDATION", "MASK")
ID_COLUMNS = ("id", "name", "accession", "sequence_id", "protein", "protein_id")


@dataclass
class RawRecord:
    """One labelled protein as written in the file."""

    id: str
    sequence: str  # "" when the file has none (CSV without --sequences)
    target: str | None  # None: no label (e.g. SET=pred)
    set: str | None  # train, validation, test, test2, ..., pred; None = not marked
    mask: str | None = None


def task_name_for(path: str | os.PathLike) -> str:
    """Default task name: the label file's stem (``three_vs_rest.fasta.gz`` -> ``three_vs_rest``)."""
    name = Path(path).name
    for suffix in (".gz", ".fasta", ".fa", ".faa", ".fas", ".csv", ".tsv", ".txt"):
        name = name.removesuffix(suffix) if name.lower().endswith(suffix) and len(name) > len(suffix) else name
    return name


def _set_name(path, record_id: str, given: str | None, validation: str | None) -> str | None:
    """Normalised partition of a record from its ``SET=`` and ``VALIDATION=`` values."""
    value = given.lower() if given is not None else None
    if value is not None:
        if value in ("val", "valid", "validation"):
            value = "validation"
        elif not (value in ("train", "pred") or re.fullmatch(r"test[a-z0-9_.-]*", value)):
            raise LabelFormatError(f"{path}: record {record_id!r}: unknown SET={given!r}; expected train, val, "
                                   "test (or test2, test_b, ...: named test sets) or pred")
    if validation is not None:
        flag = validation.lower()
        if flag not in ("true", "false"):
            raise LabelFormatError(f"{path}: record {record_id!r}: VALIDATION={validation!r} is not True or False")
        if flag == "true":
            if value is not None and value != "train" and value != "validation":
                raise LabelFormatError(f"{path}: record {record_id!r}: SET={given} with VALIDATION=True; only "
                                       "training records can be validation records")
            value = "validation"
        elif value is None:
            value = "train"
    return value


def _header_fields(path, record_id: str, header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for token in header.split():
        key, sep, value = token.partition("=")
        if sep and key.upper() in HEADER_KEYS and key == key.upper():
            if key in fields:
                raise LabelFormatError(f"{path}: record {record_id!r}: {key}= given twice in the header")
            fields[key] = value
    return fields


def read_biotrainer(path: Path) -> list[RawRecord]:
    """Records of a biotrainer single-file FASTA (``TARGET=``, ``SET=``, ``MASK=`` in the header)."""
    records = []
    for rid, header, body in fasta_records(path):
        fields = _header_fields(path, rid, header)
        sequence = check_sequence(path, rid, body)
        part = _set_name(path, rid, fields.get("SET"), fields.get("VALIDATION"))
        target = fields.get("TARGET")
        if part == "pred":
            target = None  # predicted only; biotrainer ignores a TARGET here too
        elif target is None:
            raise LabelFormatError(f"{path}: record {rid!r} has no TARGET= in its header (only SET=pred "
                                   "records may go without)")
        records.append(RawRecord(rid, sequence, target, part, fields.get("MASK")))
    unmarked = sum(r.set is None for r in records)
    if unmarked:
        logger.warning("%s: %d of %d records have no SET= (or VALIDATION=) in their header; they are training "
                       "records, and validation proteins are split off them", path, unmarked, len(records))
    return records


def _sequences_of(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    return {rid: check_sequence(path, rid, seq) for rid, _, seq in fasta_records(path)}


def read_biotrainer_labels(path: Path, sequences: Path | None = None, masks: Path | None = None,
                           lengths: dict[str, int] | None = None) -> list[RawRecord]:
    """Records of biotrainer's two-file convention: labels FASTA (+ sequences FASTA, + masks FASTA)."""
    seqs = _sequences_of(sequences)
    mask_of = {rid: body for rid, _, body in fasta_records(masks)} if masks is not None else {}
    records = []
    for rid, header, body in fasta_records(path):
        fields = _header_fields(path, rid, header)
        part = _set_name(path, rid, fields.get("SET"), fields.get("VALIDATION"))
        if sequences is not None and rid not in seqs:
            raise LabelFormatError(f"{path}: record {rid!r} is not in the sequences file {sequences}")
        records.append(RawRecord(rid, seqs.get(rid, ""), None if part == "pred" else body, part,
                                 mask_of.get(rid, fields.get("MASK"))))
    unlabeled = len(set(seqs) - {r.id for r in records})
    if unlabeled:
        logger.info("%s: %d sequences have no labels in %s and are left out", sequences, unlabeled, path)
    missing_masks = [r.id for r in records if masks is not None and r.id not in mask_of]
    if missing_masks:
        raise LabelFormatError(f"{masks}: no mask for {len(missing_masks)} records of {path}, e.g. {missing_masks[:5]}")
    return records


def read_csv_labels(path: Path, sequences: Path | None = None) -> tuple[list[RawRecord], bool]:
    """Records of a CSV/TSV label file; also whether the ids are the file's own (not made up)."""
    text = read_text(path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first else ","
    try:
        rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(row)]
    except csv.Error as err:
        raise LabelFormatError(f"{path}: not valid CSV ({err})") from err
    if not rows:
        raise LabelFormatError(f"{path}: file is empty")
    header = [c.lower() for c in rows[0]]
    _check_header(path, header, rows[0])
    columns: dict[str, int]
    if header[0] in ID_COLUMNS or header[0] == "sequence":
        columns = {name: i for i, name in enumerate(header)}
        if header[0] in ID_COLUMNS:
            columns["id"] = 0  # "name", "accession", ... are the id
        label: str | None = next((c for c in ("label", "labels", "target", "targets", "value", "class")
                                  if c in columns), None)
        if label is None:
            label = header[1] if len(header) > 1 and header[1] not in ("set", "split", "sequence") else None
        if label is None:
            raise LabelFormatError(f"{path}: the header {rows[0]} names no label column (label, target, ...)")
        columns["label"] = columns[label]
        columns.setdefault("set", columns.get("split", -1))
        body, start = rows[1:], 2
    else:
        columns = {"id": 0, "label": 1, "set": 2}
        body, start = rows, 1
    if not body:
        raise LabelFormatError(f"{path}: a header but no records")
    own_ids = "sequence" not in columns or header[0] in ID_COLUMNS
    seqs = _sequences_of(sequences)
    needed = max(columns["label"], columns.get("id", 0) if own_ids else 0)
    records = []
    for n, row in enumerate(body):
        line = n + start
        if len(row) <= needed:
            raise LabelFormatError(f"{path}: line {line} has {len(row)} column(s); expected an id and a label")
        rid = row[columns["id"]] if own_ids else f"{task_name_for(path)}_{n + 1}"
        if not rid:
            raise LabelFormatError(f"{path}: line {line} has an empty id")
        cells = {name: row[i] for name, i in columns.items() if 0 <= i < len(row)}
        part = _set_name(path, rid, cells.get("set") or None, cells.get("validation") or None)
        sequence = cells.get("sequence") or seqs.get(rid, "")
        if sequence:
            sequence = check_sequence(path, rid, sequence)
        elif sequences is not None:
            raise LabelFormatError(f"{path}: record {rid!r} (line {line}) is not in the sequences file {sequences}")
        records.append(RawRecord(rid, sequence, None if part == "pred" else cells.get("label"), part,
                                 cells.get("mask") or None))
    check_unique(path, [r.id for r in records])
    return records, own_ids


HEADER_WORDS = ("label", "labels", "target", "targets", "value", "class", "set", "split", "sequence", "mask",
                "validation")


def _check_header(path, header: list[str], given: list[str]) -> None:
    """A header row (one that names an id or a known column): no column named twice, and an id column
    first (or a sequence column). A row of data is left alone."""
    if header[0] not in ID_COLUMNS and header[0] != "sequence" and not any(c in HEADER_WORDS for c in header):
        return
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise LabelFormatError(f"{path}: the header {given} names the column(s) {repeated} more than once; "
                               "each column must have its own name")
    if header[0] not in ID_COLUMNS and header[0] != "sequence" and any(c in HEADER_WORDS for c in header):
        raise LabelFormatError(f"{path}: the header {given} has no id column first; name the first column one "
                               f"of {', '.join(ID_COLUMNS)} (or give no header: id, label[, set] per line)")


def _tokens(text: str) -> list[str]:
    return [t.strip() for t in text.split(";")]


def infer_kind(records: list[RawRecord], label_map: dict | None = None,
               lengths: dict[str, int] | None = None) -> TaskKind:
    """The task kind the targets look like (see the module docstring); ``lengths`` stand in for
    missing sequences (residues per record, e.g. from the embedding file)."""
    targets = [(r, r.target) for r in records if r.target is not None]
    if not targets:
        raise LabelFormatError("no record has a label (all are SET=pred)")
    size = {r.id: len(r.sequence) or (lengths or {}).get(r.id, 0) for r, _ in targets}
    known = [(r, t) for r, t in targets if size[r.id]]
    per_residue = bool(known) and 2 * sum(len(t) == size[r.id] and ";" not in t for r, t in known) > len(known)
    if per_residue and max(len(t) for _, t in known) > 1:  # e.g. FLIP's binding digits, one per residue
        return TaskKind.RESIDUE_MULTILABEL if label_map is not None else TaskKind.RESIDUE_CLASS
    if label_map is None:
        if all(_numeric(t) for _, t in targets):
            return TaskKind.PROTEIN_VALUE
        if all(all(_numeric(x) for x in _tokens(t)) for _, t in targets):
            return TaskKind.RESIDUE_VALUE
        _refuse_odd_numbers(targets)
        if any(";" in t for _, t in targets):
            return TaskKind.PROTEIN_MULTILABEL
    return TaskKind.PROTEIN_MULTILABEL if label_map is not None else TaskKind.PROTEIN_CLASS


def _refuse_odd_numbers(targets: list[tuple[RawRecord, str]]) -> None:
    """Numbers with a few other values, or with values that look like numbers but are not written as
    decimals (``0x1p3``, ``1_000``, ``1,5``): a value task one odd value would silently turn into classes.
    An error naming the odd records (--kind reads every label as a class)."""
    tokens = [(r.id, x) for r, t in targets for x in _tokens(t)]
    odd = [(rid, x) for rid, x in tokens if not _numeric(x)]
    if not odd or len(odd) == len(tokens):
        return
    few = 10 * len(odd) <= len(tokens)
    if not few and not all(_looks_numeric(x) for _, x in odd):
        return
    shown = ", ".join(f"record {rid!r} ({text[:20]!r})" for rid, text in odd[:5]) + (" ..." if len(odd) > 5 else "")
    raise LabelFormatError(f"{len(tokens) - len(odd)} of {len(tokens)} label values are numbers but {len(odd)} "
                           f"are not: {shown}; write them as decimal numbers (12, -0.5, 3e-4), or give `kind` to "
                           "read every label as a class")


def _looks_numeric(text: str) -> bool:
    """Python would read it as a number (hex float, underscores) or it is digits with a decimal comma."""
    try:
        float(text)
        return True
    except ValueError:
        pass
    try:
        float.fromhex(text)
        return True
    except ValueError:
        return re.fullmatch(r"[+-]?[\d.,_]*\d[\d.,_]*([eE][+-]?\d+)?", text.strip()) is not None


def _numeric(text: str) -> bool:
    """A decimal number, or nan/inf (meant as numbers; refused as not finite when read)."""
    return is_number(text) or text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity")


def _number(path, record_id: str, text: str) -> float:
    if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise LabelFormatError(f"{path}: record {record_id!r}: value {text!r} is not finite (mark residues "
                               "without a value with MASK= 0 instead)")
    try:
        return parse_number(path, record_id, text)
    except LabelFormatError as err:
        raise LabelFormatError(f"{err} (this is a value task; give `kind` to read the labels as classes)") from None


def _mask(path, record: RawRecord, length: int) -> np.ndarray | None:
    """True where a residue is scored; None when no mask is given."""
    if record.mask is None:
        return None
    if len(record.mask) != length:
        raise LabelFormatError(f"{path}: record {record.id!r}: MASK has {len(record.mask)} characters but the "
                               f"sequence has {length} residues")
    if set(record.mask) - {"0", "1"}:
        raise LabelFormatError(f"{path}: record {record.id!r}: MASK holds {sorted(set(record.mask) - {'0', '1'})}; "
                               "only 0 and 1 are allowed")
    return np.frombuffer(record.mask.encode(), dtype=np.uint8) == ord("1")


def _residue_length(path, record: RawRecord, n_labels: int, lengths: dict[str, int] | None) -> int:
    """The residue count a per-residue target must match (both lengths named when it does not)."""
    expected = len(record.sequence) or (lengths or {}).get(record.id)
    if expected is not None and expected != n_labels:
        where = "sequence" if record.sequence else "embedding"
        raise LabelFormatError(f"{path}: record {record.id!r}: {n_labels} labels but the {where} has "
                               f"{expected} residues")
    return n_labels


def _label_sets(path, label_map: dict) -> dict[str, tuple[str, ...]]:
    out = {}
    for key, value in label_map.items():
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
            raise LabelFormatError(f"label map: {key!r} must map to a label name or a list of names, got {value!r}")
        out[str(key)] = tuple(n for n in names if n)
    return out


def parse_label_map(text: str) -> dict:
    """``--label-map``: a JSON object (inline, or the path of a JSON file) class -> label(s)."""
    source = text
    if not text.lstrip().startswith("{"):
        source = read_text(Path(text))
    try:
        value = json.loads(source)
    except json.JSONDecodeError as err:
        raise LabelFormatError(f"`label_map` {text[:60]!r}: not a JSON object ({err})") from err
    if not isinstance(value, dict) or not value:
        raise LabelFormatError(f"`label_map` {text[:60]!r}: expected a JSON object class -> label(s)")
    return value


def build_label_set(records: list[RawRecord], path: str | os.PathLike, *, kind: TaskKind | str | None = None,
                    task_name: str | None = None, label_map: dict | None = None,
                    lengths: dict[str, int] | None = None, native_ids: bool = True) -> LabelSet:
    """Turn raw records into targets of one task (kind inferred unless given)."""
    if not records:
        raise LabelFormatError(f"{path}: no records")
    name = task_name or task_name_for(path)
    problem = task_name_problem(name)
    if problem:
        given = "the task name" if task_name else f"the task name {name!r} (from the file name)"
        raise LabelFormatError(f"{path}: {given} {name!r} {problem}; choose another (`task_name`)"
                               if task_name else f"{path}: {given} {problem}; name the task with `task_name`")
    try:
        task_kind = TaskKind(kind) if kind is not None else infer_kind(records, label_map, lengths)
    except LabelFormatError as err:  # before ValueError, which it is too
        raise LabelFormatError(f"{path}: {err}") from None
    except ValueError:
        raise LabelFormatError(f"unknown task kind {kind!r}") from None
    groups = _label_sets(path, label_map) if label_map is not None else None
    out = LabelSet(sources=[str(path)], native_ids=native_ids)
    labelled = [r for r in records if r.target is not None]
    for r in records:
        out.sequences[r.id] = r.sequence
        if r.set is not None:
            out.partition[r.id] = r.set
    classes: tuple[str, ...] = ()
    if task_kind.target == "value":
        targets = _value_targets(path, labelled, task_kind, lengths)
    else:
        classes, targets = _class_targets(path, labelled, task_kind, groups, lengths)
        _warn_test_only(path, name, task_kind, classes, labelled, targets)
    out.labels[name] = targets
    spec = TaskSpec(name, task_kind, classes, description=f"{task_kind.value} from {Path(path).name}",
                    label_map={k: list(v) for k, v in groups.items()} if groups is not None else None)
    out.specs[name] = spec
    counts = Counter(r.set or "unmarked" for r in records)
    logger.info("%s: task %r (%s%s), %d records: %s", path, name, task_kind.value,
                f", {len(classes)} classes" if classes else "", len(records),
                ", ".join(f"{k} {v}" for k, v in counts.items()))
    return out


def _value_targets(path: str | os.PathLike, labelled: list[RawRecord], task_kind: TaskKind,
                   lengths: dict[str, int] | None) -> dict[str, object]:
    """Targets of a value task: a float per protein, or ``[L]`` floats per residue (NaN = masked)."""
    targets: dict[str, object] = {}
    for r in labelled:
        if task_kind.level == "protein":
            if r.mask is not None:
                logger.warning("%s: record %r: MASK= is ignored for a per-protein task", path, r.id)
            targets[r.id] = _number(path, r.id, r.target)  # type: ignore[arg-type]
        else:
            values = np.array([_number(path, r.id, t) for t in _tokens(r.target or "")])
            mask = _mask(path, r, _residue_length(path, r, len(values), lengths))
            targets[r.id] = values if mask is None else np.where(mask, values, np.nan)
    return targets


def _class_targets(path: str | os.PathLike, labelled: list[RawRecord], task_kind: TaskKind,
                   groups: dict[str, tuple[str, ...]] | None, lengths: dict[str, int] | None
                   ) -> tuple[tuple[str, ...], dict[str, object]]:
    """Class names and targets of a class or multi-label task (per protein or per residue).

    Classes: an index per protein, or ``[L]`` indices per residue (IGNORE = masked).
    Multi-label: ``[C]`` 0/1 per protein, or ``[L, C]`` per residue (NaN = masked).
    """
    per_residue = task_kind.level == "residue"
    pieces: dict[str, list[str]] = {}
    for r in labelled:
        text = r.target or ""
        if not text and not (task_kind.target == "multilabel" and not per_residue):
            raise LabelFormatError(f"{path}: record {r.id!r} has an empty label")
        pieces[r.id] = list(text) if per_residue else ([text] if groups is not None or
                                                         task_kind.target == "class" else
                                                         [t for t in _tokens(text) if t])
        if per_residue:
            _residue_length(path, r, len(text), lengths)
    if groups is not None:
        unknown = sorted({p for ps in pieces.values() for p in ps} - set(groups))
        if unknown:
            rid = next(i for i, ps in pieces.items() if unknown[0] in ps)
            raise LabelFormatError(f"{path}: record {rid!r}: class {unknown[0]!r} is not in the label map "
                                   f"(it maps {sorted(groups)})")
        names = sorted({n for g in groups.values() for n in g})
    else:
        names = sorted({p for ps in pieces.values() for p in ps})
    classes = tuple(names)
    index = {c: i for i, c in enumerate(classes)}
    targets: dict[str, object] = {}
    for r in labelled:
        ps = pieces[r.id]
        if task_kind.target == "class":
            value = np.fromiter((index[p] for p in ps), dtype=np.int64, count=len(ps))
        else:
            value = np.zeros((len(ps) if per_residue else 1, len(classes)), dtype=np.float32)
            for i, p in enumerate(ps):
                for label in (groups[p] if groups is not None else ([p] if per_residue else ps)):
                    value[i if per_residue else 0, index[label]] = 1.0
        mask = _mask(path, r, len(ps)) if per_residue else None
        if not per_residue:
            if r.mask is not None:
                logger.warning("%s: record %r: MASK= is ignored for a per-protein task", path, r.id)
            targets[r.id] = int(value[0]) if task_kind.target == "class" else value[0]
        elif task_kind.target == "class":
            targets[r.id] = value if mask is None else np.where(mask, value, IGNORE)
        else:
            targets[r.id] = value if mask is None else np.where(mask[:, None], value, np.nan).astype(np.float32)
    return classes, targets


def _warn_test_only(path, name: str, kind: TaskKind, classes: tuple[str, ...], labelled: list[RawRecord],
                    targets: dict) -> None:
    """Warn about classes that only test records have: no head can learn them from this file."""
    if not any(r.set for r in labelled):
        return
    seen: dict[str, set[int]] = {"fit": set(), "test": set()}
    for r in labelled:
        value = np.asarray(targets[r.id])
        present = (set(value[value != IGNORE].ravel().tolist()) if kind.target == "class"
                   else set(np.flatnonzero(np.nan_to_num(value.reshape(-1, len(classes))).sum(0) > 0).tolist()))
        seen["test" if (r.set or "").startswith("test") else "fit"].update(present)
    only = sorted(seen["test"] - seen["fit"])
    if only:
        logger.warning("%s: task %r: class(es) %s occur only in test records; the head cannot learn them "
                       "(they count as errors in the test metrics)", path, name, [classes[i] for i in only])


def detect_user_format(path: Path, first_line: str) -> str | None:
    """``biotrainer``, ``biotrainer-labels`` or ``csv`` from a file's first line, else None."""
    if first_line.startswith(">"):
        text = read_text(path)
        headers = [line for line in text.splitlines() if line.startswith(">")]
        if any(re.search(r"(^|\s)TARGET=", h) for h in headers):
            return "biotrainer"
        if any(re.search(r"(^|\s)(SET|VALIDATION)=", h) for h in headers):
            return "biotrainer-labels"
        return None
    cells = [c.strip().lower() for c in re.split(r"[,\t]", first_line)]
    if cells and (cells[0] in ID_COLUMNS or cells[0] == "sequence") and len(cells) >= 2:
        return "csv"
    if Path(path).suffix.lower().removesuffix(".gz") in (".csv", ".tsv") and len(cells) >= 2:
        return "csv"
    return None


def read_user_labels(path: str | os.PathLike, fmt: str, *, kind: TaskKind | str | None = None,
                     task_name: str | None = None, sequences: str | os.PathLike | None = None,
                     masks: str | os.PathLike | None = None, label_map: dict | None = None,
                     lengths: dict[str, int] | None = None) -> LabelSet:
    """Read one user label file of format ``fmt`` (one of ``USER_FORMATS``) into a one-task label set."""
    path = Path(path)
    seq_path = Path(sequences) if sequences is not None else None
    native = True
    if fmt == "biotrainer":
        records = read_biotrainer(path)
    elif fmt == "biotrainer-labels":
        if seq_path is None and not lengths:
            beside = path.with_name("sequences.fasta")
            if beside.is_file() and beside != path:
                logger.info("%s: reading the sequences from %s beside it (give --sequences to choose)", path, beside)
                seq_path = beside
        records = read_biotrainer_labels(path, seq_path, Path(masks) if masks is not None else None, lengths)
    elif fmt == "csv":
        records, native = read_csv_labels(path, seq_path)
    else:
        raise LabelFormatError(f"unknown user label format {fmt!r}; choose from {', '.join(USER_FORMATS)}")
    return build_label_set(records, path, kind=kind, task_name=task_name, label_map=label_map,
                           lengths=lengths, native_ids=native)


def align_classes(labels: LabelSet, task: str, spec: TaskSpec) -> LabelSet:
    """Re-index a user task's class targets to ``spec.classes`` (the head's order).

    A class (or label) the head does not know is an error naming it and a record.
    """
    mine = labels.specs.get(task)
    if mine is None or mine.kind.target == "value" or mine.classes == spec.classes:
        return labels
    if mine.kind != spec.kind:
        raise LabelFormatError(f"{', '.join(labels.sources)}: task {task!r} reads as {mine.kind.value}, the head "
                               f"predicts {spec.kind.value} (give `kind` {spec.kind.value})")
    unknown = [c for c in mine.classes if c not in spec.classes]
    old = labels.labels[task]
    if unknown and spec.kind.target == "multilabel" and not set(mine.classes) & set(spec.classes):
        raise LabelFormatError(f"{', '.join(labels.sources)}: task {task!r} holds {', '.join(mine.classes)}; the "
                               f"head predicts the labels {', '.join(spec.classes)}. If a label map turned the "
                               "file's classes into these labels in training, give it again (`label_map`): this "
                               "head was saved without its map (heads trained by newer seqvec keep it)")
    if unknown:
        position = mine.classes.index(unknown[0])
        rid = next(i for i, v in old.items() if _has_class(v, position, mine.kind))
        raise LabelFormatError(f"{', '.join(labels.sources)}: record {rid!r} has class {unknown[0]!r}, which the "
                               f"head never saw in training (its classes: {', '.join(spec.classes)})")
    order = np.array([spec.classes.index(c) for c in mine.classes])
    new: dict[str, object] = {}
    for rid, v in old.items():
        if mine.kind.target == "class":
            a = np.asarray(v)
            mapped = np.where(a == IGNORE, IGNORE, order[np.maximum(a, 0)])
            new[rid] = int(mapped) if a.ndim == 0 else mapped
        else:
            a = np.asarray(v, dtype=np.float32)
            out = np.zeros(a.shape[:-1] + (len(spec.classes),), dtype=np.float32)
            out[..., order] = a
            out[np.isnan(a).any(-1)] = np.nan
            new[rid] = out
    labels.labels[task] = new
    labels.specs[task] = spec
    return labels


def _has_class(value, position: int, kind: TaskKind) -> bool:
    a = np.asarray(value)
    return bool((a == position).any()) if kind.target == "class" else bool(np.nan_to_num(a)[..., position].any())
