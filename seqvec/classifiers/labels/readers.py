"""Readers for the native label files of the benchmark data sets.

Every reader returns a :class:`LabelSet`: sequences, targets per task (class indices;
per-residue arrays use ``IGNORE`` = -1 for residues that are not scored) and the
partition a file marks (``test`` in DeepLoc headers, ``validation`` in FLIP headers).

=================  ==========================================================  ======================
format             file                                                        tasks
=================  ==========================================================  ======================
``deeploc``        FASTA, header ``>ID Location-M|S|U [test]``                 localization, membrane
``deeploc-numeric`` FASTA, header ``>ID 6`` (class code 0-9, rdedhia/tape)      localization
``deeploc-json``   JSON ``{"ID": "Nucleus"}`` or ``{"ID": "M"}`` (adds labels) localization or membrane
``netsurfp-csv``   CSV ``input, dssp3, dssp8, disorder[, cb513_mask]``         ss3, ss8, disorder
``flip``           folder (or one file) of sequences/sampled/mask.fasta        ss3, disorder
``tape-csv``       CSV ``seq,sst3,sst8``                                       ss3, ss8
``chezod``         ``ID:<TAB>z, z, ...`` scores + ``*_sequences.fasta``          disorder
=================  ==========================================================  ======================

Scoring conventions (what is ``IGNORE``):

- DeepLoc: membrane ``U`` has no membrane label; the dual label ``Cytoplasm-Nucleus``
  (23 proteins of the LA validation set) is not one of the ten classes and gets no
  localization label (the count is logged). A protein left without any label for the
  tasks at hand is dropped when a dataset is built.
- NetSurfP CSV: secondary structure is scored where the residue is resolved
  (``disorder == 1.0``) and, if the file has it, ``cb513_mask == 1.0``. Disorder
  (NetSurfP's definition: unresolved in the structure, ``disorder == 0.0`` -> class
  ``disordered``) is defined at every residue; the CB513 mask is not applied to it, as it
  removes 84% of the disordered residues.
- FLIP: 3-state scored where ``mask == 1``; disorder = ``mask == 0`` at every residue.
- TAPE CSV: every residue is scored (the file has no resolved mask).
- CheZOD: disorder = Z-score below 8; ``999`` (no score) is not scored.

Files without ids (the CSVs) get ids ``<file stem>_<record number from 1>``.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqvec.classifiers.labels.tasks import DEEPLOC_CLASSES, IGNORE, SS3_CLASSES, SS8_CLASSES, TaskSpec
from seqvec.errors import LabelFormatError
from seqvec.io import iter_records, open_input

logger = logging.getLogger(__name__)

DEEPLOC_NUMERIC = ("Cell.membrane", "Cytoplasm", "Endoplasmic.reticulum", "Golgi.apparatus",
                   "Lysosome/Vacuole", "Mitochondrion", "Nucleus", "Peroxisome", "Plastid", "Extracellular")
MEMBRANE = {"M": 0, "S": 1}  # TASKS["membrane"].classes = ("membrane", "soluble"); U = unknown
DUAL_LOCATION = "Cytoplasm-Nucleus"
FLIP_FILES = ("sequences.fasta", "sampled.fasta", "mask.fasta")
CHEZOD_DISORDER_BELOW = 8.0
CHEZOD_MISSING = 999.0


@dataclass
class LabelSet:
    """Sequences and targets read from one or more label files."""

    sequences: dict[str, str] = field(default_factory=dict)  # id -> sequence ("" = not in the file)
    labels: dict[str, dict] = field(default_factory=dict)  # task -> id -> target (see tasks.TaskKind)
    # id -> train / validation / test (or test2, ...: named test sets) / pred (predict only), where marked
    partition: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    defines_proteins: bool = True  # False: only adds labels to proteins of other files (JSON)
    native_ids: bool = True  # False: ids were made up here (CSV files), so records join others by sequence
    specs: dict[str, TaskSpec] = field(default_factory=dict)  # the tasks a user's file defines (not presets)

    @property
    def ids(self) -> list[str]:
        return list(self.sequences)

    def tasks(self) -> list[str]:
        """Tasks with at least one label."""
        return [t for t, values in self.labels.items() if values]


def read_text(path: Path) -> str:
    """A label file's text (gunzipped when gzip by content), UTF-8; every problem a :class:`LabelFormatError`."""
    if Path(path).is_dir():
        raise LabelFormatError(f"{path} is a folder, not a label file")
    try:
        with open_input(path) as stream:
            data = stream.read()
    except (OSError, EOFError, zlib.error) as err:
        raise LabelFormatError(f"cannot read label file {path}: {err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise LabelFormatError(f"{path}: not UTF-8 text: byte {data[err.start]:#04x} at offset {err.start} "
                               f"(line {line})") from None
    if "\x00" in text:
        offset = text.index("\x00")
        raise LabelFormatError(f"{path}: NUL byte at character {offset} (line {text.count(chr(10), 0, offset) + 1}): "
                               "not a text file")
    # Excel writes a byte-order mark and CRLF line ends: read them as the text they stand for
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def check_unique(path: Path | str, ids: list[str]) -> None:
    """Raise naming the file and the ids that occur more than once."""
    seen: set[str] = set()
    repeated = list(dict.fromkeys(i for i in ids if i in seen or seen.add(i)))  # type: ignore[func-returns-value]
    if repeated:
        shown = ", ".join(map(repr, repeated[:10])) + (f" and {len(repeated) - 10} more" if len(repeated) > 10 else "")
        raise LabelFormatError(f"{path}: duplicate record ids {shown}: each protein may be labelled once")


def fasta_records(path: Path) -> list[tuple[str, str, str]]:
    """(id, rest of header, body with whitespace removed) per record (:func:`seqvec.io.iter_records`); ids unique.

    The body is returned as written (labels files hold labels, not residues).
    """
    records: list[tuple[str, str, str]] = []
    for title, body in iter_records(path):
        rid, _, rest = title.strip().partition(" ")
        if not rid:
            raise LabelFormatError(f"{path}: record {len(records) + 1} has an empty header")
        if any(ord(c) < 32 and c != "\t" for c in title):
            raise LabelFormatError(f"{path}: record {rid!r}: control character in the header")
        records.append((rid, rest.strip(), "".join(body.split())))
    check_unique(path, [r[0] for r in records])
    return records


def check_sequence(path: Path | str, record_id: str, sequence: str) -> str:
    """The sequence upper-cased; an error naming the record for an empty one or a character outside A-Z."""
    upper = sequence.upper()
    if not upper:
        raise LabelFormatError(f"{path}: record {record_id!r} has an empty sequence")
    bad = next((i for i, c in enumerate(upper) if not ("A" <= c <= "Z")), None)
    if bad is not None:
        raise LabelFormatError(f"{path}: record {record_id!r}: character {upper[bad]!r} at position {bad + 1} "
                               "is not a residue letter (A-Z)")
    return upper


def _fasta(path: Path) -> list[tuple[str, str, str]]:
    """(id, rest of header, upper-case sequence) per record."""
    return [(rid, rest, check_sequence(path, rid, seq)) for rid, rest, seq in fasta_records(path)]


def _csv_rows(path: Path) -> list[list[str]]:
    text = read_text(path)
    try:
        return [row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]
    except csv.Error as err:
        raise LabelFormatError(f"{path}: not valid CSV ({err})") from err


def _classes(record_id: str, path: Path, letters: Sequence[str], alphabet: tuple[str, ...]) -> np.ndarray:
    index = {c: i for i, c in enumerate(alphabet)}
    bad = sorted(set(letters) - set(index))
    if bad:
        raise LabelFormatError(f"{path}: record {record_id!r} has labels {bad} outside {''.join(alphabet)}")
    return np.fromiter((index[c] for c in letters), dtype=np.int64, count=len(letters))


def _same_length(path: Path, record_id: str, sequence: Sequence[str], **fields) -> None:
    for name, values in fields.items():
        if len(values) != len(sequence):
            raise LabelFormatError(f"{path}: record {record_id!r} has {len(sequence)} residues but "
                                   f"{len(values)} {name} values")


def read_deeploc(path: Path) -> LabelSet:
    """``>ID Location-M|S|U [test]`` headers: localization and membrane labels."""
    out = LabelSet(labels={"localization": {}, "membrane": {}}, sources=[str(path)])
    dual = 0
    for rid, rest, seq in _fasta(path):
        tokens = rest.split()
        match = re.fullmatch(r"(.+)-([MSU])", tokens[0]) if tokens else None
        if not match:
            raise LabelFormatError(f"{path}: record {rid!r}: header {rest!r} is not 'Location-M|S|U'")
        location, membrane = match.groups()
        out.sequences[rid] = seq
        if location == DUAL_LOCATION:
            dual += 1
        elif location in DEEPLOC_CLASSES:
            out.labels["localization"][rid] = DEEPLOC_CLASSES.index(location)
        else:
            raise LabelFormatError(f"{path}: record {rid!r}: unknown location {location!r}")
        if membrane in MEMBRANE:
            out.labels["membrane"][rid] = MEMBRANE[membrane]
        if "test" in tokens[1:]:
            out.partition[rid] = "test"
    if dual:
        logger.info("%s: %d proteins labelled %r get no localization label (not one of the 10 classes)",
                    path.name, dual, DUAL_LOCATION)
    return out


def read_deeploc_numeric(path: Path) -> LabelSet:
    """``>ID 6`` headers (class codes of rdedhia/tape): localization labels."""
    out = LabelSet(labels={"localization": {}}, sources=[str(path)])
    for rid, rest, seq in _fasta(path):
        if not (rest.isascii() and rest.isdigit()) or int(rest) >= len(DEEPLOC_NUMERIC):
            raise LabelFormatError(f"{path}: record {rid!r}: header {rest!r} is not a class code 0-9")
        out.sequences[rid] = seq
        out.labels["localization"][rid] = DEEPLOC_CLASSES.index(DEEPLOC_NUMERIC[int(rest)])
    return out


def read_deeploc_json(path: Path) -> LabelSet:
    """``{"ID": "Nucleus", ...}`` (q10) or ``{"ID": "M", ...}`` (q2): labels only, no sequences."""
    def unique_keys(pairs: list[tuple[str, object]]) -> dict:
        check_unique(path, [k for k, _ in pairs])
        return dict(pairs)

    try:
        data = json.loads(read_text(path), object_pairs_hook=unique_keys)
    except json.JSONDecodeError as err:
        raise LabelFormatError(f"{path}: not valid JSON ({err})") from err
    except RecursionError:
        raise LabelFormatError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict) or not data:
        raise LabelFormatError(f"{path}: expected a non-empty JSON object id -> label")
    odd_type = next(((k, v) for k, v in data.items() if not isinstance(v, str)), None)
    if odd_type:
        raise LabelFormatError(f"{path}: record {odd_type[0]!r}: label {json.dumps(odd_type[1])[:60]} is not a string "
                               "(expected a DeepLoc location or M/S/U)")
    values = set(data.values())
    out = LabelSet(sources=[str(path)], defines_proteins=False)
    if values <= {"M", "S", "U"}:
        out.labels["membrane"] = {k: MEMBRANE[v] for k, v in data.items() if v in MEMBRANE}
    elif values <= set(DEEPLOC_CLASSES) | {DUAL_LOCATION}:
        out.labels["localization"] = {k: DEEPLOC_CLASSES.index(v) for k, v in data.items() if v != DUAL_LOCATION}
    else:
        odd = sorted(values - set(DEEPLOC_CLASSES) - {"M", "S", "U"})[:5]
        raise LabelFormatError(f"{path}: values {odd} are neither DeepLoc locations nor M/S/U")
    out.sequences = {k: "" for k in data}
    return out


