"""Rows of the recurrent products on a real length mix, and time per residue by rows (run by hand).

    python benchmarks/embed_rows.py [--residues 20000] [--lengths-from FASTA] [--max-residues N]
                                    [--rows 1,2,4,8,16,32,64] [--precision float32|bf16] [--threads N]

Two measurements for the full SeqVec shape:

1. How many proteins are in flight per LSTM time step (the rows of the recurrent product)
   over the DeepLoc length mix, with the batch plan of ``seqvec embed`` (padded batches
   by a residue budget: rows empty out as the batch's shorter proteins end) and with
   continuous batching (rows refilled up to ``rows`` from the same plan batches). Counted
   from the lengths: per step and per residue (the rows the average residue is computed
   in).
2. The time of one time step (recurrent product + gates + projection, the
   batch-invariant products that embedding uses) at 1 to 64 rows, and so the time per
   residue: the median of interleaved timings.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by hand from a checkout

from benchmarks.embed_speed import DEFAULT_LENGTHS, sample_sequences  # noqa: E402


def rows_in_flight(lengths: list[int], plan: list[list[int]], refill_rows: int | None) -> dict[str, float]:
    """Mean rows per time step and per residue over all batches of ``plan`` (token lengths incl. boundaries)."""
    steps = residues = weighted = 0
    for batch in plan:
        tokens = sorted((lengths[i] + 2 for i in batch), reverse=True)
        if refill_rows is None:
            per_step = [sum(1 for n in tokens if n > t) for t in range(tokens[0])]
        else:
            per_step = _refill_steps(tokens, refill_rows)
        steps += len(per_step)
        residues += sum(per_step)
        weighted += sum(r * r for r in per_step)
    return {"steps": steps, "rows_per_step": residues / steps, "rows_per_residue": weighted / residues}


def _refill_steps(tokens: list[int], rows: int) -> list[int]:
    """Rows at each step when a freed row takes the next protein at once (longest first)."""
    ends: list[int] = []
    queue, t, out = list(tokens), 0, []
    while queue or ends:
        ends = [e for e in ends if e > t]
        while len(ends) < rows and queue:
            ends.append(t + queue.pop(0))
        if not ends:
            break
        out.append(len(ends))
        t += 1
    return out


def step_times(rows_list: list[int], precision: str, repeats: int = 30) -> dict[int, float]:
    """Median seconds of one time step of one direction-layer of the full shape, per row count."""
    import torch

    from seqvec.lm.config import PRESETS
    from seqvec.lm.model import SeqVecLM

    model = SeqVecLM(PRESETS["seqvec"]).eval().set_precision(precision)
    layer = model.lstm.layers()[1]
    times: dict[int, list[float]] = {r: [] for r in rows_list}
    with torch.no_grad():
        inputs = {}
        for rows in rows_list:
            layer.rows = rows
            _, w_rec, w_proj = layer._products(rows)
            h, c = torch.randn(rows, layer.proj_dim) * 0.1, torch.randn(rows, layer.cell_dim) * 0.1
            inputs[rows] = (torch.randn(rows, 4 * layer.cell_dim), h, c, w_rec, w_proj)
            layer._step(*inputs[rows])  # warm-up (packs the weights)
        for _ in range(repeats):
            for rows in rows_list:
                t = time.perf_counter()
                layer._step(*inputs[rows])
                times[rows].append(time.perf_counter() - t)
    return {r: statistics.median(ts) for r, ts in times.items()}


def paired(sequences: list[str], budget: int, variants: dict[str, dict], weights: list[str] | None,
           rounds: int = 1) -> dict[str, float]:
    """Seconds per variant over every batch of the plan, the variants alternating batch by batch
    (each batch runs every variant, in rotating order), so a changing load hits them alike.

    A variant is ``{"refill": bool, "rows": int}``. Checks that all variants give the same bits.
    """
    import torch

    from benchmarks.embed_speed import build_model
    from seqvec.io.batching import budget_batches

    model = build_model({"threads": 0, "weights": weights or []})
    plan = budget_batches([len(s) for s in sequences], budget)
    seconds = {name: 0.0 for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        for k, batch in enumerate(plan):
            seqs = [sequences[i] for i in batch]
            outputs = {}
            for j in range(len(names)):
                name = names[(j + k + round_) % len(names)]
                model.refill = variants[name].get("refill", True)
                model.set_rows(variants[name].get("rows", 32))
                if (round_, k) == (0, 0):
                    model.embed_batch(seqs[-2:])  # warm-up: packs weights, measures kernels
                t = time.perf_counter()
                outputs[name] = model.embed_batch(seqs)
                seconds[name] += time.perf_counter() - t
            first = outputs[names[0]]
            for name in names[1:]:
                same = all(torch.equal(a, b) for a, b in zip(first, outputs[name]))
                if not same and variants[name].get("rows", 32) == variants[names[0]].get("rows", 32):
                    raise AssertionError(f"{name} differs from {names[0]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residues", type=int, default=20000, help="total residues of the length mix")
    parser.add_argument("--lengths-from", type=Path, default=DEFAULT_LENGTHS)
    parser.add_argument("--max-residues", type=int, default=None, help="batch budget (default: seqvec's)")
    parser.add_argument("--rows", default="1,2,4,8,16,24,32,48,64", help="row counts to time")
    parser.add_argument("--precision", default="float32", choices=["float32", "bf16"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--paired", type=int, default=0, metavar="RESIDUES",
                        help="also embed this many residues of the mix as padded batches and with continuous "
                             "batching at 16, 32 and 64 rows, alternating batch by batch (full SeqVec shape)")
    parser.add_argument("--weights", nargs=2, metavar=("OPTIONS", "WEIGHTS"), help="weights for --paired")
    args = parser.parse_args(argv)
    import torch

    from seqvec.embeddings.options import DEFAULT_MAX_RESIDUES
    from seqvec.io.batching import budget_batches

    if args.threads:
        torch.set_num_threads(args.threads)
    lengths = [len(s) for s in sample_sequences(args.residues, args.lengths_from)]
    plan = budget_batches(lengths, args.max_residues or DEFAULT_MAX_RESIDUES)  # as seqvec embed plans
    print(f"{len(lengths)} proteins, {sum(lengths)} residues, {len(plan)} batches of the plan")
    rows_list = [int(r) for r in args.rows.split(",")]
    for name, refill in [("padded batches", None)] + [(f"refilled to {r} rows", r) for r in (16, 32, 64)]:
        r = rows_in_flight(lengths, plan, refill)
        print(f"  {name:22s} {r['steps']:6d} steps, rows per step {r['rows_per_step']:5.1f}, "
              f"per residue {r['rows_per_residue']:5.1f}")
    if args.paired:
        variants = {"padded": {"refill": False}, "refill 32 rows": {}, "refill 16 rows": {"rows": 16},
                    "refill 64 rows": {"rows": 64}}
        budget = args.max_residues or DEFAULT_MAX_RESIDUES
        seconds = paired(sample_sequences(args.paired, args.lengths_from, seed=4), budget, variants, args.weights)
        print(f"paired, {args.paired} residues, budget {budget}, batch by batch alternating:")
        for name, s in seconds.items():
            print(f"  {name:16s} {s:7.1f} s  {seconds['padded'] / s:5.2f}x padded")
    times = step_times(rows_list, args.precision)
    print(f"one time step of one direction-layer, {args.precision}, {torch.get_num_threads()} threads:")
    for rows, seconds in times.items():
        print(f"  {rows:3d} rows {seconds * 1e3:7.3f} ms  {seconds / rows * 1e6:8.1f} us per residue "
              f"({times[rows_list[0]] / rows_list[0] / (seconds / rows):5.2f}x the {rows_list[0]}-row rate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
