"""The language-model objective: a trainable biLM with a softmax over residues.

Two LSTM implementations, one maths: with clipping off (clip 0) the stack uses
``torch.nn.LSTM`` with ``proj_size`` (fused C++ time loop), one module per direction
and layer, since ELMo never mixes directions between layers; with clipping on it uses
seqvec's own :class:`~seqvec.lm.bilstm.BiLSTMStack`. :meth:`BiLM.to_seqvec_lm` maps
either onto the inference model exactly (gate order, summed biases, TF's forget +1).
"""
from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from seqvec.lm.bilstm import BiLSTMStack, ProjectedLSTM, reverse_padded
from seqvec.lm.char_cnn import CharCNN
from seqvec.lm.config import SeqVecConfig
from seqvec.lm.model import SeqVecLM
from seqvec.lm.tokens import TYPE_TO_VOCAB, VOCAB

# torch.nn.LSTM packs gates i, f, g, o; bilm-tf packs i, j(=g), f, o
_TORCH_TO_TF = [0, 2, 1, 3]


def _tf_gates(w: torch.Tensor) -> torch.Tensor:
    """Gate blocks of a torch LSTM tensor (first dim 4D) reordered to TF's i, j, f, o."""
    return torch.cat([w.chunk(4, dim=0)[i] for i in _TORCH_TO_TF], dim=0)


class FastBiLSTM(nn.Module):
    """Unclipped ELMo BiLSTM on ``torch.nn.LSTM`` modules (training speed)."""

    def __init__(self, config: SeqVecConfig):
        super().__init__()
        p, d = config.projection_dim, config.lstm_dim
        self.directions = nn.ModuleList(
            nn.ModuleList(nn.LSTM(p, d, proj_size=p, batch_first=True) for _ in range(config.n_layers))
            for _ in range(2))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """x ``(B, T, P)`` left-aligned -> per-layer ``(B, T, 2P)`` outputs, skip connections added."""
        halves = []
        for d, layers in enumerate(self.directions):
            inp = x if d == 0 else reverse_padded(x, lengths)
            outs = []
            for li, lstm in enumerate(cast(nn.ModuleList, layers)):
                # no PackedSequence: padding sits after every sequence's end (the backward
                # input is reversed within each length), so it never reaches a valid output;
                # and packed input makes the native backward quadratic in time
                out, _ = lstm(inp)
                if li > 0:
                    out = out + inp
                outs.append(out)
                inp = out
            halves.append(outs if d == 0 else [reverse_padded(o, lengths) for o in outs])
        return [torch.cat([f, b], dim=2) for f, b in zip(*halves)]

    def export_to(self, stack: BiLSTMStack) -> None:
        """Copy these weights into an inference stack, mapping gates and biases exactly."""
        with torch.no_grad():
            for lstms, targets in zip(self.directions, stack.directions):
                for module, layer in zip(cast(nn.ModuleList, lstms), cast(nn.ModuleList, targets)):
                    w = dict(module.named_parameters())  # nn.LSTM: weight_ih_l0, ...
                    target = cast(ProjectedLSTM, layer)
                    target.input_weight.copy_(_tf_gates(w["weight_ih_l0"]).T)
                    target.recurrent_weight.copy_(_tf_gates(w["weight_hh_l0"]).T)
                    target.bias.copy_(_tf_gates(w["bias_ih_l0"] + w["bias_hh_l0"]) - target.forget_offset)
                    target.projection_weight.copy_(w["weight_hr_l0"].T)

    def import_from(self, stack: BiLSTMStack) -> None:
        """Inverse of :meth:`export_to`: load an inference stack's weights (the gate map is its own inverse)."""
        with torch.no_grad():
            for lstms, sources in zip(self.directions, stack.directions):
                for module, layer in zip(cast(nn.ModuleList, lstms), cast(nn.ModuleList, sources)):
                    w = dict(module.named_parameters())
                    source = cast(ProjectedLSTM, layer)
                    w["weight_ih_l0"].copy_(_tf_gates(source.input_weight.T))
                    w["weight_hh_l0"].copy_(_tf_gates(source.recurrent_weight.T))
                    w["bias_ih_l0"].copy_(_tf_gates(source.bias + source.forget_offset))
                    w["bias_hh_l0"].zero_()
                    w["weight_hr_l0"].copy_(source.projection_weight.T)


