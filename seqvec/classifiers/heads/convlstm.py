"""Convolutional BiLSTM with attention for protein localization (Sønderby et al. 2015; DeepLoc).

The network reads a per-residue encoding (one-hot, BLOSUM62 rows or a language-model
embedding) and predicts one location per protein, plus membrane-bound/soluble on DeepLoc.
It is the head ``"convlstm"`` of :mod:`seqvec.classifiers.heads.registry`:

1. **Position dropout** (training only): whole residues are zeroed with probability
   ``input_dropout``, without rescaling, as the ``DropoutSeqPosLayer`` of the original code.
2. **Convolutions of several widths** over the input, ``n_filters`` each of widths
   ``kernel_sizes`` ((1, 3, 5, 9, 15, 21) as in DeepLoc), ReLU, concatenated; then a second
   convolution (``conv2_filters`` filters of width 3), ReLU. Padding positions are zeroed
   before every convolution, so a protein's result does not depend on its batch.
3. **Bidirectional LSTM** (``lstm_hidden`` units per direction) over the real residues only:
   the backward direction reads each protein reversed within its own length, so it starts
   at the protein's last residue, not at the padding. (Two plain LSTMs rather than packed
   sequences: on CPU, the backward pass of a packed LSTM grows with the square of the length.)
4. **Attention** over positions: ``e_t = v^T tanh(W h_t + b)``, ``a = softmax(e)`` over the
   real residues (padding gets exactly zero weight), ``c = sum_t a_t h_t``. This is the
   single-step feed-forward alignment of Sønderby et al.'s attention LSTM; DeepLoc refined
   it into a 10-step attention decoder (not reproduced here).
5. **Dense** layer (ReLU, dropout ``dropout`` before and after) and one linear output per
   task: ``localization`` and, on DeepLoc, ``membrane`` (DeepLoc's second output).

**Long proteins.** As DeepLoc did, a protein longer than ``max_length`` (1000) residues keeps
its first ``ceil(max_length / 2)`` and its last ``floor(max_length / 2)`` residues, where the
sorting signals sit (signal peptides and transit peptides at the N-terminus, peroxisomal
and ER-retention signals at the C-terminus). The attention weights that ``forward`` returns
are laid back on the original positions: the dropped middle gets weight 0.

Sources. The abstract of Sønderby, Sønderby, Nielsen & Winther 2015 (arXiv:1503.01919;
AlCoB 2015, LNCS 9199:68-80) states the design: convolutional filters, an LSTM, attention
that lets it focus on parts of the protein, MultiLoc, accuracy 0.902. Its full text was
not reachable while this was written, so the sizes come from the same group's published
code for the MultiLoc/DeepLoc model (``vanessajurtz/lasagne4bio``,
``subcellular_localization/model.py`` and ``train.py``; Jurtz et al. 2017, Bioinformatics
33:3685, co-authored by the DeepLoc author): widths 1, 3, 5, 9, 15, 21 (ReLU, same
padding); a second convolution of width 3; bidirectional LSTM of 256 units per direction;
alignment layer of 256 units; input position dropout 0.2; hidden dropout 0.5; gradient
norm clipped at 3; sequences cut to 1000 positions. That code uses 10 filters per width,
64 in the second convolution and a dense layer of 512; the defaults here, 20, 128 and
256, are the sizes given for DeepLoc (Almagro Armenteros et al. 2017, Bioinformatics
33:3387).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import nn

from seqvec.classifiers.heads.base import Head, TaskModules
from seqvec.lm.bilstm import reverse_padded

logger = logging.getLogger(__name__)


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


POOLINGS = ("attention", "mean", "last")  # how the BiLSTM outputs become one vector per protein


def _flag(value: bool | str) -> bool:
    """``True``/``False`` or their spellings in ``--head-option`` (``true``, ``0``, ...)."""
    if isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"convolutions must be true or false, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def _kernel_sizes(value: str | Sequence[int]) -> list[int]:
    """``"1,3,5"`` or ``[1, 3, 5]`` -> ``[1, 3, 5]``, each odd and >= 1."""
    sizes = [int(k) for k in (value.split(",") if isinstance(value, str) else value)]
    if not sizes or any(k < 1 or k % 2 == 0 for k in sizes):
        raise ValueError(f"kernel_sizes must be odd widths >= 1 (they keep the length), got {value!r}")
    return sizes


class ConvLSTMHead(Head):
    """Conv + BiLSTM + attention over per-residue input, one logit vector per protein and task.

    Registered as ``"convlstm"``. Input ``x: [B, L, D]`` float, ``mask: [B, L]`` bool (True
    = real residue, padding after); ``forward`` returns ``{task: [B, C]}``, and with
    ``return_attention=True`` also the attention weights ``[B, L]``. All hyper-parameters
    are described in the module docstring; defaults follow DeepLoc.

    Parameters
    ----------
    input_dim : int
        Features per residue (21 one-hot or BLOSUM62, 1024 SeqVec).
    outputs : Mapping[str, int]
        Task name -> number of classes, e.g. ``{"localization": 10, "membrane": 2}``.
    """

    input_level = "residue"
    output_level = "protein"
    has_attention = True
    has_filters = True  # first convolutions read the one-hot / BLOSUM62 encoding

    def __init__(self, input_dim: int, outputs: Mapping[str, int], n_filters: int = 20,
                 kernel_sizes: str | Sequence[int] = (1, 3, 5, 9, 15, 21), conv2_filters: int = 128,
                 conv2_kernel: int = 3, lstm_hidden: int = 256, attention_hidden: int = 256,
                 dense_hidden: int = 256, input_dropout: float = 0.2, dropout: float = 0.5,
                 max_length: int = 1000, convolutions: bool = True, pooling: str = "attention"):
        sizes = _kernel_sizes(kernel_sizes)
        convolutions = _flag(convolutions)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        _kernel_sizes([conv2_kernel])
        for name, value in [("n_filters", n_filters), ("conv2_filters", conv2_filters),
                            ("lstm_hidden", lstm_hidden), ("attention_hidden", attention_hidden),
                            ("dense_hidden", dense_hidden), ("max_length", max_length)]:
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not (0 <= input_dropout < 1 and 0 <= dropout < 1):
            raise ValueError(f"dropouts must lie in [0, 1), got {input_dropout} and {dropout}")
        super().__init__(input_dim, outputs, n_filters=n_filters, kernel_sizes=sizes,
                         conv2_filters=conv2_filters, conv2_kernel=conv2_kernel, lstm_hidden=lstm_hidden,
                         attention_hidden=attention_hidden, dense_hidden=dense_hidden,
                         input_dropout=input_dropout, dropout=dropout, max_length=max_length,
                         convolutions=convolutions, pooling=pooling)
        self.max_length = int(max_length)
        self.input_dropout = float(input_dropout)
        self.pooling = pooling
        self.convs = nn.ModuleList(nn.Conv1d(self.input_dim, n_filters, k, padding=k // 2) for k in sizes) \
            if convolutions else nn.ModuleList()
        self.conv2 = nn.Conv1d(n_filters * len(sizes), conv2_filters, conv2_kernel, padding=conv2_kernel // 2) \
            if convolutions else None
        lstm_input = conv2_filters if convolutions else self.input_dim
        self.lstm_forward = nn.LSTM(lstm_input, lstm_hidden, batch_first=True)
        self.lstm_backward = nn.LSTM(lstm_input, lstm_hidden, batch_first=True)
        attends = pooling == "attention"
        self.align = nn.Linear(2 * lstm_hidden, attention_hidden) if attends else None
        self.align_v = nn.Linear(attention_hidden, 1, bias=False) if attends else None
        self.dense = nn.Linear(2 * lstm_hidden, dense_hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = TaskModules({task: nn.Linear(dense_hidden, n) for task, n in self.outputs.items()})

    def first_layer_filters(self) -> list[tuple[int, torch.Tensor]]:
        """``[(width, weight [n_filters, D, width]), ...]`` of the first convolutions (detached)."""
        if self.conv2 is None:
            raise ValueError("this convlstm head has no convolutions (convolutions=False): it has no filters")
        convs = [cast(nn.Conv1d, conv) for conv in self.convs]
        return [(conv.kernel_size[0], conv.weight.detach()) for conv in convs]

    def _kept(self, x: torch.Tensor, mask: torch.Tensor | None):
        """Validated mask, kept positions ``[B, L']``, their mask, and the kept input ``[B, L', D]``."""
        mask = self.residue_mask(x, mask)
        lengths = mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError(f"empty protein(s) at batch rows {torch.nonzero(lengths == 0).flatten().tolist()}")
        if not torch.equal(torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None], mask):
            raise ValueError("mask must mark each protein's residues first and its padding after them")
        index, kept = terminal_index(mask, self.max_length)               # (B, L'), (B, L')
        xk = x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))    # (B, L', D)
        return mask, index, kept, xk * kept[..., None]

    def _first_layer(self, xt: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        # xt (B, D, L') with padding zero -> (B, n_filters * n_widths, L'), padding zero
        return torch.cat([torch.relu(conv(xt)) for conv in self.convs], dim=1) * kept[:, None, :]

    @torch.no_grad()
    def first_layer_activations(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """ReLU outputs of the first convolutions on the kept positions, ``[B, L', n_filters * n_widths]``.

        Channel ``i * n_filters + j`` is filter ``j`` of width ``kernel_sizes[i]``; 0 at padding.
        """
        _, _, kept, xk = self._kept(x, mask)
        if self.conv2 is None:
            raise ValueError("this convlstm head has no convolutions (convolutions=False): it has no filters")
        return self._first_layer(xk.transpose(1, 2), kept).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False
                ) -> dict[str, torch.Tensor] | tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Logits per task ``{task: [B, C]}``; with ``return_attention`` also the weights ``[B, L]``.

        The attention weights sit on the original positions: each row sums to 1 and is 0 at
        padding and in the dropped middle of proteins longer than ``max_length``.
        """
        mask, index, kept, xk = self._kept(x, mask)
        if self.training and self.input_dropout > 0:  # drop whole residues, no rescaling (as the original)
            xk = xk * torch.bernoulli(torch.full_like(kept, 1 - self.input_dropout, dtype=x.dtype))[..., None]
        if self.conv2 is not None:
            h = self._first_layer(xk.transpose(1, 2), kept)                  # (B, F1, L')
            h = torch.relu(self.conv2(h)) * kept[:, None, :]                 # (B, F2, L')
            h = self.dropout(h.transpose(1, 2))                              # (B, L', F2)
        else:  # the ablation without convolutions: the BiLSTM reads the encoding itself
            h = xk                                                           # (B, L', D)
            if torch.is_autocast_enabled(h.device.type):  # torch's CPU LSTM fails under bf16 autocast
                h = h.to(torch.get_autocast_dtype(h.device.type))  # on float32 input (2.13): cast first
        # padding comes after each protein, so it never reaches a real position's output
        lengths = kept.sum(1)                                                # (B,)
        backward = self.lstm_backward(reverse_padded(h, lengths))[0]         # (B, L', H), reversed order
        backward = reverse_padded(backward, lengths)                         # (B, L', H)
        out = torch.cat([self.lstm_forward(h)[0], backward], dim=-1)        # (B, L', 2H)
        if self.pooling == "last":  # forward state at the last residue, backward state at the first
            if return_attention:
                raise ValueError("a convlstm head with pooling='last' has no attention weights")
            last = out[torch.arange(out.shape[0]), lengths - 1, : out.shape[-1] // 2]
            context = torch.cat([last, out[:, 0, out.shape[-1] // 2:]], dim=-1)  # (B, 2H)
        else:
            if self.align is not None and self.align_v is not None:
                scores = self.align_v(torch.tanh(self.align(out))).squeeze(-1)   # (B, L')
                alpha = torch.softmax(scores.masked_fill(~kept, torch.finfo(scores.dtype).min), dim=1) * kept
            else:  # mean: uniform weights over the kept residues
                alpha = kept.to(out.dtype) / lengths[:, None].to(out.dtype)      # (B, L')
            context = torch.einsum("bl,bld->bd", alpha, out)                     # (B, 2H)
        z = self.dropout(torch.relu(self.dense(self.dropout(context))))     # (B, dense)
        logits = {task: layer(z) for task, layer in self.out.items()}
        if not return_attention:
            return logits
        attention = torch.zeros(mask.shape, dtype=alpha.dtype, device=alpha.device).scatter(1, index, alpha)
        return logits, attention

    def attention_weights(self, x: torch.Tensor, mask: torch.Tensor | None = None
                          ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Logits and the attention weights ``[B, L]`` on the original positions (see :meth:`forward`)."""
        logits, attention = self(x, mask, return_attention=True)
        return logits, attention
