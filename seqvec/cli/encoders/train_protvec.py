"""``seqvec train-protvec``: train ProtVec 3-gram skip-gram vectors (gensim) on a FASTA corpus."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train ProtVec (3-gram skip-gram vectors, gensim) on a FASTA corpus"
DESCRIPTION = """\
Train ProtVec (Asgari & Mofrad 2015): every protein is split into its three reading
frames of non-overlapping 3-grams, and gensim's Word2Vec learns a skip-gram vector per
3-gram with negative sampling. 3-grams holding a non-standard letter (X, B, Z, U, O)
are one word, <unk>, whose vector also stands for 3-grams rarer than --min-count.

DIR receives vectors.npz (words and float32 vectors, read without pickle) and
protvec.json (settings, corpus, training time, 3-gram counts). Embed with them:
  seqvec embed x.fasta -o x.h5 --encoder protvec --model DIR
(--encoder protvec alone uses the bundled vectors, trained on the LM's pretraining corpus).

With one worker (the default) the same corpus and settings give the same vectors bit for
bit; --workers N is faster but not reproducible. Needs gensim (pip install 'seqvec[protvec]').

examples:
  seqvec train-protvec corpus.fasta.gz -o protvec_run
  seqvec train-protvec corpus.fasta -o small --vector-size 32 --epochs 2 --min-count 1
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.embeddings.protvec import ProtVecSettings

    d = ProtVecSettings()
    parser.add_argument("corpus", type=Path, help="FASTA file (.gz accepted)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="output directory")
    for name, kind, text in (
            ("vector_size", int, "dimensions per 3-gram (ProtVec paper: 100)"),
            ("window", int, "context words on each side (ProtVec paper: 25)"),
            ("negative", int, "noise words per pair, negative sampling (gensim default)"),
            ("min_count", int, "drop 3-grams seen fewer times; they look up as <unk> (gensim default)"),
            ("sample", float, "down-sampling threshold of frequent 3-grams (gensim default)"),
            ("alpha", float, "initial learning rate, linear decay (gensim default)"),
            ("epochs", int, "passes over the corpus (gensim default)"),
            ("seed", int, "seed of the initial vectors and the sampling"),
            ("workers", int, "gensim threads; only 1 is reproducible")):
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(d, name),
                            metavar=name.upper(), help=f"{text} (default {getattr(d, name)})")
    parser.add_argument("--overwrite", action="store_true", help="replace vectors already in DIR")


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from seqvec.embeddings.protvec import ProtVecSettings, train_protvec

    settings = ProtVecSettings(**{f.name: getattr(args, f.name) for f in fields(ProtVecSettings)
                                  if hasattr(args, f.name)})
    out = train_protvec(args.corpus, args.output, settings, progress=not args.quiet, overwrite=args.overwrite)
    print(f"ProtVec vectors written to {out}")
    return 0
