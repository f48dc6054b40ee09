"""A saved head's attention on a set of proteins, summarised: per-class profiles, enrichment inside
annotated sorting signals, attention on the first and last residue (``seqvec plot attention --per-class``).

The numbers are defined in :mod:`seqvec.classifiers.evaluation.attention`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from seqvec.classifiers.evaluation.attention import (
    Enrichment,
    Profile,
    attention_profiles,
    edge_attention,
    signal_enrichment,
)
from seqvec.classifiers.labels.signals import SIGNAL_TYPES, SortingSignal
from seqvec.progress import progress_bar

logger = logging.getLogger(__name__)


@dataclass
class AttentionReport:
    """What :func:`attention_report` found; ``to_dict`` is its JSON form."""

    head: str
    task: str
    n: int
    accuracy: float | None                   # on the proteins with a known class the head knows
    profiles: list[Profile]
    enrichment: dict[str, Enrichment]
    edges: dict[str, float]
    by_class: dict[str, dict[str, Enrichment]] = field(default_factory=dict)  # class -> signal type -> row

    def to_dict(self) -> dict:
        return {"head": self.head, "task": self.task, "n": self.n, "accuracy": self.accuracy,
                "edges": self.edges,
                "enrichment": {k: v.to_dict() for k, v in self.enrichment.items()},
                "enrichment_by_class": {c: {k: v.to_dict() for k, v in rows.items()}
                                        for c, rows in self.by_class.items()},
                "profiles": [p.to_dict() for p in self.profiles]}

    def table(self) -> str:
        """The enrichment per signal type (and per class where a type occurs in several) as text."""
        lines = [f"attention inside annotated signals ({self.head}, {self.n} proteins): mass inside / "
                 "share of residues read (1.0x = uniform)",
                 f"{'signal':<24}{'n':>6}{'mass':>8}{'share':>8}{'enrichment':>12}  95% interval"]
        for kind, row in self.enrichment.items():
            lines.append(_row(kind, row))
            for name, rows in self.by_class.items():
                if kind in rows and len([c for c in self.by_class.values() if kind in c]) > 1:
                    lines.append(_row(f"  in {name}", rows[kind]))
        lines.append("; ".join(f"{k}: {SIGNAL_TYPES[k]}" for k in self.enrichment if k in SIGNAL_TYPES))
        e = self.edges
        lines.append(f"first residue {e['first_vs_uniform']:.2f}x uniform, last residue {e['last_vs_uniform']:.2f}x; "
                     f"highest weight at residue 1 in {100 * e['share_peak_at_1']:.0f}% of proteins, "
                     f"at residue L in {100 * e['share_peak_at_L']:.0f}%")
        return "\n".join(lines)


def _row(label: str, row: Enrichment) -> str:
    return (f"{label:<24}{row.n:>6}{row.mass:>8.3f}{row.share:>8.3f}{row.enrichment:>11.2f}x"
            f"  [{row.ci95[0]:.2f}, {row.ci95[1]:.2f}]")


def attention_report(checkpoint, sequences: Mapping[str, str], classes: Mapping[str, str],
                     signals: Mapping[str, SortingSignal], task: str = "localization", model=None,
                     terminal: int = 50, bins: int = 20, progress: bool = False,
                     name: str | None = None) -> AttentionReport:
    """Run a saved head (:class:`~seqvec.classifiers.heads.checkpoint.HeadCheckpoint` with attention)
    on ``sequences`` and summarise its attention.

    ``classes`` maps ids to true class names, and profiles are drawn per true class (per
    predicted class, named ``predicted X``, when no protein has a known class); ``signals`` maps ids to annotated signals (may be
    empty). Inputs are made as the head's training inputs were (encoder or language model,
    see :func:`seqvec.classifiers.heads.predict.embedding_source`), one protein at a time.
    """
    import torch

    from seqvec.classifiers.heads.predict import embedding_source
    from seqvec.embeddings.pipeline import embed_sequences

    head = checkpoint.head
    if not getattr(head, "has_attention", False):
        raise ValueError(f"a {checkpoint.name} head has no attention weights")
    class_names = checkpoint.tasks[task].classes
    encoder, lm, layers = embedding_source([checkpoint], model)
    head.eval()
    attention: dict[str, np.ndarray] = {}
    predicted: dict[str, str] = {}
    stream = embed_sequences(dict(sequences), lm, encoder=encoder, layers=layers)
    for record_id, x in progress_bar(stream, total=len(sequences), desc="attention", unit="protein",
                                     enabled=progress):
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))[None]                   # (1, L, D)
        with torch.no_grad():
            logits, weights = head.attention_weights(xt, torch.ones(xt.shape[:2], dtype=torch.bool))
        attention[record_id] = weights[0].double().numpy()
        predicted[record_id] = class_names[int(logits[task][0].argmax())]
    max_length = head.hparams.get("max_length")
    known = {i: c for i, c in classes.items() if i in attention}
    scored = [i for i in known if known[i] in class_names]
    accuracy = float(np.mean([predicted[i] == known[i] for i in scored])) if scored else None
    if not known:
        logger.warning("no protein has a known class: profiles are drawn per predicted class")
        known = {i: f"predicted {c}" for i, c in predicted.items()}
    order = [c for c in class_names if c in set(known.values())] + sorted(set(known.values()) - set(class_names))
    by_class = {}
    for name_ in order:
        members = {i: s for i, s in signals.items() if known.get(i) == name_}
        if members:
            by_class[name_] = signal_enrichment(attention, members, max_length)
    return AttentionReport(name or checkpoint.name, task, len(attention), accuracy,
                           attention_profiles(attention, known, max_length, terminal, bins, order),
                           signal_enrichment(attention, signals, max_length), edge_attention(attention, max_length),
                           by_class)
