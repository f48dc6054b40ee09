"""The one FASTA reader of seqvec, and the one protein-sequence policy.

Input: a path, or ``-`` for standard input. Gzip is recognised by its content (the magic
bytes), never by the file name, and every read goes once from start to end, so pipes and
``/dev/stdin`` work (:mod:`seqvec.io.scan`, which reads a file twice, copies those first). Text must be UTF-8; an error names the byte offset.

Records: a header line starting with ``>`` and the sequence lines after it. Whitespace
at the ends of a line is ignored (``\\r\\n`` line ends included); whitespace *inside* a
sequence line, a space as much as a tab, is an invalid character. (Biopython's
``SimpleFastaParser`` would drop spaces silently, which is why this module splits
records itself; it is as small as that parser.) A header may not hold control
characters (a NUL, for one, cannot be stored as an HDF5 id).

Sequence policy (docs/embeddings.md, "Input checks"), the same for files and for sequences passed in code:
lower case is upper-cased and one terminal ``*`` (a stop codon) dropped, each logged once
as a warning that counts the records concerned; with ``strip_gaps``, the alignment gaps
``-`` and ``.`` are removed first. An empty sequence or any other character outside A-Z
makes a record invalid. Every invalid record is reported in one error (the first 20 in
full, then a count), or, with ``skip_invalid``, left out and returned with its reason.

Record ids: by default the first whitespace-separated word of the header. ``id_field``/
``split_char`` select another field, as the ``seqvec`` 0.4 tool did:
``header.split(split_char)[id_field]``.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from seqvec.errors import DuplicateIdError, FastaFormatError, InputNotFoundError, InvalidSequenceError

logger = logging.getLogger(__name__)

STDIN = "-"
_GZIP_MAGIC = b"\x1f\x8b"
_NOT_LETTER = re.compile(r"[^A-Za-z]")
_GAPS = re.compile(r"[-.]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def display_name(path: str | os.PathLike) -> str:
    """How errors name an input: its path, or ``<stdin>`` for ``-``."""
    return "<stdin>" if str(path) == STDIN else str(path)


class _Prefixed(io.RawIOBase):
    """A read-once stream with a few bytes already read from it put back in front."""

    def __init__(self, prefix: bytes, rest: BinaryIO):
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def open_input(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary stream of ``path`` (``-``: standard input), gunzipped if its content is gzip.

    The stream is read once: the magic bytes are read and put back, never re-read by
    opening the file again (which would lose data from a pipe).
    """
    name = display_name(path)
    if str(path) == STDIN:
        raw: BinaryIO = sys.stdin.buffer
        close = False
    else:
        path = Path(path)
        if path.is_dir():
            raise InputNotFoundError(f"input is a directory, not a file: {name}", path=name)
        try:
            raw = open(path, "rb")
        except FileNotFoundError:
            raise InputNotFoundError(f"input file not found: {name}", path=name) from None
        except OSError as err:
            raise FastaFormatError(f"cannot open {name}: {err.strerror or err}", path=name) from None
        close = True
    try:
        magic = raw.read(2)
        stream = io.BufferedReader(_Prefixed(magic, raw))
        yield gzip.GzipFile(fileobj=stream, mode="rb") if magic == _GZIP_MAGIC else stream  # type: ignore[misc]
    finally:
        if close:
            raw.close()


def read_lines(path: str | os.PathLike) -> Iterator[str]:
    """Decoded text lines of ``path`` (plain, gzip or ``-``), line ends kept.

    Raises FastaFormatError for text that is not UTF-8 (naming the byte offset in the
    decompressed text) and for unreadable or corrupt gzip data.
    """
    name = display_name(path)
    offset = 0
    with open_input(path) as stream:
        try:
            for number, line in enumerate(stream, 1):
                try:
                    yield line.decode("utf-8-sig" if number == 1 else "utf-8")  # a byte-order mark is dropped
                except UnicodeDecodeError as err:
                    raise FastaFormatError(
                        f"{name} is not a text FASTA file (byte {offset + err.start}, line {number}: "
                        f"not UTF-8)", path=name) from None
                offset += len(line)
        except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt .gz, a failing disk
            raise FastaFormatError(f"cannot read {name}: {err}", path=name) from None


