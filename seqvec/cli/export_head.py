"""``seqvec export-head HEAD -o head.onnx``: a trained head as ONNX, for use outside seqvec."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write a trained head as an ONNX model (dynamic batch and length), checked with onnxruntime"
DESCRIPTION = """\
Write a head (a head directory from 'seqvec train', or bundled:protein / bundled:residue)
as an ONNX model that any ONNX runtime can run without seqvec or PyTorch. Inputs: 'x'
float32 [batch, length, D] and 'mask' bool [batch, length] (True at real residues) for
heads on per-residue embeddings (la, cnn, convlstm), or 'x' [batch, D] for fnn; one output
of logits per task, named after it. The class names, value scaling and the embeddings
the inputs must come from are in the model's metadata (seqvec_tasks, seqvec_embeddings).
Before the file is kept, onnxruntime runs it on inputs of another size and its outputs
must match the PyTorch head (within 1e-4). Needs: pip install 'seqvec[onnx]'.

example:
  seqvec export-head heads/location -o location.onnx
  seqvec export-head bundled:residue -o residue.onnx
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("head", help="head directory, or bundled:protein / bundled:residue")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the ONNX file to write (.onnx)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")


def run(args: argparse.Namespace) -> int:
    from seqvec.errors import UsageError

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401

        from seqvec.classifiers.heads.onnx_export import export_head
    except ImportError as err:
        raise UsageError(f"export-head needs onnx and onnxruntime ({err.name} is missing): "
                         "pip install 'seqvec[onnx]'", option="export-head") from None
    written = export_head(args.head, args.output, opset=args.opset)
    print(f"wrote {written} (checked with onnxruntime against the PyTorch head)")
    return 0
