"""Reading and validating protein FASTA files.

Policy (DESIGN section 5): every problem is reported before any model work starts, naming
the record and, for bad characters, the 1-based position and the character. Lower case is
upper-cased and one terminal ``*`` (a stop codon) is dropped; each of these fixes is logged
once as a warning that counts the records concerned. Nothing is skipped or truncated.

Record ids: by default the first whitespace-separated word of the header (Biopython's
``record.id``). ``id_field``/``split_char`` select another field, as the ``seqvec`` 0.4
tool did: ``header.split(split_char)[id_field]``.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from Bio.SeqIO.FastaIO import SimpleFastaParser

from seqvec.errors import DuplicateIdError, FastaFormatError, InvalidSequenceError

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_NOT_LETTER = re.compile(r"[^A-Za-z]")


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """Open a text file for reading, gunzipping it if it is gzip-compressed (by content, not name)."""
    path = Path(path)
    if not path.exists():
        raise FastaFormatError(f"input file not found: {path}")
    if path.is_dir():
        raise FastaFormatError(f"input is a directory, not a FASTA file: {path}")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
    if compressed:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline=None)
    return open(path, encoding="utf-8", newline=None)


def parse_id(header: str, id_field: int | None = None, split_char: str | None = None) -> str:
    """The record id of a FASTA header (the text after ``>``).

    Default: the first whitespace-separated word. With ``id_field`` and/or ``split_char``:
    ``header.split(split_char)[id_field]`` (``split_char`` None splits on whitespace,
    ``id_field`` None means 0; negative fields count from the end).
    Raises FastaFormatError if the header has no such field or the id is empty.
    """
    if not header.strip():
        raise FastaFormatError("empty header: no record id")
    if id_field is None and split_char is None:
        fields = header.split(None, 1)
    else:
        fields = header.strip().split(split_char) if split_char is not None else header.split()
    index = 0 if id_field is None else id_field
    try:
        record_id = fields[index].strip()
    except IndexError:
        raise FastaFormatError(
            f"header {header!r} has no field {index} when split on "
            f"{'whitespace' if split_char is None else repr(split_char)} ({len(fields)} fields)") from None
    if not record_id:
        raise FastaFormatError(f"header {header!r} gives an empty record id")
    return record_id


def _records(path: Path) -> Iterator[tuple[str, str]]:
    """(header, sequence) pairs; checks that the file is non-empty text starting with '>'."""
    try:
        with open_text(path) as handle:
            first = ""
            for line in handle:
                if line.strip():
                    first = line
                    break
            if not first:
                raise FastaFormatError(f"input file is empty: {path}")
            if not first.startswith(">"):
                raise FastaFormatError(
                    f"{path} is not FASTA: the first line should start with '>' but is {first.strip()[:60]!r}")
            yield from SimpleFastaParser(_prepend(first, handle))
    except UnicodeDecodeError as err:
        raise FastaFormatError(f"{path} is not a text FASTA file (byte {err.start}: not UTF-8)") from None
    except (OSError, EOFError) as err:  # e.g. a truncated or corrupt .gz
        raise FastaFormatError(f"cannot read {path}: {err}") from None


def _prepend(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest


def read_fasta(path: str | os.PathLike, *, id_field: int | None = None,
               split_char: str | None = None) -> dict[str, str]:
    """Read and validate a protein FASTA file (plain or gzip).

    Returns ``{record id: upper-case sequence}`` in file order. Raises
    :class:`~seqvec.errors.FastaFormatError` (missing, empty, not FASTA, bad header),
    :class:`~seqvec.errors.DuplicateIdError` (all duplicated ids named) or
    :class:`~seqvec.errors.InvalidSequenceError` (empty sequence, character outside A-Z).
    """
    path = Path(path)
    pairs = []
    for number, (header, sequence) in enumerate(_records(path), 1):
        try:
            pairs.append((parse_id(header, id_field, split_char), sequence))
        except FastaFormatError as err:
            raise FastaFormatError(f"{path}, record {number}: {err}") from None
    if not pairs:
        raise FastaFormatError(f"no FASTA records in {path}")
    counts = Counter(record_id for record_id, _ in pairs)
    duplicates = [record_id for record_id, n in counts.items() if n > 1]
    if duplicates:
        raise DuplicateIdError(duplicates)
    sequences = normalize_sequences(dict(pairs))
    logger.info("read %d records (%d residues) from %s", len(sequences),
                sum(map(len, sequences.values())), path)
    return sequences


def normalize_sequences(sequences: dict[str, str]) -> dict[str, str]:
    """Validate sequences and return them upper-cased without a terminal ``*``.

    The same policy as :func:`read_fasta`, for sequences that come from code rather than a file.
    """
    out, lowered, stopped = {}, 0, 0
    for record_id, sequence in sequences.items():
        if sequence.endswith("*"):
            sequence = sequence[:-1]
            stopped += 1
        if not sequence:
            raise InvalidSequenceError(record_id, "empty sequence")
        bad = _NOT_LETTER.search(sequence)
        if bad:
            n_bad = len(_NOT_LETTER.findall(sequence))
            raise InvalidSequenceError(
                record_id, f"invalid character {bad.group()!r} at position {bad.start() + 1} "
                           f"({n_bad} invalid in total; only letters A-Z are allowed)")
        upper = sequence.upper()
        lowered += upper != sequence
        out[record_id] = upper
    if lowered:
        logger.warning("upper-cased lower-case residues in %d record%s", lowered, "s" * (lowered != 1))
    if stopped:
        logger.warning("dropped a terminal '*' from %d record%s", stopped, "s" * (stopped != 1))
    return out


def sequences_digest(sequences: dict[str, str]) -> str:
    """sha256 of the (id, sequence) pairs in order: identifies the input of a run."""
    digest = hashlib.sha256()
    for record_id, sequence in sequences.items():
        digest.update(record_id.encode("utf-8") + b"\t" + sequence.encode("ascii") + b"\n")
    return digest.hexdigest()
