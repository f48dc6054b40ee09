"""``seqvec train-lm``: train an ELMo-style language model on a FASTA file."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train a language model on a FASTA corpus (one process, or many under torchrun)"
DESCRIPTION = """\
Train a bidirectional ELMo/SeqVec language model: the forward LSTM stack predicts the
next residue, the backward stack the previous one, through one softmax over the residue
vocabulary; the loss is the mean of both directions. Proteins are cut into windows
(--window tokens; <S>/</S> only at true protein ends) and batched by --max-tokens.
About --val-fraction of the sequences (fixed by --seed) are held out for validation.

RUN_DIR receives checkpoint.pt (every --checkpoint-every steps and per epoch),
log.csv/log.json, learning_curve.png and model/ (options.json + weights.hdf5 in the
allennlp layout, plus softmax.hdf5). After a crash, rerun with --resume.

examples:
  seqvec train-lm corpus.fasta.gz -o run --config mini --epochs 3
  seqvec train-lm corpus.fasta.gz -o run --resume
Several processes (DistributedDataParallel; gloo on CPU, NCCL on GPU):
  torchrun --nproc-per-node 4 -m seqvec train-lm corpus.fasta -o run --device cuda
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.cli.common import add_device_argument
    from seqvec.lm.config import TrainSettings

    d = TrainSettings()
    parser.add_argument("corpus", type=Path, help="FASTA file (.gz accepted)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--config", default="mini",
                        help="model shape: a preset (mini, seqvec, tiny) or an options.json file (default: mini)")
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its checkpoint")
    parser.add_argument("--epochs", type=int, default=d.epochs, help=f"passes over the data (default {d.epochs})")
    parser.add_argument("--max-steps", type=int, default=d.max_steps, help="stop after N steps (0: no limit)")
    parser.add_argument("--max-minutes", type=float, default=0,
                        help="stop (checkpoint and export) after this many minutes of this invocation")
    parser.add_argument("--window", type=int, default=d.window, help=f"tokens per window (default {d.window})")
    parser.add_argument("--max-tokens", type=int, default=d.max_tokens,
                        help=f"padded tokens per global batch (default {d.max_tokens})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    parser.add_argument("--warmup-steps", type=int, default=d.warmup_steps,
                        help="steps of linear learning-rate warm-up from 0 to --lr")
    parser.add_argument("--dropout", type=float, default=d.dropout, help="dropout on the token representations and the top LSTM outputs while training")
    parser.add_argument("--val-fraction", type=float, default=d.val_fraction,
                        help="share of the sequences held out for validation")
    parser.add_argument("--val-every", type=int, default=d.val_every,
                        help="also validate every N steps (default: after each epoch only)")
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between checkpoints")
    parser.add_argument("--log-every", type=int, default=d.log_every, help="steps per training-loss row in log.csv")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help="seed of the validation split, the batch order, dropout and initialisation")
    add_device_argument(parser, "; under torchrun, cuda means one GPU per process (cuda:LOCAL_RANK)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch's default)")


def run(args: argparse.Namespace) -> int:
    import torch

    from seqvec.lm.config import PRESETS, SeqVecConfig, TrainSettings
    from seqvec.lm.train import train_lm

    if args.threads:
        torch.set_num_threads(args.threads)
    config = PRESETS[args.config] if args.config in PRESETS else SeqVecConfig.from_json(args.config)
    settings = TrainSettings(
        epochs=args.epochs, window=args.window, max_tokens=args.max_tokens, lr=args.lr,
        warmup_steps=args.warmup_steps, dropout=args.dropout, val_fraction=args.val_fraction,
        val_every=args.val_every, checkpoint_every=args.checkpoint_every, log_every=args.log_every, max_steps=args.max_steps, seed=args.seed)
    out = train_lm(args.corpus, args.output, config, settings, device=args.device, resume=args.resume,
                   max_minutes=args.max_minutes, progress=not args.quiet)
    if out is not None:  # the main process, after the run
        from seqvec.viz.curves import plot_lm_curve, read_lm_log

        plot_lm_curve(read_lm_log(args.output), args.output / "learning_curve.png",
                      caption=f"corpus: {args.corpus.name}; run: {args.output}")
        print(f"model written to {out}")
    return 0
