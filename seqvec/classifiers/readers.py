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
import gzip
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqvec.classifiers.tasks import DEEPLOC_CLASSES, IGNORE, SS3_CLASSES, SS8_CLASSES
from seqvec.errors import LabelFormatError
from seqvec.io import iter_records

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
    labels: dict[str, dict] = field(default_factory=dict)  # task -> id -> int or int64 array [L]
    partition: dict[str, str] = field(default_factory=dict)  # id -> train / validation / test, where marked
    sources: list[str] = field(default_factory=list)
    defines_proteins: bool = True  # False: only adds labels to proteins of other files (JSON)
    native_ids: bool = True  # False: ids were made up here (CSV files), so records join others by sequence

    @property
    def ids(self) -> list[str]:
        return list(self.sequences)

    def tasks(self) -> list[str]:
        """Tasks with at least one label."""
        return [t for t, values in self.labels.items() if values]


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path, newline="")


def _fasta(path: Path) -> list[tuple[str, str, str]]:
    """(id, rest of header, upper-case sequence) per record."""
    records = []
    for title, seq in iter_records(path):
        rid, _, rest = title.strip().partition(" ")
        records.append((rid, rest.strip(), seq.upper()))
    return records


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
        if not rest.isdigit() or int(rest) >= len(DEEPLOC_NUMERIC):
            raise LabelFormatError(f"{path}: record {rid!r}: header {rest!r} is not a class code 0-9")
        out.sequences[rid] = seq
        out.labels["localization"][rid] = DEEPLOC_CLASSES.index(DEEPLOC_NUMERIC[int(rest)])
    return out


def read_deeploc_json(path: Path) -> LabelSet:
    """``{"ID": "Nucleus", ...}`` (q10) or ``{"ID": "M", ...}`` (q2): labels only, no sequences."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise LabelFormatError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict) or not data:
        raise LabelFormatError(f"{path}: expected a non-empty JSON object id -> label")
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


def read_netsurfp_csv(path: Path) -> LabelSet:
    """NetSurfP-2.0 / ProtTrans CSV (``CB513_HHblits.csv``): ss3, ss8, disorder."""
    out = LabelSet(labels={"ss3": {}, "ss8": {}, "disorder": {}}, sources=[str(path)], native_ids=False)
    with _open_text(path) as handle:
        rows = csv.reader(handle, skipinitialspace=True)
        header = [h.strip() for h in next(rows)]
        col = {name: header.index(name) for name in ("input", "dssp3", "dssp8", "disorder")}
        mask_col = header.index("cb513_mask") if "cb513_mask" in header else None
        for n, row in enumerate(rows, start=1):
            rid = f"{Path(path).stem}_{n}"
            seq, ss3, ss8, resolved = (row[col[k]].split() for k in ("input", "dssp3", "dssp8", "disorder"))
            extra = {"cb513_mask": row[mask_col].split()} if mask_col is not None else {}
            _same_length(path, rid, seq, dssp3=ss3, dssp8=ss8, disorder=resolved, **extra)
            is_resolved = np.asarray(resolved, dtype=float) > 0.5
            scored = is_resolved & (np.asarray(extra["cb513_mask"], dtype=float) > 0.5 if extra else True)
            out.sequences[rid] = "".join(seq).upper()
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
    sampled = {rid: (rest, lab) for rid, rest, lab in _fasta(files["sampled.fasta"])}
    masks = {rid: m for rid, _, m in _fasta(files["mask.fasta"])}
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
    with _open_text(path) as handle:
        for n, row in enumerate(csv.DictReader(handle), start=1):
            rid = f"{Path(path).stem}_{n}"
            seq = row["seq"].strip().upper()
            _same_length(path, rid, seq, sst3=row["sst3"].strip(), sst8=row["sst8"].strip())
            out.sequences[rid] = seq
            out.labels["ss3"][rid] = _classes(rid, path, row["sst3"].strip(), SS3_CLASSES)
            out.labels["ss8"][rid] = _classes(rid, path, row["sst8"].strip(), SS8_CLASSES)
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
    with open(scores_path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            rid, sep, values = line.partition(":")
            try:
                z = np.array([float(v) for v in values.split(",")])
            except ValueError as err:
                raise LabelFormatError(f"{scores_path}:{line_no}: {err}") from err
            rid = rid.strip()
            if not sep or not rid:
                raise LabelFormatError(f"{scores_path}:{line_no}: expected 'ID:<TAB>scores'")
            if seqs:
                if rid not in seqs:
                    raise LabelFormatError(f"{scores_path}: record {rid!r} is not in {fasta_path.name}")
                _same_length(scores_path, rid, seqs[rid], scores=z)
            out.sequences[rid] = seqs.get(rid, "")
            out.labels["disorder"][rid] = np.where(z == CHEZOD_MISSING, IGNORE,
                                                   (z < CHEZOD_DISORDER_BELOW).astype(np.int64))
    return out


READERS = {"deeploc": read_deeploc, "deeploc-numeric": read_deeploc_numeric, "deeploc-json": read_deeploc_json,
           "netsurfp-csv": read_netsurfp_csv, "flip": read_flip, "tape-csv": read_tape_csv, "chezod": read_chezod}
