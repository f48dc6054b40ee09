"""What every subcommand shares: the help formatter, -v/-q and --device.

Kept free of torch and the rest of seqvec so that ``seqvec --help`` stays fast.
"""
from __future__ import annotations

import argparse

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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


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
