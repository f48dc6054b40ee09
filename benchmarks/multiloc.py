"""MultiLoc with the conv + BiLSTM + attention head, next to Sønderby et al. 2015 (accuracy 0.902).

Protocol, as far as the data and the paper's reachable text allow (every difference is
also written into the result JSON under ``"protocol"``):

- data: the 11 MultiLoc FASTA files (Höglund et al. 2006; 5,959 proteins), one class per
  file; the class is the file name;
- split: the files have no partitions and the paper's split is not available, so the
  proteins are split by a stratified 5-fold split (seed 0); ``--folds`` picks which folds
  are test folds (default: fold 0 only, 1/5 of the proteins; ``--folds all`` runs the full
  cross-validation). Of each training part, a stratified 10% is held out for early stopping.
  ``--split identity`` makes the folds (and each validation tenth) homology-aware instead:
  MMseqs2 clusters at ``--identity`` (0.3) minimum sequence identity over 80% coverage
  (:mod:`seqvec.classifiers.selection.splits`), every cluster in one fold, stratified where the
  clusters allow; the split is written to ``OUT/split.tsv``;
- input: BLOSUM62 rows (:func:`seqvec.embeddings.encoders.blosum62_encoder`, 21 values per
  residue) or one-hot (``--encoding onehot``); the paper's own encoding may differ;
- long proteins: first 500 + last 500 residues, the DeepLoc rule the head applies itself
  (``max_length`` 1000); the sequences are cut here too, before encoding, to save memory;
- model: :class:`seqvec.classifiers.heads.convlstm.ConvLSTMHead`, by default in a reduced size
  that fits the CPU budget (``--size small``: 10 filters per width as in the authors'
  code, 64 in the second convolution, LSTM and alignment layer of 64 units instead of
  256, dense layer of 64);
  ``--size full`` uses the head's defaults;
- training: :func:`seqvec.classifiers.training.train.fit` (Adam, cross-entropy, early stopping on
  validation accuracy, or loss with ``--monitor loss``), a single model per fold (no ensemble);
- score: accuracy on the test fold(s), with a 95% bootstrap interval (1,000 resamples of
  the test proteins; with several folds, of their pooled predictions).

Run (one fold at the small size: about 40 CPU-seconds per epoch on one core; 49 min of
wall time on the shared 2-core machine, 22 epochs before early stopping)::

    nice python benchmarks/multiloc.py --out /tmp/multiloc -v > /tmp/multiloc.log 2>&1 &

It prints one JSON object (also written to ``OUT/result.json``, with per-class recall); the
trained head of each test fold is saved to ``OUT/head_fold<k>`` (``seqvec.classifiers.heads.checkpoint``).
``--resume`` continues an interrupted run in ``OUT``: finished folds are read back from
``OUT/fold<k>.json`` and the running fold continues after its last finished epoch
(``OUT/run_fold<k>/training_state.pt``, bit-identical to an uninterrupted run). ``--variant``
runs the paper's ablations (``bilstm``, ``conv_bilstm``, ``full``) and a composition FNN floor
(``fnn``); ``--precision bf16`` trains under bfloat16 autocast.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

PAPER_ACCURACY = 0.902
CLASSES = ("ER", "Golgi", "chloroplast", "cytoplasmic", "extracellular", "lysosomal", "mitochondrial",
           "nuclear", "peroxisomal", "plasma_membrane", "vacuolar")
SIZES = {
    "small": dict(n_filters=10, conv2_filters=64, lstm_hidden=64, attention_hidden=64, dense_hidden=64),
    "tiny": dict(n_filters=10, conv2_filters=32, lstm_hidden=32, attention_hidden=32, dense_hidden=32),
    "full": {},
}
VARIANTS = {  # the paper's ablations (its Table of BLSTM / + convolutions / + attention) and a floor
    "full": {},                                                  # conv + BiLSTM + attention
    "conv_bilstm": {"pooling": "last"},                          # conv + BiLSTM, last states
    "bilstm": {"convolutions": False, "pooling": "last"},        # BiLSTM alone on the encoding
    "fnn": None,                                                 # FNN on composition (floor)
}
logger = logging.getLogger("multiloc")


def read_multiloc(data_dir: Path) -> tuple[list[str], list[str], list[int]]:
    """Ids, upper-case sequences and class indices (order of :data:`CLASSES`)."""
    from Bio import SeqIO

    ids, seqs, labels = [], [], []
    for k, name in enumerate(CLASSES):
        for record in SeqIO.parse(data_dir / f"{name}.fasta", "fasta"):
            ids.append(record.id)
            seqs.append(str(record.seq).upper())
            labels.append(k)
    return ids, seqs, labels


def keep_termini(seq: str, max_length: int = 1000) -> str:
    """First ceil(max_length/2) and last floor(max_length/2) residues of a longer protein."""
    if len(seq) <= max_length:
        return seq
    head = (max_length + 1) // 2
    return seq[:head] + seq[len(seq) - (max_length - head):]


def bootstrap_accuracy(correct: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of ``correct`` (0/1 per protein)."""
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), size=(n, len(correct)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def run_fold(fold, train_idx, test_idx, data, args, out_dir):
    """Train on ``train_idx`` (minus a validation tenth) and predict ``test_idx``."""
    import torch
    from sklearn.model_selection import train_test_split

    from seqvec.classifiers.heads.checkpoint import save_head
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.training.data import TaskDataset
    from seqvec.classifiers.training.train import FitConfig, fit, predict_dataset, seed_everything

    examples, labels, task, groups = data
    if groups is None:
        tr, va = train_test_split(train_idx, test_size=0.1, stratify=labels[train_idx], random_state=fold)
    else:  # validation clusters apart from the training clusters, too
        from seqvec.classifiers.selection.splits import grouped_split

        ids = [examples[i].id for i in train_idx]
        index = {examples[i].id: i for i in train_idx}
        tr_ids, va_ids = grouped_split(ids, 0.1, groups, strata={i: labels[index[i]] for i in ids}, seed=fold)
        tr, va = np.array([index[i] for i in tr_ids]), np.array([index[i] for i in va_ids])
    level = "protein" if args.variant == "fnn" else "residue"
    subset = lambda idx: TaskDataset([examples[i] for i in idx], {"localization": task}, level)  # noqa: E731
    seed_everything(args.seed)
    if args.variant == "fnn":
        name, options = "fnn", {}
    else:
        name, options = "convlstm", dict(max_length=args.max_length, **SIZES[args.size], **VARIANTS[args.variant])
    head = head_class(name)(examples[0].x.shape[-1], {"localization": len(CLASSES)}, **options)
    config = FitConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_residues=None,
                       patience=args.patience, monitor=args.monitor, seed=args.seed, precision=args.precision)
    start = time.perf_counter()
    run_dir = out_dir / f"run_fold{fold}"
    result = fit(head, subset(tr), subset(va), config, run_dir=run_dir, progress=False,
                 state_file=run_dir / "training_state.pt", resume=args.resume)
    probs = np.stack(predict_dataset(head, subset(test_idx), batch_size=args.batch_size)["localization"])
    save_head(out_dir / f"head_fold{fold}", head, {"localization": task},
              embeddings={"encoder": args.encoding if name == "convlstm" else f"composition+{args.encoding} mean"},
              training={"fold": fold, "best_epoch": result.best_epoch, "variant": args.variant, "split": args.split})
    logger.info("fold %d: best epoch %d, %.0f s", fold, result.best_epoch, time.perf_counter() - start)
    return probs, result, len(tr), len(va), torch.get_num_threads()


