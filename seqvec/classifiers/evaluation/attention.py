"""Where a head with attention looks, in numbers: inside annotated sorting signals, and along
the protein per location class.

Attention is read relative to uniform: a head that reads ``n`` residues and gives residue
``t`` the weight ``a_t`` puts ``n * a_t`` times the uniform weight there (1.0 = uniform).

- **Enrichment** (:func:`signal_enrichment`): for each protein with an annotated signal,
  the attention mass inside the signal, ``sum_{t in signal} a_t``, and the signal's share
  of the residues read, ``|signal| / n``. Per signal type the enrichment is the ratio of
  their means over proteins (mean mass / mean share; 1.0x = no better than uniform), with
  a 95% bootstrap interval that resamples proteins (1,000 draws, seeded). The mean of the
  per-protein ratios is reported beside it.
- **Profiles** (:func:`attention_profiles`): per class, the mean over proteins of ``n * a_t``
  at each of the first and the last ``terminal`` residues, and in ``bins`` equal bins of
  relative position (each protein's bin value is its mean over the residues of the bin),
  with a normal 95% band (1.96 standard errors). Residues a head does not read (the middle
  of proteins longer than its ``max_length``) are left out, not counted as zero.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from seqvec.classifiers.labels.signals import SortingSignal, signal_order

logger = logging.getLogger(__name__)


def read_positions(length: int, max_length: int | None) -> np.ndarray:
    """Bool ``[length]``: the residues a head with ``max_length`` reads (the DeepLoc rule keeps the first
    ``ceil(max_length / 2)`` and the last ``floor(max_length / 2)`` of a longer protein)."""
    read = np.ones(length, dtype=bool)
    if max_length and length > max_length:
        read[math.ceil(max_length / 2): length - max_length // 2] = False
    return read


def head_attention(head, inputs: Mapping[str, np.ndarray], task: str, progress: bool = False
                   ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Attention weights ``{id: [L]}`` and predicted class indices ``{id: k}`` of ``head``.

    ``head`` declares ``has_attention``; ``inputs`` maps ids to per-residue arrays ``[L, D]``
    made the way its training inputs were. Proteins run one at a time (no padding).
    """
    import torch

    from seqvec.progress import progress_bar

    if not getattr(head, "has_attention", False):
        raise ValueError(f"{type(head).__name__} declares no attention weights (has_attention is False)")
    head.eval()
    weights, predicted = {}, {}
    for record_id, x in progress_bar(inputs.items(), total=len(inputs), desc="attention", unit="protein",
                                     enabled=progress):
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))[None]                   # (1, L, D)
        with torch.no_grad():
            logits, attention = head.attention_weights(xt, torch.ones(xt.shape[:2], dtype=torch.bool))
        weights[record_id] = attention[0].double().numpy()
        predicted[record_id] = int(logits[task][0].argmax())
    return weights, predicted


@dataclass
class Enrichment:
    """Attention inside one signal type, over ``n`` proteins (see the module docstring)."""

    kind: str
    n: int
    mass: float                      # mean attention mass inside the signal
    share: float                     # mean share of the residues read that the signal covers
    enrichment: float                # mass / share; 1.0 = uniform
    ci95: tuple[float, float]        # bootstrap interval of the enrichment
    mean_ratio: float                # mean over proteins of mass_i / share_i

    def to_dict(self) -> dict:
        return asdict(self)


def signal_masses(attention: Mapping[str, np.ndarray], signals: Mapping[str, SortingSignal],
                  max_length: int | None = None) -> dict[str, list[tuple[str, float, float]]]:
    """Per signal type, ``(id, mass inside, share of residues read)`` of each protein with
    attention and a signal (only the signal residues the head reads count)."""
    rows: dict[str, list[tuple[str, float, float]]] = {}
    for record_id, signal in signals.items():
        if record_id not in attention:
            continue
        weights = np.asarray(attention[record_id], dtype=float)
        if signal.end > len(weights):
            raise ValueError(f"{record_id}: signal {signal.kind} ends at {signal.end}, past its {len(weights)} residues")
        read = read_positions(len(weights), max_length)
        inside = np.zeros(len(weights), dtype=bool)
        inside[signal.span()] = True
        inside &= read
        if not inside.any():
            continue
        rows.setdefault(signal.kind, []).append((record_id, float(weights[inside].sum()),
                                                 float(inside.sum() / read.sum())))
    return rows


def signal_enrichment(attention: Mapping[str, np.ndarray], signals: Mapping[str, SortingSignal],
                      max_length: int | None = None, n_bootstrap: int = 1000, seed: int = 0
                      ) -> dict[str, Enrichment]:
    """Enrichment of attention inside each signal type (see the module docstring), types in the
    order of :data:`~seqvec.classifiers.labels.signals.SIGNAL_TYPES` (others after them)."""
    result = {}
    rng = np.random.default_rng(seed)
    masses = signal_masses(attention, signals, max_length)
    for kind in sorted(masses, key=signal_order):
        rows = masses[kind]
        mass = np.array([r[1] for r in rows])
        share = np.array([r[2] for r in rows])
        draws = rng.integers(0, len(rows), size=(n_bootstrap, len(rows)))
        boot = mass[draws].mean(1) / share[draws].mean(1)
        result[kind] = Enrichment(kind, len(rows), float(mass.mean()), float(share.mean()),
                                  float(mass.mean() / share.mean()),
                                  (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))),
                                  float((mass / share).mean()))
    return result


