"""The embedding store at scale: the per-id layout against the columnar one, side by side.

For each size N (short random proteins, 30-120 residues) and view (per-protein only, or both
views), one fresh process per (layout, N, view) runs ``seqvec embed --encoder onehot`` (whose
compute costs next to nothing, so the time is the store's), then reads every per-protein
vector as one matrix and 1,000 random proteins' per-residue arrays, and reports its own peak
RSS. Last, the store alone: precomputed 21-d and 1024-d vectors through the columnar file
and its in-place writer (what the store adds per record, and the size of wide embeddings). Run by hand; it prints a Markdown table for docs/performance.md::

    python benchmarks/store_scale.py --sizes 10000,100000,1000000 --old-max 100000 --residue-max 100000 \
        --old-residue-max 10000 [--lm 2000 --lm-old-max 2000]

"write peak RSS" is the process's peak resident size when the embedding is written
(before any read); "peak RSS" includes reading the [N, D] matrix back.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALPHABET = "ACDEFGHIKLMNPQRSTVWY"


def write_fasta(path: Path, n: int, seed: int = 0) -> int:
    """N random proteins of 30-120 residues; returns the number of residues."""
    rng = random.Random(seed)
    residues = 0
    with open(path, "w") as handle:
        for i in range(n):
            length = rng.randint(30, 120)
            residues += length
            handle.write(f">P{i:08d}\n{''.join(rng.choices(ALPHABET, k=length))}\n")
    return residues


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    import numpy as np

    import seqvec
    from seqvec.embeddings.pipeline import embed_fasta

    out = Path(args.out)
    start = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    embed_fasta(args.fasta, out, encoder=args.encoder, layout=args.layout, per_residue=args.per_residue,
                compression=args.compression)
    write_s = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    write_rss = usage.ru_maxrss / 1024  # peak while writing (reads come after)
    write_cpu = usage.ru_utime + usage.ru_stime - cpu  # CPU seconds: less at the mercy of other load than wall time
    start = time.perf_counter()
    with seqvec.open_embeddings(out) as store:
        matrix = store.per_protein()  # [N, 21]
        read_s = time.perf_counter() - start
        random_s = None
        if args.per_residue:
            picks = random.Random(1).sample(store.ids, 1000)
            start = time.perf_counter()
            total = sum(store.per_residue(i).shape[0] for i in picks)
            random_s = time.perf_counter() - start
            assert total > 0
    print(json.dumps({"write_s": write_s, "read_s": read_s, "random_s": random_s, "shape": list(matrix.shape),
                      "size": out.stat().st_size, "write_rss_mb": write_rss, "write_cpu_s": write_cpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "n": int(matrix.shape[0]), "check": float(np.asarray(matrix[:, :20]).sum())}))


def store_alone(args: argparse.Namespace) -> None:
    """N records of D-d float32 vectors through the store alone (allocation, rows written in batches of
    213 records, the pipeline's batch of 16,000 residues, and a commit every 2 s); prints a JSON line."""
    import numpy as np

    from seqvec.embeddings.columnar import Shapes, sequence_digest
    from seqvec.embeddings.inplace import InPlaceRun
    from seqvec.embeddings.parts import PartialRun

    n, dim = args.n, args.dim
    ids = [f"P{i:08d}" for i in range(n)]
    lengths = np.full(n, 75)
    vectors = list(np.random.default_rng(0).standard_normal((min(n, 1000), dim), dtype=np.float32))
    out = Path(args.out)
    partial = PartialRun(out)
    partial.create({})
    start = time.perf_counter()
    digests = [sequence_digest(i) for i in ids]
    run = InPlaceRun(partial)
    run.create(ids, lengths, digests, Shapes(dim, None, "float32"), {"fingerprint": "{}"})
    run.open(np.concatenate([[0], np.cumsum(lengths)]))
    for k, a in enumerate(range(0, n, 213)):
        rows = list(range(a, min(n, a + 213)))
        run.write(k, rows, [None] * len(rows), [vectors[r % len(vectors)] for r in rows])
    run.close()
    run.finish(out)
    partial.remove()
    print(json.dumps({"write_s": time.perf_counter() - start, "size": out.stat().st_size, "n": n,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(*argv: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000", help="numbers of proteins (default: %(default)s; empty: only --lm)")
    p.add_argument("--old-max", type=int, default=100000, help="largest N run in the per-id layout (it is slow)")
    p.add_argument("--residue-max", type=int, default=100000, help="largest N run with per-residue embeddings")
    p.add_argument("--old-residue-max", type=int, default=10000,
                   help="largest N run with per-residue embeddings in the per-id layout")
    p.add_argument("--compression", default="gzip", help="--compression of seqvec embed (default: %(default)s)")
    p.add_argument("--dir", type=Path, help="where to write (default: a temporary folder)")
    p.add_argument("--lm", type=int, default=0,
                   help="also embed this many proteins with the bundled LM (per-protein and per-residue; 0: none)")
    p.add_argument("--lm-old-max", type=int, default=0, help="largest N run with the LM in the per-id layout")
    p.add_argument("--child", nargs=6, metavar=("FASTA", "OUT", "LAYOUT", "PER_RESIDUE", "COMPRESSION", "ENCODER"),
                   help=argparse.SUPPRESS)
    p.add_argument("--alone", nargs=3, metavar=("N", "D", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        fasta, out, layout, per_residue, compression, encoder = args.child
        child(argparse.Namespace(fasta=fasta, out=out, layout=layout, per_residue=per_residue == "1",
                                 compression=compression, encoder=encoder))
        return
    if args.alone:
        store_alone(argparse.Namespace(n=int(args.alone[0]), dim=int(args.alone[1]), out=args.alone[2]))
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        report(args, Path(tmp))


def report(args: argparse.Namespace, tmp: Path) -> None:
    print(f"# store_scale on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| N | encoder | view | layout | write s | write CPU s | ms/record | size MB | size / raw | read all per-protein s | "
          "1,000 random per-residue s | write peak RSS MB | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    runs = [(n, "onehot", per_residue, layout) for n in sizes for per_residue in (False, True)
            for layout in ("per-id", "columnar")
            if not (per_residue and n > args.residue_max)
            and not (layout == "per-id" and n > (args.old_residue_max if per_residue else args.old_max))]
    if args.lm:
        runs += [(args.lm, "lm", True, layout) for layout in ("per-id", "columnar")
                 if layout == "columnar" or args.lm <= args.lm_old_max]
    for n, encoder, per_residue, layout in runs:
        fasta = tmp / f"in{n}.fasta"
        residues = write_fasta(fasta, n)
        out = tmp / f"{layout}-{n}-{int(per_residue)}.h5"
        r = run_child("--child", str(fasta), str(out), layout, str(int(per_residue)), args.compression, encoder)
        dim = r["shape"][1]
        raw = 4 * dim * (n + (residues if per_residue else 0))
        view = "both" if per_residue else "per-protein"
        random_s = f"{r['random_s']:.2f}" if r["random_s"] is not None else "-"
        print(f"| {n:,} | {encoder} | {view} | {layout} | {r['write_s']:.1f} | {r['write_cpu_s']:.1f} | "
              f"{1000 * r['write_s'] / n:.3f} | "
              f"{r['size'] / 1e6:.1f} | {r['size'] / raw:.2f} | {r['read_s']:.2f} | {random_s} | "
              f"{r['write_rss_mb']:.0f} | {r['rss_mb']:.0f} |", flush=True)
        out.unlink()
        fasta.unlink()
    print("\nThe store alone (per-protein float32 vectors already computed; no FASTA, no encoder):\n")
    print("| N | D | write s | ms/record | size / raw | peak RSS MB |\n|---|---|---|---|---|---|")
    for n in sizes:
        for dim in (21, 1024):
            if dim == 1024 and n > 100000:
                continue
            r = run_child("--alone", str(n), str(dim), str(tmp / "alone.h5"))
            print(f"| {n:,} | {dim} | {r['write_s']:.2f} | {1000 * r['write_s'] / n:.4f} | "
                  f"{r['size'] / (4 * dim * n):.3f} | {r['rss_mb']:.0f} |", flush=True)
            (tmp / "alone.h5").unlink()


if __name__ == "__main__":
    main()
