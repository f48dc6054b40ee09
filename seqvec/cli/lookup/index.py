"""``seqvec index``: a nearest-neighbour index over the per-protein vectors of an embedding file."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import add_dataclass_options

HELP = "build a nearest-neighbour index (FAISS) over per-protein embeddings, for search and transfer"
DESCRIPTION = """Index the per-protein vectors of an embedding file (from 'seqvec embed', or UniProt's
per-protein.h5 with one dataset per accession) for 'seqvec search' and 'seqvec transfer'.

The index file (HDF5) records the protein ids, the metric, the settings and how the
vectors were made (model, its sha256, encoder, layers, reduction); queries embedded
otherwise are refused. Metrics: cosine (inner product of unit vectors) or l2. Kinds:
exact (brute force; the default, right for up to a few hundred thousand proteins), ivf
(k-means cells, --nlist, --nprobe) or hnsw (a graph, --hnsw-m, --ef-search) for large
references; docs/search.md gives measured speeds and recalls. The file is read in
batches, so memory is bounded by the index. Needs faiss: pip install 'seqvec[search]'.

examples:
  seqvec embed reference.fasta -o reference.h5 --no-per-residue
  seqvec index reference.h5 -o reference.index
  seqvec index per-protein.h5 -o uniprot.index --kind hnsw
"""

SETTING_HELP = {
    "metric": "cosine: inner product of unit vectors (similarity = cosine, distance = 1 - cosine); l2: Euclidean "
              "distance (similarity = 1 / (1 + distance))",
    "kind": "exact: brute force; ivf: inverted file of k-means cells; hnsw: graph (both approximate)",
    "nlist": "ivf: number of cells (0: 4 x sqrt(N), at most N / 39)",
    "nprobe": "ivf: cells searched per query (more: slower, higher recall; search and transfer can override it)",
    "hnsw_m": "hnsw: links per vector",
    "ef_construction": "hnsw: candidates kept while building",
    "ef_search": "hnsw: candidates kept per query (search and transfer can override it)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.search.index import IndexSettings

    parser.add_argument("embeddings", type=Path, help="embedding file (seqvec's HDF5 or UniProt's per-protein.h5)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="index file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_dataclass_options(parser.add_argument_group("index"), IndexSettings, SETTING_HELP)


def run(args: argparse.Namespace) -> int:
    from seqvec.search.index import IndexSettings, build_index

    settings = IndexSettings(**{name: getattr(args, name) for name in SETTING_HELP})
    build_index(args.embeddings, args.output, settings, overwrite=args.overwrite, progress=not args.quiet)
    return 0
