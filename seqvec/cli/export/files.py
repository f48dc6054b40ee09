"""``seqvec export``: embeddings (any layout, or a shard folder) to npz, csv, biotrainer, UniProt or Parquet;
a trained head to ONNX."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert embeddings to .npz, .csv, biotrainer's or UniProt's HDF5, or Parquet; a trained head to ONNX"
DESCRIPTION = """\
Write the embeddings of a file made by 'seqvec embed' (any layout), a shard folder,
UniProt's per-protein.h5 or a biotrainer file to
  npz         one array per record, keyed by the record id (np.load(path)[id]); any view
  csv         per-protein only: a header 'id,d0,d1,...', then one row per record
  biotrainer  biotrainer's embeddings_file: datasets "0".."N-1" at the root, each with the
              attribute original_id = the record id; [D] or [L, D] (--view)
  uniprot     UniProt's layout: one dataset per id at the root ([D] or [L, D])
  parquet     per-protein only: one row per protein (id, length, embedding: D float32);
              needs pyarrow (pip install 'seqvec[parquet]')
The format follows the output's suffix (.npz, .csv, .parquet) unless --format is given
(needed for biotrainer and uniprot, which are .h5). Memory stays bounded for any number
of proteins; the output appears only when complete.

A head (a head directory from 'seqvec train', or bundled:protein / bundled:residue)
with -o FILE.onnx is written as an ONNX model that any ONNX runtime runs without seqvec
or PyTorch: inputs 'x' float32 [batch, length, D] and 'mask' bool [batch, length] (True
at real residues) for la, cnn and convlstm heads, or 'x' [batch, D] for fnn; one output
of logits per task, named after it; batch and length dynamic. Class names, value scaling
and the embeddings the inputs must come from are in its metadata (seqvec_tasks,
seqvec_embeddings). The file is kept only after onnxruntime, run on inputs of another
size, matched the PyTorch head within 1e-4 ('seqvec export-head --help' says more; it
does the same). Needs: pip install 'seqvec[onnx]'.

examples:
  seqvec export proteins.h5 -o proteins.csv
  seqvec export proteins.h5 -o per-protein.h5 --format uniprot
  seqvec export shards/ -o residues.h5 --format biotrainer --view per_residue
  seqvec export-head heads/location -o location.onnx     (or: seqvec export heads/location -o location.onnx)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from seqvec.cli.export.head import add_opset_argument
    from seqvec.embeddings.options import EXPORT_FORMATS as FORMATS

    p.add_argument("h5", type=Path, help="embedding file (any layout) or shard folder; or, for .onnx, a head "
                   "directory or bundled:NAME")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file (.onnx: the head as ONNX)")
    p.add_argument("--format", choices=FORMATS, help="output format (default: from the suffix of -o)")
    add_opset_argument(p)
    p.add_argument("--view", choices=("per_protein", "per_residue"), default="per_protein",
                   help="which embeddings to export (default: per_protein; csv and parquet take per_protein only)")
    from seqvec.cli.common import add_overwrite_argument

    add_overwrite_argument(p)


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() == ".onnx":
        return _export_head(args)
    from seqvec.embeddings.export import export

    export(args.h5, args.output, view=args.view, fmt=args.format, overwrite=args.overwrite)
    return 0


def _export_head(args: argparse.Namespace) -> int:
    from seqvec.cli.export.head import export_onnx

    return export_onnx(str(args.h5), args.output, opset=args.opset, overwrite=args.overwrite)