def direction_losses(softmax: nn.Module, top: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor
                     ) -> torch.Tensor:
    """Summed cross-entropy of both directions, ``(2,)``: [forward, backward] (nats).

    top ``(B, T, 2P)``: the top layer, forward half first; targets ``(B, T)``: vocabulary
    indices of the tokens; lengths ``(B,)``. Forward position t predicts token t+1,
    backward position t predicts token t-1; ``sum(lengths - 1)`` predictions per direction.
    """
    p = top.shape[-1] // 2
    valid = torch.arange(targets.shape[1], device=targets.device)[None, :] < lengths[:, None]
    pair = valid[:, 1:] & valid[:, :-1]  # (B, T-1): both ends of a (t, t+1) pair exist
    fwd = F.cross_entropy(softmax(top[:, :-1, :p][pair]), targets[:, 1:][pair], reduction="sum")
    bwd = F.cross_entropy(softmax(top[:, 1:, p:][pair]), targets[:, :-1][pair], reduction="sum")
    return torch.stack([fwd, bwd])


class BiLM(nn.Module):
    """Token encoder + BiLSTM + a softmax over :data:`VOCAB` shared by both directions."""

    def __init__(self, config: SeqVecConfig, dropout: float = 0.1):
        super().__init__()
        self.config = config
        self.char_cnn = CharCNN(config)
        clipped = bool(config.cell_clip or config.proj_clip)
        self.lstm: BiLSTMStack | FastBiLSTM = (BiLSTMStack(config.projection_dim, config.lstm_dim, config.projection_dim,
                                 config.n_layers, config.cell_clip, config.proj_clip)
                     if clipped else FastBiLSTM(config))
        self.dropout = nn.Dropout(dropout)
        self.softmax = nn.Linear(config.projection_dim, len(VOCAB))
        self.type_to_vocab: torch.Tensor
        self.register_buffer("type_to_vocab", TYPE_TO_VOCAB.clone(), persistent=False)

    def forward(self, types: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy of both directions, ``(2,)``: [forward, backward] (nats).

        types ``(B, T)`` left-aligned token types; lengths ``(B,)``. Forward position t
        predicts token t+1, backward position t predicts token t-1, within each window.
        """
        x = self.dropout(self.char_cnn.token_table()[types])  # (B, T, P)
        out = self.lstm(x, lengths)
        top = out[-1] if isinstance(self.lstm, FastBiLSTM) else out[0][-1]
        top = self.dropout(top)
        return direction_losses(self.softmax, top, self.type_to_vocab[types], lengths)

    @classmethod
    def from_pretrained(cls, lm: SeqVecLM, softmax: nn.Linear, dropout: float = 0.1) -> BiLM:
        """A training model that starts from an exported model and its LM softmax (warm start)."""
        model = cls(lm.config, dropout)
        model.char_cnn.load_state_dict(lm.char_cnn.state_dict())
        if isinstance(model.lstm, FastBiLSTM):
            model.lstm.import_from(lm.lstm)
        else:
            model.lstm.load_state_dict(lm.lstm.state_dict())
        model.softmax.load_state_dict(softmax.state_dict())
        return model

    def to_seqvec_lm(self) -> SeqVecLM:
        """The inference model with these weights (exportable as allennlp files)."""
        model = SeqVecLM(self.config)
        model.char_cnn.load_state_dict(self.char_cnn.state_dict())
        if isinstance(self.lstm, FastBiLSTM):
            self.lstm.export_to(model.lstm)
        else:
            model.lstm.load_state_dict(self.lstm.state_dict())
        return model.eval()
