"""Baseline encoders: one-hot, BLOSUM62 rows and ProtVec, with the language model's interface.

They implement :class:`seqvec.embeddings.embedder.Embedder` like the language model,
so the embedding pipeline treats them alike (they have one output layer, hence only
``--layers sum|all``).

Alphabet: the 20 standard residues in one-letter alphabetical order, then ``X``
(:data:`ALPHABET`). One-hot maps every other letter (B, Z, J, U, O) to ``X``, so a
protein's mean one-hot vector is its amino-acid composition (with an X share).
BLOSUM62 gives each residue its row of Biopython's BLOSUM62 restricted to the columns of
:data:`ALPHABET`; B and Z have rows of their own in that matrix, J, U and O do not and
take X's row. ProtVec (3-gram skip-gram vectors, 100 dims) is
:mod:`seqvec.embeddings.protvec`; ``ENCODERS["protvec"]`` gives the bundled vectors.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import torch
from Bio.Align import substitution_matrices

from seqvec.embeddings.protvec import ProtVecEncoder, bundled_protvec
from seqvec.io.arguments import one_sequence, sequence_list
from seqvec.io.fasta import normalize_sequences

STANDARD = "ACDEFGHIKLMNPQRSTVWY"
ALPHABET = STANDARD + "X"  # column order of both encodings


class TableEncoder:
    """Maps each residue letter to a fixed row of a table ``[n_rows, D]``.

    ``rows`` maps upper-case letters to table rows; letters not in it use row ``X``.
    """

    n_output_layers = 1
    precision = "float32"
    device = torch.device("cpu")

    def __init__(self, name: str, table: np.ndarray, rows: dict[str, int]):
        self.name = name
        self.table = torch.from_numpy(np.ascontiguousarray(table, dtype=np.float32))
        lookup = np.full(256, rows["X"], dtype=np.int64)
        for letter, row in rows.items():
            lookup[ord(letter)] = row
        self._lookup = torch.from_numpy(lookup)
        digest = hashlib.sha256(name.encode() + b"\0" + self.table.numpy().tobytes() + lookup.tobytes())
        self.weights_sha256 = digest.hexdigest()  # identity of the encoding, for HDF5 metadata
        self.options_sha256 = hashlib.sha256(f"{name} {tuple(self.table.shape)}".encode()).hexdigest()

    @property
    def output_dim(self) -> int:
        return self.table.shape[1]

    def indices(self, sequence: str) -> torch.Tensor:
        """Table rows of a sequence of upper-case letters, ``(L,)`` long."""
        raw = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
        return self._lookup[torch.from_numpy(raw.astype(np.int64))]

    def embed_batch(self, sequences: list[str]) -> list[torch.Tensor]:
        """One float32 tensor ``(1, L, output_dim)`` per sequence (checked as FASTA input is)."""
        checked = normalize_sequences({f"sequence {i + 1}": s for i, s in enumerate(sequence_list(sequences))})
        return [self.table[self.indices(s)][None] for s in checked.values()]

    def embed(self, sequence: str) -> np.ndarray:
        """Encoding of one protein, ``(1, L, output_dim)`` float32 numpy."""
        return self.embed_batch([one_sequence(sequence)])[0].numpy()


def onehot_encoder() -> TableEncoder:
    """One-hot over :data:`ALPHABET` (21 dims); non-standard letters count as X."""
    rows = {letter: i for i, letter in enumerate(ALPHABET)}
    return TableEncoder("onehot", np.eye(len(ALPHABET), dtype=np.float32), rows)


def blosum62_encoder() -> TableEncoder:
    """BLOSUM62 rows over the columns of :data:`ALPHABET` (21 dims)."""
    matrix = substitution_matrices.load("BLOSUM62")
    letters = [letter for letter in matrix.alphabet if letter.isalpha()]  # drops '*'
    table = np.array([[matrix[a][b] for b in ALPHABET] for a in letters], dtype=np.float32)
    return TableEncoder("blosum62", table, {letter: i for i, letter in enumerate(letters)})


ENCODERS: dict[str, Callable[[], TableEncoder | ProtVecEncoder]] = {
    "onehot": onehot_encoder, "blosum62": blosum62_encoder, "protvec": bundled_protvec}
LETTER_TABLES = ("onehot", "blosum62")  # one row per residue letter (what filter logos need)


class WithTable:
    """A language model's layers with a table encoding's rows appended (``--encoder lm+blosum62``).

    Each residue's table row (e.g. its BLOSUM62 row) is appended to the first output layer,
    the context-free token layer, and zeros to the LSTM layers, so every layer is
    ``output_dim = lm.output_dim + table.output_dim`` wide and each ``--layers`` view holds the
    row exactly once: ``sum`` gives ``[LM layers summed, row]``, ``concat`` the layers side
    by side with the row after layer 0's values. The language model's numbers are unchanged.
    """

    def __init__(self, lm, table: TableEncoder | ProtVecEncoder):
        self.lm, self.table = lm, table
        self.name = f"{lm.name}+{table.name}"
        self.weights_sha256 = stacked_sha256(lm.weights_sha256, table.weights_sha256)
        self.options_sha256 = stacked_sha256(lm.options_sha256, table.options_sha256)

    n_output_layers = property(lambda self: self.lm.n_output_layers)
    output_dim = property(lambda self: self.lm.output_dim + self.table.output_dim)
    precision = property(lambda self: self.lm.precision)
    device = property(lambda self: self.lm.device)

    @staticmethod
    def _append(layers: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``layers`` ``(n, L, D)`` with ``rows`` ``(1, L, T)`` on layer 0 and zeros on the others."""
        extra = torch.zeros(*layers.shape[:2], rows.shape[-1], dtype=layers.dtype, device=layers.device)
        extra[0] = rows[0]
        return torch.cat([layers, extra], dim=-1)

    def embed_batch(self, sequences: list[str]) -> list[torch.Tensor]:
        """One float32 tensor ``(n_output_layers, L, output_dim)`` per sequence."""
        sequences = sequence_list(sequences)
        return [self._append(layers, rows)
                for layers, rows in zip(self.lm.embed_batch(sequences), self.table.embed_batch(sequences))]

    def embed_with_state(self, sequence: str, state: list | None) -> tuple[torch.Tensor, list]:
        """The language model's ``embed_with_state`` with the rows appended (``carry_state``)."""
        layers, state = self.lm.embed_with_state(sequence, state)
        return self._append(layers, self.table.embed_batch([sequence])[0]), state


def stacked_sha256(*digests: str) -> str:
    """One identity for a stack of encodings, from theirs in order."""
    return hashlib.sha256(" ".join(digests).encode()).hexdigest()
