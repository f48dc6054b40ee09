"""Splits that keep similar proteins together: MMseqs2 identity clusters, grouped train/val, CV folds.

A random split of proteins is optimistic: near-identical sequences land on both sides,
and the head is scored on proteins it has all but seen. Here every protein carries a
*cluster*; each split keeps every cluster on one side.

Clusters come from MMseqs2 (:func:`cluster_by_identity`) or from the user
(:func:`read_groups`, a two-column TSV ``id``, ``cluster``). MMseqs2 is called as::

    mmseqs easy-cluster IN.fasta OUT TMP --min-seq-id T -c 0.8 --cov-mode 0 --cluster-mode 1

- ``--min-seq-id T``: two proteins are linked when their local alignment has at least
  ``T`` identical residues per aligned column (MMseqs2's default identity);
- ``-c 0.8 --cov-mode 0``: ... and the alignment covers at least 80% of *both* proteins
  (the coverage the DeepLoc, setHARD and FLIP homology reductions use); a shared
  domain alone does not link two proteins;
- ``--cluster-mode 1``: clusters are the *connected components* of these links (single
  linkage), not MMseqs2's default set cover, where two members of different clusters may
  still be linked. So no linked pair is split (as far as MMseqs2's prefilter finds them;
  ``-s 7.5``, its most sensitive setting, is used for that reason).

The split written next to a head is ``split.tsv`` with columns ``id``, ``cluster``,
``fold`` (``train``, ``val``, ``test`` or a cross-validation fold number); it can be
read back with :func:`read_split` and reused.
"""
from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np

from seqvec.errors import DataError, ExternalProgramError, InputFileError, MissingProgramError, UsageError

logger = logging.getLogger(__name__)

COVERAGE = 0.8  # -c: the alignment covers this share of both proteins (--cov-mode 0)
SENSITIVITY = 7.5  # -s: MMseqs2's prefilter sensitivity, its most sensitive setting
INSTALL_HINT = ("install MMseqs2: `apt-get install mmseqs2` (Debian/Ubuntu), `conda install -c conda-forge "
                "-c bioconda mmseqs2`, or a static binary from https://github.com/soedinglab/MMseqs2/releases, "
                "and put `mmseqs` on PATH; or bring your own clusters with --groups FILE")
SPLIT_COLUMNS = ("id", "cluster", "fold")


def find_mmseqs() -> str:
    """Path of the ``mmseqs`` program, or :class:`MissingProgramError` saying how to install it."""
    path = shutil.which("mmseqs")
    if path is None:
        raise MissingProgramError(f"identity splits need MMseqs2, and `mmseqs` is not on PATH; {INSTALL_HINT}")
    return path


def mmseqs_options(min_identity: float, coverage: float = COVERAGE) -> list[str]:
    """The alignment criteria shared by clustering and by checking a split (``easy-search``)."""
    if not 0 < min_identity <= 1:
        raise UsageError(f"minimum sequence identity must lie in (0, 1], got {min_identity}",
                         option="min_identity", value=min_identity)
    if not 0 <= coverage <= 1:
        raise UsageError(f"coverage must lie in [0, 1], got {coverage}", option="coverage", value=coverage)
    return ["--min-seq-id", str(min_identity), "-c", str(coverage), "--cov-mode", "0", "-s", str(SENSITIVITY)]


def write_fasta(sequences: Mapping[str, str], path: str | os.PathLike) -> Path:
    """Write ``{id: sequence}`` to a FASTA file (one line per sequence)."""
    path = Path(path)
    with path.open("w") as f:
        for rid, seq in sequences.items():
            if not rid or any(c.isspace() for c in rid):
                raise DataError(f"protein id {rid!r} cannot be written to FASTA for MMseqs2 (empty or "
                                "holds whitespace)", ids=[rid])
            f.write(f">{rid}\n{seq}\n")
    return path


