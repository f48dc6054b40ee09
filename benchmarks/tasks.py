"""Task benchmarks: encoders x heads on DeepLoc and NetSurfP/CB513; writes docs/benchmarks.md.

One command (about 1 h of CPU for the baselines, plus the language-model embedding)::

    nice python benchmarks/tasks.py --out runs/benchmarks --report docs/benchmarks.md \\
        --bundle-heads -v > runs/benchmarks.log 2>&1 &

What it does (every choice is also written into ``docs/benchmarks.json``):

- localization (10 classes) and membrane (M vs S) on DeepLoc: training pool = the union
  of ``deeploc_our_val_set.fasta`` and ``deeploc_valid_6000.fasta`` (membrane labels of the
  latter from ``deeploc_labels_q2.json``), deduplicated by id; 10% stratified by location
  (seed 0) for early stopping; ``Cytoplasm-Nucleus`` proteins have no location label
  (their membrane label is U, so they drop out); test = ``deeploc_test_set.fasta``.
  Heads: FNN on the per-protein mean and light attention on the residues, both with a
  location and a membrane output.
- ss3, ss8, disorder on NetSurfP-2.0 data: training = FLIP's NetSurfP split (3-state,
  resolved mask) with the TAPE validation file's 8-state labels joined by identical
  sequence (1,571 shared; its unresolved residues masked by FLIP's mask; 599 TAPE-only
  proteins added unmasked); validation = FLIP ``VALIDATION=True`` (and the TAPE rows that
  repeat them); test = CB513 (Q3/Q8 on resolved residues inside the CB513 mask,
  disorder = unresolved residues, MCC over every residue). Head: the multi-task CNN.
- encoders: one-hot, BLOSUM62, ProtVec (the bundled 3-gram vectors; per residue the vector
  of the 3-gram centred on it, per protein their mean) and language models (``--models``,
  default the bundled one), each with its layers summed; ``--encoders`` picks; the baselines
  run first. ``--reuse docs/benchmarks.json`` keeps an earlier report's rows and trains only
  the encoders named now (e.g. ``--encoders protvec``; see ``benchmarks/reuse.py``). ``--variants``
  adds, for the last of ``--models``: ``concat`` (its three layers side by side; FNN and
  CNN only, as light attention's D x D convolutions would take 9x as long),
  ``blosum62`` (its summed layers with the BLOSUM62 rows appended, ``--encoder lm+blosum62``)
  and ``class-weights`` (the per-protein heads again, classes weighted by
  ``--class-weights balanced``).
- metrics: 95% bootstrap intervals over test proteins (1000 draws, seed 0).
- ``--bundle-heads``: copies heads of the last of ``--models`` into ``seqvec/data/heads/``
  (float16 weights), the heads ``seqvec predict`` uses by default: per level (per-protein,
  per-residue) the run of that model, variants included, with the best validation accuracy.

Embeddings and trained heads are kept under ``--out`` and reused on a rerun, so a killed
run resumes and adding the language model later re-trains nothing else. A retrained
language model is refused there (delete ``OUT/embeddings/lm`` and ``OUT/heads/lm-*``).
``--rewrite-report`` only rewrites the Markdown and plot from the report's JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.reuse import load_earlier, merge  # noqa: E402
from seqvec.classifiers.evaluation.metrics import is_percent  # noqa: E402
from seqvec.classifiers.heads.checkpoint import load_head, save_head  # noqa: E402
from seqvec.classifiers.heads.predict import BUNDLED_HEADS  # noqa: E402
from seqvec.classifiers.heads.registry import head_class  # noqa: E402
from seqvec.classifiers.labels.files import read_labels  # noqa: E402
from seqvec.classifiers.labels.tasks import TASKS  # noqa: E402
from seqvec.classifiers.selection.compare import Encoding, markdown_table, run_comparison, verdicts  # noqa: E402
from seqvec.classifiers.training.train import FitConfig  # noqa: E402
from seqvec.viz.comparison import plot_comparison  # noqa: E402

logger = logging.getLogger("benchmarks.tasks")


KEEP_MARKER = "<!-- sections below are not written by benchmarks/tasks.py and are kept when it rewrites this file -->\n"
PUBLISHED = [  # other models, trained and tested on their own (complete) data; quoted, not re-measured
    ("SeqVec + FNN/CNN (Heinzinger et al. 2019, BMC Bioinformatics 20:723); ELMo pretrained on UniRef50 "
     "(93M parameters); full DeepLoc / NetSurfP-2.0 training sets",
     {"localization": "68", "membrane": "87", "ss3": "79", "ss8": "68", "disorder": "0.59"}),
    ("Light attention on SeqVec (Stärk et al. 2021, Bioinformatics Advances vbab035)", {"localization": "76"}),
    ("DeepLoc (Almagro Armenteros et al. 2017, Bioinformatics 33:3387)", {"localization": "78"}),
]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="benchmark data folder")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmarks", help="work folder (reused)")
    p.add_argument("--report", type=Path, help="write the Markdown report here (and .json, .png beside it)")
    p.add_argument("--encoders", default="onehot,blosum62,protvec,lm",
                   help="comma-separated; lm skipped if not installed")
    p.add_argument("--reuse", type=Path, metavar="JSON",
                   help="an earlier report's JSON: keep its rows, train only --encoders (and no --variants)")
    p.add_argument("--models", help="comma-separated language models (names or directories) for the lm encoder "
                                    "(default: the bundled default model)")
    p.add_argument("--variants", default="", help="comma-separated, for the last of --models: " + ", ".join(VARIANTS))
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--limit", type=int, help="smoke test: at most this many proteins per label set")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    p.add_argument("--bundle-heads", action="store_true", help="copy the LM heads into seqvec/data/heads")
    p.add_argument("--rewrite-report", action="store_true",
                   help="only rewrite --report from the results in its .json (no training)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def limited(labels, n: int | None, seed: int = 0):
    """A seeded subset of at most ``n`` proteins (smoke tests)."""
    import numpy as np

    if n is None or len(labels.ids) <= n:
        return labels
    keep = set(np.random.default_rng(seed).choice(labels.ids, n, replace=False).tolist())
    labels.sequences = {k: v for k, v in labels.sequences.items() if k in keep}
    labels.labels = {t: {k: v for k, v in vals.items() if k in keep} for t, vals in labels.labels.items()}
    labels.partition = {k: v for k, v in labels.partition.items() if k in keep}
    return labels


def load_data(data: Path, limit: int | None):
    """(training labels, test labels): DeepLoc pool + NetSurfP training, DeepLoc test + CB513."""
    d, n = data / "deeploc", data / "netsurfp"
    pool = limited(read_labels([d / "deeploc_our_val_set.fasta", d / "deeploc_valid_6000.fasta",
                                d / "deeploc_labels_q2.json"]), limit)
    ss_train = limited(read_labels([n / "flip_trainval",
                                    n / "tape_kaggle" / "validation_secondary_structure_valid.csv"]), limit)
    test = read_labels([d / "deeploc_test_set.fasta"])
    cb513 = read_labels([n / "prottrans" / "CB513_HHblits.csv"])
    from seqvec.classifiers.labels.files import merge_label_sets

    return merge_label_sets([pool, ss_train]), merge_label_sets([limited(test, limit), limited(cb513, limit)])


def language_model_info(model) -> dict | None:
    """Name, size and weight hash of a language model, or None if it is not installed."""
    from seqvec.errors import ModelNotFoundError
    from seqvec.lm.pretrained import load_model

    try:
        lm = load_model(model)
    except ModelNotFoundError as err:
        logger.warning("language model not available (%s); running the baselines only", err)
        return None
    return {"name": lm.name, "weights_sha256": lm.weights_sha256, "output_dim": lm.output_dim,
            "parameters": sum(p.numel() for p in lm.parameters())}


@dataclass(frozen=True)
class Variant:
    """Another way to use the last language model: its rows are ``<model><suffix>``."""

    suffix: str
    description: str
    encoder: str = "lm"
    layers: str = "sum"
    heads: tuple[str, ...] = ("fnn", "la", "cnn")
    class_weights: str = "none"


VARIANTS = {
    # light attention is left out of concat: its two convolutions map D to D, so 3x the width costs 9x the time
    "concat": Variant(" concat", "its three layers side by side (`--layers concat`), so the head weights the "
                      "layers; FNN and CNN only (light attention's D x D convolutions would cost 9x)",
                      layers="concat", heads=("fnn", "cnn")),
    "blosum62": Variant("+blosum62", "its summed layers with each residue's BLOSUM62 row appended "
                        "(`--encoder lm+blosum62`)", encoder="lm+blosum62"),
    "class-weights": Variant(" balanced", "its per-protein heads trained again with classes weighted by "
                             "n / (C x n_c) (`--class-weights balanced`)", heads=("fnn", "la"),
                             class_weights="balanced"),
}


def variant_runs(train, test, tasks: dict, out: Path, lm: Encoding, name: str, config: FitConfig,
                 progress: bool) -> list:
    """The runs of one variant of the language model ``lm``. A variant with its own embeddings gets its own
    folders in ``OUT``; one that only trains differently works in ``OUT/<name>``, sharing ``OUT/embeddings``."""
    variant = VARIANTS[name]
    encoding = Encoding(f"{lm.key}-{name}", variant.encoder, lm.model, variant.layers, title=lm.key + variant.suffix)
    where = out
    if (variant.encoder, variant.layers) == (lm.encoder, lm.layers):
        encoding, where = replace(lm, title=encoding.title), out / name
        where.mkdir(parents=True, exist_ok=True)
        if not (where / "embeddings").exists():
            (where / "embeddings").symlink_to(Path("..") / "embeddings")
    levels = {head_class(h).output_level for h in variant.heads}
    return run_comparison(train, test, {t: s for t, s in tasks.items() if s.level in levels}, where,
                          encoders=[encoding], heads=list(variant.heads),
                          config=replace(config, class_weights=variant.class_weights), dtype="float16",
                          progress=progress)["runs"]


TEST_SETS = {"localization": "DeepLoc test set", "membrane": "DeepLoc test set (membrane M/S)", "ss3": "CB513",
             "ss8": "CB513", "disorder": "CB513 (NetSurfP-2.0 disorder labels)"}


def scores(run: dict, date: str) -> dict:
    """A bundled head's ``benchmark.json``: its test-set scores (fractions) beside the published numbers;
    ``seqvec predict`` prints them and records them in its output."""
    tasks = {}
    for task, result in run["tasks"].items():
        metric = TASKS[task].metric
        m = result["metrics"][metric]
        scale = 100.0 if is_percent(metric) else 1.0
        published = [{"method": reference.split(" (")[0], "reference": reference, "value": float(values[task]) / scale}
                     for reference, values in PUBLISHED if task in values]
        tasks[task] = {"test_set": TEST_SETS[task], "n_proteins": result["n_proteins"], "n_scored": result["n_scored"],
                       "metric": metric, "value": m["value"], "ci95": m["ci95"],
                       "published": published}
    return {"source": f"docs/benchmarks.md (benchmarks/tasks.py, {date})", "model": run["model"],
            "embeddings": run["name"], "head": run["head"],
            "note": "values are fractions (Q: share correct; MCC: Matthews correlation), with 95% bootstrap "
                    "intervals over proteins", "tasks": tasks}


def bundle(results: dict, keys: set[str], date: str) -> list[str]:
    """Copy heads of one language model into seqvec/data/heads (float16) with their scores: per level, the run
    with the best validation accuracy among its encodings (the variants included)."""
    chosen = []
    for folder, heads in (("protein", ("la", "fnn")), ("residue", ("cnn",))):
        runs = [r for r in results["runs"] if r["key"] in keys and r["head"] in heads]
        if not runs:
            continue
        val = {r["head_dir"]: load_head(r["head_dir"]).training["best"].get("val_accuracy", 0.0) for r in runs}
        best = max(runs, key=lambda r: val[r["head_dir"]])
        checkpoint = load_head(best["head_dir"])
        target = BUNDLED_HEADS / folder
        shutil.rmtree(target, ignore_errors=True)
        save_head(target, checkpoint.head, checkpoint.tasks, embeddings=checkpoint.embeddings,
                  training=checkpoint.training, half=True)
        shutil.copy(Path(best["head_dir"]) / "history.json", target / "history.json")
        (target / "benchmark.json").write_text(json.dumps(scores(best, date), indent=1) + "\n")
        logger.info("bundled %s head %s (%s) into %s", folder, best["head"], best["name"], target)
        chosen.append(f"{folder}: {best['name']} {best['head']} (validation accuracy {val[best['head_dir']]:.3f})")
    return chosen


def report_text(results: dict, meta: dict) -> str:
    """docs/benchmarks.md: our results, the verdict, the published numbers, the protocol."""
    tasks = results["tasks"]
    lines = ["# Task benchmarks", "",
             f"Made by `{meta['command']}` on {meta['date']} ({meta['machine']}, {meta['threads']} torch "
             f"thread(s), {meta['minutes']:.0f} min). Everything below is in `docs/benchmarks.json`.", "",
             "## Our results (test sets, 95% bootstrap intervals over proteins)", "",
             "Accuracies in percent (Q10, Q2, Q3, Q8), disorder as MCC. DeepLoc test set "
             f"({_n(results, 'localization')} proteins; Q2 on the {_n(results, 'membrane')} with an M/S label), "
             f"CB513 ({_n(results, 'disorder')} proteins; {_n(results, 'ss3')} of them have a residue scored "
             "for Q3/Q8).", "", markdown_table(results), ""]
    models = meta.get("language_models") or []
    lines += ["Rows: `onehot` = 20 residues + X (21 dims), `blosum62` = BLOSUM62 rows (21 dims), `protvec` = "
              "the bundled ProtVec 3-gram skip-gram vectors (100 dims, gensim, trained on the same pretraining "
              "corpus; per residue the 3-gram centred on it, per protein the mean; docs/protvec.md); "
              + ("; ".join(f"`{lm['name']}` = language model with its layers summed ({lm['parameters']:,} "
                           f"parameters, {lm['output_dim']} dims; weights sha256 {lm['weights_sha256'][:12]}...)"
                           for lm in models)
                 + ", pretrained by seqvec on `pretraining/pretrain.fasta.gz` (about 8 M residues, no test protein)."
                 if models else "no language model was installed when this report was made."),
              "", *(f"- `{models[-1]['name']}{VARIANTS[v].suffix}` = {VARIANTS[v].description}."
                    for v in meta.get("variants", []) if models), ""]
    notes = verdicts(results)
    lines += ["## Does the language model beat the baselines?", ""]
    lines += [f"- {n}" for n in notes] if notes else ["- Not measured: no language-model rows in this run."]
    against_protvec = verdicts(results, ("protvec",))
    if against_protvec:
        lines += ["", "## Does the language model beat ProtVec (the paper's Word2vec-like baseline)?", ""]
        lines += [f"- {n}" for n in against_protvec]
    lines += ["", "![results](benchmarks.png)", "",
              "## Published numbers (other models, their own full training data; not comparable row by row)", "",
              "| model | " + " | ".join(f"{t} {s['metric']}" for t, s in tasks.items()) + " |",
              "|---|" + "---|" * len(tasks)]
    for name, values in PUBLISHED:
        lines.append(f"| {name} | " + " | ".join(values.get(t, "–") for t in tasks) + " |")
    lines += ["", "These are quoted from the papers, not re-measured here. They differ from our rows in the "
              "language model (SeqVec: 93M parameters pretrained on UniRef50, about 9 billion residues; ours "
              "is far smaller and saw about 8 M residues), in the training data (the full DeepLoc training "
              "partition of about 11,000 proteins and the full NetSurfP-2.0 set with 8-state labels; we have "
              "a 2,622-protein DeepLoc pool and 8-state labels for 2,170 proteins), and for the per-residue "
              "numbers in the test set (SeqVec's headline per-residue numbers are not CB513 numbers).", "",
              "The SeqVec paper also scores its Word2vec-like baseline (DeepProtVec, on ProtVec) beside SeqVec and "
              "one-hot; its abstract says SeqVec predicts \"significantly better than one-hot encoding or through "
              "Word2vec-like approaches\". We could read the paper's abstract but not its result tables through our "
              "search tool, so its DeepProtVec numbers are not quoted here rather than quoted from memory "
              "(docs/protvec.md).", "",
              "## Protocol", ""]
    lines += [f"- {p}" for p in meta["protocol"]]
    if meta.get("reused"):
        lines += ["", f"Rows of encoders other than {', '.join(meta['reused']['encoders'])} were not trained again: "
                  f"they are those of the run of {meta['reused']['date']} (`{meta['reused']['command']}`)."]
    lines += ["", "## Runs", "", "| encoder | head | train proteins | validation proteins | best epoch | "
              "epochs run | training time (s) |", "|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        history = _history(r["head_dir"])
        if history:
            r["epochs_run"], r["train_seconds"] = str(len(history)), f"{sum(row['seconds'] for row in history):.0f}"
        lines.append(f"| {r['name']} | {r['head']} | {r['n_train']} | {r['n_val']} | {r['best_epoch']} | "
                     f"{r.get('epochs_run', '?')} | {r.get('train_seconds', '?')} |")
    lines += ["", "Training time is the sum of the epochs' wall-clock time on the shared 2-core machine "
              "(validation included), so it also counts waiting for other jobs. Where the best epoch is the 30th, "
              "the epoch cap ended training, not early stopping; those heads might gain a little from more epochs."]
    if meta.get("bundled"):
        lines += ["", f"Bundled heads (`seqvec/data/heads/`, used by `seqvec predict`): "
                  f"{'; '.join(meta['bundled'])}."]
    return "\n".join(lines) + "\n"


def _history(head_dir: str) -> list[dict]:
    path = Path(head_dir) / "history.json"
    return json.loads(path.read_text()) if path.is_file() else []


def write_report(path: Path, results: dict, meta: dict) -> None:
    """The Markdown report, its JSON and its plot; text after ``KEEP_MARKER`` in an old report is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = ""
    if path.is_file() and KEEP_MARKER in path.read_text():
        kept = path.read_text().split(KEEP_MARKER, 1)[1]
    path.write_text(report_text(results, meta) + "\n" + KEEP_MARKER + kept)
    path.with_suffix(".json").write_text(json.dumps({"meta": meta, "published": PUBLISHED, **results}, indent=1) + "\n")
    plot_comparison(results, path.with_suffix(".png"), dpi=150)


