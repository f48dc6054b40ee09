"""Search at scale: N random D-dim vectors, exact and approximate FAISS indexes against numpy brute force.

    nice python benchmarks/search_scale.py --n 1000000 --dim 1024 --methods numpy,exact,ivf,hnsw

Each method runs in a child process of its own, so that its peak RSS is its own; the
vectors are drawn there chunk by chunk from seeded generators (the same in every child),
the queries from another seed. ``--data gaussian`` draws i.i.d. normal vectors, the worst
case for approximate search (no structure: nearest neighbours are barely nearer than the
rest); ``--data clustered`` draws them around 10,000 random centres (noise of the same
scale as the spread of the centres), closer to real embeddings. Metric: cosine (unit
vectors, inner product), as ``seqvec index`` uses by default. Reported per method: build
time (adding, and training for IVF), queries per second at k = 10 (all queries in one
call, ``--threads`` threads) in wall-clock time and per CPU-second of the process (on a
shared, busy machine the second estimates what the process would do alone:
``--threads`` x queries per CPU-second, if the threads scale), recall@10 against the
exact result, peak RSS of the process.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seqvec.search.index import IndexSettings, import_faiss, new_faiss_index, normalised  # noqa: E402
from seqvec.search.neighbours import VectorIndex  # noqa: E402

CHUNK = 50_000
K = 10


def chunks(args: argparse.Namespace):
    """The database, ``[<=CHUNK, dim]`` float32 unit vectors at a time (seeded, the same in every process)."""
    centres = None
    if args.data == "clustered":
        centres = np.random.default_rng([args.seed, 1]).standard_normal((10_000, args.dim), dtype=np.float32)
    for i, start in enumerate(range(0, args.n, CHUNK)):
        rng = np.random.default_rng([args.seed, 2, i])
        block = rng.standard_normal((min(CHUNK, args.n - start), args.dim), dtype=np.float32)
        if centres is not None:
            block += centres[rng.integers(0, len(centres), len(block))]
        yield normalised(block)


def queries(args: argparse.Namespace) -> np.ndarray:
    rng = np.random.default_rng([args.seed, 3])
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    if args.data == "clustered":
        centres = np.random.default_rng([args.seed, 1]).standard_normal((10_000, args.dim), dtype=np.float32)
        q += centres[rng.integers(0, len(centres), len(q))]
    return normalised(q)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_numpy(args: argparse.Namespace, q: np.ndarray) -> dict:
    start = time.perf_counter()
    data = np.empty((args.n, args.dim), dtype=np.float32)
    row = 0
    for block in chunks(args):
        data[row:row + len(block)] = block
        row += len(block)
    built = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    found = []
    for i in range(0, len(q), 100):  # [100, N] scores at a time
        scores = q[i:i + 100] @ data.T
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1)
        found.append(np.take_along_axis(top, order, 1))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"build_s": built, "search_s": seconds, "search_cpu_s": cpu, "rows": np.concatenate(found)}


def run_faiss(args: argparse.Namespace, q: np.ndarray, settings: IndexSettings, sweep: list[int]) -> dict:
    faiss = import_faiss()
    faiss.omp_set_num_threads(args.threads)
    index = new_faiss_index(settings, args.dim, args.n)
    start = time.perf_counter()
    if settings.kind == "ivf":
        sample = np.concatenate([b[: max(1, len(b) * args.train // args.n)] for b in chunks(args)])
        index.train(sample)
        del sample
    trained = time.perf_counter() - start
    for block in chunks(args):
        index.add(block)
    built = time.perf_counter() - start
    loaded = VectorIndex(Path("memory"), [str(i) for i in range(args.n)], settings, {}, args.dim, index)
    runs = []
    for value in sweep or [0]:
        extra = {"nprobe": value} if settings.kind == "ivf" else {"ef_search": value} if settings.kind == "hnsw" else {}
        start, cpu = time.perf_counter(), time.process_time()
        hits = loaded.search(q, K, **extra)
        runs.append({"param": value, "search_s": time.perf_counter() - start, "search_cpu_s": time.process_time() - cpu,
                     "rows": hits.rows})
    return {"build_s": built, "train_s": trained, "runs": runs}


def child(args: argparse.Namespace) -> None:
    """Run one method and write its result (rows as .npy, the rest as JSON) under --work."""
    q = queries(args)
    method = args.child
    if method == "numpy":
        result = run_numpy(args, q)
        runs = [{"param": 0, "search_s": result.pop("search_s"), "search_cpu_s": result.pop("search_cpu_s"),
                 "rows": result.pop("rows")}]
    else:
        kind, _, param = method.partition("-")
        settings = {"exact": IndexSettings(), "ivf": IndexSettings(kind="ivf", nlist=int(param or 0)),
                    "hnsw": IndexSettings(kind="hnsw", hnsw_m=int(param or 32))}[kind]
        sweep = [int(x) for x in (args.nprobe if kind == "ivf" else args.ef_search if kind == "hnsw" else "").split(",")
                 if x]
        result = run_faiss(args, q, settings, sweep)
        runs = result.pop("runs")
    for r in runs:
        np.save(args.work / f"{method}-{r['param']}.npy", r.pop("rows"))
    result.update(runs=runs, peak_rss_gib=peak_rss_gib())
    (args.work / f"{method}.json").write_text(json.dumps(result))


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--data", choices=("gaussian", "clustered"), default="gaussian")
    parser.add_argument("--methods", default="numpy,exact,ivf-1024,hnsw-32",
                        help="numpy, exact, ivf-NLIST, hnsw-M (comma-separated)")
    parser.add_argument("--nprobe", default="8,16,32,64,128", help="IVF cells searched (a sweep)")
    parser.add_argument("--ef-search", default="64,128,256,512", help="HNSW candidates (a sweep)")
    parser.add_argument("--train", type=int, default=65_536, help="IVF training vectors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("runs/search_scale"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args)
        return 0
    shared = [a for a in (argv if argv is not None else sys.argv[1:])]
    for method in args.methods.split(","):
        if not (args.work / f"{method}.json").exists():
            subprocess.run([sys.executable, __file__, *shared, "--child", method], check=True)
    truth_method = "exact" if (args.work / "exact.json").exists() else "numpy"
    truth = np.load(args.work / f"{truth_method}-0.npy")
    print(f"{args.n:,} x {args.dim} {args.data} vectors, {args.queries} queries, k={K}, {args.threads} threads; "
          f"{platform.processor() or platform.machine()}; recall against {truth_method}")
    print("| method | parameter | build (s) | queries/s (wall) | queries per CPU-second | recall@10 | peak RSS (GiB) |\n"
          "|---|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        result = json.loads((args.work / f"{method}.json").read_text())
        for r in result["runs"]:
            found = np.load(args.work / f"{method}-{r['param']}.npy")
            print(f"| {method} | {r['param'] or '–'} | {result['build_s']:.1f} | {args.queries / r['search_s']:,.0f} | "
                  f"{args.queries / r['search_cpu_s']:,.0f} | {recall(found, truth):.3f} | {result['peak_rss_gib']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
