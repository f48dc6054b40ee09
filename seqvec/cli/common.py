"""What every subcommand shares: the help formatter, -v/-q and --device.

Kept free of torch and the rest of seqvec so that ``seqvec --help`` stays fast.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable

DEVICE_HELP = ("where the model and heads run: auto (the first CUDA GPU when torch sees one, else the CPU), cpu, "
               "cuda, cuda:N or mps")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; every option's help ends with its default.

    The default is added unless the help already names one, or it is ``None``/``False``
    (an option that is simply off when not given).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text.lower() or default is None or default is argparse.SUPPRESS or default == []:
            return text
        if isinstance(action, argparse.BooleanOptionalAction):
            return f"{text} (default: {'on' if default else 'off'})"
        if default is False:  # a plain flag
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: {str(default).replace('%', '%%')})"
        return text


def verbosity_parent(suppress: bool = False) -> argparse.ArgumentParser:
    """A parent parser with -v/--verbose and -q/--quiet.

    ``suppress``: leave the attributes unset when not given (for nested parsers such as
    the plot kinds, so that ``seqvec plot -q curves`` and ``seqvec plot curves -q`` both work).
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if suppress else 0,
                       help="more log output (-vv for debug)")
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False,
                       help="only warnings and errors; no progress bars")
    return parent


def device_spec(text: str) -> str:
    """argparse type of --device: the spelling is checked at parse time, availability at run time."""
    from seqvec.devices import check_device_spec
    from seqvec.errors import DeviceError

    try:
        return check_device_spec(text)
    except DeviceError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_device_argument(parser: argparse._ActionsContainer, extra_help: str = "") -> None:
    """``--device auto|cpu|cuda|cuda:N|mps`` (default auto)."""
    parser.add_argument("--device", type=device_spec, default="auto", metavar="{auto,cpu,cuda,cuda:N,mps}",
                        help=DEVICE_HELP + extra_help)


INT64_MAX = 2**63 - 1


def int_in(low: int, high: int = INT64_MAX) -> Callable[[str], int]:
    """argparse type: an integer from ``low`` to ``high`` (an integer beyond 64 bits, a float,
    NaN or inf is refused at parse time, before any work)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", "x"))  # "1_000" is not a number people write
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            shown = text if len(text) <= 30 else f"{text[:12]}...({len(text)} digits)"
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}, got {shown}")
        return value

    parse.__name__ = "int"  # argparse names the type in its messages
    return parse


def float_in(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number from ``low`` to ``high`` (above ``low`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip().replace("_", "x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            where = "" if math.isinf(low) and math.isinf(high) else \
                f" {'above' if low_open else 'from'} {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number{where}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


positive_int = int_in(1)
positive_int.__doc__ = "argparse type: an integer >= 1 (and within 64 bits)."


def add_dataclass_options(parser: argparse._ActionsContainer, cls: type, helps: dict[str, str]) -> None:
    """One option per entry of ``helps`` (a field name of the dataclass ``cls``).

    Type, default and choices come from the field (``Literal[...]`` gives choices, a bool
    a --flag/--no-flag pair), so the CLI cannot drift from the library's defaults.
    """
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, text in helps.items():
        default = fields[name].default
        flag = f"--{name.replace('_', '-')}"
        choices = typing.get_args(hints[name]) if typing.get_origin(hints[name]) is typing.Literal else None
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif choices:
            parser.add_argument(flag, choices=choices, default=default, help=text)
        else:
            parser.add_argument(flag, type=type(default), default=default, metavar=name.split("_")[-1].upper(),
                                help=text)



DOWNLOAD_HELP = ("download the --model first if it is a registered model that is not installed yet "
                 "(see 'seqvec models download')")


def add_download_argument(parser: argparse._ActionsContainer) -> None:
    """``--download``: fetch a registered --model before the command runs."""
    parser.add_argument("--download", action="store_true", help=DOWNLOAD_HELP)


def add_overwrite_argument(parser: argparse._ActionsContainer, what: str = "the output") -> None:
    """``--overwrite``: replace an existing result (never an input; the old one stays until the new one is complete)."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} if it exists (an input is never replaced; the old result is kept "
                             "until the new one is complete)")


def model_files(name_or_path: object) -> list:
    """The files of a model (name, directory or None for the default) that a command reads, to protect them
    as inputs; [] when the model cannot be found (the command reports that itself)."""
    from seqvec.errors import SeqVecError
    from seqvec.lm.pretrained import resolve

    try:
        _, options, weights = resolve(None if name_or_path is None else str(name_or_path))
    except SeqVecError:
        return []
    return [options, weights, options.parent]


def path_inputs(args: argparse.Namespace, *outputs: str) -> list:
    """Every path among the parsed options except the ``outputs`` named: what a command reads."""
    from pathlib import Path

    found: list = []
    for name, value in vars(args).items():
        if name in outputs:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Path):
                found.append(item)
    return found


# ranges of numeric options that mean the same in every command (by dest); plain int/float
# options not named here get 64-bit integers / finite numbers
SEED_MAX = 2**32 - 1  # numpy's legacy seeding takes 32 bits
NUMBER_RANGES: dict[str, Callable[[str], float | int]] = {
    "seed": int_in(0, SEED_MAX),
    "bootstrap": int_in(1, 10_000),  # as metrics.MAX_BOOTSTRAP: draws x proteins counts are held in memory at once
    "cv": int_in(2, 1000),
    "repeat": int_in(1, 1000),
    "n": int_in(1, 10_000),
    "top": int_in(1, 10_000),
    "split_by_identity": float_in(0.0, 1.0, low_open=True),
    "max_minutes": float_in(0.0, 1e7),
    "timeout": float_in(0.0, 86_400.0, low_open=True),
}


def harden_numbers(parser: argparse.ArgumentParser) -> None:
    """Give every plain ``type=int`` / ``type=float`` option of ``parser`` (and its sub-parsers) a
    checked type: its range in :data:`NUMBER_RANGES`, else integers within 64 bits and finite
    floats. Options with a type of their own keep it."""
    for action in parser._actions:
        kind = getattr(action.type, "__name__", "")
        if kind in ("int", "float", "positive_int", "non_negative_int") and action.dest in NUMBER_RANGES:
            action.type = NUMBER_RANGES[action.dest]
        elif action.type is int:
            action.type = int_in(-INT64_MAX - 1)
        elif action.type is float:
            action.type = float_in(-math.inf, math.inf)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                harden_numbers(sub)
