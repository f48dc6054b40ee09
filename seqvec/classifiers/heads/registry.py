"""The head registry: name -> class. Add a head by adding one entry to ``HEADS``.

Every class here implements :class:`seqvec.classifiers.heads.base.Head` (see that module for
the interface: constructor, input/output levels, forward signature and shapes). The
registry name is what ``seqvec train --head`` takes and what a checkpoint's
``config.json`` stores under ``"head"``.
"""
from __future__ import annotations

from seqvec.classifiers.heads.base import Head
from seqvec.classifiers.heads.cnn import CNNHead
from seqvec.classifiers.heads.convlstm import ConvLSTMHead
from seqvec.classifiers.heads.ffn import FNNHead
from seqvec.classifiers.heads.light_attention import LightAttentionHead
from seqvec.errors import TaskError, UsageError

HEADS: dict[str, type[Head]] = {
    "fnn": FNNHead,  # per-protein embedding -> per-protein classes
    "cnn": CNNHead,  # per-residue embeddings -> per-residue classes
    "la": LightAttentionHead,  # per-residue embeddings -> per-protein classes
    "convlstm": ConvLSTMHead,  # per-residue encoding -> conv + BiLSTM + attention -> per-protein classes
}


def head_class(name: str) -> type[Head]:
    """The class registered under ``name``."""
    if name not in HEADS:
        raise UsageError(f"unknown head {name!r}; choose from {', '.join(HEADS)}", option="head", value=name)
    return HEADS[name]


def head_name(head: Head) -> str:
    """Registry name of a head instance."""
    for name, cls in HEADS.items():
        if type(head) is cls:
            return name
    raise TaskError(f"{type(head).__name__} is not in the head registry", head=type(head).__name__)


def build_head(name: str, input_dim: int, outputs: dict[str, int], **options) -> Head:
    """A new (untrained) head: ``name`` from :data:`HEADS`, ``input_dim`` values per residue or
    protein, ``outputs`` = {task: number of logits}, ``options`` its hyper-parameters
    (``lstm_hidden=64``; those ``seqvec train --head-option`` takes)."""
    return head_class(name)(input_dim, outputs, **options)
