"""A trained head as an ONNX model, for use outside seqvec (``pip install 'seqvec[onnx]'``).

The ONNX graph takes what the head takes and gives one output of logits per task:

- per-residue input (``la``, ``cnn``, ``convlstm``): ``x`` float32 ``[batch, length, D]``
  and ``mask`` bool ``[batch, length]`` (True at real residues); both axes dynamic;
- per-protein input (``fnn``): ``x`` float32 ``[batch, D]``;
- outputs named after the tasks: ``[batch, C]`` (per protein) or ``[batch, length, C]``
  (per residue) logits, in the class order of the metadata.

The model's metadata (``metadata_props``) holds ``seqvec_tasks`` (JSON: each task's kind,
classes or labels, value scaling) and ``seqvec_embeddings`` (the encoder and model the
inputs must come from). :func:`export_head` checks the file with onnxruntime against the
PyTorch head on inputs of another batch size and length before it returns.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from seqvec.classifiers.heads.checkpoint import HeadCheckpoint, load_head
from seqvec.errors import CheckpointError, UsageError
from seqvec.io.output import Output

logger = logging.getLogger(__name__)

OPSET = 17
TOLERANCE = 1e-4  # largest |onnxruntime - torch| difference of logits accepted


class _Tupled(torch.nn.Module):
    """The head with its ``{task: logits}`` output as a tuple in ``tasks`` order (ONNX has no dicts)."""

    def __init__(self, head: torch.nn.Module, tasks: list[str]):
        super().__init__()
        self.head, self.tasks = head, tasks

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        out = self.head(x, mask)
        return tuple(out[t] for t in self.tasks)


def _example(checkpoint: HeadCheckpoint, batch: int, length: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Random inputs ``(x,)`` or ``(x, mask)`` with the last protein shorter (padding exercised)."""
    generator = torch.Generator().manual_seed(seed)
    dim = checkpoint.head.input_dim
    if checkpoint.head.input_level == "protein":
        return (torch.randn(batch, dim, generator=generator),)
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[-1, length * 2 // 3:] = False
    return torch.randn(batch, length, dim, generator=generator), mask


def export_head(head: str | os.PathLike | HeadCheckpoint, output: str | os.PathLike, *, opset: int = OPSET,
                verify: bool = True, overwrite: bool = False) -> Path:
    """Write ``head`` (a head directory, ``bundled:NAME`` or a loaded checkpoint) as ONNX to ``output``.

    With ``verify``, onnxruntime runs the file on inputs of another shape than the export's
    and every output must match PyTorch within :data:`TOLERANCE`; the file is only left in
    place when it does. Written through :class:`seqvec.io.output.Output`: never into the
    head's directory's files, over an existing file only with ``overwrite``. Returns the path.
    """
    checkpoint = head if isinstance(head, HeadCheckpoint) else load_head(head)
    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise UsageError(f"the output of an ONNX export must end in .onnx, got {str(output)!r}", option="output")
    example = _example(checkpoint, 2, 24, seed=0)
    residue_input = len(example) == 2
    names = ["x", "mask"] if residue_input else ["x"]
    axes = {"x": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}} if residue_input else {"x": {0: "batch"}}
    for task, spec in checkpoint.tasks.items():
        axes[task] = {0: "batch", 1: "length"} if spec.level == "residue" else {0: "batch"}
    with Output(output, inputs=[checkpoint.path], overwrite=overwrite) as out, out.temporary() as tmp:
        _write(checkpoint, tmp, example, names, axes, opset, verify)
    return output


def _write(checkpoint: HeadCheckpoint, tmp: Path, example: tuple, names: list[str], axes: dict, opset: int,
           verify: bool) -> None:
    """Export, add the metadata, check the graph and (``verify``) compare it with PyTorch."""
    import onnx

    tasks = list(checkpoint.tasks)
    model = _Tupled(checkpoint.head.float(), tasks).eval()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(tmp), input_names=names, output_names=tasks, dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
    proto = onnx.load(str(tmp))
    for key, value in (("seqvec_tasks", {t: s.to_json() for t, s in checkpoint.tasks.items()}),
                       ("seqvec_embeddings", checkpoint.embeddings), ("seqvec_head", checkpoint.name)):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    if verify:
        difference = compare_with_torch(tmp, checkpoint)
        if difference > TOLERANCE:
            raise CheckpointError(f"the ONNX export of {checkpoint.path} differs from the PyTorch head by "
                                  f"{difference:.2g} (more than {TOLERANCE}); nothing written")
        logger.info("onnxruntime matches the PyTorch head (largest difference %.2g)", difference)


def compare_with_torch(path: str | os.PathLike, checkpoint: HeadCheckpoint, batch: int = 3, length: int = 57) -> float:
    """Largest absolute difference between onnxruntime's outputs and the PyTorch head's on random
    inputs of ``batch`` proteins of ``length`` residues (the last one shorter)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = _example(checkpoint, batch, length, seed=1)
    feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
    got = session.run(None, feed)
    with torch.no_grad():
        want = _Tupled(checkpoint.head.float(), list(checkpoint.tasks)).eval()(*inputs)
    keep = inputs[1].numpy() if len(inputs) == 2 else None  # (B, L) real residues
    worst = 0.0
    for spec, onnx_out, torch_out in zip(checkpoint.tasks.values(), got, want):
        a, b = np.asarray(onnx_out), torch_out.numpy()
        if keep is not None and spec.level == "residue":  # padding positions are not predictions
            a, b = a[keep], b[keep]
        worst = max(worst, float(np.abs(a - b).max()))
    return worst
