"""Embedding speed and memory of the full-size SeqVec shape on this machine (run by hand).

    python benchmarks/embed_speed.py [--residues 20000] [--lengths-from FASTA] [--titin]
                                     [--weights OPTIONS.json WEIGHTS.hdf5] [--json OUT]

In one run: this machine's float32 and bfloat16 GEMM rates, then seqvec's embedding
throughput and peak RSS with the default batching (float32 and bf16) and one protein at
a time, each case in its own subprocess (so peak RSS is its own). Proteins are random
sequences with lengths drawn from the DeepLoc test set (the --lengths-from FASTA).
Random weights of realistic scale: the values do not change the work. Prints residues/s,
the fraction of the float32 FLOP ceiling (151 MFLOP per residue) and ratios, and how far
bf16 embeddings lie from float32 ones (max abs difference, per-protein cosine similarity
of the mean vectors of the summed layers, worst per-residue cosine).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by hand from a checkout
FLOP_PER_RESIDUE = 4 * (2 * 512 * 16384 + 2 * 512 * 16384 + 2 * 4096 * 512)  # 151 MFLOP
DEFAULT_LENGTHS = Path(__file__).resolve().parents[2] / "shared" / "data" / "deeploc" / "deeploc_test_set.fasta"


def gemm_rate(dtype_name: str, repeats: int = 5) -> float:
    """Median GFLOP/s of a (256 x 512) @ (512 x 16384) product, the shape of the hoisted input GEMM."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, w = torch.randn(256, 512, dtype=dtype), torch.randn(512, 16384, dtype=dtype)
    for _ in range(3):
        a @ w
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(10):
            a @ w
        times.append((time.perf_counter() - t) / 10)
    return 2 * 256 * 512 * 16384 / statistics.median(times) / 1e9


def sample_sequences(total: int, lengths_from: Path, seed: int = 0) -> list[str]:
    """Random proteins whose lengths are drawn from a FASTA file's length distribution."""
    import numpy as np
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    with open(lengths_from) as fh:
        lengths = [len(s) for _, s in SimpleFastaParser(fh)]
    rng = np.random.default_rng(seed)
    out, n = [], 0
    while n < total:
        length = int(rng.choice(lengths))
        out.append("".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length)))
        n += length
    return out


def build_model(case: dict):
    """The full SeqVec shape: weights from ``case["weights"]`` (options.json, weights.hdf5) or random."""
    import torch

    from seqvec.lm.allennlp_io import load_allennlp
    from seqvec.lm.config import PRESETS
    from seqvec.lm.model import SeqVecLM

    if case["threads"]:
        torch.set_num_threads(case["threads"])
    torch.manual_seed(0)
    if case.get("weights"):
        return load_allennlp(*case["weights"])
    return SeqVecLM(PRESETS["seqvec"]).eval()


def run_case(case: dict) -> dict:
    """Embed in this process; returns residues/s and peak RSS (the case runs in a subprocess)."""
    from seqvec.io.batching import make_batches

    t0 = time.perf_counter()
    model = build_model(case).set_precision(case["precision"])
    build_s = time.perf_counter() - t0
    seqs = case["sequences"]
    lengths = {str(i): len(s) for i, s in enumerate(seqs)}
    plan = [[str(i)] for i in range(len(seqs))] if case["single"] else make_batches(lengths, case["max_residues"])
    model.embed_batch([seqs[int(i)] for i in plan[-1]])  # warm-up on the shortest batch
    t = time.perf_counter()
    for batch in plan:
        model.embed_batch([seqs[int(i)] for i in batch])
    seconds = time.perf_counter() - t
    residues = sum(lengths.values())
    return {"residues": residues, "seconds": seconds, "residues_per_s": residues / seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "build_s": build_s}


def bf16_deviation(case: dict) -> dict:
    """How far bf16 embeddings lie from float32 ones for the same proteins and weights."""
    import torch

    from seqvec.io.batching import make_batches

    model = build_model(case)
    seqs = case["sequences"]
    plan = make_batches({i: len(s) for i, s in enumerate(seqs)}, case["max_residues"])
    exact, low = {}, {}
    for precision, out in (("float32", exact), ("bf16", low)):
        model.set_precision(precision)
        for batch in plan:
            out.update(zip(batch, model.embed_batch([seqs[i] for i in batch])))
    exact, low = [exact[i] for i in range(len(seqs))], [low[i] for i in range(len(seqs))]
    cosine = [float(torch.nn.functional.cosine_similarity(a.sum(0).mean(0), b.sum(0).mean(0), dim=0))
              for a, b in zip(exact, low)]
    residue_cosine = [float(torch.nn.functional.cosine_similarity(a.sum(0), b.sum(0), dim=1).min())
                      for a, b in zip(exact, low)]
    return {"proteins": len(seqs), "max_abs": max(float((a - b).abs().max()) for a, b in zip(exact, low)),
            "max_abs_value": max(float(a.abs().max()) for a in exact),
            "protein_cosine_min": min(cosine), "protein_cosine_median": statistics.median(cosine),
            "residue_cosine_min": min(residue_cosine)}


