"""Batches by a residue budget, longest first, and their share-out among processes.

A batch is padded to its longest protein, so its cost is ``B * max_len``; batches are
filled longest first until that padded size would pass ``max_residues``. A protein longer
than the budget forms a batch of its own (nothing is truncated). The plan depends only
on the lengths and the budget, so a restarted run forms the same batches.
"""
from __future__ import annotations

import heapq

from seqvec.embeddings.options import DEFAULT_MAX_RESIDUES


def make_batches(lengths: dict[str, int], max_residues: int = DEFAULT_MAX_RESIDUES) -> list[list[str]]:
    """Group record ids into batches of padded size ``B * max_len <= max_residues``.

    Ids are sorted by length, longest first (ties keep their input order).
    """
    if max_residues < 1:
        raise ValueError(f"max_residues must be positive, got {max_residues}")
    order = sorted(lengths, key=lambda record_id: -lengths[record_id])
    batches: list[list[str]] = []
    current: list[str] = []
    for record_id in order:
        # longest first: the batch's first protein sets its padded length
        if current and (len(current) + 1) * lengths[current[0]] > max_residues:
            batches.append(current)
            current = []
        current.append(record_id)
    if current:
        batches.append(current)
    return batches


def make_sequential_chunks(lengths: dict[str, int], max_residues: int = DEFAULT_MAX_RESIDUES
                           ) -> list[list[str]]:
    """Consecutive runs of ids in input order with at most ``max_residues`` residues each
    (at least one id per chunk): the unit of work of the carried-state mode."""
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


def assign_to_ranks(costs: list[int], world_size: int) -> list[list[int]]:
    """Share items (given their costs) among ``world_size`` ranks, balancing the total cost.

    Greedy largest-first onto the least-loaded rank; deterministic. Returns, per rank,
    the indices of its items in increasing order.
    """
    heap = [(0, rank) for rank in range(world_size)]
    shares: list[list[int]] = [[] for _ in range(world_size)]
    for index in sorted(range(len(costs)), key=lambda i: -costs[i]):
        load, rank = heapq.heappop(heap)
        shares[rank].append(index)
        heapq.heappush(heap, (load + costs[index], rank))
    return [sorted(share) for share in shares]
