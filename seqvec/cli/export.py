"""``seqvec export``: an embedding HDF5 file to ``.npz`` or ``.csv``; a trained head to ONNX."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert embeddings from HDF5 to .npz (any view) or .csv (per-protein); a trained head to ONNX"
DESCRIPTION = """\
Write the embeddings of an HDF5 file made by 'seqvec embed' to
  .npz  one array per record, keyed by the record id (np.load(path)[id]);
  .csv  per-protein only: a header 'id,d0,d1,...', then one row per record.
The format follows the output file's suffix.

A head (a head directory from 'seqvec train', or bundled:protein / bundled:residue)
with -o FILE.onnx is written as an ONNX model that any ONNX runtime runs without seqvec
or PyTorch: inputs 'x' float32 [batch, length, D] and 'mask' bool [batch, length] (True
at real residues) for la, cnn and convlstm heads, or 'x' [batch, D] for fnn; one output
of logits per task, named after it; batch and length dynamic. Class names, value scaling
and the embeddings the inputs must come from are in its metadata (seqvec_tasks,
seqvec_embeddings). The file is kept only after onnxruntime, run on inputs of another
size, matched the PyTorch head within 1e-4. Needs: pip install 'seqvec[onnx]'.

examples:
  seqvec export proteins.h5 -o proteins.csv
  seqvec export heads/location -o location.onnx
  seqvec export bundled:residue -o residue.onnx
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("h5", type=Path, help="embedding file written by 'seqvec embed'; or, for .onnx, a head "
                   "directory or bundled:NAME")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file: .npz or .csv (embeddings), "
                   ".onnx (a head)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version of a head's export (default: 17)")
    p.add_argument("--view", choices=("per_protein", "per_residue"), default="per_protein",
                   help="which embeddings to export (default: per_protein; .csv takes per_protein only)")


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() == ".onnx":
        return _export_head(args)
    from seqvec.embeddings.export import export

    export(args.h5, args.output, view=args.view)
    return 0


def _export_head(args: argparse.Namespace) -> int:
    from seqvec.errors import UsageError

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise UsageError(f"writing ONNX needs onnx and onnxruntime ({err.name} is missing): "
                         "pip install 'seqvec[onnx]'", option="output") from None
    from seqvec.classifiers.heads.onnx_export import export_head

    written = export_head(args.h5, args.output, opset=args.opset)
    print(f"wrote {written} (checked with onnxruntime against the PyTorch head)")
    return 0

