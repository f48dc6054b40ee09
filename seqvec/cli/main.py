"""Entry point of the ``seqvec`` command.

Each subcommand lives in ``seqvec/cli/<module>.py`` with ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import torch, h5py
and the rest of seqvec inside ``run`` only, so that ``seqvec --help`` stays fast.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from importlib import import_module

from seqvec import __version__
from seqvec.cli.common import HelpFormatter, add_threads_argument, harden_numbers, verbosity_parent
from seqvec.errors import SeqVecError

# subcommand -> module under seqvec.cli, in the order --help lists them
COMMANDS = {
    "embed": "embed",
    "export": "export.files",
    "export-head": "export.head",
    "train-lm": "train_lm",
    "evaluate-lm": "evaluate_lm",
    "train-protvec": "encoders.train_protvec",
    "models": "models",
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "compare": "compare",
    "index": "lookup.index",
    "search": "lookup.search",
    "transfer": "lookup.transfer",
    "plot": "plot",
    "run": "run",
    "info": "info",
}

# commands that compute (embed, train, evaluate, predict): each takes --threads
COMPUTING = ("embed", "train-lm", "evaluate-lm", "train", "evaluate", "predict", "compare", "index", "search",
             "transfer", "run", "info",
             "export", "export-head")  # plot: each kind takes it (seqvec/cli/plot/)

logger = logging.getLogger("seqvec")


def _available_commands() -> dict:
    """Import the subcommand modules that exist (a missing one is simply not offered)."""
    found = {}
    for name, module in COMMANDS.items():
        try:
            found[name] = import_module(f"seqvec.cli.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"seqvec.cli.{module}":
                raise
    return found


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``seqvec`` parser; with ``command``, only that subcommand gets its options.

    Building a subcommand's options may import its registries (heads, encoders, layer
    views), so ``main`` builds only the one that runs; ``build_parser()`` builds all.
    """
    parser = argparse.ArgumentParser(
        prog="seqvec",
        description="Protein language-model embeddings (SeqVec/ELMo), task heads and baselines.",
        epilog="Run 'seqvec <command> --help' for the options of a command.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"seqvec {__version__}")
    top = parser.add_mutually_exclusive_group()  # -v/-q before the command, as after it
    top.add_argument("-v", "--verbose", dest="top_verbose", action="count", default=0,
                     help="more log output (-vv for debug); also accepted after the command")
    top.add_argument("-q", "--quiet", dest="top_quiet", action="store_true",
                     help="only warnings and errors; no progress bars; also accepted after the command")
    verbosity = verbosity_parent()
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, module in _available_commands().items():
        p = sub.add_parser(
            name,
            parents=[verbosity],
            help=module.HELP.replace("%", "%%"),  # argparse %-formats help strings
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=HelpFormatter,
        )
        if command is None or command == name:
            module.add_arguments(p)
            if name in COMPUTING and not any("--threads" in a.option_strings for a in p._actions):
                add_threads_argument(p)
            harden_numbers(p)  # no option takes an integer beyond 64 bits, NaN or inf
        p.set_defaults(_run=module.run)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it between calls)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _DropWarnings(logging.Filter):
    """On torchrun ranks other than 0: warnings repeat rank 0's (same input), so drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno != logging.WARNING


def configure_logging(verbose: int, quiet: bool) -> None:
    """Log to stderr: INFO (-q: WARNING; -v: also the matrix-product kernels chosen; -vv: DEBUG with time
    and module).

    Under torchrun (WORLD_SIZE > 1) each message starts with the process's rank, and
    ranks other than 0 do not repeat warnings, so a warning is printed once, not once per
    process. A single process has no rank in its messages.
    """
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    prefix = f"rank {rank}: " if world > 1 else ""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(f"%(levelname)s: {prefix}%(message)s" if verbose < 2 else
                                           f"%(asctime)s %(name)s %(levelname)s: {prefix}%(message)s"))
    if world > 1 and rank != 0:
        handler.addFilter(_DropWarnings())
    package_logger = logging.getLogger("seqvec")
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(level)
    # the kernel choices (one line per product shape) are detail a user asks for with -v
    logging.getLogger("seqvec.lm.kernels").setLevel(logging.DEBUG if verbose and not quiet else logging.NOTSET)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process (tests call this with a list of arguments)."""
    words = sys.argv[1:] if argv is None else argv
    positional = [w for w in words if not w.startswith("-")]
    command = positional[0] if positional and positional[0] in COMMANDS else (None if positional else "")
    parser = build_parser(command)
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print as \xff, never crash a finished run
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    args.verbose = getattr(args, "verbose", 0) + args.top_verbose  # -v/-q before or after the command
    args.quiet = getattr(args, "quiet", False) or args.top_quiet
    args.words = words  # the command line as given (seqvec embed --workers runs it again in each worker)
    configure_logging(args.verbose, args.quiet)
    if (getattr(args, "threads", None) or 0) > 0:  # a negative count is the command's own error to report
        import torch

        torch.set_num_threads(args.threads)
    try:
        if getattr(args, "device", None) is not None:  # fail on an unusable device before reading any input
            from seqvec.cli.common import device_of

            device_of(args)
        if getattr(args, "download", False) and getattr(args, "model", None):
            from seqvec.lm.download import download_model
            from seqvec.lm.pretrained import REGISTRY

            if args.model in REGISTRY:
                download_model(args.model, progress=not args.quiet)
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at exit
        return status
    except BrokenPipeError:  # `seqvec search ... | head`: stop quietly, as Unix tools do
        _drop_stdout()
        return 141  # 128 + SIGPIPE, the status of a tool the signal stopped
    except SeqVecError as err:
        from seqvec.cli.common import for_command_line

        logger.error("%s", for_command_line(err))
        return err.exit_status  # 2: fix the input or the command; 1: the environment failed
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130


def _drop_stdout() -> None:
    """Point standard output at /dev/null: Python flushes it at exit, and the pipe is closed."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (a test's capture): nothing is flushed to a closed pipe at exit


if __name__ == "__main__":
    sys.exit(main())
