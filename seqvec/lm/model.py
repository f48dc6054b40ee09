"""The bidirectional language model: token encoder + BiLSTM stack, ELMo outputs."""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from seqvec.errors import ConfigError
from seqvec.io.arguments import one_sequence, sequence_list
from seqvec.io.fasta import normalize_sequences
from seqvec.lm.bilstm import BiLSTMStack, StackState
from seqvec.lm.char_cnn import CharCNN
from seqvec.lm.config import SeqVecConfig
from seqvec.lm.kernels import warn_if_bf16_is_slow
from seqvec.lm.refill import DEFAULT_ROWS, run_stack
from seqvec.lm.tokens import encode_batch


class SeqVecLM(nn.Module):
    """ELMo over residues, exact to allennlp's ``ElmoEmbedder`` and stateless by default.

    Built from a config with random weights; weights are loaded separately
    (``seqvec.lm.allennlp_io.load_weights`` or ``seqvec.load_model``). Implements
    :class:`seqvec.Embedder`: its identity (``name``, ``weights_sha256``) is given here,
    and its ``precision`` is a setting that only :meth:`set_precision` changes.
    Sequences given to ``embed*`` follow the sequence policy of :mod:`seqvec.io.fasta`.

    Parameters
    ----------
    config : the shape.
    name : a name for HDF5 metadata (the loaders pass the model's name).
    weights_sha256 : sha256 of the weight file the model is loaded from; empty: the
        sha256 of the parameters themselves, computed when asked for.
    precision : ``"float32"`` or ``"bf16"``, see :meth:`set_precision`.
    """

    def __init__(self, config: SeqVecConfig, *, name: str = "unnamed", weights_sha256: str = "",
                 precision: str = "float32"):
        super().__init__()
        self.config = config
        self.char_cnn = CharCNN(config)
        self.lstm = BiLSTMStack(config.projection_dim, config.lstm_dim, config.projection_dim,
                                config.n_layers, config.cell_clip, config.proj_clip)
        self._table_key: tuple | None = None
        self._table: torch.Tensor | None = None
        self.name = name
        self._weights_sha256 = weights_sha256
        self.precision = "float32"
        self.set_precision(precision)
        self.refill = True  # embed_batch: continuous batching (False: one padded batch)
        self.set_rows(DEFAULT_ROWS)

    @property
    def weights_sha256(self) -> str:
        """sha256 of the weight file (or, for a model not loaded from one, of its parameters)."""
        if self._weights_sha256:
            return self._weights_sha256
        digest = hashlib.sha256()
        for key, value in self.state_dict().items():
            digest.update(key.encode() + value.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    @property
    def options_sha256(self) -> str:
        """sha256 of the shape (:meth:`SeqVecConfig.digest`)."""
        return self.config.digest()

    @property
    def device(self) -> torch.device:
        return self._device()

    def set_precision(self, precision: str) -> SeqVecLM:
        """``"float32"`` (exact) or ``"bf16"``: LSTM matrix products in bfloat16, states and
        gates in float32. Inference only; returns self."""
        dtypes = {"float32": torch.float32, "bf16": torch.bfloat16}
        if precision not in dtypes:
            raise ConfigError(f"precision must be one of {sorted(dtypes)}, got {precision!r}", field="precision",
                              value=precision)
        for layer in self.lstm.layers():
                layer.compute_dtype = dtypes[precision]
        if precision == "bf16":
            warn_if_bf16_is_slow(self._device())
        self.precision = precision
        return self

    def set_rows(self, rows: int) -> SeqVecLM:
        """Rows of the recurrent products in :meth:`embed_batch` (proteins in flight per time step,
        :mod:`seqvec.lm.refill`); also the row count the batch-invariant kernels are chosen for.
        Returns self."""
        if rows < 1:
            raise ConfigError(f"rows must be positive, got {rows}", field="rows", value=rows)
        for layer in self.lstm.layers():
            layer.rows = rows
        self.rows = rows
        return self

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    @property
    def n_output_layers(self) -> int:
        return self.config.n_layers + 1

    def token_vectors(self, types: torch.Tensor) -> torch.Tensor:
        """Token encoder output for token types ``(B, T)`` -> ``(B, T, P)``."""
        return self.token_table()[types]

    def token_table(self) -> torch.Tensor:
        """Token encoder output for every token type, ``(types, P)``; in inference cached until a
        char-CNN parameter changes."""
        if torch.is_grad_enabled():
            return self.char_cnn.token_table()
        key = tuple((id(p), p._version, p.device, p.dtype) for p in self.char_cnn.parameters())
        table = self._table
        if table is None or key != self._table_key:
            table = self._table = self.char_cnn.token_table()
            self._table_key = key
        return table

    def forward(self, types: torch.Tensor, lengths: torch.Tensor, state: StackState | None = None
                ) -> tuple[torch.Tensor, StackState]:
        """All output layers for token types incl. ``<S>``/``</S>``.

        types: ``(B, T)`` left-aligned; lengths: ``(B,)`` incl. both boundaries.
        Returns ``(n_layers + 1, B, T, 2P)`` (zeros at padding) and the final LSTM state.
        """
        x = self.token_vectors(types)  # (B, T, P)
        mask = (torch.arange(types.shape[1], device=types.device)[None, :] < lengths[:, None])
        x = x * mask[..., None]
        lstm_layers, final = self.lstm(x, lengths, state)
        return torch.stack([torch.cat([x, x], dim=2), *lstm_layers]), final

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def embed_batch(self, sequences: list[str]) -> list[torch.Tensor]:
        """Embed several proteins together; each starts from a zero state.

        Several proteins run with continuous batching (:mod:`seqvec.lm.refill`, ``rows`` in
        flight at every time step; bit-identical to one padded batch of them), one alone as
        a batch of one. Returns one float32 CPU tensor ``(n_layers + 1, L, 2P)`` per sequence, boundaries removed.
        Sequences are checked as FASTA input is (lower case upper-cased with a warning, a
        terminal ``*`` dropped, anything else outside A-Z an InvalidSequenceError).
        """
        sequences = sequence_list(sequences)
        if not sequences:
            return []
        sequences = list(normalize_sequences({f"sequence {i + 1}": s for i, s in enumerate(sequences)}).values())
        types, lengths = encode_batch(sequences)
        device = self._device()
        if len(sequences) == 1 or not self.refill:
            layers, _ = self(types.to(device), lengths.to(device))
            layers = layers.float().cpu()
            return [layers[:, i, 1: len(s) + 1] for i, s in enumerate(sequences)]
        # continuous batching over the proteins laid out one after another (no padding)
        types, lengths = types.to(device), lengths.to(device)
        mask = torch.arange(types.shape[1], device=device)[None, :] < lengths[:, None]
        flat_types = types[mask]  # (N,), each protein from <S> to </S>
        x = self.token_vectors(flat_types)  # (N, P)
        flat = x.new_empty(self.n_output_layers, x.shape[0], self.output_dim)
        flat[0, :, :x.shape[1]] = x
        flat[0, :, x.shape[1]:] = x
        run_stack(self.lstm, x, lengths.tolist(), out=flat[1:], types=flat_types,
                  vectors=self.token_table())
        flat = flat.float().cpu()
        starts = torch.cumsum(lengths, 0).tolist()
        return [flat[:, end - len(s) - 1: end - 1] for end, s in zip(starts, sequences)]

    @torch.no_grad()
    def embed_with_state(self, sequence: str, state: StackState | None
                         ) -> tuple[torch.Tensor, StackState]:
        """Embed one protein starting from ``state`` (None: zeros); return the end state too.

        Chaining this over a file reproduces allennlp's stateful ``embed_sentence`` loop.
        ``state`` may be on any device.
        """
        (sequence,) = normalize_sequences({"sequence": one_sequence(sequence)}).values()
        types, lengths = encode_batch([sequence])
        device = self._device()
        if state is not None:
            state = [[(h.to(device), c.to(device)) for h, c in direction] for direction in state]
        layers, final = self(types.to(device), lengths.to(device), state)
        return layers.float().cpu()[:, 0, 1: len(sequence) + 1], final

    def embed(self, sequence: str) -> np.ndarray:
        """Embedding of one protein, ``(n_layers + 1, L, 2P)`` float32 numpy."""
        return self.embed_batch([one_sequence(sequence)])[0].numpy()