@dataclass
class Profile:
    """Mean attention relative to uniform along the proteins of one class (``[positions]`` arrays;
    NaN where no protein reaches a position)."""

    name: str
    n: int
    first: np.ndarray      # residues 1..terminal
    last: np.ndarray       # residues L-terminal+1..L (the last entry is residue L)
    relative: np.ndarray   # bins of relative position, N- to C-terminus
    first_band: np.ndarray  # 1.96 standard errors of each mean
    last_band: np.ndarray
    relative_band: np.ndarray

    def to_dict(self) -> dict:
        def clean(a: np.ndarray) -> list:
            return [None if not np.isfinite(v) else round(float(v), 4) for v in a]
        return {"name": self.name, "n": self.n, **{k: clean(getattr(self, k)) for k in
                ("first", "last", "relative", "first_band", "last_band", "relative_band")}}


def _mean_band(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and 1.96 standard errors of ``[proteins, positions]`` with NaN gaps."""
    with np.errstate(invalid="ignore", divide="ignore"):
        count = np.isfinite(rows).sum(0)
        mean = np.where(count > 0, np.nansum(rows, 0) / np.maximum(count, 1), np.nan)
        sd = np.sqrt(np.nansum((rows - mean) ** 2, 0) / np.maximum(count - 1, 1))
        return mean, np.where(count > 1, 1.96 * sd / np.sqrt(np.maximum(count, 1)), np.nan)


def protein_profile(weights: np.ndarray, max_length: int | None, terminal: int, bins: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One protein's attention relative to uniform: first ``terminal``, last ``terminal`` residues
    and ``bins`` relative-position bins (NaN where the protein is too short or not read)."""
    weights = np.asarray(weights, dtype=float)
    length = len(weights)
    read = read_positions(length, max_length)
    relative = np.where(read, weights * read.sum(), np.nan)                 # (L,), 1.0 = uniform
    first = np.full(terminal, np.nan)
    last = np.full(terminal, np.nan)
    k = min(terminal, length)
    first[:k] = relative[:k]
    last[terminal - k:] = relative[length - k:]
    edges = np.floor(np.arange(length) * bins / length).astype(int)          # bin of each residue
    with np.errstate(invalid="ignore"):
        sums = np.bincount(edges, np.nan_to_num(relative), minlength=bins)
        counts = np.bincount(edges, np.isfinite(relative), minlength=bins)
        binned = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return first, last, binned


def attention_profiles(attention: Mapping[str, np.ndarray], classes: Mapping[str, str],
                       max_length: int | None = None, terminal: int = 50, bins: int = 20,
                       order: list[str] | None = None) -> list[Profile]:
    """Mean attention profile per class (see the module docstring); ``classes`` maps ids to class
    names, proteins without a class are left out; ``order`` fixes the class order (default: sorted)."""
    if terminal < 1 or bins < 1:
        raise ValueError(f"terminal and bins must be >= 1, got {terminal} and {bins}")
    grouped: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for record_id, weights in attention.items():
        if record_id in classes:
            grouped.setdefault(classes[record_id], []).append(protein_profile(weights, max_length, terminal, bins))
    profiles = []
    for name in order or sorted(grouped):
        if name not in grouped:
            continue
        parts = [np.stack(p) for p in zip(*grouped[name])]  # first, last, relative: [n, positions] each
        (first, fb), (last, lb), (rel, rb) = (_mean_band(p) for p in parts)
        profiles.append(Profile(name, len(grouped[name]), first, last, rel, fb, lb, rb))
    return profiles


def edge_attention(attention: Mapping[str, np.ndarray], max_length: int | None = None) -> dict[str, float]:
    """How much attention sits on the first and last residue: their mean weight relative to uniform,
    and the share of proteins whose highest weight is at residue 1 or at residue L."""
    first, last, top_first, top_last = [], [], 0, 0
    for weights in attention.values():
        weights = np.asarray(weights, dtype=float)
        n_read = read_positions(len(weights), max_length).sum()
        first.append(weights[0] * n_read)
        last.append(weights[-1] * n_read)
        top = int(np.argmax(weights))
        top_first += top == 0
        top_last += top == len(weights) - 1
    n = max(len(first), 1)
    return {"n": len(first), "first_vs_uniform": float(np.mean(first)) if first else math.nan,
            "last_vs_uniform": float(np.mean(last)) if last else math.nan,
            "share_peak_at_1": top_first / n, "share_peak_at_L": top_last / n}
