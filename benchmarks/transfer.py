"""Annotation transfer on DeepLoc, by embedding similarity and by MMseqs2; writes OUT/transfer.{json,md} and a figure.

One command (minutes once the embeddings exist; embedding the 5,367 proteins with the LM
takes most of the time)::

    nice python benchmarks/transfer.py --data DATA --out runs/transfer --figure docs/figures/transfer_reliability.png

- reference = the DeepLoc training pool (``deeploc_our_val_set.fasta`` + ``deeploc_valid_6000.fasta``,
  the proteins with a location label, as in benchmarks/tasks.py), queries = ``deeploc_test_set.fasta``.
- encoders: one-hot and BLOSUM62 (per-protein = amino-acid composition, the mean of the
  rows) and the bundled language model (mean of its summed layers); one exact cosine index each.
- transfer k = 1 and the k chosen by leave-one-out on the reference (1, 3, 5, 10, 20, 50),
  reliability calibrated by leave-one-out on all references; Q10 with 95% bootstrap CIs.
- MMseqs2 ``easy-search`` (default sensitivity and E-value 1e-3) of the queries against the
  reference; the hit of best bit score gives the label; a query without a hit gets none.
- the queries split into those with and without an MMseqs2 hit; coverage at MMseqs2's accuracy.
- the trained FNN/LA heads of the same encoders are quoted from ``docs/benchmarks.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seqvec.classifiers.evaluation.metrics import score_task  # noqa: E402
from seqvec.classifiers.labels.files import read_labels, write_fasta  # noqa: E402
from seqvec.classifiers.labels.tasks import TASKS  # noqa: E402
from seqvec.classifiers.selection.splits import find_mmseqs  # noqa: E402
from seqvec.cli.main import main as seqvec_main  # noqa: E402
from seqvec.embeddings.pipeline import embed_fasta  # noqa: E402
from seqvec.search.api import transfer_labels  # noqa: E402
from seqvec.search.index import build_index  # noqa: E402
from seqvec.search.neighbours import load_index  # noqa: E402
from seqvec.search.query import write_table  # noqa: E402
from seqvec.search.scoring import score_predictions  # noqa: E402

logger = logging.getLogger("benchmarks.transfer")
ENCODERS = {"onehot": "one-hot composition", "blosum62": "BLOSUM62 composition", "lm": "seqvec-mini-v2 (bundled LM)"}
HEAD_RUNS = {"onehot": "onehot", "blosum62": "blosum62", "lm": "seqvec-mini-v2"}  # names in docs/benchmarks.json
SPEC = TASKS["localization"]


def prepare(data: Path, out: Path, encoders: list[str]):
    """Reference and query label sets, their FASTA files and per-protein embeddings of each encoder."""
    d = data / "deeploc"
    pool = read_labels([d / "deeploc_our_val_set.fasta", d / "deeploc_valid_6000.fasta", d / "deeploc_labels_q2.json"])
    test = read_labels([d / "deeploc_test_set.fasta"])
    reference = [i for i in pool.ids if i in pool.labels["localization"]]
    queries = [i for i in test.ids if i in test.labels["localization"]]
    (out / "emb").mkdir(parents=True, exist_ok=True)
    write_fasta(pool, out / "reference.fasta", reference)
    write_fasta(test, out / "queries.fasta", queries)
    for encoder in encoders:
        for part in ("reference", "queries"):
            embed_fasta(out / f"{part}.fasta", out / "emb" / f"{part}.{encoder}.h5", encoder=encoder,
                        per_residue=False, progress=True)
    return pool, test, queries


def mmseqs_hits(out: Path, threads: int) -> dict[str, tuple[str, float]]:
    """Best hit by bit score of each query in the reference: ``{query: (target, bits)}``."""
    table = out / "mmseqs.m8"
    if not table.exists():
        with tempfile.TemporaryDirectory(prefix="mmseqs-") as tmp:
            command = [find_mmseqs(), "easy-search", str(out / "queries.fasta"), str(out / "reference.fasta"),
                       str(table), tmp, "--threads", str(threads), "-v", "1",
                       "--format-output", "query,target,fident,evalue,bits"]
            logger.info("running %s", " ".join(command))
            subprocess.run(command, check=True)
    best: dict[str, tuple[str, float]] = {}
    for line in table.read_text().splitlines():
        query, target, _, _, bits = line.split("\t")
        if query not in best or float(bits) > best[query][1]:
            best[query] = (target, float(bits))
    return best


def q10(truth: list, predictions: list, n_bootstrap: int = 1000) -> dict:
    """Q10 with its 95% bootstrap interval; a None prediction counts as wrong."""
    wrong = np.zeros(len(SPEC.classes))
    probabilities = []
    for t, p in zip(truth, predictions):
        if p is None:  # no prediction: a class other than the truth
            wrong[:] = 0
            wrong[(int(t) + 1) % len(SPEC.classes)] = 1
            p = wrong.copy()
        probabilities.append(p)
    if not truth:
        return {"value": float("nan"), "ci95": [float("nan")] * 2, "n": 0}
    metric = score_task(SPEC, truth, probabilities, n_bootstrap=n_bootstrap)["metrics"]["Q10"]
    return {**metric, "n": len(truth)}


def one_hot(name: str) -> np.ndarray:
    return np.eye(len(SPEC.classes))[SPEC.classes.index(name)]


def read_predicted(path: Path) -> dict[str, tuple[str, float]]:
    """``{query: (label, reliability)}`` of a transfer table."""
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    return {r[0]: (r[1], float(r[2]) if r[2] else float("nan")) for r in rows}


def coverage_at(reliability: np.ndarray, correct: np.ndarray, accuracy: float) -> dict:
    """Largest share of the queries whose most reliable predictions reach ``accuracy`` (on the test set)."""
    order = np.argsort(-reliability, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= accuracy)
    n = int(ok.max()) + 1 if len(ok) else 0
    return {"coverage": n / len(order), "n": n, "threshold": float(reliability[order][n - 1]) if n else None}


def _kept(correct: np.ndarray, kept: np.ndarray) -> dict:
    """Coverage and accuracy of the predictions kept."""
    return {"coverage": float(kept.mean()), "n": int(kept.sum()),
            "accuracy": float(correct[kept].mean()) if kept.any() else None}


def threshold_from_reference(calibration, accuracy: float) -> float:
    """Smallest reliability threshold whose kept leave-one-out references reach ``accuracy``."""
    reliability = calibration.reliability(calibration.support)
    for t in np.unique(reliability):
        if calibration.correct[reliability >= t].mean() >= accuracy:
            return float(t)
    return float("inf")


def run(args: argparse.Namespace) -> dict:
    out = args.out
    encoders = args.encoders.split(",")
    pool, test, queries = prepare(args.data, out, encoders)
    truth = {q: test.labels["localization"][q] for q in queries}
    labels_of = pool.labels["localization"]
    report: dict = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": platform.platform(),
                             "cpu": args.cpu, "n_reference": len(labels_of), "n_queries": len(queries)},
                    "encoders": {}}
    hits = mmseqs_hits(out, args.threads)
    mm_pred = {q: one_hot(SPEC.classes[labels_of[hits[q][0]]]) if q in hits else None for q in queries}
    with_hit = [q for q in queries if q in hits]
    without = [q for q in queries if q not in hits]
    mm_on_hits = q10([truth[q] for q in with_hit], [mm_pred[q] for q in with_hit])
    report["mmseqs2"] = {"coverage": len(with_hit) / len(queries), "n_hits": len(with_hit),
                         "q10_all": q10([truth[q] for q in queries], [mm_pred[q] for q in queries]),
                         "q10_on_hits": mm_on_hits}
    for encoder in encoders:
        description = ENCODERS[encoder]
        build_index(out / "emb" / f"reference.{encoder}.h5", out / f"{encoder}.index", overwrite=True)
        index = load_index(out / f"{encoder}.index")
        entry: dict = {"description": description}
        for name, k in (("k1", 1), ("best", None)):
            result = transfer_labels(out / "emb" / f"queries.{encoder}.h5", index, pool, "localization", k,
                                     calibration_sample=len(labels_of))
            table = write_table(out / f"{encoder}.{name}.tsv", result.header, result.rows)
            scored = score_predictions(table, test)
            (out / f"{encoder}.{name}.json").write_text(json.dumps(scored, indent=1) + "\n")
            predicted = read_predicted(table)
            correct = np.array([predicted[q][0] == SPEC.classes[truth[q]] for q in queries], dtype=float)
            reliability = np.array([predicted[q][1] for q in queries])
            calibration = result.loo.calibrations[result.k]
            t_ref = threshold_from_reference(calibration, mm_on_hits["value"])
            kept = reliability >= t_ref
            no_hit = np.array([q not in hits for q in queries])
            entry[name] = {
                "k": result.k, "leave_one_out": result.loo.scores, "q10": scored["result"]["metrics"]["Q10"],
                "q10_with_mmseqs_hit": q10([truth[q] for q in with_hit],
                                           [one_hot(predicted[q][0]) for q in with_hit]),
                "q10_without_mmseqs_hit": q10([truth[q] for q in without], [one_hot(predicted[q][0]) for q in without]),
                "mmseqs_then_transfer": q10([truth[q] for q in queries],
                                            [mm_pred[q] if q in hits else one_hot(predicted[q][0]) for q in queries]),
                "coverage_at_mmseqs_accuracy_test_oracle": coverage_at(reliability, correct, mm_on_hits["value"]),
                "at_reference_threshold": {"threshold": t_ref, **_kept(correct, kept),
                                           "without_mmseqs_hit": _kept(correct[no_hit], kept[no_hit])},
            }
            logger.info("%s %s: k=%d Q10 %.4f", encoder, name, result.k, entry[name]["q10"]["value"])
        report["encoders"][encoder] = entry
    report["heads"] = heads_from_docs(ROOT / "docs" / "benchmarks.json")
    if args.figure:
        marks = [f"MMseqs2 hits={report['mmseqs2']['coverage']:.4f},{mm_on_hits['value']:.4f}"]
        files = [str(out / f"{e}.best.json") for e in encoders]
        names = [f"{ENCODERS[e]}, k={report['encoders'][e]['best']['k']}" for e in encoders]
        seqvec_main(["plot", "reliability", *files, "--names", *names, "--mark", *marks, "-o", str(args.figure),
                     "--caption", f"DeepLoc test set ({len(queries):,} queries), reference = training pool "
                                  f"({len(labels_of):,}); benchmarks/transfer.py", "-q"])
    return report


def heads_from_docs(path: Path) -> dict:
    """Q10 of the trained FNN and LA heads of the same encoders, as docs/benchmarks.json records them."""
    if not path.is_file():
        return {}
    runs = json.loads(path.read_text()).get("runs", [])
    found = {}
    for encoder, name in HEAD_RUNS.items():
        for r in runs:
            if r.get("name") == name and r.get("head") in ("fnn", "la"):
                found[f"{encoder}-{r['head']}"] = r["tasks"]["localization"]["metrics"]["Q10"]
    return found


def fmt(metric: dict) -> str:
    lo, hi = metric["ci95"]
    return f"{100 * metric['value']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def markdown(report: dict) -> str:
    """The tables of docs/benchmarks.md's transfer section."""
    mm = report["mmseqs2"]
    lines = ["| encoder | k | Q10, all queries | with an MMseqs2 hit | without an MMseqs2 hit | "
             "MMseqs2 hit, else transfer | trained FNN | trained LA |", "|---|---|---|---|---|---|---|---|"]
    for encoder, entry in report["encoders"].items():
        heads = [report["heads"].get(f"{encoder}-{h}") for h in ("fnn", "la")]
        for name in ("k1", "best"):
            e = entry[name]
            lines.append(f"| {entry['description']} | {e['k']}{' (LOO)' if name == 'best' else ''} | {fmt(e['q10'])} | "
                         f"{fmt(e['q10_with_mmseqs_hit'])} | {fmt(e['q10_without_mmseqs_hit'])} | "
                         f"{fmt(e['mmseqs_then_transfer'])} | "
                         + " | ".join(fmt(h) if h else "–" for h in heads) + " |")
    lines.append(f"| MMseqs2 best hit | 1 | {fmt(mm['q10_all'])} (no hit = wrong) | {fmt(mm['q10_on_hits'])} | "
                 "no prediction | – | – | – |")
    lines += ["", f"MMseqs2 finds a hit for {mm['n_hits']:,} of {report['meta']['n_queries']:,} queries "
              f"(coverage {100 * mm['coverage']:.1f}%), {100 * mm['q10_on_hits']['value']:.1f}% of them right. "
              "Transfer kept above the reliability threshold at which leave-one-out on the reference reaches "
              "that accuracy:", "",
              "| encoder | k | threshold | kept: coverage, accuracy | no MMseqs2 hit: coverage, accuracy | "
              "best coverage at MMseqs2's accuracy (test, oracle) |", "|---|---|---|---|---|---|"]
    for entry in report["encoders"].values():
        e = entry["best"]
        at, oracle = e["at_reference_threshold"], e["coverage_at_mmseqs_accuracy_test_oracle"]
        lines.append(f"| {entry['description']} | {e['k']} | {at['threshold']:.3f} | {_pair(at)} | "
                     f"{_pair(at['without_mmseqs_hit'])} | {100 * oracle['coverage']:.1f}% |")
    return "\n".join(lines)


def _pair(kept: dict) -> str:
    accuracy = "–" if kept["accuracy"] is None else f"{100 * kept['accuracy']:.1f}%"
    return f"{100 * kept['coverage']:.1f}%, {accuracy} (n={kept['n']})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the benchmark data folder (holds deeploc/)")
    parser.add_argument("--out", type=Path, required=True, help="work folder (embeddings, indexes, tables; reused)")
    parser.add_argument("--figure", type=Path, help="reliability figure to write (drawn by 'seqvec plot reliability')")
    parser.add_argument("--threads", type=int, default=2, help="MMseqs2 threads")
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated subset of " + ", ".join(ENCODERS))
    parser.add_argument("--cpu", default=platform.processor() or "unknown", help="CPU name for the report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    report = run(args)
    (args.out / "transfer.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "transfer.md").write_text(markdown(report) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
