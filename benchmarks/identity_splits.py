"""DeepLoc: does a random or a 30%-identity validation split predict the test result better?

The DeepLoc test set is homology-reduced against the training partition (30% identity),
so a validation estimate should be made the same way. This runs, for each encoder,
``seqvec train --cv 5`` on the DeepLoc training pool twice, with random folds and with
folds of MMseqs2 clusters (``--split-by-identity 0.3``), keeping the DeepLoc test set out
of the folds (``--test-set``): each fold head is scored on its held-out fold (the
cross-validation estimate) and on the test set. The commands are the ones a user types::

    seqvec train --task localization --head fnn --embeddings OUT/pool_<encoder>.h5 \\
        --labels deeploc_our_val_set.fasta --labels deeploc_valid_6000.fasta \\
        --cv 5 [--split-by-identity 0.3] --test-set deeploc_test_set.fasta \\
        --test-embeddings OUT/test_<encoder>.h5 -o OUT/<encoder>-<head>-<split>

Run (the embeddings are made first if missing; the LM embeds about 2.9 M residues)::

    nice python benchmarks/identity_splits.py --data DEEPLOC_DIR --out /tmp/idsplits -v

It prints a Markdown table and writes ``OUT/result_<head>.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

POOL = ("deeploc_our_val_set.fasta", "deeploc_valid_6000.fasta")
TEST = "deeploc_test_set.fasta"


def run_split(args, encoder: str, split: str) -> dict:
    """One cross-validation (random or identity folds), run as the command a user types; returns its cv.json."""
    out = args.out / f"{encoder}-{args.head}-{split}"
    command = ["train", "-q", "--task", "localization", "--head", args.head,
               "--embeddings", str(args.out / f"pool_{encoder}.h5"), "--encoder", encoder,
               *[x for name in POOL for x in ("--labels", str(args.data / name))],
               "--cv", str(args.folds), "--test-set", str(args.data / TEST),
               "--test-embeddings", str(args.out / f"test_{encoder}.h5"), "--epochs", str(args.epochs),
               "--seed", str(args.seed), "-o", str(out)]
    if split == "identity":
        command += ["--split-by-identity", str(args.identity)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    if subprocess.run([sys.executable, "-m", "seqvec", *command], env=env).returncode != 0:
        raise SystemExit(f"seqvec {' '.join(command)} failed")
    return {"command": "seqvec " + " ".join(command[:1] + command[2:]), **json.loads((out / "cv.json").read_text())}


def row(encoder: str, head: str, split: str, report: dict) -> str:
    s = report["summary"]["localization"]
    pooled, ensemble = s["pooled"][0], s["test_ensemble"][0]

    def pct(x):
        return f"{100 * x:.1f}"
    return (f"| {encoder} | {head} | {split} | {pct(s['folds']['mean'])} ± {pct(s['folds']['sd'])} | "
            f"{pct(pooled['value'])} [{pct(pooled['ci95'][0])}, {pct(pooled['ci95'][1])}] | "
            f"{pct(s['test_folds']['mean'])} ± {pct(s['test_folds']['sd'])} | "
            f"{pct(ensemble['value'])} [{pct(ensemble['ci95'][0])}, {pct(ensemble['ci95'][1])}] | "
            f"{pct(s['folds']['mean'] - s['test_folds']['mean'])} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="folder with the DeepLoc FASTA files")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--encoders", default="onehot", help="comma-separated: lm, onehot, blosum62")
    p.add_argument("--head", default="fnn")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--identity", type=float, default=0.3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads of each command (OMP_NUM_THREADS)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    results, lines = {}, ["| encoder | head | folds | CV Q10, folds mean ± sd | CV Q10, pooled [95% CI] | "
                          "test Q10, fold heads mean ± sd | test Q10, ensemble [95% CI] | CV minus test |",
                          "|---|---|---|---|---|---|---|---|"]
    for encoder in args.encoders.split(","):
        for split in ("random", "identity"):
            report = run_split(args, encoder, split)
            results[f"{encoder}-{args.head}-{split}"] = report
            lines.append(row(encoder, args.head, split, report))
            (args.out / f"result_{args.head}.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
