"""``seqvec search``: the nearest references of each query protein in an index."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import add_device_argument, add_overwrite_argument, path_inputs, positive_int

HELP = "find the nearest proteins of an index for each query (FASTA or embeddings)"
DESCRIPTION = """Search an index made by 'seqvec index' for the k nearest references of each query.

QUERY is an embedding file, or a FASTA that is embedded first with the model, encoder and
layers the index records (--model overrides the model's name or directory; the weights
must be the same). Queries embedded otherwise than the references are refused. Output
(TSV, -o or standard output): query, rank (1 = nearest), target, similarity, distance,
by query in input order, then rank.

examples:
  seqvec search queries.fasta -i reference.index -k 10 -o hits.tsv
  seqvec search reference.h5 -i reference.index -k 5 --exclude-self --min-similarity 0.9 -o pairs.tsv
"""


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """QUERY, -i, -k and the options shared by search and transfer."""
    parser.add_argument("query", type=Path, help="FASTA (embedded with the index's model) or embedding file")
    parser.add_argument("-i", "--index", type=Path, required=True, help="index file from 'seqvec index'")
    parser.add_argument("--min-similarity", type=float, help="drop hits less similar than this")
    parser.add_argument("--exclude-self", action="store_true",
                        help="leave out a reference with the query's own id (searching a set against itself)")
    parser.add_argument("--nprobe", type=positive_int, help="ivf indexes: cells searched (default: the index's)")
    parser.add_argument("--ef-search", type=positive_int, help="hnsw indexes: candidates kept (default: the index's)")
    parser.add_argument("--model", help="model name or directory to embed a FASTA query with (default: the one the "
                                        "index records)")
    add_device_argument(parser, " (for embedding a FASTA query)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_search_arguments(parser)
    parser.add_argument("-k", type=positive_int, default=10, help="hits per query")
    parser.add_argument("-o", "--output", type=Path, help="TSV to write (default: standard output)")
    add_overwrite_argument(parser, "the -o table")


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from seqvec.io.output import Output

    with (Output(args.output, inputs=path_inputs(args, "output"), overwrite=args.overwrite) if args.output
          else nullcontext()):  # checked and locked before any work
        return _search(args)


def _search(args: argparse.Namespace) -> int:
    import csv
    import sys

    from seqvec.cli.common import device_of
    from seqvec.search.api import search_index
    from seqvec.search.neighbours import load_index
    from seqvec.search.query import HIT_COLUMNS, write_table

    index = load_index(args.index, nprobe=args.nprobe, ef_search=args.ef_search)
    rows = search_index(args.query, index, args.k, min_similarity=args.min_similarity, exclude_self=args.exclude_self,
                  model=args.model, device=device_of(args), progress=not args.quiet)
    if args.output:
        write_table(args.output, HIT_COLUMNS, rows)
    else:
        writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
        writer.writerow(HIT_COLUMNS)
        writer.writerows((q, r, t, f"{s:.6g}", f"{d:.6g}") for q, r, t, s, d in rows)
    return 0
