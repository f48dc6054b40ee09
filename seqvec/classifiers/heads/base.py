"""The interface every head implements (FNN, CNN, light attention, conv+BiLSTM, ...).

A head is a ``torch.nn.Module`` subclass of :class:`Head`:

- built as ``HeadClass(input_dim, outputs, **hparams)``, where ``outputs`` maps each task
  name to its number of outputs (``{"ss3": 3, "ss8": 8}``; 1 for a value task) and ``hparams`` are plain JSON
  values (ints, floats, strings); ``head.hparams`` returns them so that
  ``HeadClass(head.input_dim, head.outputs, **head.hparams)`` rebuilds the same module
  (this is what checkpoints store);
- class attributes ``input_level`` and ``output_level``, each ``"protein"`` or ``"residue"``:
  per-protein input is ``x: [B, D]`` (``mask`` is None); per-residue input is
  ``x: [B, L, D]`` float with ``mask: [B, L]`` bool, True = real residue, padding after;
- ``forward(x, mask=None)`` returns ``{task: logits}``, logits ``[B, C]`` for per-protein
  outputs and ``[B, L, C]`` for per-residue outputs (values at padding are arbitrary; the
  loss and metrics never read them).

A head must give the same output for a protein alone as inside a padded batch (in eval
mode): mask every pooling, and zero padded positions before every convolution.

Capabilities (what ``seqvec plot`` can draw of a head) are declared, not probed:

- ``has_attention = True``: :meth:`Head.attention_weights` returns the logits and one
  attention weight per residue ``[B, L]`` (each row sums to 1 over the residues read);
- ``has_filters = True``: ``first_layer_filters()`` and ``first_layer_activations()``
  expose first-layer convolutions that read the input encoding directly.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn


class TaskModules(nn.ModuleDict):
    """One output layer per task, keyed by the task's name, whatever the name.

    ``nn.ModuleDict`` refuses keys that are attributes of a module (``train``, ``eval``,
    ``forward``, ``float``, ...) or hold a dot, so a labels file called ``train.fasta``
    could not be learned. Such names are stored under an escaped key (``task:train``,
    ``task:a%2Eb``); every other name is its own key, so heads saved before read the same.
    Indexing and iteration use the task names.
    """

    _PLAIN = nn.ModuleDict()
    _PREFIX = "task:"

    @classmethod
    def key_of(cls, task: str) -> str:
        """The internal key of ``task``."""
        taken = hasattr(cls._PLAIN, task) or hasattr(cls, task)
        if task and "." not in task and not taken and not task.startswith(cls._PREFIX):
            return task
        return cls._PREFIX + task.replace("%", "%25").replace(".", "%2E")

    @classmethod
    def task_of(cls, key: str) -> str:
        """The task name of an internal key."""
        if not key.startswith(cls._PREFIX):
            return key
        return key[len(cls._PREFIX):].replace("%2E", ".").replace("%25", "%")

    def __getitem__(self, task: str) -> nn.Module:
        return super().__getitem__(self.key_of(task))

    def __setitem__(self, task: str, module: nn.Module) -> None:
        super().__setitem__(self.key_of(task), module)

    def __delitem__(self, task: str) -> None:
        super().__delitem__(self.key_of(task))

    def __contains__(self, task: object) -> bool:
        return isinstance(task, str) and super().__contains__(self.key_of(task))

    def __iter__(self):
        return (self.task_of(k) for k in super().__iter__())

    def keys(self):
        return [self.task_of(k) for k in super().keys()]

    def items(self):
        return [(self.task_of(k), m) for k, m in super().items()]


class Head(nn.Module):
    """Base class: stores the constructor arguments and checks input shapes."""

    input_level: ClassVar[str] = "protein"
    output_level: ClassVar[str] = "protein"
    has_attention: ClassVar[bool] = False  # implements attention_weights()
    has_filters: ClassVar[bool] = False  # implements first_layer_filters() and first_layer_activations()

    def __init__(self, input_dim: int, outputs: Mapping[str, int], **hparams):
        super().__init__()
        if int(input_dim) < 1:
            raise ValueError(f"input_dim must be positive, got {input_dim}")
        if not outputs or any(int(n) < 1 for n in outputs.values()):
            raise ValueError(f"outputs must map task names to >= 1 output, got {dict(outputs)}")
        self.input_dim = int(input_dim)
        self.outputs = {str(task): int(n) for task, n in outputs.items()}
        self._hparams = dict(hparams)

    @property
    def hparams(self) -> dict:
        """Constructor keyword arguments besides ``input_dim`` and ``outputs``."""
        return dict(self._hparams)

    def check_input(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        """Validate ``x`` (and ``mask``) against ``input_level``; returns the mask (bool) or None."""
        if self.input_level == "protein":
            if x.ndim != 2 or x.shape[1] != self.input_dim:
                raise ValueError(f"{type(self).__name__} expects x of shape [B, {self.input_dim}], "
                                 f"got {list(x.shape)}")
            return None
        return self.residue_mask(x, mask)

    def residue_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Validate residue-level ``x [B, L, D]`` (and ``mask [B, L]``); returns the bool mask."""
        if x.ndim != 3 or x.shape[2] != self.input_dim:
            raise ValueError(f"{type(self).__name__} expects x of shape [B, L, {self.input_dim}], "
                             f"got {list(x.shape)}")
        if mask is None:
            return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask shape {list(mask.shape)} does not match x {list(x.shape)}")
        return mask.bool()

    def attention_weights(self, x: torch.Tensor, mask: torch.Tensor | None = None
                          ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Logits ``{task: [B, C]}`` and attention per residue ``[B, L]`` (heads with ``has_attention``)."""
        raise NotImplementedError(f"{type(self).__name__} has no attention weights")
