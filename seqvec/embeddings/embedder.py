"""What the embedding pipeline needs of a model: the :class:`Embedder` protocol.

Implemented by the language model (:class:`seqvec.lm.model.SeqVecLM`) and the table
encoders (:class:`seqvec.embeddings.encoders.TableEncoder`). Structural typing: a class
implements it by having these members, without importing this module (``lm`` sits below
``embeddings``).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Embedder(Protocol):
    """A model that turns protein sequences into per-residue vectors, layer by layer.

    Identity (set when the model is made, recorded in every output file): ``name``,
    ``weights_sha256`` (its weights), ``options_sha256`` (its shape). Settings that change
    the numbers: ``precision`` and ``device``; they are the model's own, never switched
    by the pipeline.
    """

    @property
    def name(self) -> str: ...

    @property
    def weights_sha256(self) -> str: ...

    @property
    def options_sha256(self) -> str: ...

    @property
    def n_output_layers(self) -> int: ...

    @property
    def output_dim(self) -> int: ...

    @property
    def precision(self) -> str: ...

    @property
    def device(self) -> torch.device: ...

    def embed_batch(self, sequences: list[str]) -> list[torch.Tensor]:
        """One float32 CPU tensor ``(n_output_layers, L, output_dim)`` per sequence.

        Sequences follow the policy of :mod:`seqvec.io.fasta`; each result is independent
        of the other sequences of the batch.
        """
        ...


@runtime_checkable
class StatefulEmbedder(Embedder, Protocol):
    """An embedder that can carry its recurrent state from one protein to the next
    (allennlp's legacy behaviour, ``carry_state``)."""

    def embed_with_state(self, sequence: str, state: list | None) -> tuple[torch.Tensor, list]:
        """``(n_output_layers, L, output_dim)`` starting from ``state`` (None: zeros), and the end state."""
        ...
