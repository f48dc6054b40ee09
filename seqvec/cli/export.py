"""``seqvec export``: an embedding HDF5 file to ``.npz`` or ``.csv``."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert embeddings from HDF5 to .npz (any view) or .csv (per-protein)"
DESCRIPTION = """\
Write the embeddings of an HDF5 file made by 'seqvec embed' to
  .npz  one array per record, keyed by the record id (np.load(path)[id]);
  .csv  per-protein only: a header 'id,d0,d1,...', then one row per record.
The format follows the output file's suffix.

example:
  seqvec export proteins.h5 -o proteins.csv
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("h5", type=Path, help="embedding file written by 'seqvec embed'")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file: .npz or .csv")
    p.add_argument("--view", choices=("per_protein", "per_residue"), default="per_protein",
                   help="which embeddings to export (default: per_protein; .csv takes per_protein only)")
    from seqvec.cli.common import add_overwrite_argument

    add_overwrite_argument(p)


def run(args: argparse.Namespace) -> int:
    from seqvec.embeddings.export import export

    export(args.h5, args.output, view=args.view, overwrite=args.overwrite)
    return 0
