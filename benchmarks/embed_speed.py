"""Embedding speed and memory of the full-size SeqVec shape on this machine (run by hand).

    python benchmarks/embed_speed.py [--residues 20000] [--lengths-from FASTA] [--titin]
                                     [--weights OPTIONS.json WEIGHTS.hdf5] [--repeat N]
                                     [--allennlp PYTHON BENCH.py] [--profile] [--json OUT]

In one run: the CPU (model, AVX-512, bfloat16 instructions, AMX), the torch build, this
machine's GEMM rates (float32 through MKL and through oneDNN's packed layout, bfloat16
through oneDNN), the matrix kernels seqvec chose here (measured first where not cached
yet), then seqvec's embedding throughput and peak RSS with the default batching (float32
and bf16) and one protein at a time, each case in its own subprocess (so peak RSS is its
own). Proteins are random sequences with lengths drawn from the DeepLoc test set (the
--lengths-from FASTA). Random weights of realistic scale: the values do not change the
work. Prints residues/s, the fraction of the float32 FLOP ceiling (151 MFLOP per residue
at the better of the two float32 GEMM rates) and ratios, and how far bf16 embeddings lie
from float32 ones (max abs difference, per-protein cosine similarity of the mean vectors
of the summed layers, worst per-residue cosine).

With --compare-kernels batched float32 and bf16 also run with each kernel forced
(SEQVEC_KERNEL=mkl, onednn), to compare with the measured choice in the same run.
With --compare-refill batched float32 also runs as padded batches (continuous batching
off: rows empty out as proteins end), with 32 and 128 rows (the default is 64), and with 4 times the batch
budget (more proteins per plan batch to refill rows from). With --cli ``seqvec embed`` runs end to end on the mix (start-up and writing
included): threads only, --workers auto and --workers 2 (peak RSS summed over the workers).
With --repeat N every case runs N times, the cases interleaved, and the medians count
(for a shared machine). With --allennlp PYTHON BENCH.py (an environment with allennlp 0.9
and its timing script, e.g. the project's reference kit) allennlp's ElmoEmbedder runs the
same recipes side by side with seqvec on the same weights and threads: 20 proteins of
340-360 residues batched, and 5 of them one at a time. --profile prints where batched
float32 spends its time (torch profiler, operators by self time).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by hand from a checkout
FLOP_PER_RESIDUE = 4 * (2 * 512 * 16384 + 2 * 512 * 16384 + 2 * 4096 * 512)  # 151 MFLOP
DEFAULT_LENGTHS = Path(__file__).resolve().parents[2] / "shared" / "data" / "deeploc" / "deeploc_test_set.fasta"
GEMM = (256, 512, 16384)  # the shape of a chunk's input product, rows x K x N


def gemm_rates(repeats: int = 7) -> dict[str, float]:
    """Best-of GFLOP/s of a (256 x 512) @ (512 x 16384) product: float32 by MKL and by oneDNN, bfloat16 by oneDNN
    (each where this CPU and torch have it; bfloat16 by MKL where oneDNN has no bfloat16 product here)."""
    import torch

    from seqvec.lm.kernels import MatrixProduct, available_kernels, measure

    rows, k, n = GEMM
    a, w = torch.randn(rows, k), torch.randn(k, n) / k ** 0.5
    cpu = torch.device("cpu")
    pairs = [(torch.float32, name) for name in available_kernels(torch.float32, cpu)]
    pairs.append((torch.bfloat16, available_kernels(torch.bfloat16, cpu)[-1]))  # oneDNN where it has bfloat16
    calls = {}
    for dtype, kernel in pairs:
        product = MatrixProduct(w, dtype, kernel=kernel)
        calls[f"{str(dtype).removeprefix('torch.')} {kernel}"] = (lambda p: lambda: p(a))(product)
    seconds = measure(calls, rounds=repeats)
    return {name: 2 * rows * k * n / s / 1e9 for name, s in seconds.items()}


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


def allennlp_recipe_sequences(n: int = 20, length: int = 350) -> list[str]:
    """The proteins of the reference kit's allennlp timing script: n of length +- 10, numpy seed 0."""
    import numpy as np

    rng = np.random.default_rng(0)
    aa = list("ACDEFGHIKLMNPQRSTVWY")
    return ["".join(rng.choice(aa, int(rng.integers(length - 10, length + 11)))) for _ in range(n)]


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


