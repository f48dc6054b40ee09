"""Queries against an index: vectors from an embedding file or a FASTA embedded with the index's model,
checked to be embedded as the references were; the hits as a table."""
from __future__ import annotations

import csv
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from seqvec.errors import EmbeddingMismatchError, UsageError
from seqvec.io.output import atomic_open
from seqvec.search.neighbours import Neighbours, VectorIndex
from seqvec.search.source import open_vectors

logger = logging.getLogger(__name__)

HIT_COLUMNS = ("query", "rank", "target", "similarity", "distance")


@dataclass
class Queries:
    """Query proteins: ``ids`` and their per-protein ``vectors [Q, D]``, embedded as ``identity`` says."""

    ids: list[str]
    vectors: np.ndarray
    identity: dict
    source: str


def check_identity(index: VectorIndex, identity: dict, where: str | os.PathLike, dim: int) -> None:
    """Raise EmbeddingMismatchError unless vectors of ``identity`` and width ``dim`` fit the index.

    Keys recorded on both sides must agree; a side that records none (UniProt's files) cannot
    be checked beyond the width, which is logged.
    """
    differences = {k: (v, identity[k]) for k, v in index.identity.items() if k in identity and identity[k] != v}
    if dim != index.dim:
        differences["dim"] = (index.dim, dim)
    if differences:
        said = "; ".join(f"{k}: index {a!r}, queries {b!r}" for k, (a, b) in differences.items())
        raise EmbeddingMismatchError(f"the queries in {where} were embedded otherwise than the index "
                                     f"{index.path} ({said}); embed them as the references were", path=where,
                                     differences=differences)
    if not (set(index.identity) & set(identity)):
        logger.warning("%s or %s does not record its model: only the width (%d) could be checked", where,
                       index.path, dim)


def is_embedding_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file (else it is read as FASTA)."""
    return Path(path).is_file() and h5py.is_hdf5(path)


def read_queries(path: str | os.PathLike, index: VectorIndex, *, model: str | None = None, device: str = "cpu",
                 progress: bool = False) -> Queries:
    """Query vectors from an embedding file, or from a FASTA embedded with the index's model and encoder.

    ``model`` overrides the model the index names (a name or directory; it must be the same
    weights). The vectors are checked against the index (:func:`check_identity`).
    """
    path = Path(path)
    if is_embedding_file(path):
        source = open_vectors(path)
        check_identity(index, source.identity, path, source.dim)
        return Queries(source.ids, source.read(), source.identity, str(path))
    with tempfile.TemporaryDirectory(prefix="seqvec-query-") as tmp:
        embedded = embed_like_index(path, Path(tmp) / "queries.h5", index, model=model, device=device,
                                    progress=progress)
        source = open_vectors(embedded)
        check_identity(index, source.identity, path, source.dim)
        return Queries(source.ids, source.read(), source.identity, str(path))


def embed_like_index(fasta: Path, output: Path, index: VectorIndex, *, model: str | None = None,
                     device: str = "cpu", progress: bool = False) -> Path:
    """Embed a FASTA's per-protein vectors with the model, encoder and layers the index records."""
    from seqvec.embeddings.options import uses_lm
    from seqvec.embeddings.pipeline import embed_fasta

    identity = index.identity
    if "encoder" not in identity:
        raise UsageError(f"{index.path} does not record how its vectors were made (e.g. UniProt's file); "
                         "embed the queries with the same model yourself and give the embedding file",
                         option="QUERY", value=str(fasta))
    encoder = identity["encoder"]
    name = model or (identity.get("model") if uses_lm(encoder) else None)
    if name is not None and model is None:
        _check_model_found(name, index)
    logger.info("embedding %s with %s (encoder %s, layers %s), as the index was", fasta, name or encoder, encoder,
                identity.get("layers", "sum"))
    return embed_fasta(fasta, output, name, encoder=encoder, layers=identity.get("layers", "sum"),
                       per_residue=False, device=device, progress=progress)


def _check_model_found(name: str, index: VectorIndex) -> None:
    """A model the index names only by a directory's name cannot be found again: ask for it."""
    from seqvec.errors import ModelNotFoundError
    from seqvec.lm.pretrained import resolve

    try:
        resolve(name)
    except ModelNotFoundError as err:
        raise UsageError(f"the references of {index.path} were embedded with model {name!r}, which is not found "
                         f"here ({err}); give its directory as `model`", option="model",
                         value=name) from None


def hit_rows(index: VectorIndex, query_ids: list[str], hits: Neighbours) -> list[tuple]:
    """``(query, rank, target, similarity, distance)`` of every hit, by query then rank (1 = best)."""
    rows = []
    for q, query in enumerate(query_ids):
        for rank, (r, sim, dist) in enumerate(zip(hits.rows[q], hits.similarity[q], hits.distance[q]), 1):
            if r >= 0:
                rows.append((query, rank, index.ids[r], float(sim), float(dist)))
    return rows


def write_table(path: str | os.PathLike, header: tuple[str, ...] | list[str], rows: list) -> Path:
    """A TSV with a header line, written whole to a temporary name and renamed (never half a file; the
    caller's :class:`~seqvec.io.output.Output` checked and locked ``path``)."""
    path = Path(path)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)
    return path


def _cell(value: object) -> object:
    return f"{value:.6g}" if isinstance(value, float) else value
