"""A FASTA file of any size in two passes, holding a few bytes per record.

:func:`scan_fasta` reads the input once and applies every check of
:func:`~seqvec.io.fasta.read_fasta_checked` (the same errors and messages), keeping per valid
record only numpy arrays: its length (int32, 4 bytes) and the md5 of its sequence (16
bytes), plus, while it reads, 8 bytes of a hash of every id for the duplicate check. The
ids go to an anonymous temporary file, read back in chunks (:meth:`ScannedFasta.id_chunks`).
:meth:`ScannedFasta.records` reads the file again and yields the valid records in order,
one at a time, so a caller holds only the window it works on. Standard input and pipes,
which cannot be read twice, are first copied to a hidden temporary file.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from seqvec.errors import DuplicateIdError, FastaFormatError, InvalidSequenceError
from seqvec.io.fasta import (
    STDIN,
    bad_headers_error,
    display_name,
    header_id,
    iter_records,
    log_changes,
    normalize_record,
)

logger = logging.getLogger(__name__)

ID_CHUNK = 65536  # ids per chunk read back from the spool


@dataclass
class ScannedFasta:
    """What the first pass kept: ``lengths`` [N] int32 and ``digests`` [N, 16] uint8 (md5 of
    each valid sequence) in input order, the sha256 of the (id, sequence) pairs (as
    :func:`~seqvec.io.fasta.sequences_digest`), the records left out, and the ids on disk."""

    path: str  # the file read (a copy of standard input)
    name: str  # the input as the user named it
    id_field: int | None
    split_char: str | None
    strip_gaps: bool
    lengths: np.ndarray
    digests: np.ndarray
    sha256: str
    id_width: int  # the longest id, in UTF-8 bytes
    skipped: list[tuple[str, str]] = field(default_factory=list)
    _ids: IO[bytes] | None = None
    _copy: IO[bytes] | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def id_chunks(self, start: int = 0, stop: int | None = None, size: int = ID_CHUNK) -> Iterator[list[str]]:
        """The ids of rows ``start:stop``, ``size`` at a time."""
        assert self._ids is not None, "closed"
        stop = len(self) if stop is None else stop
        self._ids.seek(0)
        chunk: list[str] = []
        for row, line in enumerate(self._ids):
            if row >= stop:
                break
            if row >= start:
                chunk.append(line[:-1].decode("utf-8"))
                if len(chunk) == size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def records(self, stop: int | None = None) -> Generator[tuple[int, str, str], None, None]:
        """``(row, id, sequence)`` of the valid records up to row ``stop``, read again from the file."""
        stop = len(self) if stop is None else stop
        row = 0
        for header, sequence in iter_records(self.path):
            if row >= stop:
                return
            sequence, problem, _ = normalize_record(sequence, self.strip_gaps)
            if problem is None:
                yield row, header_id(header, self.id_field, self.split_char), sequence
                row += 1

    def close(self) -> None:
        """Drop the temporary files."""
        for handle in (self._ids, self._copy):
            if handle is not None:
                handle.close()
        self._ids = self._copy = None


def _readable_twice(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file (not ``-``, a pipe or ``/dev/stdin``); a missing one
    counts as readable, for the reader to name it."""
    if str(path) == STDIN:
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def _copy_input(path: str | os.PathLike, folder: Path) -> IO[bytes]:
    """A hidden temporary copy of standard input or a pipe, as read (gzip stays gzip)."""
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".seqvec-input-")
    try:
        if str(path) == STDIN:
            shutil.copyfileobj(sys.stdin.buffer, handle)
        else:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle)
        handle.flush()
    except BaseException:
        handle.close()
        raise
    return handle


def _duplicates(ids: IO[bytes], hashes: np.ndarray) -> list[str]:
    """The ids that occur more than once, in order of first occurrence (``hashes``: [N] uint64 of
    every id; ids whose hash is shared are compared in full)."""
    ordered = np.sort(hashes)
    shared = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    if not shared:
        return []
    ids.seek(0)
    counts = Counter(line[:-1] for line, h in zip(ids, hashes.tolist()) if h in shared)
    return [i.decode("utf-8") for i, n in counts.items() if n > 1]


def _id_hash(record_id: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(record_id, digest_size=8).digest(), "little")


def scan_fasta(path: str | os.PathLike, *, id_field: int | None = None, split_char: str | None = None,
               strip_gaps: bool = False, skip_invalid: bool = False, spool: Path | None = None) -> ScannedFasta:
    """First pass over a FASTA file (plain, gzip or ``-``): check everything, keep a few bytes per record.

    ``spool``: the folder for the temporary files (default: the system's). Raises what
    :func:`~seqvec.io.fasta.read_fasta_checked` raises, for the same inputs.
    """
    name = display_name(path)
    copy = None if _readable_twice(path) else _copy_input(path, spool or Path(tempfile.gettempdir()))
    source = copy.name if copy is not None else os.fspath(path)
    ids = tempfile.TemporaryFile(dir=spool, prefix=".seqvec-ids-")  # every id, for the duplicate check
    valid_ids = tempfile.TemporaryFile(dir=spool, prefix=".seqvec-ids-")  # the rows' ids
    try:
        lengths, digests, hashes = array("i"), bytearray(), array("Q")
        sha256, width, changed = hashlib.sha256(), 1, [0, 0, 0]
        bad: list[str] = []
        problems: list[tuple[str, str]] = []
        first_bad: int | None = None
        for number, (header, sequence) in enumerate(iter_records(source), 1):
            try:
                record_id = header_id(header, id_field, split_char)
            except FastaFormatError as err:
                bad.append(f"record {number}: {err}")
                first_bad = first_bad or number
                continue
            encoded = record_id.encode("utf-8")
            ids.write(encoded + b"\n")
            hashes.append(_id_hash(encoded))
            sequence, problem, flags = normalize_record(sequence, strip_gaps)
            changed = [n + f for n, f in zip(changed, flags)]
            if problem is not None:
                problems.append((record_id, problem))
                continue
            residues = sequence.encode("ascii")
            valid_ids.write(encoded + b"\n")
            width = max(width, len(encoded))
            lengths.append(len(residues))
            digests += hashlib.md5(residues).digest()
            sha256.update(encoded + b"\t" + residues + b"\n")
        if bad:
            raise bad_headers_error(name, bad, first_bad)
        duplicates = _duplicates(ids, np.frombuffer(hashes, dtype=np.uint64))
        if duplicates:
            raise DuplicateIdError(duplicates)
        log_changes(*changed)
        if problems and not skip_invalid:
            raise InvalidSequenceError(problems[0][0], problems[0][1], problems=problems)
        if problems:
            logger.warning("skipped %d invalid record%s", len(problems), "s" * (len(problems) != 1))
        if not lengths:
            raise FastaFormatError(f"no valid FASTA records in {name}", path=name)
    except BaseException:
        for handle in (valid_ids, copy):
            if handle is not None:
                handle.close()
        raise
    finally:
        ids.close()
    scanned = ScannedFasta(source, name, id_field, split_char, strip_gaps, np.frombuffer(lengths, dtype=np.int32),
                           np.frombuffer(digests, dtype=np.uint8).reshape(-1, 16), sha256.hexdigest(), width,
                           problems, valid_ids, copy)
    logger.info("read %d records (%d residues) from %s", len(scanned), int(scanned.lengths.sum(dtype=np.int64)),
                name)
    return scanned