def prepare_kernels(case: dict) -> dict:
    """Measure the kernels of the full shape that are not cached yet (so no case times a measurement)."""
    import torch

    from seqvec.lm import host, kernels, tuning
    from seqvec.lm.config import PRESETS

    if case["threads"]:
        torch.set_num_threads(case["threads"])
    c = PRESETS["seqvec"]
    dtypes = [torch.float32] + ([torch.bfloat16] if host.cpu_info().bf16_instructions() else [])
    for dtype in dtypes:
        tuning.measure_lstm_products(c.projection_dim, c.lstm_dim, c.projection_dim, dtype, remeasure=case["remeasure"])
    return {"host_key": host.host_key(), "cache": str(kernels.cache_path()), "entries": kernels.CACHE.entries()}


def run_case(case: dict) -> dict:
    """Embed in this process; returns residues/s and peak RSS (the case runs in a subprocess).

    A case with ``cli`` runs ``seqvec embed`` end to end instead (:mod:`benchmarks.embed_cli`)."""
    if case.get("cli"):
        from benchmarks.embed_cli import run_embed_cli

        return run_embed_cli(case)
    from seqvec.io.batching import make_batches
    from seqvec.lm.kernels import KERNEL_ENV

    if case.get("kernel"):
        os.environ[KERNEL_ENV] = case["kernel"]

    t0 = time.perf_counter()
    model = build_model(case).set_precision(case["precision"])
    model.refill = case.get("refill", True)
    if case.get("rows"):
        model.set_rows(case["rows"])
    build_s = time.perf_counter() - t0
    seqs = case["sequences"]
    lengths = {str(i): len(s) for i, s in enumerate(seqs)}
    budget = case.get("budget") or case["max_residues"]
    plan = [[str(i)] for i in range(len(seqs))] if case["single"] else make_batches(lengths, budget)
    model.embed_batch([seqs[int(i)] for i in plan[-1]])  # warm-up on the shortest batch
    profile = None
    if case.get("profile"):
        from torch import profiler

        profile = profiler.profile(activities=[profiler.ProfilerActivity.CPU])
        profile.__enter__()
    t = time.perf_counter()
    for batch in plan:
        model.embed_batch([seqs[int(i)] for i in batch])
    seconds = time.perf_counter() - t
    residues = sum(lengths.values())
    result = {"residues": residues, "seconds": seconds, "residues_per_s": residues / seconds,
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "build_s": build_s}
    if profile is not None:
        profile.__exit__(None, None, None)
        events = sorted(profile.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        result["profile"] = [{"op": e.key, "calls": e.count, "self_s": e.self_cpu_time_total / 1e6,
                              "share": e.self_cpu_time_total / total} for e in events[:12]]
    return result


def bf16_deviation(case: dict) -> dict:
    """How far bf16 embeddings lie from float32 ones for the same proteins and weights."""
    import torch

    from seqvec.io.batching import make_batches

    model = build_model(case)
    seqs = case["sequences"]
    plan = make_batches({str(i): len(s) for i, s in enumerate(seqs)}, case["max_residues"])
    exact: dict[str, torch.Tensor] = {}
    low: dict[str, torch.Tensor] = {}
    for precision, out in (("float32", exact), ("bf16", low)):
        model.set_precision(precision)
        for batch in plan:
            out.update(zip(batch, model.embed_batch([seqs[int(i)] for i in batch])))
    pairs = [(exact[str(i)], low[str(i)]) for i in range(len(seqs))]
    cosine = [float(torch.nn.functional.cosine_similarity(a.sum(0).mean(0), b.sum(0).mean(0), dim=0))
              for a, b in pairs]
    residue_cosine = [float(torch.nn.functional.cosine_similarity(a.sum(0), b.sum(0), dim=1).min()) for a, b in pairs]
    return {"proteins": len(seqs), "max_abs": max(float((a - b).abs().max()) for a, b in pairs),
            "max_abs_value": max(float(a.abs().max()) for a, _ in pairs),
            "protein_cosine_min": min(cosine), "protein_cosine_median": statistics.median(cosine),
            "residue_cosine_min": min(residue_cosine)}


def in_subprocess(case: dict, function: str = "run_case") -> dict:
    root = str(Path(__file__).resolve().parents[1])
    code = (f"import json,sys; sys.path.insert(0, {root!r}); from benchmarks.embed_speed import {function}; "
            f"print(json.dumps({function}(json.loads(sys.stdin.read()))))")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(case), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def allennlp(python: Path, bench: Path, weights: list[str], mode: str, threads: int, n: int = 20) -> dict:
    """One run of the reference kit's allennlp timing script (its JSON line): ``n`` proteins batched,
    the first ``n // 4`` (at least 1) one at a time."""
    command = [str(python), str(bench), *weights, "--mode", mode, "--threads", str(threads)]
    command += ["--n", str(max(1, n // 4) if mode == "single" else n)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_host(gemm: dict[str, float]) -> float:
    """Print the CPU, torch build and GEMM rates; return the float32 ceiling in residues/s."""
    from seqvec.lm.tuning import host_report as report

    host = report()
    cpu, build = host["cpu"], host["torch"]
    print(f"CPU {cpu['model']} ({cpu['logical_cpus']} logical CPUs); "
          + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["features"].items())
          + f"; torch {build['version']} (BLAS {build['blas']}, oneDNN {build['onednn']}), {host['threads']} threads")
    best32 = max(v for k, v in gemm.items() if k.startswith("float32"))
    ceiling = best32 * 1e9 / FLOP_PER_RESIDUE
    print(f"GEMM ({GEMM[0]} x {GEMM[1]}) @ ({GEMM[1]} x {GEMM[2]}): "
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gemm.items())
          + f"; float32 ceiling {ceiling:.0f} residues/s at {FLOP_PER_RESIDUE / 1e6:.0f} MFLOP/residue (the better "
            f"float32 rate)")
    return ceiling


def print_kernels(prepared: dict) -> None:
    entries = prepared["entries"]
    by_kernel: dict[str, list[str]] = {}
    for shape, entry in entries.items():
        by_kernel.setdefault(entry["kernel"], []).append(shape)
    print(f"kernels ({prepared['cache']}, {prepared['host_key']}): "
          + "; ".join(f"{k} for {len(v)} shapes" for k, v in sorted(by_kernel.items())))
    for shape, entry in sorted(entries.items(), key=lambda kv: (kv[1].get("dtype"), kv[1].get("k"), kv[1].get("rows"))):
        print(f"  {shape:38s} {entry['kernel']:7s} "
              + ", ".join(f"{k} {v:.3f} ms" for k, v in sorted(entry["ms"].items())))


def run_cases(cases: dict[str, dict], common: dict, repeat: int, ceiling: float) -> dict[str, dict]:
    """Every case ``repeat`` times, interleaved; returns each case's runs and median."""
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for round_ in range(repeat):
        for name, case in cases.items():
            r = in_subprocess({**case, **common})
            runs[name].append(r)
            print(f"{name:34s} {r['residues']:6d} residues {r['seconds']:7.1f} s {r['residues_per_s']:7.1f} res/s "
                  f"({r['residues_per_s'] / ceiling:.2f} of ceiling)  peak RSS {r['peak_rss_mib']:6.0f} MiB"
                  + (f"  [run {round_ + 1}/{repeat}]" if repeat > 1 else "")
                  + (f"  [{r['workers']} workers, peak RSS summed]" if r.get("workers", 1) > 1 else "")
                  + (f"  [auto chose {r['auto_choice']}]" if r.get("auto_choice") else "")
                  + ("  [TIMED OUT: an upper bound]" if r.get("timed_out") else ""), flush=True)
    return {name: {"runs": rs, "residues_per_s": statistics.median(r["residues_per_s"] for r in rs),
                   "peak_rss_mib": max(r["peak_rss_mib"] for r in rs), "seconds": statistics.median(r["seconds"] for r in rs)}
            for name, rs in runs.items()}


def print_profile(profile: list[dict]) -> None:
    print("where batched float32 spends its time (torch profiler, self time):")
    for e in profile:
        print(f"  {e['op']:40s} {e['calls']:9d} calls {e['self_s']:8.2f} s {100 * e['share']:5.1f}%")


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
                        help="residues on which bf16 is compared with float32 (0: skip)")
    parser.add_argument("--weights", type=Path, nargs=2, metavar=("OPTIONS", "WEIGHTS"),
                        help="options.json and weights.hdf5 of the full SeqVec shape instead of random weights, e.g. "
                             "from the reference kit's make_random_weights.py --profile seqvec-like (realistic "
                             "activations, which the bf16 deviation depends on)")
    parser.add_argument("--repeat", type=int, default=1, help="run every case this many times, interleaved")
    parser.add_argument("--remeasure", action="store_true", help="measure every kernel again, even if cached")
    parser.add_argument("--allennlp", type=Path, nargs=2, metavar=("PYTHON", "BENCH"),
                        help="python of an environment with allennlp 0.9 and its timing script (bench.py of the "
                             "reference kit): run its batched and one-at-a-time recipes side by side (needs --weights)")
    parser.add_argument("--recipe-n", type=int, default=20,
                        help="proteins of allennlp's batched recipe (a quarter of them one at a time)")
    parser.add_argument("--profile", action="store_true", help="profile one more batched float32 run")
    parser.add_argument("--compare-kernels", action="store_true",
                        help="also run batched float32 and bf16 with each kernel forced (SEQVEC_KERNEL=mkl, onednn), "
                             "interleaved with the measured choice")
    parser.add_argument("--compare-refill", action="store_true",
                        help="also run batched float32 as padded batches (no continuous batching), and with "
                             "continuous batching at 32 and 128 rows and at 4 times the batch budget")
    parser.add_argument("--cli", action="store_true",
                        help="also run 'seqvec embed' end to end on the length mix (float32): one process with "
                             "torch's threads, and --workers auto (needs --weights)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args(argv)
    if args.allennlp and not args.weights:
        parser.error("--allennlp needs --weights (both tools load the same files)")
    if args.cli and not args.weights:
        parser.error("--cli needs --weights (seqvec embed loads the model from files)")
    import torch

    from seqvec.embeddings.options import DEFAULT_MAX_RESIDUES
    from seqvec.lm.kernels import available_kernels

    if args.threads:
        torch.set_num_threads(args.threads)
    budget = args.max_residues or DEFAULT_MAX_RESIDUES
    common = {"threads": args.threads, "max_residues": budget, "weights": [str(w) for w in args.weights or ()]}
    gemm = gemm_rates()
    ceiling = print_host(gemm)
    prepared = in_subprocess({**common, "remeasure": args.remeasure}, "prepare_kernels")
    print_kernels(prepared)

    mix = sample_sequences(args.residues, args.lengths_from)
    single = sample_sequences(args.single_residues, args.lengths_from, seed=1)
    cases = {
        "batched float32": dict(sequences=mix, precision="float32", single=False),
        "batched bf16": dict(sequences=mix, precision="bf16", single=False),
        "one at a time float32": dict(sequences=single, precision="float32", single=True),
    }
    if args.compare_kernels:
        for precision in ("float32", "bf16"):
            for kernel in available_kernels(torch.bfloat16 if precision == "bf16" else torch.float32,
                                            torch.device("cpu")):
                cases[f"batched {precision} [{kernel}]"] = dict(sequences=mix, precision=precision, single=False,
                                                               kernel=kernel)
    if args.compare_refill:
        cases["batched float32 [padded]"] = dict(sequences=mix, precision="float32", single=False, refill=False)
        for rows in (32, 128):
            cases[f"batched float32 [{rows} rows]"] = dict(sequences=mix, precision="float32", single=False, rows=rows)
        cases["batched float32 [4x budget]"] = dict(sequences=mix, precision="float32", single=False, budget=4 * budget)
    if args.cli:
        cases["seqvec embed, threads only (all CPUs)"] = dict(sequences=mix, precision="float32", single=False, cli=True)
        cases["seqvec embed --workers auto"] = dict(sequences=mix, precision="float32", single=False, cli=True,
                                                    workers="auto")
        cases["seqvec embed --workers 2"] = dict(sequences=mix, precision="float32", single=False, cli=True,
                                                 workers=2)
    if args.allennlp:
        recipe = allennlp_recipe_sequences(args.recipe_n)
        cases["allennlp recipe batched, float32"] = dict(sequences=recipe, precision="float32", single=False)
        cases["allennlp recipe one at a time"] = dict(sequences=recipe[:max(1, args.recipe_n // 4)],
                                                      precision="float32", single=True)
    results = run_cases(cases, common, args.repeat, ceiling)
    if args.titin:
        titin = "".join(sample_sequences(35000, args.lengths_from, seed=2))[:35000]
        results.update(run_cases({"titin 35k float32": dict(sequences=[titin], precision="float32", single=True)},
                                 common, 1, ceiling))
    base = results["batched float32"]["residues_per_s"]
    summary = {"bf16 / float32": results["batched bf16"]["residues_per_s"] / base,
               "batched / one at a time": base / results["one at a time float32"]["residues_per_s"],
               "float32 of ceiling": base / ceiling}
    for name in [n for n in results if n.startswith("batched float32 [") and "mkl" not in n and "onednn" not in n]:
        summary[f"default / {name[16:-1]}"] = base / results[name]["residues_per_s"]
    if args.compare_kernels:
        for precision in ("float32", "bf16"):
            for kernel in ("mkl", "onednn"):
                summary[f"measured choice / {kernel} only, {precision}"] = (
                    results[f"batched {precision}"]["residues_per_s"]
                    / results[f"batched {precision} [{kernel}]"]["residues_per_s"])
    if args.repeat > 1:
        per_round = [b["residues_per_s"] / f["residues_per_s"]
                     for f, b in zip(results["batched float32"]["runs"], results["batched bf16"]["runs"])]
        print("bf16 / float32 per round: " + ", ".join(f"{x:.2f}x" for x in per_round))
    if args.allennlp:
        ref = {mode: allennlp(*args.allennlp, common["weights"], mode, args.threads, args.recipe_n)
               for mode in ("batched", "single")}
        results["allennlp 0.9 batched"] = ref["batched"]
        results["allennlp 0.9 one at a time"] = ref["single"]
        for mode, r in ref.items():
            print(f"allennlp 0.9 {mode:27s} {r['residues']:6d} residues {r['embed_s']:7.1f} s "
                  f"{r['residues_per_s']:7.1f} res/s ({r['torch_threads']} threads)")
        summary["seqvec / allennlp batched"] = (results["allennlp recipe batched, float32"]["residues_per_s"]
                                                / ref["batched"]["residues_per_s"])
        summary["seqvec / allennlp one at a time"] = (results["allennlp recipe one at a time"]["residues_per_s"]
                                                      / ref["single"]["residues_per_s"])
        summary["seqvec DeepLoc mix / allennlp batched"] = base / ref["batched"]["residues_per_s"]
    print("; ".join(f"{k}: {v:.2f}" + ("" if "ceiling" in k else "x") for k, v in summary.items()))
    if args.profile:
        profiled = in_subprocess({**cases["batched float32"], **common, "profile": True})
        results["profiled batched float32"] = profiled
        print_profile(profiled["profile"])
    deviation = None
    if args.deviation_residues:
        deviation = in_subprocess({"sequences": sample_sequences(args.deviation_residues, args.lengths_from, seed=3),
                                   **common}, "bf16_deviation")
        print(f"bf16 vs float32 on {deviation['proteins']} proteins: max |diff| {deviation['max_abs']:.4f} "
              f"(largest |value| {deviation['max_abs_value']:.2f}); per-protein cosine min "
              f"{deviation['protein_cosine_min']:.6f}, median {deviation['protein_cosine_median']:.6f}; "
              f"per-residue cosine min {deviation['residue_cosine_min']:.5f}")
    if args.json:
        from seqvec.lm.tuning import host_report as report

        args.json.write_text(json.dumps({"host": report(), "gemm_gflops": gemm, "ceiling_residues_per_s": ceiling,
                                         "kernels": prepared, "cases": results, "summary": summary,
                                         "bf16_deviation": deviation, "max_residues": budget,
                                         "weights": common["weights"], "repeat": args.repeat}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
