"""Can the ConvLSTM fit a small set of real MultiLoc proteins? (run by hand; docs/convlstm.md)

    python benchmarks/multiloc_overfit.py [--dropout 0] [--per-class 6] [--steps 2000] [--size small]

A model that cannot reach ~100% on its own few training proteins has a defect; one that
reaches it without dropout but not with it is slowed by its regularisation, not broken.
Picks ``--per-class`` proteins of each of the 11 classes (seed 0), keeps their first and
last 500 residues (the paper's 1,000 positions), encodes them as BLOSUM62 rows and trains
with batches of 8 and Adam; every 50 steps prints the accuracy on all of them (eval mode,
no dropout) as a JSON line, and stops at 100%. ``--dropout p`` sets the head's dropout to
p and its input dropout to 0.4 p (the head's defaults are 0.5 and 0.2).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by hand from a checkout

from benchmarks.multiloc import CLASSES, SIZES, keep_termini, read_multiloc  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data/multiloc")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--per-class", type=int, default=6)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.labels.tasks import TaskSpec
    from seqvec.classifiers.training.data import Example, TaskDataset
    from seqvec.embeddings.encoders import ENCODERS

    torch.set_num_threads(args.threads)
    _, seqs, labels = read_multiloc(args.data)
    labels = np.asarray(labels)
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(labels == k), args.per_class, replace=False)
                           for k in range(len(CLASSES))])
    encoder = ENCODERS["blosum62"]()
    task = TaskSpec("localization", "protein", CLASSES, "Q11", "MultiLoc location, 11 classes")
    data = TaskDataset([Example(str(i), encoder.embed_batch([keep_termini(seqs[i])])[0][0].numpy(),
                                {"localization": int(labels[i])}) for i in pick], {"localization": task}, "residue")
    everyone = data.collate(list(range(len(pick))))
    torch.manual_seed(0)
    head = head_class("convlstm")(data.input_dim, {"localization": len(CLASSES)}, **SIZES[args.size],
                                  input_dropout=0.4 * args.dropout, dropout=args.dropout)
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)

    step, start = 0, time.perf_counter()
    while step < args.steps:
        order = rng.permutation(len(pick))
        for s in range(0, len(order), 8):
            batch = data.collate(order[s:s + 8].tolist())
            head.train()
            loss = torch.nn.functional.cross_entropy(head(batch.x, batch.mask)["localization"],
                                                     batch.targets["localization"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % 50 == 0:
                head.eval()
                with torch.no_grad():
                    logits = head(everyone.x, everyone.mask)["localization"]
                y_all = everyone.targets["localization"]
                accuracy = float((logits.argmax(1) == y_all).float().mean())
                print(json.dumps({"step": step, "batch_loss": round(float(loss), 4),
                                  "loss": round(float(torch.nn.functional.cross_entropy(logits, y_all)), 4),
                                  "accuracy": round(accuracy, 4), "seconds": round(time.perf_counter() - start)}),
                      flush=True)
                if accuracy == 1.0:
                    return 0
            if step >= args.steps:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
