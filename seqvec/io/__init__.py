"""The bottom layer: reading FASTA (``fasta``), forming batches and sharing them among ranks
(``batching``), this process's rank in a ``torchrun`` job (``world.World``), one run per output
(``lock``).

It imports nothing of seqvec but :mod:`seqvec.errors`; every other part uses it
(docs/architecture.md).
"""
from seqvec.io.batching import assign_to_ranks, budget_batches, make_batches, make_sequential_chunks
from seqvec.io.fasta import (
    STDIN,
    CheckedSequences,
    check_sequences,
    iter_records,
    normalize_sequences,
    open_input,
    parse_id,
    read_fasta,
    read_fasta_checked,
    read_records,
    sequences_digest,
)
from seqvec.io.lock import OutputLock
from seqvec.io.output import Output, check_folder, check_not_input, write_output
from seqvec.io.world import World

__all__ = [
    "STDIN", "CheckedSequences", "Output", "OutputLock", "World", "check_folder", "check_not_input", "write_output", "assign_to_ranks", "budget_batches", "check_sequences", "iter_records",
    "make_batches", "make_sequential_chunks", "normalize_sequences", "open_input", "parse_id", "read_fasta",
    "read_fasta_checked", "read_records", "sequences_digest",
]