def _n(results: dict, task: str) -> str:
    counts = {r["tasks"][task]["n_proteins"] for r in results["runs"] if task in r["tasks"]}
    return "/".join(f"{c:,}" for c in sorted(counts)) or "?"


PROTOCOL = [
    "DeepLoc training pool: `deeploc_our_val_set.fasta` + `deeploc_valid_6000.fasta` (membrane labels of the "
    "latter from `deeploc_labels_q2.json`), 2,622 unique proteins, about 23% of the DeepLoc training partition; "
    "the 23 `Cytoplasm-Nucleus` proteins have no location label (and membrane U), so they are left out.",
    "DeepLoc validation: 10% of the pool, stratified by location (seed 0; random, not homology-reduced, so "
    "validation is optimistic; the test set is homology-reduced against the DeepLoc training partition).",
    "DeepLoc test: `deeploc_test_set.fasta` (2,768 proteins); Q10 over all, Q2 over membrane M/S (U not scored).",
    "One head per (encoder, head type) with a location and a membrane output (summed cross-entropy); FNN on "
    "the per-protein mean embedding (D -> 32, dropout 0.25, ReLU, batch norm), light attention on the residues "
    "(kernel 9, masked softmax and max pooling, 2D -> 32).",
    "NetSurfP training: FLIP's NetSurfP-2.0 split (10,792 proteins, 3-state labels, resolved mask) plus the 8-state "
    "labels of the TAPE validation CSV (2,170 proteins; 1,571 of them are FLIP sequences and join those "
    "records, with FLIP's mask hiding their unresolved residues; the other 599 are added without a mask).",
    "NetSurfP validation: FLIP's `VALIDATION=True` records (1,080, with the TAPE rows that repeat them).",
    "CB513 test (511 proteins): Q3/Q8 over residues resolved in the structure and inside the CB513 mask "
    "(83,427 residues); disorder = unresolved residues (NetSurfP's definition), MCC over all 144,011 residues.",
    "CNN: conv D -> 32 (kernel 7), ReLU, dropout 0.25, then one conv (kernel 7) per task (3-state, 8-state, "
    "disorder), trained together (summed masked cross-entropy).",
    "Training: Adam (lr 1e-3), batches of 64 proteins and at most 40,000 padded residues, early stopping on "
    "the validation loss (patience 5, at most 30 epochs), the best epoch's weights kept, seed 0.",
    "Intervals: 1,000 bootstrap draws of test proteins (residues of a protein stay together), 2.5-97.5 "
    "percentiles. 'Beats' means the LM's interval lies wholly above every baseline's.",
]


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if args.rewrite_report:
        saved = json.loads(args.report.with_suffix(".json").read_text())
        meta = saved.pop("meta")
        saved.pop("published", None)
        write_report(args.report, saved, meta)
        return 0
    import torch

    torch.set_num_threads(args.threads)
    start = time.time()
    encoders = [e for e in args.encoders.split(",") if e]
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS):
        raise SystemExit(f"--variants: choose from {', '.join(VARIANTS)}")
    models = []
    if "lm" in encoders:
        found = [(m, language_model_info(m)) for m in (args.models.split(",") if args.models else [None])]
        models = [(m, info) for m, info in found if info is not None]
    train, test = load_data(args.data, args.limit)
    config = FitConfig(epochs=args.epochs, patience=args.patience)
    tasks = {t: TASKS[t] for t in ("localization", "membrane", "ss3", "ss8", "disorder")}
    encodings = [Encoding(e, e) for e in encoders if e != "lm"]
    encodings += [Encoding(info["name"], "lm", model) for model, info in models]
    last = encodings[-1] if models else None
    results = run_comparison(train, test, tasks, args.out, encoders=encodings, heads=["fnn", "la", "cnn"],
                             config=config, dtype="float16", progress=args.verbose)
    reused = None
    if args.reuse:
        earlier, earlier_meta = load_earlier(args.reuse)
        results = merge(earlier, results, {e.key for e in encodings})
        reused = {"encoders": encoders, "date": earlier_meta["date"], "command": earlier_meta["command"]}
    for v in variants if last is not None else []:
        results["runs"] += variant_runs(train, test, tasks, args.out, last, v, config, args.verbose)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    bundled = []
    if args.bundle_heads and last is not None:
        bundled = bundle(results, {e.key for e in encodings if e.model == last.model}, date)
    meta = {"command": "python benchmarks/tasks.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": date, "machine": platform.platform(),
            "threads": args.threads, "minutes": (time.time() - start) / 60,
            "language_models": [info for _, info in models], "variants": variants if models else [],
            "protocol": PROTOCOL, "bundled": bundled, "limit": args.limit, "reused": reused}
    if reused:  # the earlier rows' models, variants and bundled heads
        meta.update({k: earlier_meta.get(k) for k in ("language_models", "variants", "bundled")})
        meta["minutes"] += earlier_meta["minutes"]
    if args.report:
        write_report(args.report, results, meta)
    print(markdown_table(results))
    for line in verdicts(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
