"""Convolutional BiLSTM with attention for protein localization (Sønderby et al. 2015; DeepLoc).

The network reads a per-residue encoding (one-hot, BLOSUM62 rows or a language-model
embedding) and predicts one location per protein, plus membrane-bound/soluble on DeepLoc:

1. **Position dropout** (training only): whole residues are zeroed with probability
   ``input_dropout``, without rescaling, as the ``DropoutSeqPosLayer`` of the original code.
2. **Convolutions of several widths** over the input, ``n_filters`` each of widths
   ``kernel_sizes`` ((1, 3, 5, 9, 15, 21) as in DeepLoc), ReLU, concatenated; then a second
   convolution (``conv2_filters`` filters of width 3), ReLU. Padding positions are zeroed
   before every convolution, so a protein's result does not depend on its batch.
3. **Bidirectional LSTM** (``lstm_hidden`` units per direction) over the real residues only
   (packed sequences: the backward direction starts at the protein's last residue, not at
   the padding).
4. **Attention** over positions: ``e_t = v^T tanh(W h_t + b)``, ``a = softmax(e)`` over the
   real residues (padding gets exactly zero weight), ``c = sum_t a_t h_t``. This is the
   single-step feed-forward alignment of Sønderby et al.'s attention LSTM; DeepLoc refined
   it into a 10-step attention decoder (not reproduced here).
5. **Dense** layer (ReLU, dropout ``dropout``) and the outputs: ``n_classes`` location
   logits and, when ``n_membrane`` > 0, membrane logits (DeepLoc's second output).

**Long proteins.** As DeepLoc did, a protein longer than ``max_length`` (1000) residues keeps
its first ``ceil(max_length / 2)`` and its last ``floor(max_length / 2)`` residues, where the
sorting signals sit (signal peptides and transit peptides at the N-terminus, peroxisomal
and ER-retention signals at the C-terminus). The attention weights that ``forward`` returns
are laid back on the original positions: the dropped middle gets weight 0.

Sources for the sizes. The abstract of Sønderby, Sønderby, Nielsen & Winther 2015
(arXiv:1503.01919; AlCoB 2015, LNCS 9199:68-80) states the design (convolutional filters,
bidirectional LSTM, attention over the sequence, MultiLoc, accuracy 0.902). The concrete
widths and sizes follow DeepLoc (Almagro Armenteros et al. 2017, Bioinformatics 33:3387)
as published in the authors' code (``vanessajurtz/lasagne4bio``,
``subcellular_localization/model.py`` and ``train.py``, Jurtz et al. 2017): widths
1, 3, 5, 9, 15, 21; second convolution of width 3; LSTM of 256 units per direction;
alignment layer of 256 units; dense layer; input position dropout 0.2; hidden dropout 0.5;
sequences cut to 1000 positions. Defaults here: 20 filters per width and a second
convolution of 128 filters (DeepLoc's paper); dense layer of 256 units.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConvLSTMConfig:
    """Sizes of :class:`ConvLSTM`; see the module docstring for where each comes from."""

    input_dim: int                      # D, features per residue (21 one-hot, 24 BLOSUM62, 1024 SeqVec)
    n_classes: int = 10                 # location classes (DeepLoc 10, MultiLoc 11)
    n_membrane: int = 2                 # membrane classes (M, S); 0 = no membrane output
    kernel_sizes: tuple[int, ...] = (1, 3, 5, 9, 15, 21)  # widths of the first convolutions (odd)
    n_filters: int = 20                 # filters per width in the first layer
    conv2_filters: int = 128            # filters of the second convolution
    conv2_kernel: int = 3               # width of the second convolution (odd)
    lstm_hidden: int = 256              # LSTM units per direction
    attention_hidden: int = 256         # units of the alignment layer W
    dense_hidden: int = 256             # units of the dense layer before the outputs
    input_dropout: float = 0.2          # probability of zeroing a whole residue (training)
    dropout: float = 0.5                # dropout after the convolutions and around the dense layer
    max_length: int = 1000              # longer proteins keep N- and C-terminal halves

    def __post_init__(self):
        for name in ("input_dim", "n_classes", "n_filters", "conv2_filters", "lstm_hidden",
                     "attention_hidden", "dense_hidden", "max_length"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ConvLSTMConfig.{name} must be >= 1, got {getattr(self, name)}")
        widths = (*self.kernel_sizes, self.conv2_kernel)
        if not self.kernel_sizes or any(k < 1 or k % 2 == 0 for k in widths):
            raise ValueError(f"convolution widths must be odd and >= 1, got {widths}")
        if not (0 <= self.input_dropout < 1 and 0 <= self.dropout < 1):
            raise ValueError(f"dropouts must lie in [0, 1), got {self.input_dropout}, {self.dropout}")
        object.__setattr__(self, "kernel_sizes", tuple(int(k) for k in self.kernel_sizes))

    def to_dict(self) -> dict:
        """Plain dict (JSON- and checkpoint-safe; tuples become lists)."""
        d = asdict(self)
        d["kernel_sizes"] = list(self.kernel_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ConvLSTMConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ConvLSTMConfig keys: {sorted(unknown)}")
        return cls(**{**d, "kernel_sizes": tuple(d.get("kernel_sizes", cls.kernel_sizes))})


def terminal_index(mask: torch.Tensor, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions to keep so that every protein has at most ``max_length`` residues.

    Parameters
    ----------
    mask : BoolTensor [B, L]
        True at real residues, which must come first in each row (padding at the end).
    max_length : int
        Longest kept protein; a longer one keeps its first ``ceil(max_length/2)`` and last
        ``floor(max_length/2)`` residues.

    Returns
    -------
    index : LongTensor [B, L']
        ``L' = min(L, max_length)``; row b lists the kept positions of protein b in order,
        then the following (padding) positions.
    kept_mask : BoolTensor [B, L']
        True at kept real residues.
    """
    lengths = mask.sum(1)                                          # (B,)
    width = min(mask.shape[1], max_length)
    head = math.ceil(max_length / 2)
    col = torch.arange(width, device=mask.device).expand(mask.shape[0], width)  # (B, L')
    # for a long protein, columns >= head jump to the C-terminal part
    jump = (lengths - max_length).clamp(min=0)[:, None]                          # (B, 1)
    index = torch.where(col >= head, col + jump, col)
    kept_mask = col < lengths.clamp(max=max_length)[:, None]
    return index, kept_mask


