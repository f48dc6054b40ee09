"""The one batcher (longest first, by a residue budget) and the share-out among ranks.

A batch is padded to its longest item, so its cost is ``B * max_len``; batches are filled
in order (longest first unless an order is given) until that padded size would pass
``max_residues``. An item longer than the budget forms a batch of its own (nothing is
truncated). The plan depends only on the lengths, the order and the budget, so a
restarted run forms the same batches.

Used for proteins to embed (:mod:`seqvec.embeddings`), LM training windows and held-out
proteins (:mod:`seqvec.lm`) and task examples (:mod:`seqvec.classifiers`).
"""
from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

import numpy as np


def longest_first(lengths: Sequence[int]) -> list[int]:
    """Indices sorted by length, longest first; ties keep their input order."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def budget_batches(lengths: Sequence[int], max_residues: int | None, *, order: Sequence[int] | None = None,
                   max_items: int | None = None, min_items: int = 1) -> list[list[int]]:
    """Group item indices into batches of padded size ``B * max_len <= max_residues``.

    Parameters
    ----------
    lengths : the length of every item (padded cost per row).
    max_residues : the budget; None for no budget (then ``max_items`` limits the batches).
    order : the order to fill batches in (default: :func:`longest_first`).
    max_items : at most this many items per batch.
    min_items : a batch takes this many items before the budget applies (1: a lone item
        may exceed the budget; 2: batch norm's need of two examples in training).
    """
    if max_residues is not None and max_residues < 1:
        raise ValueError(f"max_residues must be positive, got {max_residues}")
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be positive, got {max_items}")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in (longest_first(lengths) if order is None else order):
        width = max(longest, int(lengths[i]))
        fits = (max_items is None or len(current) < max_items) and (
            max_residues is None or len(current) < min_items or (len(current) + 1) * width <= max_residues)
        if current and not fits:
            batches.append(current)
            current, width = [], int(lengths[i])
        current.append(i)
        longest = width
    if current:
        batches.append(current)
    return batches


def make_batches(lengths: Mapping[str, int], max_residues: int) -> list[list[str]]:
    """:func:`budget_batches` over named items: ``{id: length}`` -> batches of ids, longest first."""
    ids = list(lengths)
    return [[ids[i] for i in batch] for batch in budget_batches([lengths[i] for i in ids], max_residues)]


def make_sequential_chunks(lengths: Mapping[str, int], max_residues: int) -> list[list[str]]:
    """Consecutive runs of ids in input order with at most ``max_residues`` residues each
    (at least one id per chunk): the unit of work when order matters (carried LSTM state)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    total = 0
    for record_id, length in lengths.items():
        if current and total + length > max_residues:
            chunks.append(current)
            current, total = [], 0
        current.append(record_id)
        total += length
    if current:
        chunks.append(current)
    return chunks


def assign_to_ranks(costs: Sequence[int], world_size: int) -> list[list[int]]:
    """Share items (given their costs) among ``world_size`` ranks, balancing the total cost.

    Greedy largest-first onto the least-loaded rank (the lowest rank on a tie);
    deterministic. Returns, per rank, the indices of its items in increasing order.
    """
    heap = [(0, rank) for rank in range(world_size)]
    shares: list[list[int]] = [[] for _ in range(world_size)]
    for index in longest_first(costs):
        load, rank = heapq.heappop(heap)
        shares[rank].append(index)
        heapq.heappush(heap, (load + costs[index], rank))
    return [sorted(share) for share in shares]


WINDOW_RESIDUES = 1 << 22  # a window of the input holds about this many residues (4 M) ...
WINDOW_RECORDS = 1 << 16  # ... and at most this many records


def window_ends(lengths: np.ndarray, residues: int = WINDOW_RESIDUES, records: int = WINDOW_RECORDS) -> np.ndarray:
    """Cut rows (in input order) into consecutive windows: the end row of each (exclusive).

    A window ends where the running residue count passes a multiple of ``residues`` or the
    row number a multiple of ``records``; it depends only on the lengths ``[N]``.
    """
    n = len(lengths)
    totals = np.cumsum(lengths, dtype=np.int64)
    total = int(totals[-1]) if n else 0
    cuts = np.searchsorted(totals, np.arange(residues, total, residues, dtype=np.int64), side="left") + 1
    cuts = np.union1d(cuts, np.arange(records, n, records, dtype=np.int64))
    return np.append(cuts[(cuts > 0) & (cuts < n)], n).astype(np.int64)


def window_plan(lengths: np.ndarray, embed: np.ndarray, max_residues: int, ends: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`budget_batches` within each window, over the rows where ``embed`` [N] (bool) is true.

    Returns ``(rows, starts, first_batch)``: the rows in plan order [n_embed] (longest first
    within a window), batch b is ``rows[starts[b]:starts[b + 1]]``, and window w holds
    batches ``first_batch[w]:first_batch[w + 1]``. All int64; about 8 bytes per row embedded.
    """
    rows, starts, first_batch = [np.zeros(0, np.int64)], [0], [0]
    begin, done = 0, 0
    for end in ends.tolist():
        window = np.flatnonzero(embed[begin:end]) + begin
        window = window[np.argsort(-lengths[window], kind="stable")]  # longest first, ties in input order
        sizes = [len(b) for b in budget_batches(lengths[window].tolist(), max_residues, order=range(len(window)))]
        rows.append(window)
        starts.extend((done + np.cumsum(sizes)).tolist())
        done += len(window)
        first_batch.append(len(starts) - 1)
        begin = end
    return np.concatenate(rows), np.array(starts, np.int64), np.array(first_batch, np.int64)