def iter_records(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """``(header, sequence)`` per record, as written (header without ``>``; sequence lines
    joined, each stripped at both ends). Nothing is validated but the file's shape.

    Raises FastaFormatError if the file is empty or does not start with ``>``.
    """
    name = display_name(path)
    header: str | None = None
    chunks: list[str] = []
    for line in read_lines(path):
        if header is None:
            if not line.strip():
                continue
            if not line.startswith(">"):
                raise FastaFormatError(
                    f"{name} is not FASTA: the first line should start with '>' but is {line.strip()[:60]!r}",
                    path=name)
        if line.startswith(">"):
            if header is not None:
                yield header, "".join(chunks)
            header, chunks = line[1:].strip(), []
        else:
            chunks.append(line.strip())
    if header is None:
        raise FastaFormatError(f"input file is empty: {name}", path=name)
    yield header, "".join(chunks)


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


@dataclass
class CheckedSequences:
    """Valid records (upper case, in input order) and the records left out, with why."""

    records: list[tuple[str, str]] = field(default_factory=list)  # (record id, sequence)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason)

    @property
    def sequences(self) -> dict[str, str]:
        """``{record id: sequence}`` (ids are unique where they were checked to be)."""
        return dict(self.records)


def _sequence_problem(sequence: str) -> str | None:
    if not sequence:
        return "empty sequence"
    bad = _NOT_LETTER.search(sequence)
    if bad is None:
        return None
    n_bad = len(_NOT_LETTER.findall(sequence))
    return (f"invalid character {bad.group()!r} at position {bad.start() + 1} "
            f"({n_bad} invalid in total; only letters A-Z are allowed)")


def normalize_record(sequence: str, strip_gaps: bool = False) -> tuple[str, str | None, tuple[bool, bool, bool]]:
    """One sequence under the policy: (the sequence to embed, the problem that makes it invalid or
    None, whether (gaps were removed, a terminal '*' dropped, lower case upper-cased))."""
    gapped = stopped = False
    if strip_gaps:
        stripped = _GAPS.sub("", sequence)
        gapped, sequence = stripped != sequence, stripped
    if sequence.endswith("*"):
        sequence, stopped = sequence[:-1], True
    problem = _sequence_problem(sequence)
    if problem is not None:
        return sequence, problem, (gapped, stopped, False)
    upper = sequence.upper()
    return upper, None, (gapped, stopped, upper != sequence)


def log_changes(gapped: int, stopped: int, lowered: int) -> None:
    """The policy's warnings: how many records lost gaps, a terminal '*', or lower case."""
    if gapped:
        logger.warning("removed gaps ('-', '.') from %d record%s", gapped, "s" * (gapped != 1))
    if lowered:
        logger.warning("upper-cased lower-case residues in %d record%s", lowered, "s" * (lowered != 1))
    if stopped:
        logger.warning("dropped a terminal '*' from %d record%s", stopped, "s" * (stopped != 1))


def check_sequences(records: Iterable[tuple[str, str]], *, strip_gaps: bool = False,
                    skip_invalid: bool = False) -> CheckedSequences:
    """Apply the sequence policy to ``(id, sequence)`` pairs (see the module docstring).

    Raises InvalidSequenceError naming every invalid record, unless ``skip_invalid``:
    then they are left out and listed in ``skipped``. Ids are not checked for duplicates.
    """
    out = CheckedSequences()
    changed = [0, 0, 0]  # gapped, stopped, lowered
    problems: list[tuple[str, str]] = []
    for record_id, sequence in records:
        sequence, problem, flags = normalize_record(sequence, strip_gaps)
        changed = [n + f for n, f in zip(changed, flags)]
        if problem is not None:
            problems.append((record_id, problem))
            continue
        out.records.append((record_id, sequence))
    log_changes(*changed)
    if problems and not skip_invalid:
        raise InvalidSequenceError(problems[0][0], problems[0][1], problems=problems)
    if problems:
        logger.warning("skipped %d invalid record%s", len(problems), "s" * (len(problems) != 1))
    out.skipped = problems
    return out


def normalize_sequences(sequences: dict[str, str], *, strip_gaps: bool = False) -> dict[str, str]:
    """Validate sequences and return them upper-cased without a terminal ``*``.

    The same policy as :func:`read_fasta`, for sequences that come from code rather than a file.
    """
    return check_sequences(sequences.items(), strip_gaps=strip_gaps).sequences


def header_id(header: str, id_field: int | None = None, split_char: str | None = None) -> str:
    """:func:`parse_id` of a header that must not hold control characters (FastaFormatError)."""
    control = _CONTROL.search(header)
    if control:
        raise FastaFormatError(f"header {header!r} holds the control character {control.group()!r}")
    return parse_id(header, id_field, split_char)


def bad_headers_error(name: str, bad: list[str], first: int | None) -> FastaFormatError:
    """One error naming every bad header (``bad``: "record N: why"; the first 20 in full)."""
    more = f"\n  ... and {len(bad) - 20} more bad headers" if len(bad) > 20 else ""
    shown = "\n  ".join(bad[:20])
    text = f"{name}, {shown}" if len(bad) == 1 else f"{name}: {len(bad)} bad headers:\n  {shown}{more}"
    return FastaFormatError(text, path=name, record=first)


def read_records(path: str | os.PathLike, *, id_field: int | None = None,
                 split_char: str | None = None) -> list[tuple[str, str]]:
    """``(record id, sequence as written)`` per record, in file order, with checked headers.

    Raises FastaFormatError (missing, empty, not FASTA, not UTF-8, a header without an id or
    with control characters: all bad headers named at once) or DuplicateIdError.
    """
    name = display_name(path)
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    first: int | None = None
    for number, (header, sequence) in enumerate(iter_records(path), 1):
        try:
            pairs.append((header_id(header, id_field, split_char), sequence))
        except FastaFormatError as err:
            bad.append(f"record {number}: {err}")
            first = first or number
    if bad:
        raise bad_headers_error(name, bad, first)
    counts = Counter(record_id for record_id, _ in pairs)
    duplicates = [record_id for record_id, n in counts.items() if n > 1]
    if duplicates:
        raise DuplicateIdError(duplicates)
    return pairs


def read_fasta_checked(path: str | os.PathLike, *, id_field: int | None = None, split_char: str | None = None,
                       strip_gaps: bool = False, skip_invalid: bool = False) -> CheckedSequences:
    """Read and validate a protein FASTA file (plain, gzip, or ``-``); see the module docstring.

    Returns the valid sequences ``{record id: upper-case sequence}`` in file order and,
    with ``skip_invalid``, the records left out. Raises FastaFormatError (missing, empty,
    not FASTA, bad headers, no valid record), DuplicateIdError (all duplicated ids named) or
    InvalidSequenceError (every invalid record named).
    """
    name = display_name(path)
    checked = check_sequences(read_records(path, id_field=id_field, split_char=split_char),
                              strip_gaps=strip_gaps, skip_invalid=skip_invalid)
    if not checked.records:
        raise FastaFormatError(f"no valid FASTA records in {name}", path=name)
    logger.info("read %d records (%d residues) from %s", len(checked.records),
                sum(len(s) for _, s in checked.records), name)
    return checked


def read_fasta(path: str | os.PathLike, *, id_field: int | None = None, split_char: str | None = None,
               strip_gaps: bool = False) -> dict[str, str]:
    """Read and validate a protein FASTA file: ``{record id: upper-case sequence}`` in file order.

    Every problem is an error (see :func:`read_fasta_checked`, which can skip invalid records).
    """
    return read_fasta_checked(path, id_field=id_field, split_char=split_char, strip_gaps=strip_gaps).sequences


def sequences_digest(sequences: dict[str, str]) -> str:
    """sha256 of the (id, sequence) pairs in order: identifies the input of a run."""
    digest = hashlib.sha256()
    for record_id, sequence in sequences.items():
        digest.update(record_id.encode("utf-8") + b"\t" + sequence.encode("ascii") + b"\n")
    return digest.hexdigest()