def _numbers(path: Path, record_id: str, column: str, values: list[str]) -> np.ndarray:
    return np.asarray([parse_number(path, record_id, v, f"{column} value") for v in values], dtype=float)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def parse_number(path: str | os.PathLike, record_id: str, text: str, what: str = "value") -> float:
    """``text`` as a number, or a LabelFormatError naming the record: only decimal numbers as people
    write them (:data:`NUMBER`), finite and within float32 (training computes in float32)."""
    if not is_number(text):
        raise LabelFormatError(f"{path}: record {record_id!r}: {what} {text!r} is not a number (write decimal "
                               "numbers such as 12, -0.5 or 3e-4)")
    value = float(text)
    if abs(value) > FLOAT32_MAX:
        raise LabelFormatError(f"{path}: record {record_id!r}: {what} {text!r} is beyond the float32 range "
                               f"(+-{FLOAT32_MAX:.3g}) that training computes in")
    return value


# a number as people write one: 12, -0.5, .5, 3e-4 (not 0x1p3, 1_000, nan, inf or infinity, which float() takes)
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def is_number(text: str) -> bool:
    """True when ``text`` is a decimal number as people write one (see :data:`NUMBER`)."""
    return NUMBER.fullmatch(text.strip()) is not None


def read_netsurfp_csv(path: Path) -> LabelSet:
    """NetSurfP-2.0 / ProtTrans CSV (``CB513_HHblits.csv``): ss3, ss8, disorder."""
    out = LabelSet(labels={"ss3": {}, "ss8": {}, "disorder": {}}, sources=[str(path)], native_ids=False)
    rows = _csv_rows(path)
    if not rows:
        raise LabelFormatError(f"{path}: file is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("input", "dssp3", "dssp8", "disorder") if c not in header]
    if missing:
        raise LabelFormatError(f"{path}: header lacks column(s) {', '.join(missing)} (found {header[:8]})")
    col = {name: header.index(name) for name in ("input", "dssp3", "dssp8", "disorder")}
    mask_col = header.index("cb513_mask") if "cb513_mask" in header else None
    if len(rows) < 2:
        raise LabelFormatError(f"{path}: a header but no records")
    for n, row in enumerate(rows[1:], start=1):
        rid = f"{Path(path).stem}_{n}"
        if len(row) < len(header):
            raise LabelFormatError(f"{path}: record {n} (line {n + 1}) has {len(row)} columns, the header {len(header)}")
        seq, ss3, ss8, resolved = (row[col[k]].split() for k in ("input", "dssp3", "dssp8", "disorder"))
        extra = {"cb513_mask": row[mask_col].split()} if mask_col is not None else {}
        _same_length(path, rid, seq, dssp3=ss3, dssp8=ss8, disorder=resolved, **extra)
        sequence = check_sequence(path, rid, "".join(seq))
        is_resolved = _numbers(path, rid, "disorder", resolved) > 0.5
        scored = is_resolved & (_numbers(path, rid, "cb513_mask", extra["cb513_mask"]) > 0.5 if extra else True)
        out.sequences[rid] = sequence
        out.labels["ss3"][rid] = np.where(scored, _classes(rid, path, ss3, SS3_CLASSES), IGNORE)
        out.labels["ss8"][rid] = np.where(scored, _classes(rid, path, ss8, SS8_CLASSES), IGNORE)
        out.labels["disorder"][rid] = (~is_resolved).astype(np.int64)
    return out


def read_flip(path: Path) -> LabelSet:
    """FLIP secondary-structure split: ``sequences``/``sampled``/``mask.fasta`` in one folder."""
    folder = path if path.is_dir() else path.parent
    files = {name: folder / name for name in FLIP_FILES}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise LabelFormatError(f"FLIP format needs {', '.join(FLIP_FILES)}; missing {', '.join(missing)}")
    seqs = {rid: seq for rid, _, seq in _fasta(files["sequences.fasta"])}
    sampled = {rid: (rest, lab.upper()) for rid, rest, lab in fasta_records(files["sampled.fasta"])}
    masks = {rid: m for rid, _, m in fasta_records(files["mask.fasta"])}
    if not (seqs.keys() == sampled.keys() == masks.keys()):
        odd = sorted(set(seqs) ^ set(sampled) | set(seqs) ^ set(masks))[:5]
        raise LabelFormatError(f"{folder}: the three FLIP files hold different ids, e.g. {odd}")
    out = LabelSet(labels={"ss3": {}, "disorder": {}}, sources=[str(folder)])
    for rid, seq in seqs.items():
        header, ss3 = sampled[rid]
        _same_length(folder, rid, seq, sampled=ss3, mask=masks[rid])
        resolved = np.frombuffer(masks[rid].encode(), dtype=np.uint8) == ord("1")
        out.sequences[rid] = seq
        out.labels["ss3"][rid] = np.where(resolved, _classes(rid, folder, ss3, SS3_CLASSES), IGNORE)
        out.labels["disorder"][rid] = (~resolved).astype(np.int64)
        if "SET=test" in header:
            out.partition[rid] = "test"
        elif "VALIDATION=True" in header:
            out.partition[rid] = "validation"
        else:
            out.partition[rid] = "train"
    return out


def read_tape_csv(path: Path) -> LabelSet:
    """TAPE secondary-structure CSV ``seq,sst3,sst8``: ss3 and ss8 at every residue."""
    out = LabelSet(labels={"ss3": {}, "ss8": {}}, sources=[str(path)], native_ids=False)
    rows = _csv_rows(path)
    header = [h.strip() for h in rows[0]] if rows else []
    if not {"seq", "sst3", "sst8"} <= set(header):
        raise LabelFormatError(f"{path}: expected a header with seq, sst3, sst8 (found {header[:8]})")
    if len(rows) < 2:
        raise LabelFormatError(f"{path}: a header but no records")
    col = {name: header.index(name) for name in ("seq", "sst3", "sst8")}
    for n, row in enumerate(rows[1:], start=1):
        rid = f"{Path(path).stem}_{n}"
        if len(row) <= max(col.values()):
            raise LabelFormatError(f"{path}: record {n} (line {n + 1}) has {len(row)} columns, expected {len(header)}")
        seq = check_sequence(path, rid, row[col["seq"]].strip())
        sst3, sst8 = row[col["sst3"]].strip(), row[col["sst8"]].strip()
        _same_length(path, rid, seq, sst3=sst3, sst8=sst8)
        out.sequences[rid] = seq
        out.labels["ss3"][rid] = _classes(rid, path, sst3, SS3_CLASSES)
        out.labels["ss8"][rid] = _classes(rid, path, sst8, SS8_CLASSES)
    return out


def chezod_companion(path: Path) -> Path:
    """The other file of a CheZOD pair (``X_sequences.fasta`` <-> ``X_CheZOD_scores.txt``)."""
    if "_CheZOD_scores" in path.name:
        return path.with_name(path.name.split("_CheZOD_scores")[0] + "_sequences.fasta")
    return path.with_name(path.name.rsplit("_sequences", 1)[0] + "_CheZOD_scores.txt")


def read_chezod(path: Path) -> LabelSet:
    """CheZOD scores (``ID:<TAB>z1, z2, ...``; 999 = no score) with the sibling FASTA: disorder."""
    scores_path, fasta_path = (path, chezod_companion(path)) if path.suffix == ".txt" else (chezod_companion(path), path)
    if not scores_path.is_file():
        raise LabelFormatError(f"{path}: CheZOD scores file {scores_path.name} not found beside it")
    seqs = {rid: seq for rid, _, seq in _fasta(fasta_path)} if fasta_path.is_file() else {}
    out = LabelSet(labels={"disorder": {}}, sources=[str(scores_path)])
    for line_no, line in enumerate(read_text(scores_path).splitlines(), start=1):
        if not line.strip():
            continue
        rid, sep, values = line.partition(":")
        rid = rid.strip()
        if not sep or not rid:
            raise LabelFormatError(f"{scores_path}:{line_no}: expected 'ID:<TAB>scores'")
        if rid in out.sequences:
            raise LabelFormatError(f"{scores_path}:{line_no}: duplicate record id {rid!r}: each protein may be "
                                   "labelled once")
        z = _numbers(scores_path, rid, "score", [v.strip() for v in values.split(",")])
        if seqs:
            if rid not in seqs:
                raise LabelFormatError(f"{scores_path}: record {rid!r} is not in {fasta_path.name}")
            _same_length(scores_path, rid, seqs[rid], scores=z)
        out.sequences[rid] = seqs.get(rid, "")
        out.labels["disorder"][rid] = np.where(z == CHEZOD_MISSING, IGNORE,
                                               (z < CHEZOD_DISORDER_BELOW).astype(np.int64))
    if not out.sequences:
        raise LabelFormatError(f"{scores_path}: no records")
    return out


READERS = {"deeploc": read_deeploc, "deeploc-numeric": read_deeploc_numeric, "deeploc-json": read_deeploc_json,
           "netsurfp-csv": read_netsurfp_csv, "flip": read_flip, "tape-csv": read_tape_csv, "chezod": read_chezod}
