"""Errors live in seqvec/errors.py, resemble builtins, and carry fields instead of messages to parse."""
import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import seqvec
from seqvec import errors
from seqvec.errors import ConfigError, InputFileError, SeqVecError, UsageError, WeightFileError
from seqvec.lm.config import SeqVecConfig

PACKAGE = Path(seqvec.__file__).parent
ERROR_CLASSES = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, SeqVecError)]


def test_every_exception_class_is_in_errors_py():
    outside = []
    for info in pkgutil.walk_packages([str(PACKAGE)], "seqvec."):
        if info.name.endswith("__main__") or info.name == "seqvec.errors":
            continue
        module = importlib.import_module(info.name)
        outside += [f"{info.name}.{name}" for name, c in inspect.getmembers(module, inspect.isclass)
                    if issubclass(c, BaseException) and c.__module__ == info.name]
    assert not outside


@pytest.mark.parametrize("cls", [c for c in ERROR_CLASSES if c is not SeqVecError], ids=lambda c: c.__name__)
def test_each_error_is_also_a_builtin(cls):
    builtin = [base for base in cls.__mro__ if base.__module__ == "builtins" and base not in (Exception, BaseException,
                                                                                            object)]
    assert builtin, f"{cls.__name__} resembles no builtin exception"
    environment = (errors.OutputWriteError, errors.OutputLockedError, errors.OutOfMemoryError, errors.DownloadError,
                   errors.ExternalProgramError)
    assert cls.exit_status == (1 if issubclass(cls, environment) else 2)  # 1: retry; 2: fix the input


def test_no_code_parses_error_messages():
    """``"..." in str(err)`` would break when a message is reworded: test a class or a field."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                for side in node.comparators:
                    is_str_of_error = (isinstance(side, ast.Call) and getattr(side.func, "id", None) == "str"
                                       and side.args and isinstance(side.args[0], ast.Name)
                                       and side.args[0].id in ("err", "error", "exc", "e"))
                    assert not is_str_of_error, f"{path}:{node.lineno} tests the text of an error"


def test_a_config_built_by_hand_is_not_a_weight_file_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        SeqVecConfig(lstm_dim=-1)
    assert not isinstance(err.value, WeightFileError) and isinstance(err.value, ValueError)
    assert (err.value.field, err.value.value) == ("lstm_dim", -1)
    options = tmp_path / "options.json"
    options.write_text('{"char_cnn": {}, "lstm": {}}')
    with pytest.raises(WeightFileError) as err:  # the same problems in a file name the file
        SeqVecConfig.from_json(options)
    assert err.value.path == str(options)


def test_no_code_raises_the_bare_base_class():
    """Callers tell errors apart by class: every raise names a specific one."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                assert getattr(node.exc.func, "id", None) != "SeqVecError", f"{path}:{node.lineno} raises SeqVecError"


def test_errors_carry_the_fields_a_caller_tests(tmp_path):
    from seqvec.classifiers.heads.registry import head_class
    from seqvec.classifiers.selection.splits import read_split

    with pytest.raises(UsageError) as err:
        head_class("nope")
    assert (err.value.option, err.value.value) == ("head", "nope") and isinstance(err.value, ValueError)
    split = tmp_path / "split.tsv"
    split.write_text("id\tcluster\tfold\na\tc1\ttrain\nb\tc2\n")
    with pytest.raises(InputFileError) as err:
        read_split(split)
    assert (err.value.path, err.value.row) == (str(split), 3)


def test_library_errors_name_fields_and_the_cli_names_its_flags(capsys):
    """A Python caller reads the field it set; the command line reads its option (cli/common.py FLAGS)."""
    from seqvec.classifiers.selection.crossval import SplitPlan
    from seqvec.cli.common import FLAGS, for_command_line
    from seqvec.cli.main import main

    with pytest.raises(UsageError, match="`SplitPlan.repeat` needs `SplitPlan.cv`") as err:
        SplitPlan(repeat=2)
    assert err.value.option == "SplitPlan.repeat"
    assert for_command_line(err.value) == "--repeat needs --cv"
    assert for_command_line(UsageError("`not_a_field` stays")) == "`not_a_field` stays"
    assert all(flag.startswith("-") for flag in FLAGS.values())
    assert main(["train", "--labels", "x.fasta", "--embeddings", "x.h5", "-o", "out", "--epochs", "0"]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err


def test_no_error_raised_outside_the_cli_names_a_flag():
    """Errors of the library name Python fields in `backquotes`; only seqvec/cli speaks --flags."""
    import ast
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "seqvec"
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name.startswith("cli/"):
            continue
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                text = ast.get_source_segment(source, node.exc) or ""
                if re.search(r"(?<![\w-])--[a-z]", text):
                    found.append(f"{name}:{node.lineno}")
    assert not found, f"errors that name command-line flags outside seqvec/cli: {found}"
