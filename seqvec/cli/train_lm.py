"""``seqvec train-lm``: train an ELMo-style language model on a FASTA file."""
from __future__ import annotations

import argparse
from pathlib import Path

from seqvec.cli.common import add_device_argument, device_of

HELP = "train a language model on a FASTA corpus (one process, or many under torchrun)"
DESCRIPTION = """\
Train a bidirectional ELMo/SeqVec language model: the forward LSTM stack predicts the
next residue, the backward stack the previous one, through one softmax over the residue
vocabulary; the loss is the mean of both directions. Proteins are cut into windows
(--window tokens; <S>/</S> only at true protein ends) and batched by --max-tokens.
About --val-fraction of the sequences (fixed by --seed) are held out for validation.

RUN_DIR receives checkpoint.pt (every --checkpoint-every steps and per epoch),
log.csv/log.json, learning_curve.png and model/ (options.json + weights.hdf5 in the
allennlp layout, plus softmax.hdf5). After a crash, rerun with --resume: it continues
from the last checkpoint with the run's own shape, corpus and settings (another corpus or
another --lr, --window, ... is refused; more --epochs or --max-steps extend the run, the
cosine schedule stretched to the new length); a finished run is not trained further.

--init MODEL continues training an existing model (e.g. seqvec-mini) on the corpus with a
new optimizer and schedule. Keep the --seed and --val-fraction of the run that trained
MODEL, or sequences it trained on end up in your validation set.

examples:
  seqvec train-lm corpus.fasta.gz -o run --config mini --epochs 3
  seqvec train-lm corpus.fasta.gz -o run --resume
  seqvec train-lm corpus.fasta.gz -o run2 --init seqvec-mini --lr 5e-4 --warmup-steps 5 --max-steps 60
Several processes (DistributedDataParallel; gloo on CPU, NCCL on GPU):
  torchrun --nproc-per-node 4 -m seqvec train-lm corpus.fasta -o run --device cuda
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqvec.lm.config import PRESETS, RESUMABLE, TrainSettings

    d = TrainSettings()
    parser.add_argument("corpus", type=Path, help="FASTA file (.gz accepted)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--config", help=f"model shape of a new run: a preset ({', '.join(PRESETS)}) or an "
                                         f"options.json file (default: mini)")
    parser.add_argument("--init", metavar="MODEL",
                        help="start a new run from this model's weights (a name such as seqvec-mini, or a "
                             "directory with options.json, weights.hdf5 and softmax.hdf5) instead of random "
                             "ones; its shape replaces --config")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in RUN_DIR from its checkpoint, with its shape, corpus and "
                             f"settings; only {', '.join('--' + k.replace('_', '-') for k in sorted(RESUMABLE))} "
                             "may be given anew (e.g. more epochs); a finished run is not trained further")
    setting = _setting_adder(parser, d)
    setting("epochs", int, "passes over the training windows")
    setting("max_steps", int, "stop after N optimizer steps in total (0: no limit)")
    parser.add_argument("--max-minutes", type=float, default=0,
                        help="stop (validate, checkpoint and export) after this many minutes of this "
                             "invocation (default 0: no limit)")
    setting("window", int, "tokens per window")
    setting("max_tokens", int, "padded tokens per global batch")
    setting("lr", float, "peak learning rate (Adam; linear warm-up, then cosine decay to 5%%)")
    setting("warmup_steps", int, "steps of linear learning-rate warm-up")
    setting("weight_decay", float, "Adam weight decay")
    setting("dropout", float, "dropout on the token vectors and the top LSTM layer")
    setting("val_fraction", float, "share of the sequences held out for validation (fixed by --seed)")
    setting("val_every", int, "also validate every N steps (0: after each epoch only)")
    setting("checkpoint_every", int, "steps between checkpoints")
    setting("log_every", int, "steps per training-loss row in log.csv")
    setting("seed", int, "seed of the validation split, the data order and the initialisation")
    add_device_argument(parser, "; under torchrun, cuda means one GPU per process (cuda:LOCAL_RANK)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per process (default 0: torch's default)")


def _setting_adder(parser: argparse.ArgumentParser, defaults):
    """``--name`` for a TrainSettings field; default None so that a resume can tell what was given."""
    def add(name: str, kind: type, text: str) -> None:
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None, metavar=name.upper(),
                            help=f"{text} (default {getattr(defaults, name)})")
    return add


def _check_run_dir(args: argparse.Namespace) -> None:
    """The run directory's output policy, before the corpus is read: never an input, a new run only in a
    missing or empty folder (a run of its own is continued with --resume), the folder writable."""
    from seqvec.cli.common import model_files
    from seqvec.errors import OutputExistsError
    from seqvec.io.output import check_folder, check_not_input

    check_not_input(args.output, [args.corpus, *(model_files(args.init) if args.init else [])])
    if args.output.exists() and not args.output.is_dir():
        raise OutputExistsError(f"the run directory {args.output} is a file; choose another -o", path=args.output)
    fresh = not (args.output / "checkpoint.pt").exists()
    if not args.resume and fresh and args.output.is_dir() and any(args.output.iterdir()):
        raise OutputExistsError(f"{args.output} exists and is not empty; a new run needs a new or empty -o "
                                "(continue a run of its own with --resume)", path=args.output)
    check_folder(args.output if args.output.is_dir() else args.output.parent)


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields

    import torch

    from seqvec.errors import ConfigError
    from seqvec.lm.config import PRESETS, SeqVecConfig, TrainSettings
    from seqvec.lm.training.train import train_lm

    if args.threads < 0:
        raise ConfigError(f"--threads must be 0 (torch's default) or more, got {args.threads}", field="threads",
                          value=args.threads)
    if args.max_minutes < 0:
        raise ConfigError(f"--max-minutes must be 0 (no limit) or more, got {args.max_minutes}",
                          field="max_minutes", value=args.max_minutes)
    _check_run_dir(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = None
    if args.config is not None:
        config = PRESETS[args.config] if args.config in PRESETS else SeqVecConfig.from_json(args.config)
    given = {f.name: getattr(args, f.name) for f in fields(TrainSettings)
             if getattr(args, f.name, None) is not None}
    if not args.resume:
        TrainSettings(**given)  # out-of-range values fail here, before the corpus is read
    out = train_lm(args.corpus, args.output, config, device=device_of(args), resume=args.resume,
                   max_minutes=args.max_minutes, progress=not args.quiet, init=args.init, changes=given)
    if out is not None:  # the main process, after the run
        from seqvec.viz.curves import plot_lm_curve, read_lm_log

        plot_lm_curve(read_lm_log(args.output), args.output / "learning_curve.png",
                      caption=f"corpus: {args.corpus.name}; run: {args.output}")
        print(f"model written to {out}")
    return 0
