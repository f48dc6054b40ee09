"""Held-out cross-entropy and perplexity of a trained language model, with a unigram baseline."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqvec.io import budget_batches
from seqvec.lm import corpus
from seqvec.lm.bilm import direction_losses
from seqvec.lm.lm_head import load_softmax
from seqvec.lm.model import SeqVecLM
from seqvec.lm.tokens import encode_batch


@dataclass(frozen=True)
class LMScores:
    """Mean cross-entropy in nats per predicted token."""

    forward: float
    backward: float
    unigram: float  # residue-frequency baseline (frequencies from the training corpus when given)
    n_predictions: int

    @property
    def both(self) -> float:
        return (self.forward + self.backward) / 2

    def rows(self) -> list[tuple[str, float]]:
        return [("forward", self.forward), ("backward", self.backward), ("both", self.both),
                ("unigram baseline", self.unigram)]


@torch.no_grad()
def score(model: SeqVecLM, softmax_path: str | Path, sequences: list[str], *, max_residues: int = 8000,
          unigram_from: list[str] | None = None) -> LMScores:
    """Score whole proteins: the forward LM predicts residue t+1 (and </S>) from the prefix,
    the backward LM residue t-1 (and <S>) from the suffix."""
    softmax, vocab = load_softmax(softmax_path, model.config.projection_dim)
    if vocab != corpus.VOCAB:
        raise ValueError(f"{softmax_path}: unexpected vocabulary {vocab}")
    softmax = softmax.to(next(model.parameters()).device)
    totals = torch.zeros(2, dtype=torch.float64)
    count = 0
    for group in budget_batches([len(s) + 2 for s in sequences], max_residues):  # + <S>, </S>
        types, lengths = encode_batch([sequences[i] for i in group])
        types, lengths = types.to(softmax.weight.device), lengths.to(softmax.weight.device)
        layers, _ = model(types, lengths)
        totals += direction_losses(softmax, layers[-1], model_types_to_vocab(types), lengths).double().cpu()
        count += int((lengths - 1).sum())
    counts = corpus.unigram_counts(unigram_from if unigram_from is not None else sequences)
    freqs = (counts + 0.5) / (counts + 0.5).sum()  # add-half smoothing: unseen letters stay finite
    test_counts = corpus.unigram_counts(sequences)
    unigram = float(-(test_counts * np.log(freqs)).sum() / test_counts.sum())
    return LMScores(float(totals[0]) / count, float(totals[1]) / count, unigram, count)


def model_types_to_vocab(types: torch.Tensor) -> torch.Tensor:
    """Vocabulary index of each token type (-1 for letters outside A-Z and boundaries)."""
    return corpus.TYPE_TO_VOCAB.to(types.device)[types]


def format_scores(scores: LMScores) -> str:
    """A small table: nats, bits per residue and perplexity."""
    lines = [f"{'':18s} {'nats':>8s} {'bits':>8s} {'perplexity':>11s}"]
    for name, nats in scores.rows():
        lines.append(f"{name:18s} {nats:8.4f} {nats / math.log(2):8.4f} {math.exp(nats):11.3f}")
    lines.append(f"({scores.n_predictions:,} predictions per direction)")
    return "\n".join(lines)