def report(args, per_fold: list[dict], y_true: np.ndarray, y_pred: np.ndarray, threads: int) -> dict:
    """The result JSON of the folds run so far."""
    correct = (y_true == y_pred).astype(float)
    low, high = bootstrap_accuracy(correct)
    accuracies = [f["accuracy"] for f in per_fold]
    split = ("stratified 5-fold split (seed 0) of the pooled files" if args.split == "random" else
             f"5 folds of MMseqs2 clusters ({100 * args.identity:.0f}% identity, 80% coverage, connected "
             "components), stratified where the clusters allow (seed 0)")
    return {
        "task": "MultiLoc localization",
        "dataset": "MultiLoc (Höglund et al. 2006), 5,959 proteins, 11 classes",
        "paper": {"reference": "Sønderby et al. 2015, arXiv:1503.01919", "accuracy": PAPER_ACCURACY},
        "split": args.split, "identity": args.identity if args.split == "identity" else None,
        "accuracy": float(correct.mean()), "ci95": [low, high], "n_test": int(len(correct)),
        "fold_mean": float(np.mean(accuracies)),
        "fold_sd": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else None,
        "folds": per_fold, "classes": list(CLASSES),
        "per_class": {c: {"n_test": int((y_true == k).sum()),
                          "recall": float(correct[y_true == k].mean()) if (y_true == k).any() else None}
                      for k, c in enumerate(CLASSES)},
        "variant": args.variant, "precision": args.precision,
        "confusion": {"labels": y_true.tolist(), "predictions": y_pred.tolist()},
        "head": "fnn" if args.variant == "fnn" else "convlstm",
        "hparams": {} if args.variant == "fnn" else {**SIZES[args.size], **VARIANTS[args.variant]}, "size": args.size, "encoding": args.encoding,
        "fit": {"epochs": args.epochs, "patience": args.patience, "lr": args.lr, "batch_size": args.batch_size,
                "monitor": f"validation {args.monitor}", "seed": args.seed, "threads": threads},
        "protocol": [
            f"split: {split}, test fold(s) {args.folds_list}; the paper's own split is not available",
            "validation: a stratified 10% of each training part, for early stopping"
            + (" (whole clusters, apart from the training clusters)" if args.split == "identity" else ""),
            f"encoding: {args.encoding} (21 values per residue); the paper's encoding may differ",
            f"long proteins: first {(args.max_length + 1) // 2} + last {args.max_length // 2} residues"
            + (" (DeepLoc's rule)" if args.max_length == 1000 else " (DeepLoc keeps 500 + 500; shortened for CPU)"),
            f"model size: {args.size} ({SIZES[args.size] or 'head defaults'}), chosen for a CPU budget",
            "one model per fold, no ensemble; Adam, no gradient-norm clipping",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data/multiloc")
    p.add_argument("--out", type=Path, required=True, help="output folder (result.json, heads, curves)")
    p.add_argument("--split", choices=["random", "identity"], default="random",
                   help="random stratified folds, or MMseqs2 identity clusters kept within one fold")
    p.add_argument("--identity", type=float, default=0.3, help="minimum sequence identity of --split identity")
    p.add_argument("--groups", type=Path, help="--split identity: reuse clusters (a TSV of id, cluster, e.g. an "
                                               "earlier OUT/split.tsv) instead of running MMseqs2")
    p.add_argument("--max-length", type=int, default=1000,
                   help="longer proteins keep their first and last max_length/2 residues (DeepLoc: 1000)")
    p.add_argument("--encoding", choices=["blosum62", "onehot"], default="blosum62")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--folds", default="0", help="test folds of the 5-fold split: '0', '0,1' or 'all'")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--monitor", choices=["accuracy", "loss"], default="accuracy",
                   help="early stopping on validation accuracy (noisy on ~480 proteins: can stop on a plateau "
                        "while the validation loss still falls) or on validation loss")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--every", type=int, default=1, help="use every n-th protein only (quick trials)")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="full",
                   help="full: conv + BiLSTM + attention; conv_bilstm: no attention (last states); bilstm: "
                        "no convolutions either; fnn: a feed-forward net on composition (floor)")
    p.add_argument("--precision", choices=["float32", "bf16"], default="float32",
                   help="training forward pass in float32 or under bfloat16 autocast")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out: finished folds are read back, the running "
                        "fold continues after its last finished epoch (OUT/run_fold<k>/training_state.pt)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    if args.verbose:
        logging.getLogger("seqvec").setLevel(logging.INFO)

    from seqvec.io.output import Output

    args.folds_list = list(range(5)) if args.folds == "all" else [int(f) for f in args.folds.split(",")]
    with Output(args.out, inputs=[args.data, args.groups], workspace=True):  # one run at a time in --out
        args.out.mkdir(parents=True, exist_ok=True)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The folds of ``args.folds_list`` into ``args.out`` (locked by :func:`main`)."""
    import torch
    from sklearn.model_selection import StratifiedKFold

    from seqvec.classifiers.labels.tasks import TaskSpec
    from seqvec.classifiers.training.data import Example
    from seqvec.embeddings.encoders import ENCODERS
    from seqvec.io.output import atomic_open

    torch.set_num_threads(args.threads)
    ids, seqs, labels = (column[:: args.every] for column in read_multiloc(args.data))
    labels = np.asarray(labels)
    encoder = ENCODERS[args.encoding]()
    examples = [Example(i, encoder.embed_batch([keep_termini(s, args.max_length)])[0][0].numpy(),
                        {"localization": int(y)})
                for i, s, y in zip(ids, seqs, labels)]
    if args.variant == "fnn":  # the floor: composition (mean one-hot) and mean encoding, per protein
        onehot = ENCODERS["onehot"]()
        examples = [Example(ex.id, np.concatenate([onehot.embed_batch([keep_termini(s, args.max_length)])[0][0]
                                                   .numpy().mean(0), ex.x.mean(0)]), ex.targets)
                    for ex, s in zip(examples, seqs)]
    task = TaskSpec("localization", "protein", CLASSES, "Q11", "MultiLoc location, 11 classes")
    logger.info("%d proteins, %d classes, encoding %s", len(ids), len(CLASSES), args.encoding)

    groups = None
    if args.split == "identity":
        from seqvec.classifiers.selection.splits import cluster_by_identity, kfold, read_groups, write_split

        groups = (read_groups(args.groups) if args.groups else cluster_by_identity(dict(zip(ids, seqs)), args.identity))
        fold_of = kfold(ids, 5, strata=dict(zip(ids, labels.tolist())), groups=groups, seed=0)
        folds = [(np.array([i for i, rid in enumerate(ids) if fold_of[rid] != k]),
                  np.array([i for i, rid in enumerate(ids) if fold_of[rid] == k])) for k in range(5)]
        write_split(args.out / "split.tsv", fold_of, groups)
    else:
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels))
    pooled_true, pooled_pred, per_fold = [], [], []
    threads = torch.get_num_threads()
    for fold in args.folds_list:
        train_idx, test_idx = folds[fold]
        done = args.out / f"fold{fold}.json"
        if args.resume and done.is_file():  # finished in an earlier run
            row = json.loads(done.read_text())
            pred = np.asarray(row.pop("predictions"))
            logger.info("fold %d: read back from %s", fold, done)
        else:
            probs, result, n_tr, n_va, threads = run_fold(fold, train_idx, test_idx,
                                                          (examples, labels, task, groups), args, args.out)
            pred = probs.argmax(1)
            row = {"fold": fold, "n_train": n_tr, "n_val": n_va, "n_test": len(test_idx),
                   "accuracy": float((pred == labels[test_idx]).mean()), "best_epoch": result.best_epoch,
                   "epochs_run": len(result.history),
                   "seconds": round(sum(r["seconds"] for r in result.history), 1)}
            with atomic_open(done) as handle:
                handle.write(json.dumps({**row, "predictions": pred.tolist()}) + "\n")
        per_fold.append(row)
        pooled_true.append(labels[test_idx])
        pooled_pred.append(pred)
        out = report(args, per_fold, np.concatenate(pooled_true), np.concatenate(pooled_pred), threads)
        with atomic_open(args.out / "result.json") as handle:  # after every fold
            handle.write(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "confusion"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
