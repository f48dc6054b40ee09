"""Sorting-signal annotations of the MultiLoc FASTA headers (Höglund et al. 2006).

MultiLoc's headers carry, after the accession, the sorting signal its authors annotated
(from Swiss-Prot features), in one of two forms::

    >P20698 SP 14          signal peptide, residues 1-14 (cleaved after residue 14)
    >P46644 cTP 43         chloroplast transit peptide, residues 1-43
    >P00505 mTP 29         mitochondrial transit peptide, residues 1-29
    >P31755 SA 16 30       signal anchor (uncleaved transmembrane segment), residues 16-30
    >P31946                no annotated signal (cytoplasmic, nuclear, peroxisomal proteins)

Counts over the 5,959 proteins: SP 2,295, SA 300, mTP 510, cTP 449, none 2,405.
Peroxisomal proteins carry no annotation; their C-terminal targeting signal PTS1 is a
tripeptide whose consensus is ``[SAC][KRH][LM]`` (Gould et al. 1989; SKL the classic one).
:func:`pts1_signal` marks the last three residues as ``PTS1`` when they match it (49 of
the 157 peroxisomal proteins, 8 of the 2,248 unannotated cytoplasmic and nuclear ones): a signal derived
from the sequence, not from the headers, and only the canonical form of PTS1.

Positions are 1-based and inclusive, as in the headers and in UniProt.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from seqvec.errors import LabelFormatError

logger = logging.getLogger(__name__)

SIGNAL_TYPES = {
    "SP": "signal peptide",
    "SA": "signal anchor",
    "mTP": "mitochondrial transit peptide",
    "cTP": "chloroplast transit peptide",
    "PTS1": "peroxisomal targeting signal 1 (C-terminal [SAC][KRH][LM])",
}
N_TERMINAL = ("SP", "mTP", "cTP")  # written as 'TYPE END': residues 1..END
PTS1_CONSENSUS = re.compile(r"[SAC][KRH][LM]")


def signal_order(kind: str) -> tuple[int, str]:
    """Sort key: the types in the order of :data:`SIGNAL_TYPES`, unknown ones after them."""
    return (list(SIGNAL_TYPES).index(kind) if kind in SIGNAL_TYPES else len(SIGNAL_TYPES), kind)


@dataclass(frozen=True)
class SortingSignal:
    """One annotated signal: its type (a key of :data:`SIGNAL_TYPES`) and residues ``start..end``."""

    kind: str
    start: int  # first residue, 1-based
    end: int    # last residue, 1-based, inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def span(self) -> slice:
        """The signal's residues as a 0-based slice of the sequence."""
        return slice(self.start - 1, self.end)


def _positive(text: str, header: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise LabelFormatError(f"header {header!r}: signal position {text!r} is not a whole number >= 1")
    return int(text)


def parse_signal(header: str, length: int | None = None) -> SortingSignal | None:
    """The signal a MultiLoc header annotates, or None when it has only the accession.

    ``header`` is the line without ``>`` (``"P20698 SP 14"``); ``length``, when given, is
    the sequence's length, which the signal must lie within. Raises LabelFormatError on
    an unknown type, a wrong number of positions, or positions out of order or range.
    """
    fields = header.split()
    if len(fields) <= 1:
        return None
    kind, positions = fields[1], fields[2:]
    if kind in N_TERMINAL and len(positions) == 1:
        signal = SortingSignal(kind, 1, _positive(positions[0], header))
    elif kind == "SA" and len(positions) == 2:
        start, end = (_positive(p, header) for p in positions)
        if start > end:
            raise LabelFormatError(f"header {header!r}: signal anchor starts at {start}, after its end {end}")
        signal = SortingSignal(kind, start, end)
    elif kind in N_TERMINAL or kind == "SA":
        wanted = "END" if kind in N_TERMINAL else "START END"
        raise LabelFormatError(f"header {header!r}: {kind} takes '{kind} {wanted}', got {len(positions)} position(s)")
    else:
        raise LabelFormatError(f"header {header!r}: unknown signal type {kind!r} "
                               f"(MultiLoc headers use {', '.join(t for t in SIGNAL_TYPES if t != 'PTS1')})")
    if length is not None and signal.end > length:
        raise LabelFormatError(f"header {header!r}: the signal ends at residue {signal.end}, "
                               f"past the protein's {length} residues")
    return signal


def pts1_signal(sequence: str) -> SortingSignal | None:
    """The last three residues as a ``PTS1`` signal when they match ``[SAC][KRH][LM]``, else None."""
    if len(sequence) >= 3 and PTS1_CONSENSUS.fullmatch(sequence[-3:].upper()):
        return SortingSignal("PTS1", len(sequence) - 2, len(sequence))
    return None


def read_signals(path: str | os.PathLike, pts1: bool = True) -> tuple[dict[str, str], dict[str, SortingSignal]]:
    """Sequences and annotated signals of a MultiLoc FASTA file.

    Returns ``({id: sequence}, {id: signal})`` in file order; proteins without a header
    annotation get a ``PTS1`` signal when ``pts1`` is set and their C terminus matches
    (see :func:`pts1_signal`), else no entry. Sequences are upper-cased; the file is read
    with :func:`seqvec.io.fasta.iter_records` (plain or gzip).
    """
    from seqvec.io.fasta import iter_records, parse_id

    sequences: dict[str, str] = {}
    signals: dict[str, SortingSignal] = {}
    for header, sequence in iter_records(path):
        record_id = parse_id(header)
        if record_id in sequences:
            raise LabelFormatError(f"{os.fspath(path)}: id {record_id!r} appears twice")
        sequences[record_id] = sequence.upper()
        try:
            signal = parse_signal(header, len(sequence))
        except LabelFormatError as err:
            raise LabelFormatError(f"{os.fspath(path)}: {err}") from None
        if signal is None and pts1:
            signal = pts1_signal(sequence)
        if signal is not None:
            signals[record_id] = signal
    logger.info("%s: %d proteins, %d with a sorting signal", os.fspath(path), len(sequences), len(signals))
    return sequences, signals