def run_mmseqs(args: list[str], work_dir: Path, threads: int) -> None:
    """Run one ``mmseqs`` command; its output goes to the log, a failure raises with its last lines."""
    command = [find_mmseqs(), *args, "--threads", str(threads), "-v", "1"]
    logger.info("running %s", " ".join(command))
    done = subprocess.run(command, cwd=work_dir, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ExternalProgramError(f"mmseqs {args[0]} failed (exit {done.returncode}):\n{tail}",
                                   program=f"mmseqs {args[0]}", returncode=done.returncode)


def cluster_by_identity(sequences: Mapping[str, str], min_identity: float, *, coverage: float = COVERAGE,
                        threads: int = 1) -> dict[str, str]:
    """Cluster proteins with MMseqs2 at ``min_identity``: ``{id: cluster}``, the cluster named by one member.

    Clusters are the connected components of pairs with at least ``min_identity``
    identity over at least ``coverage`` of both proteins (see the module docstring).
    """
    if not sequences:
        raise DataError("no sequences to cluster")
    options = mmseqs_options(min_identity, coverage)
    with tempfile.TemporaryDirectory(prefix="seqvec-mmseqs-") as tmp:
        work = Path(tmp)
        write_fasta(sequences, work / "in.fasta")
        run_mmseqs(["easy-cluster", "in.fasta", "out", "tmp", *options, "--cluster-mode", "1"], work, threads)
        clusters = {}
        with (work / "out_cluster.tsv").open() as f:
            for line in f:
                representative, member = line.rstrip("\n").split("\t")
                clusters[member] = representative
    missing = [rid for rid in sequences if rid not in clusters]
    if missing:
        raise DataError(f"MMseqs2 returned no cluster for {len(missing)} proteins, e.g. {missing[:3]}", ids=missing)
    logger.info("%d proteins in %d clusters at %.0f%% identity (coverage %.0f%%)", len(clusters),
                len(set(clusters.values())), 100 * min_identity, 100 * coverage)
    return {rid: clusters[rid] for rid in sequences}


def identity_hits(query: Mapping[str, str], target: Mapping[str, str], min_identity: float, *,
                  coverage: float = COVERAGE, threads: int = 1) -> list[tuple[str, str, float]]:
    """Pairs (query id, target id, identity) that pass the clustering criteria, by an exhaustive search.

    ``mmseqs easy-search --exhaustive-search`` aligns every query against every target
    (no prefilter), so it finds pairs the clustering's prefilter might miss: the check of
    a split. Meant for small sets.
    """
    options = mmseqs_options(min_identity, coverage)
    with tempfile.TemporaryDirectory(prefix="seqvec-mmseqs-") as tmp:
        work = Path(tmp)
        write_fasta(query, work / "query.fasta")
        write_fasta(target, work / "target.fasta")
        run_mmseqs(["easy-search", "query.fasta", "target.fasta", "hits.m8", "tmp", *options,
                    "--exhaustive-search", "1", "--format-output", "query,target,fident"], work, threads)
        with (work / "hits.m8").open() as f:
            return [(q, t, float(ident)) for q, t, ident in (line.split() for line in f)]


def _read_tsv(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise InputFileError(f"{path}: no such file", path=path)
    with path.open(newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t") if row and any(cell.strip() for cell in row)]


def read_groups(path: str | os.PathLike) -> dict[str, str]:
    """``{id: cluster}`` from a TSV with columns ``id`` and ``cluster``.

    A header row naming ``id`` and ``cluster`` may put them in any column (a
    ``split.tsv`` is a valid groups file); without one, column 1 is the id and column 2
    the cluster.
    """
    path = Path(path)
    rows = _read_tsv(path)
    if not rows:
        raise InputFileError(f"{path}: empty groups file (expected columns id, cluster)", path=path)
    header = [cell.strip() for cell in rows[0]]
    if "id" in header and "cluster" in header:
        id_col, cluster_col = header.index("id"), header.index("cluster")
        rows, first_line = rows[1:], 2
    else:
        id_col, cluster_col, first_line = 0, 1, 1
    groups: dict[str, str] = {}
    for n, row in enumerate(rows, first_line):
        if len(row) <= max(id_col, cluster_col):
            raise InputFileError(f"{path}, row {n}: expected tab-separated columns id, cluster; got {row}",
                                 path=path, row=n)
        rid, cluster = row[id_col].strip(), row[cluster_col].strip()
        if groups.get(rid, cluster) != cluster:
            raise InputFileError(f"{path}, row {n}: protein {rid!r} is in cluster {groups[rid]!r} and {cluster!r}",
                                 path=path, row=n)
        groups[rid] = cluster
    return groups


def check_groups(groups: Mapping[str, str], ids: Sequence[str], source: str = "the groups") -> None:
    """Raise unless every protein of ``ids`` has a cluster."""
    missing = [rid for rid in ids if rid not in groups]
    if missing:
        raise DataError(f"{len(missing)} of {len(ids)} proteins have no cluster in {source}, e.g. {missing[:5]}",
                        ids=missing)


def write_split(path: str | os.PathLike, folds: Mapping[str, str | int],
                groups: Mapping[str, str] | None = None) -> Path:
    """Write ``split.tsv``: one row per protein with its cluster (itself when ungrouped) and fold."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(SPLIT_COLUMNS)
        for rid, fold in folds.items():
            writer.writerow([rid, (groups or {}).get(rid, rid), fold])
    tmp.replace(path)
    return path


def read_split(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """``({id: fold}, {id: cluster})`` from a ``split.tsv`` written by :func:`write_split`."""
    path = Path(path)
    rows = _read_tsv(path)
    if not rows or [c.strip() for c in rows[0][:3]] != list(SPLIT_COLUMNS):
        raise InputFileError(f"{path}: not a split file (the first row must be {', '.join(SPLIT_COLUMNS)})",
                             path=path, row=1)
    folds: dict[str, str] = {}
    groups: dict[str, str] = {}
    for n, row in enumerate(rows[1:], 2):
        if len(row) < 3:
            raise InputFileError(f"{path}, row {n}: expected 3 tab-separated columns, got {row}", path=path, row=n)
        rid, cluster, fold = (cell.strip() for cell in row[:3])
        if rid in folds:
            raise InputFileError(f"{path}, row {n}: protein {rid!r} appears twice", path=path, row=n)
        if fold not in ("train", "val", "test") and not fold.isdigit():
            raise InputFileError(f"{path}, row {n}: fold {fold!r} is not train, val, test or a fold number",
                                 path=path, row=n)
        folds[rid], groups[rid] = fold, cluster
    return folds, groups


def _strata_array(ids: Sequence[str], strata: Mapping[str, Hashable] | None) -> np.ndarray | None:
    """Class codes for stratification, or None when there is nothing to stratify by."""
    if not strata:
        return None
    names = [repr(strata.get(rid)) for rid in ids]
    if len(set(names)) < 2:
        return None
    codes = {name: k for k, name in enumerate(sorted(set(names)))}
    return np.array([codes[n] for n in names])


def _group_array(ids: Sequence[str], groups: Mapping[str, str]) -> np.ndarray:
    check_groups(groups, ids)
    codes: dict[str, int] = {}
    return np.array([codes.setdefault(groups[rid], len(codes)) for rid in ids])


def kfold(ids: Sequence[str], k: int, *, strata: Mapping[str, Hashable] | None = None,
          groups: Mapping[str, str] | None = None, seed: int = 0) -> dict[str, int]:
    """``{id: fold}`` for ``k`` folds: stratified by ``strata`` (id -> class) where given, every
    cluster of ``groups`` (id -> cluster) in one fold where given. Seeded; independent of
    the order of ``ids``.
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    ids = sorted(set(ids))
    if k < 2:
        raise UsageError(f"cross-validation needs at least 2 folds, got {k}", option="k", value=k)
    y = _strata_array(ids, strata)
    g = _group_array(ids, groups) if groups is not None else None
    units = len(set(g.tolist())) if g is not None else len(ids)
    if units < k:
        raise DataError(f"{k} folds need at least {k} {'clusters' if g is not None else 'proteins'}; "
                        f"there are {units}")
    if y is not None and max(Counter(y.tolist()).values()) < k:
        logger.info("every class has fewer than %d proteins: folds are not stratified", k)
        y = None
    if g is not None and y is not None:
        splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    elif g is not None:
        splitter = GroupKFold(k, shuffle=True, random_state=seed)
    elif y is not None and Counter(y.tolist()).most_common()[-1][1] >= k:
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    else:
        if y is not None:
            logger.info("a class has fewer than %d proteins: folds are not stratified", k)
        splitter = KFold(k, shuffle=True, random_state=seed)
    folds: dict[str, int] = {}
    with warnings.catch_warnings():  # rare classes: sklearn warns that it cannot stratify them fully
        warnings.simplefilter("ignore", UserWarning)
        for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(ids)), y, g)):
            folds.update((ids[i], fold) for i in held_out)
    return folds


def grouped_split(ids: Sequence[str], fraction: float, groups: Mapping[str, str], *,
                  strata: Mapping[str, Hashable] | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) with every cluster on one side, stratified where possible.

    The validation side is one fold of ``round(1 / fraction)`` grouped folds (fewer when
    there are fewer clusters), so its share is about ``fraction`` (clusters are
    indivisible). Ids keep their order.
    """
    if not 0 < fraction < 1:
        raise UsageError(f"validation fraction must lie in (0, 1), got {fraction}",
                         option="val_fraction", value=fraction)
    check_groups(groups, ids)
    n_clusters = len({groups[i] for i in ids})
    if n_clusters < 2:
        raise DataError(f"a train/validation split by clusters needs at least 2 clusters; the {len(ids)} "
                        f"proteins form {n_clusters}")
    folds = kfold(ids, max(2, min(round(1 / fraction), n_clusters)), strata=strata, groups=groups, seed=seed)
    return [i for i in ids if folds[i] != 0], [i for i in ids if folds[i] == 0]
