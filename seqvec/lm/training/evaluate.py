"""Held-out cross-entropy and perplexity of a trained language model, with a unigram baseline."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqvec.io import budget_batches
from seqvec.lm.bilm import direction_losses
from seqvec.lm.lm_head import load_softmax
from seqvec.lm.model import SeqVecLM
from seqvec.lm.tokens import encode_batch
from seqvec.lm.training import corpus


@dataclass(frozen=True)
class LMScores:
    """Mean cross-entropy in nats per predicted token."""

    forward: float
    backward: float
    unigram: float  # residue-frequency baseline (frequencies from the training corpus when given)
    n_predictions: int
    both_ci: tuple[float, float] = (math.nan, math.nan)  # 95% bootstrap interval over proteins (nats)
    unigram_ci: tuple[float, float] = (math.nan, math.nan)
    n_proteins: int = 0

    @property
    def both(self) -> float:
        return (self.forward + self.backward) / 2

    def rows(self) -> list[tuple[str, float]]:
        return [("forward", self.forward), ("backward", self.backward), ("both", self.both),
                ("unigram baseline", self.unigram)]


@torch.no_grad()
def protein_losses(model: SeqVecLM, softmax_path: str | Path, sequences: list[str], *, max_residues: int = 8000
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Summed cross-entropy (nats) of each protein, ``(N, 2)`` [forward, backward], and its number of
    predictions per direction ``(N,)``: the forward LM predicts residue t+1 (and </S>) from the
    prefix, the backward LM residue t-1 (and <S>) from the suffix."""
    softmax, vocab = load_softmax(softmax_path, model.config.projection_dim)
    if vocab != corpus.VOCAB:
        raise ValueError(f"{softmax_path}: unexpected vocabulary {vocab}")
    softmax = softmax.to(next(model.parameters()).device)
    per_protein = np.zeros((len(sequences), 2))
    for group in budget_batches([len(s) + 2 for s in sequences], max_residues):  # + <S>, </S>
        types, lengths = encode_batch([sequences[i] for i in group])
        types, lengths = types.to(softmax.weight.device), lengths.to(softmax.weight.device)
        top, targets = model(types, lengths)[0][-1], model_types_to_vocab(types)
        for row, i in enumerate(group):
            n = int(lengths[row])
            per_protein[i] = direction_losses(softmax, top[row: row + 1, :n], targets[row: row + 1, :n],
                                              lengths[row: row + 1]).double().cpu().numpy()
    return per_protein, np.array([len(s) + 1 for s in sequences], dtype=np.float64)


def score(model: SeqVecLM, softmax_path: str | Path, sequences: list[str], *, max_residues: int = 8000,
          unigram_from: list[str] | None = None) -> LMScores:
    """Score whole proteins (see :func:`protein_losses`), with 95% intervals over proteins."""
    per_protein, predictions = protein_losses(model, softmax_path, sequences, max_residues=max_residues)
    count = int(predictions.sum())
    counts = corpus.unigram_counts(unigram_from if unigram_from is not None else sequences)
    freqs = (counts + 0.5) / (counts + 0.5).sum()  # add-half smoothing: unseen letters stay finite
    unigram_per_protein = np.array([-(corpus.unigram_counts([s]) * np.log(freqs)).sum() / 2 for s in sequences])
    unigram = float(unigram_per_protein.sum() / count)
    return LMScores(float(per_protein[:, 0].sum()) / count, float(per_protein[:, 1].sum()) / count, unigram, count,
                    both_ci=protein_bootstrap(per_protein.mean(axis=1), predictions),
                    unigram_ci=protein_bootstrap(unigram_per_protein, predictions), n_proteins=len(sequences))


def protein_bootstrap(nats: np.ndarray, predictions: np.ndarray, draws: int = 1000, seed: int = 0
                      ) -> tuple[float, float]:
    """95% interval of ``sum(nats) / sum(predictions)`` over proteins drawn with replacement."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(nats), size=(draws, len(nats)))
    ratios = nats[picks].sum(axis=1) / predictions[picks].sum(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def model_types_to_vocab(types: torch.Tensor) -> torch.Tensor:
    """Vocabulary index of each token type (-1 for letters outside A-Z and boundaries)."""
    return corpus.TYPE_TO_VOCAB.to(types.device)[types]


def format_scores(scores: LMScores) -> str:
    """A small table: nats, bits per residue and perplexity."""
    intervals = {"both": scores.both_ci, "unigram baseline": scores.unigram_ci}
    lines = [f"{'':18s} {'nats':>8s} {'bits':>8s} {'perplexity':>11s}  95% CI over proteins"]
    for name, nats in scores.rows():
        low, high = intervals.get(name, (math.nan, math.nan))
        ci = f"  {math.exp(low):.3f}-{math.exp(high):.3f}" if math.isfinite(low) else ""
        lines.append(f"{name:18s} {nats:8.4f} {nats / math.log(2):8.4f} {math.exp(nats):11.3f}{ci}")
    lines.append(f"({scores.n_predictions:,} predictions per direction, {scores.n_proteins:,} proteins)")
    return "\n".join(lines)