class ConvLSTM(nn.Module):
    """Conv + BiLSTM + attention localization network (see the module docstring).

    Parameters
    ----------
    config : ConvLSTMConfig
        Sizes; the model starts with random weights.
    """

    def __init__(self, config: ConvLSTMConfig):
        super().__init__()
        self.config = config
        c = config
        self.convs = nn.ModuleList(
            nn.Conv1d(c.input_dim, c.n_filters, k, padding=k // 2) for k in c.kernel_sizes)
        n_first = c.n_filters * len(c.kernel_sizes)
        self.conv2 = nn.Conv1d(n_first, c.conv2_filters, c.conv2_kernel, padding=c.conv2_kernel // 2)
        self.lstm = nn.LSTM(c.conv2_filters, c.lstm_hidden, batch_first=True, bidirectional=True)
        self.align = nn.Linear(2 * c.lstm_hidden, c.attention_hidden)
        self.align_v = nn.Linear(c.attention_hidden, 1, bias=False)
        self.dense = nn.Linear(2 * c.lstm_hidden, c.dense_hidden)
        self.location = nn.Linear(c.dense_hidden, c.n_classes)
        self.membrane = nn.Linear(c.dense_hidden, c.n_membrane) if c.n_membrane else None
        self.dropout = nn.Dropout(c.dropout)

    def first_layer_filters(self) -> list[tuple[int, torch.Tensor]]:
        """``[(width, weight [n_filters, D, width]), ...]`` of the first convolutions (detached)."""
        return [(conv.kernel_size[0], conv.weight.detach()) for conv in self.convs]

    def first_layer_activations(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ReLU outputs of the first convolutions, ``[B, L', n_filters * len(kernel_sizes)]``.

        Computed on the kept (truncated) positions, with padding zeroed; filter ``j`` of width
        ``kernel_sizes[i]`` is channel ``i * n_filters + j``.
        """
        x, mask = self._check(x, mask)
        index, kept = terminal_index(mask, self.config.max_length)
        xk = x.gather(1, index[..., None].expand(-1, -1, x.shape[-1])) * kept[..., None]
        return self._first_layer(xk.transpose(1, 2), kept).transpose(1, 2)

    def _check(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 3 or x.shape[-1] != self.config.input_dim:
            raise ValueError(f"x must be [B, L, {self.config.input_dim}], got {list(x.shape)}")
        if mask.shape != x.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor [B, L] = {list(x.shape[:2])}, "
                             f"got {mask.dtype} {list(mask.shape)}")
        lengths = mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError(f"empty protein(s) in the batch at rows {torch.nonzero(lengths == 0).flatten().tolist()}")
        prefix = torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None]
        if not torch.equal(prefix, mask):
            raise ValueError("mask must mark each protein's residues first and padding after them")
        return x, mask

    def _first_layer(self, xt: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        # xt (B, D, L'), padding already zero; output (B, F1, L')
        h = torch.cat([torch.relu(conv(xt)) for conv in self.convs], dim=1)
        return h * kept[:, None, :]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Classify a batch of proteins.

        Parameters
        ----------
        x : FloatTensor [B, L, D]
            Per-residue encoding; values at padding positions are ignored.
        mask : BoolTensor [B, L]
            True at real residues (each row's residues first, then padding).

        Returns
        -------
        dict
            ``"logits"`` [B, n_classes]; ``"membrane_logits"`` [B, n_membrane] when the model
            has a membrane output; ``"attention"`` [B, L], the attention weights on the
            original positions (each row sums to 1; 0 at padding and at the middle
            of proteins longer than ``max_length``); ``"representation"`` [B, 2 * lstm_hidden],
            the attention-pooled protein vector.
        """
        x, mask = self._check(x, mask)
        index, kept = terminal_index(mask, self.config.max_length)          # (B, L'), (B, L')
        xk = x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))      # (B, L', D)
        keep_prob = kept.to(x.dtype)
        if self.training and self.config.input_dropout > 0:
            keep_prob = keep_prob * torch.bernoulli(torch.full_like(keep_prob, 1 - self.config.input_dropout))
        xt = (xk * keep_prob[..., None]).transpose(1, 2)                    # (B, D, L')
        h = self._first_layer(xt, kept)                                     # (B, F1, L')
        h = torch.relu(self.conv2(h)) * kept[:, None, :]                    # (B, F2, L')
        h = self.dropout(h.transpose(1, 2))                                 # (B, L', F2)

        lengths = kept.sum(1).cpu()
        packed = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])  # (B, L', 2H)

        scores = self.align_v(torch.tanh(self.align(out))).squeeze(-1)      # (B, L')
        scores = scores.masked_fill(~kept, torch.finfo(scores.dtype).min)
        alpha = torch.softmax(scores, dim=1) * kept                         # (B, L'), 0 at padding
        context = torch.einsum("bl,bld->bd", alpha, out)                    # (B, 2H)

        z = self.dropout(torch.relu(self.dense(self.dropout(context))))    # (B, dense)
        result = {"logits": self.location(z), "representation": context}
        if self.membrane is not None:
            result["membrane_logits"] = self.membrane(z)
        # lay the weights back on the original positions (each kept position appears once)
        result["attention"] = torch.zeros(mask.shape, dtype=alpha.dtype, device=alpha.device).scatter(
            1, index, alpha)
        return result
