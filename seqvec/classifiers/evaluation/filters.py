"""First-layer filters of a one-hot/BLOSUM62 head as residue scores, their ranking, and how they
compare with known sorting-signal motifs.

A filter's weights ``W [D, k]`` act on the encoding of residues; its response to residue
``a`` at offset ``j`` is ``sum_d T[a, d] W[d, j]`` with ``T`` the encoder's table (the
identity for one-hot, BLOSUM62 rows for BLOSUM62): the ``[A, k]`` residue scores that
:mod:`seqvec.viz.filters` draws as heatmaps and logos.

**Motifs** (:func:`signal_filters`). For each type of annotated sorting signal
(:mod:`seqvec.classifiers.labels.signals`), each first-layer channel's mean ReLU output on
the residues of the signals, against its mean output at the same positions of the proteins
that carry no signal (the control: residues 1..m for the N-terminal signals SP, mTP and
cTP, with m their median end; the last three residues for PTS1; the median start..end for
signal anchors). The ratio (enrichment) says which filters fire on the signals beyond
what the position alone explains. Each filter's preference for hydrophobic residues is
the Pearson correlation of its residue scores (mean over offsets) with the Kyte-Doolittle
hydropathy scale over the 20 standard residues: positive for detectors of hydrophobic
stretches such as the h-region of signal peptides.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from seqvec.classifiers.labels.signals import SortingSignal, signal_order

logger = logging.getLogger(__name__)
MIN_CONTROL = 1e-3  # a filter silent on the control positions counts as this active there (no division by 0)

# Kyte & Doolittle 1982, J Mol Biol 157:105
KYTE_DOOLITTLE = {"A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5, "G": -0.4, "H": -3.2,
                  "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8, "T": -0.7, "W": -0.9,
                  "Y": -1.3, "V": 4.2}


@dataclass
class FilterScores:
    """Residue scores of one first-layer filter."""

    width: int
    index: int  # filter number within its width
    scores: np.ndarray  # [A, width]: response to each residue at each offset
    rank_value: float  # the value the filters were ranked by


def mean_activations(head, encoder, sequences) -> np.ndarray:
    """Mean ReLU output of each first-layer channel over all residues of ``sequences``.

    ``head`` declares ``has_filters``; ``encoder`` is the table encoder it was trained on
    (``embed_batch``); ``sequences`` is an iterable of residue strings. Channel order is
    that of ``first_layer_activations`` (see :func:`filter_scores`).
    """
    import torch

    if not getattr(head, "has_filters", False):
        raise ValueError(f"{type(head).__name__} declares no first-layer filters (has_filters is False)")
    sums, count = None, 0
    for sequence in sequences:
        x = encoder.embed_batch([sequence])[0]  # (1, L, D)
        act = head.first_layer_activations(x, torch.ones(x.shape[:2], dtype=torch.bool))  # (1, L', F)
        total = act[0].double().sum(0).numpy()
        sums, count = (total if sums is None else sums + total), count + act.shape[1]
    if sums is None:
        raise ValueError("no sequences to average the activations over")
    return sums / max(count, 1)


def filter_scores(head, table: np.ndarray, order: str = "weight_norm",
                  activation: np.ndarray | None = None) -> list[FilterScores]:
    """All first-layer filters of ``head`` as residue scores, best first.

    Parameters
    ----------
    head : a head that declares ``has_filters`` (``ConvLSTMHead``).
    table : ``[A, D]`` encoding of each letter of the alphabet (rows of an encoder table).
    order : ``"weight_norm"`` or ``"activation"`` (needs ``activation``).
    activation : ``[n_filters_total]`` the value to rank by per first-layer channel (the mean
        activation, or an enrichment from :func:`signal_filters`), channel
        ``i * n_filters + j`` = filter ``j`` of width number ``i``.
    """
    if order not in ("weight_norm", "activation"):
        raise ValueError(f"order must be 'weight_norm' or 'activation', got {order!r}")
    if order == "activation" and activation is None:
        raise ValueError("order='activation' needs the mean activations")
    if order == "weight_norm":
        activation = None
    result = []
    channel = 0
    for width, weight in head.first_layer_filters():
        w = weight.float().numpy()  # (F, D, k)
        if w.shape[1] != table.shape[1]:
            raise ValueError(f"filters read {w.shape[1]} features per residue but the table has {table.shape[1]}: "
                             "logos need a one-hot or BLOSUM62 head")
        for j in range(w.shape[0]):
            value = float(np.linalg.norm(w[j])) if activation is None else float(activation[channel])
            result.append(FilterScores(width, j, table @ w[j], value))
            channel += 1
    return sorted(result, key=lambda f: -f.rank_value)


def channels(head) -> list[tuple[int, int]]:
    """``(width, index within the width)`` of each first-layer channel, in activation order."""
    return [(width, j) for width, weight in head.first_layer_filters() for j in range(weight.shape[0])]


def hydropathy_correlation(scores: np.ndarray, alphabet: str) -> float:
    """Pearson correlation of a filter's residue scores ``[A, k]`` (mean over offsets) with the
    Kyte-Doolittle scale, over the 20 standard residues of ``alphabet``."""
    preference = scores[[alphabet.index(a) for a in KYTE_DOOLITTLE]].mean(1)
    if np.ptp(preference) == 0:  # a filter that treats every residue alike has no preference
        return 0.0
    return float(np.corrcoef(preference, list(KYTE_DOOLITTLE.values()))[0, 1])


def _control_span(kind: str, signals: list[SortingSignal]) -> tuple[int, int, bool]:
    """``(start, end, from_c_terminus)``: the positions compared with in proteins without a signal."""
    if kind == "PTS1":
        return 1, 3, True  # the last three residues
    start = 1 if kind in ("SP", "mTP", "cTP") else int(np.median([s.start for s in signals]))
    return start, int(np.median([s.end for s in signals])), False


@dataclass
class SignalFilter:
    """One first-layer filter against one signal type (see the module docstring)."""

    width: int
    index: int
    enrichment: float       # inside / control
    inside: float           # mean activation on the signals' residues
    control: float          # mean activation at the same positions of proteins without a signal
    hydropathy_r: float     # correlation of its residue preferences with Kyte-Doolittle

    def to_dict(self) -> dict:
        return asdict(self)


def signal_filters(head, encoder, table: np.ndarray, alphabet: str, sequences: Mapping[str, str],
                   signals: Mapping[str, SortingSignal]) -> dict[str, dict]:
    """Per signal type in ``signals``: every filter's enrichment on the signals (best first) and counts.

    ``head`` declares ``has_filters``; ``encoder`` is its table encoder (``embed_batch``);
    ``table`` ``[A, D]`` the encoding of ``alphabet``. Only residues the head reads count
    (the middle of proteins longer than its ``max_length`` is skipped). Returns ``{kind:
    {"n": proteins, "n_control": proteins, "control_span": [start, end, from_c],
    "filters": [SignalFilter, ...]}}``.
    """
    import torch

    from seqvec.classifiers.evaluation.attention import read_positions

    max_length = head.hparams.get("max_length")
    names = channels(head)
    scores = {(f.width, f.index): f.scores for f in filter_scores(head, table)}
    hydropathy = np.array([hydropathy_correlation(scores[c], alphabet) for c in names])
    activations: dict[str, np.ndarray] = {}  # id -> [L, F] on the original positions, NaN where not read
    for record_id, sequence in sequences.items():
        x = encoder.embed_batch([sequence])[0]                                           # (1, L, D)
        act = head.first_layer_activations(x, torch.ones(x.shape[:2], dtype=torch.bool))[0].double().numpy()
        full = np.full((len(sequence), act.shape[1]), np.nan)
        full[read_positions(len(sequence), max_length)] = act                           # (L, F)
        activations[record_id] = full
    controls = [i for i in activations if i not in signals]
    result = {}
    for kind in sorted({s.kind for i, s in signals.items() if i in activations}, key=signal_order):
        members = {i: s for i, s in signals.items() if s.kind == kind and i in activations}
        inside = np.concatenate([activations[i][s.span()] for i, s in members.items()])   # (residues, F)
        start, end, from_c = _control_span(kind, list(members.values()))
        rows = [activations[i][len(activations[i]) - end:len(activations[i]) - start + 1] if from_c
                else activations[i][start - 1:end] for i in controls]
        control = np.concatenate(rows) if rows else np.full((1, len(names)), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_in, mean_out = np.nanmean(inside, 0), np.nanmean(control, 0)
            enrichment = mean_in / np.maximum(mean_out, MIN_CONTROL)
        order = np.argsort(-np.nan_to_num(enrichment, nan=-np.inf))
        result[kind] = {"n": len(members), "n_control": len(controls), "control_span": [start, end, from_c],
                        "filters": [SignalFilter(names[c][0], names[c][1], float(enrichment[c]), float(mean_in[c]),
                                                 float(mean_out[c]), float(hydropathy[c])) for c in order]}
    return result


def signal_filters_table(result: Mapping[str, dict], top: int = 3) -> str:
    """The ``top`` filters of each signal type of :func:`signal_filters` as text, with the spread over all."""
    lines = ["first-layer filters on annotated signals: mean activation on the signal residues / at the same "
             "positions of proteins without a signal; KD r = preference for hydrophobic residues (Kyte-Doolittle)"]
    for kind, entry in result.items():
        filters = entry["filters"]
        start, end, from_c = entry["control_span"]
        span = f"last {end} residues" if from_c else f"residues {start}-{end}"
        enrichments = np.array([f.enrichment for f in filters])
        r = np.array([f.hydropathy_r for f in filters])
        lines.append(f"{kind}: {entry['n']} protein(s), control {span} of {entry['n_control']}; all {len(filters)} "
                     f"filters: enrichment median {np.median(enrichments):.2f}x, KD r median {np.median(r):+.2f}")
        for f in filters[:top]:
            lines.append(f"  width {f.width:>2}, filter {f.index:>2}: {f.enrichment:5.2f}x  "
                         f"({f.inside:.3f} vs {f.control:.3f})  KD r {f.hydropathy_r:+.2f}")
    return "\n".join(lines)