def in_subprocess(case: dict, function: str = "run_case") -> dict:
    code = "import json,sys; sys.path.insert(0, %r); from benchmarks.embed_speed import %s; " \
           "print(json.dumps(%s(json.loads(sys.stdin.read()))))" % (
               str(Path(__file__).resolve().parents[1]), function, function)
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(case), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residues", type=int, default=20000, help="total residues of the length mix")
    parser.add_argument("--lengths-from", type=Path, default=DEFAULT_LENGTHS)
    parser.add_argument("--max-residues", type=int, default=None, help="batch budget (default: seqvec's)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--single-residues", type=int, default=3000,
                        help="residues for the one-protein-at-a-time case (it is slow)")
    parser.add_argument("--titin", action="store_true", help="also embed one 35,000-residue protein")
    parser.add_argument("--deviation-residues", type=int, default=6000,
                        help="residues on which bf16 is compared with float32")
    parser.add_argument("--weights", type=Path, nargs=2, metavar=("OPTIONS", "WEIGHTS"),
                        help="options.json and weights.hdf5 of the full SeqVec shape instead of random weights, e.g. "
                             "from ../shared/reference/make_random_weights.py --profile seqvec-like (realistic "
                             "activations, which the bf16 deviation depends on)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args(argv)

    from seqvec.embeddings.options import DEFAULT_MAX_RESIDUES

    budget = args.max_residues or DEFAULT_MAX_RESIDUES
    fp32, bf16 = gemm_rate("float32"), gemm_rate("bfloat16")
    ceiling = fp32 * 1e9 / FLOP_PER_RESIDUE
    print(f"GEMM float32 {fp32:.1f} GFLOP/s, bfloat16 {bf16:.1f} GFLOP/s (ratio {bf16 / fp32:.2f}); "
          f"float32 ceiling {ceiling:.0f} residues/s at {FLOP_PER_RESIDUE / 1e6:.0f} MFLOP/residue")
    mix = sample_sequences(args.residues, args.lengths_from)
    single = sample_sequences(args.single_residues, args.lengths_from, seed=1)
    cases = {
        "batched float32": dict(sequences=mix, precision="float32", single=False),
        "batched bf16": dict(sequences=mix, precision="bf16", single=False),
        "one at a time float32": dict(sequences=single, precision="float32", single=True),
    }
    if args.titin:
        titin = "".join(sample_sequences(35000, args.lengths_from, seed=2))[:35000]
        cases["titin 35k float32"] = dict(sequences=[titin], precision="float32", single=True)
    common = {"threads": args.threads, "max_residues": budget, "weights": [str(w) for w in args.weights or ()]}
    results = {}
    for name, case in cases.items():
        r = in_subprocess({**case, **common})
        results[name] = r
        print(f"{name:24s} {r['residues']:6d} residues {r['seconds']:7.1f} s {r['residues_per_s']:7.1f} res/s "
              f"({r['residues_per_s'] / ceiling:.2f} of ceiling)  peak RSS {r['peak_rss_mib']:6.0f} MiB")
    base = results["batched float32"]["residues_per_s"]
    print(f"bf16 / float32 speed-up: {results['batched bf16']['residues_per_s'] / base:.2f}x; "
          f"batched / one-at-a-time: {base / results['one at a time float32']['residues_per_s']:.2f}x")
    deviation = in_subprocess({"sequences": sample_sequences(args.deviation_residues, args.lengths_from, seed=3),
                               **common}, "bf16_deviation")
    print(f"bf16 vs float32 on {deviation['proteins']} proteins: max |diff| {deviation['max_abs']:.4f} "
          f"(largest |value| {deviation['max_abs_value']:.2f}); per-protein cosine min "
          f"{deviation['protein_cosine_min']:.6f}, median {deviation['protein_cosine_median']:.6f}; "
          f"per-residue cosine min {deviation['residue_cosine_min']:.5f}")
    if args.json:
        args.json.write_text(json.dumps({"gemm_gflops": {"float32": fp32, "bfloat16": bf16},
                                         "ceiling_residues_per_s": ceiling,
                                         "cases": results, "bf16_deviation": deviation, "max_residues": budget,
                                         "weights": common["weights"]},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
