"""Training corpus for the language model: sequences, vocabulary, windows and batches.

Every step here is a pure function of (sequences, seed, epoch), so a resumed or a
multi-process run sees exactly the batches an uninterrupted single process would.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from seqvec.io import assign_to_ranks, budget_batches, check_sequences, iter_records
from seqvec.lm.tokens import BOS_TYPE, EOS_TYPE, TYPE_TO_VOCAB, VOCAB

logger = logging.getLogger(__name__)



def read_corpus(path: str | Path) -> list[str]:
    """Sequences of a FASTA file (plain, gzip by content, or ``-``), under the one sequence policy
    of :mod:`seqvec.io.fasta` (upper-cased with a warning; A-Z only; every invalid record named).

    Headers are not parsed and ids may repeat: a record is named by its first header word,
    or by its number if the header is empty.
    """
    records = ((title.split()[0] if title.split() else f"#{number}", seq)
               for number, (title, seq) in enumerate(iter_records(path), 1))
    return [seq for _, seq in check_sequences(records).records]


def split_validation(sequences: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, validation) split by sequence, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sequences))
    n_val = int(round(fraction * len(sequences)))
    val = set(order[:n_val].tolist())
    return ([s for i, s in enumerate(sequences) if i not in val], [s for i, s in enumerate(sequences) if i in val])


def windows(sequences: list[str], window: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Cut ``<S> seq </S>`` into windows of at most ``window`` token types.

    Boundary tokens appear only at true protein ends. With ``rng`` the cut points
    start at a random offset per protein (a different tiling each epoch).
    """
    out = []
    for seq in sequences:
        tokens = np.empty(len(seq) + 2, dtype=np.int64)
        tokens[0], tokens[-1] = BOS_TYPE, EOS_TYPE
        tokens[1:-1] = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
        start = -int(rng.integers(window)) if (rng is not None and len(tokens) > window) else 0
        for s in range(start, len(tokens), window):
            piece = tokens[max(s, 0): s + window]
            if len(piece) >= 2:  # a window needs a pair to predict anything
                out.append(piece)
    return out


def batches(pieces: list[np.ndarray], max_tokens: int, rng: np.random.Generator | None) -> list[list[int]]:
    """Group windows (indices into ``pieces``) into batches of at most ``max_tokens`` padded tokens,
    similar lengths together; batch order shuffled with ``rng``."""
    groups = budget_batches([len(p) for p in pieces], max_tokens)
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    return groups


def epoch_batches(sequences: list[str], window: int, max_tokens: int, seed: int, epoch: int
                  ) -> tuple[list[np.ndarray], list[list[int]]]:
    """The windows and batches of one training epoch, a pure function of its arguments."""
    rng = np.random.default_rng([seed, epoch])
    pieces = windows(sequences, window, rng)
    return pieces, batches(pieces, max_tokens, rng)


def collate(pieces: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-aligned token types ``(B, T)`` (padding EOS_TYPE) and lengths ``(B,)``."""
    lengths = torch.tensor([len(p) for p in pieces], dtype=torch.long)
    types = torch.full((len(pieces), int(lengths.max())), EOS_TYPE, dtype=torch.long)
    for i, p in enumerate(pieces):
        types[i, : len(p)] = torch.from_numpy(p)
    return types, lengths


def shard(indices: list[int], pieces: list[np.ndarray], rank: int, world: int) -> list[int]:
    """This rank's share of one global batch (balanced by tokens, deterministic)."""
    return [indices[k] for k in assign_to_ranks([len(pieces[i]) for i in indices], world)[rank]]


def unigram_counts(sequences: list[str]) -> np.ndarray:
    """Counts of every vocabulary symbol as a prediction target (both directions)."""
    counts = np.zeros(len(VOCAB), dtype=np.float64)
    type_to_vocab = TYPE_TO_VOCAB.numpy()
    for seq in sequences:
        for c, n in zip(*np.unique(np.frombuffer(seq.encode("ascii"), dtype=np.uint8), return_counts=True)):
            counts[type_to_vocab[c]] += 2 * n
        counts[0] += 1  # <S> is a target of the backward direction
        counts[1] += 1  # </S> of the forward direction
    return counts
