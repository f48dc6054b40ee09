"""``seqvec export-head``: a trained head as an ONNX model that runs without seqvec or PyTorch."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write a trained head as ONNX (dynamic batch and length), checked with onnxruntime against PyTorch"
DESCRIPTION = """\
Write a head (a head directory from 'seqvec train', or bundled:protein / bundled:residue)
as an ONNX model that any ONNX runtime runs without seqvec or PyTorch:
  inputs   'x' float32 [batch, length, D] and 'mask' bool [batch, length] (True at real
           residues) for la, cnn and convlstm heads; 'x' float32 [batch, D] for fnn
  outputs  one per task, named after it: logits [batch, classes] or [batch, length,
           classes] (class tasks), label logits (multi-label), or standardised values
           (multiply by value_std, add value_mean)
  metadata seqvec_tasks (class names in logit order, value scaling, threshold, label
           map), seqvec_embeddings (the encoder, model and layers the inputs must come
           from), seqvec_head (the architecture)
Batch and length are dynamic. The file is kept only after onnxruntime, run on inputs of
another batch size and length than the export's, matched the PyTorch head within 1e-4.
An existing -o file is replaced only with --overwrite. 'seqvec export HEAD -o FILE.onnx'
does the same. Needs: pip install 'seqvec[onnx]'.

examples:
  seqvec export-head heads/location -o location.onnx
  seqvec export-head bundled:residue -o residue.onnx --opset 18
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.cli.common import add_overwrite_argument

    parser.add_argument("head", help="head directory (from seqvec train), or bundled:protein / bundled:residue")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the ONNX file to write (ends in .onnx)")
    add_opset_argument(parser)
    add_overwrite_argument(parser, "an existing ONNX file")


def add_opset_argument(parser: argparse.ArgumentParser) -> None:
    """``--opset``, shared with ``seqvec export``."""
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version of a head's export (default: 17)")


def run(args: argparse.Namespace) -> int:
    return export_onnx(args.head, args.output, opset=args.opset, overwrite=args.overwrite)


def export_onnx(head: str | Path, output: Path, *, opset: int, overwrite: bool) -> int:
    """Export ``head`` to ``output`` and print what was written (``seqvec export-head`` and ``seqvec export``)."""
    from seqvec.errors import UsageError

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise UsageError(f"writing ONNX needs onnx and onnxruntime ({err.name} is missing): "
                         "pip install 'seqvec[onnx]'", option="output") from None
    from seqvec.classifiers.heads.onnx_export import export_head

    written = export_head(head, output, opset=opset, overwrite=overwrite)
    print(f"wrote {written} (checked with onnxruntime against the PyTorch head)")
    return 0
