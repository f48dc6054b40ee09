"""The hostile user's battery for ``seqvec embed`` and ``seqvec export`` (issue 12, items 8-10).

Each case runs the CLI in-process and asserts the exit status (0 done, 2 bad input or
options, 1 a failure of the environment), the message, and that the output is either
valid or absent, never half-written.
"""
import gzip
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest

from seqvec.cli.main import main
from seqvec.embeddings.h5 import read_h5

pytestmark = pytest.mark.usefixtures("one_thread")

GOOD = ">a\nMKTAYIAK\n>b desc\nMKLV\n>c\nMSTNPKPQRKTKRNTNRRPQDVKFPGG\n"


@dataclass
class Case:
    """One command: files to create, the arguments, what must come out."""

    files: dict = field(default_factory=dict)  # name -> text, bytes, or a callable(model_dir, tmp) -> bytes
    args: list = field(default_factory=list)  # {tmp}, {model} and {fasta} are filled in
    status: int = 0
    message: str = ""  # must appear on stderr
    records: int | None = None  # valid output with this many records; None: no output at all
    stdin: bytes | None = None


def weights_edit(edit):
    def make(model_dir, tmp):
        path = tmp / "edited_weights.hdf5"
        shutil.copy(model_dir / "weights.hdf5", path)
        with h5py.File(path, "r+") as f:
            edit(f)
        return path.read_bytes()
    return make


def weights_bytes(change):
    return lambda model_dir, tmp: change((model_dir / "weights.hdf5").read_bytes())


def options_edit(edit):
    def make(model_dir, tmp):
        options = json.loads((model_dir / "options.json").read_text())
        return json.dumps(edit(options)).encode()
    return make


def set_dim(options):
    options["lstm"]["dim"] = "sixty-four"
    return options


def string_dataset(f):
    del f["CNN_proj/b_proj"]
    f.create_dataset("CNN_proj/b_proj", data=np.array(["x"] * 16, dtype=h5py.string_dtype()))


MODEL = ["--options", "{tmp}/options.json", "--weights", "{tmp}/weights.hdf5"]
WITH_MODEL = {"options.json": lambda m, t: (m / "options.json").read_bytes(),
              "weights.hdf5": lambda m, t: (m / "weights.hdf5").read_bytes()}

CASES = {
    "good input": Case({"in.fa": GOOD}, ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--model", "{model}"],
                       records=3),
    "standard input, gzip": Case({}, ["embed", "-", "-o", "{tmp}/out.h5", "--model", "{model}"], records=3,
                                 stdin=gzip.compress(GOOD.encode())),
    "corrupt gzip": Case({"in.fa.gz": lambda m, t: gzip.compress(GOOD.encode() * 50)[:30] + b"\x00" * 40},
                         ["embed", "{tmp}/in.fa.gz", "-o", "{tmp}/out.h5", "--model", "{model}"], 2, "cannot read"),
    "truncated gzip": Case({"in.fa": lambda m, t: gzip.compress(GOOD.encode() * 50)[:-20]},
                           ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--model", "{model}"], 2, "cannot read"),
    # checked before any model work: the model does not even exist
    "NUL in a header": Case({"in.fa": ">a\nMK\n>b\x00c\nMK\n"},
                            ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--model", "{tmp}/no_model"], 2,
                            "record 2: header 'b\\x00c' holds the control character"),
    "non-UTF-8": Case({"in.fa": b">a\nMKL\n>b\nM\xffK\n"},
                      ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--model", "{tmp}/no_model"], 2,
                      "byte 11, line 4: not UTF-8"),
    "space inside a sequence": Case({"in.fa": ">a\nMK L\n"}, ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5"], 2,
                                    "invalid character ' ' at position 3"),
    "every bad record named": Case({"in.fa": ">a\nM1\n>b\nMK\n>c\n\n>d\nMK-L\n"},
                                   ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5"], 2,
                                   "3 invalid records:\n  record 'a'"),
    "skip invalid": Case({"in.fa": ">bad\nM1\n" + GOOD},
                         ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--model", "{model}", "--skip-invalid"],
                         0, "skipped 1 invalid record", records=3),
    "strip gaps": Case({"in.fa": ">a\nMK--T.A\n"},
                       ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--model", "{model}", "--strip-gaps"],
                       0, "removed gaps", records=1),
    "output is the input": Case({"in.fa": GOOD},
                                ["embed", "{tmp}/in.fa", "-o", "{tmp}/in.fa", "--model", "{model}", "--overwrite"],
                                2, "the output must be a file ending in .h5"),
    "output is the input named .h5": Case({"in.h5": GOOD},
                                          ["embed", "{tmp}/in.h5", "-o", "{tmp}/in.h5", "--model", "{model}",
                                           "--overwrite"], 2, "would replace the input"),
    "output is a directory": Case({"in.fa": GOOD, "out.h5/keep": "x"},
                                  ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--overwrite"], 2,
                                  "is a directory"),
    "OUT.partial is a file": Case({"in.fa": GOOD, "out.h5.partial": "x"},
                                  ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--model", "{model}"], 2,
                                  "out.h5.partial exists and is not a directory"),
    "absurd thread count": Case({"in.fa": GOOD},
                                ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--threads", "100000"], 2,
                                "more than the"),
    "truncated weights": Case({"in.fa": GOOD, **WITH_MODEL, "weights.hdf5": weights_bytes(lambda b: b[: len(b) // 2])},
                              ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", *MODEL], 2, "weights.hdf5"),
    "garbled weights": Case({"in.fa": GOOD, **WITH_MODEL, "weights.hdf5": weights_bytes(lambda b: b"\x00" * 64 + b[64:])},
                            ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", *MODEL], 2, "is not an HDF5 file"),
    "string dataset in the weights": Case({"in.fa": GOOD, **WITH_MODEL, "weights.hdf5": weights_edit(string_dataset)},
                                          ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", *MODEL], 2,
                                          "'CNN_proj/b_proj' holds object values, not numbers"),
    "dim is a word": Case({"in.fa": GOOD, **WITH_MODEL, "options.json": options_edit(set_dim)},
                          ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", *MODEL], 2,
                          "lstm.dim must be an integer, got 'sixty-four'"),
    "options.json is a list": Case({"in.fa": GOOD, **WITH_MODEL, "options.json": "[1, 2]"},
                                   ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", *MODEL], 2,
                                   "must hold a JSON object, not a list"),
    "options and weights swapped": Case({"in.fa": GOOD, **WITH_MODEL},
                                        ["embed", "{tmp}/in.fa", "-o", "{tmp}/out.h5", "--options",
                                         "{tmp}/weights.hdf5", "--weights", "{tmp}/options.json"], 2,
                                        "were --options and --weights swapped?"),
}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    out = tmp_path_factory.mktemp("embedded") / "e.h5"
    fasta = out.with_name("in.fa")
    fasta.write_text(GOOD)
    assert main(["embed", str(fasta), "-o", str(out), "--encoder", "onehot", "-q"]) == 0
    return out


def run_cli(argv, capsys, monkeypatch, stdin=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    return code, capsys.readouterr().err


def assert_no_output(out: Path):
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(out.name + ".") and p.suffix != ".partial"]
    assert not out.is_file() and not leftovers, leftovers


@pytest.mark.parametrize("name", list(CASES))
def test_embed_battery(name, tmp_path, tiny_model_dir, capsys, monkeypatch):
    case = CASES[name]
    for file_name, content in case.files.items():
        path = tmp_path / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content(tiny_model_dir, tmp_path) if callable(content) else content
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    argv = [a.format(tmp=tmp_path, model=tiny_model_dir) for a in case.args]
    code, err = run_cli(argv, capsys, monkeypatch, case.stdin)
    assert code == case.status, err
    assert case.message in err
    assert "Traceback" not in err
    out = Path(argv[argv.index("-o") + 1])
    if case.records is None:
        if out.is_file():  # the input itself: untouched
            assert out.read_bytes() == before[out]
        else:
            assert_no_output(out)
        partial = out.with_name(out.name + ".partial")
        assert not partial.is_dir()  # errors come before any work
        assert all(p.read_bytes() == data for p, data in before.items())  # no file was changed
    else:
        assert len(read_h5(out, "per_protein")) == case.records
        assert not out.with_name(out.name + ".partial").exists() and not out.with_name(out.name + ".lock").exists()
    if name == "skip invalid":
        assert out.with_name("out.h5.skipped.tsv").read_text().splitlines()[1].startswith("bad\tinvalid character '1'")


@pytest.mark.parametrize("sub", ["", "new/"])
def test_read_only_output_folder(read_only_dir, tmp_path, tiny_model_dir, capsys, monkeypatch, sub):
    fasta = tmp_path / "in.fa"
    fasta.write_text(GOOD)
    out = read_only_dir / f"{sub}out.h5"
    code, err = run_cli(["embed", str(fasta), "-o", str(out), "--model", str(tiny_model_dir)], capsys, monkeypatch)
    assert code == 1 and ("Read-only file system" in err or "Permission denied" in err), err
    assert "Traceback" not in err and list(read_only_dir.iterdir()) == []


def test_export_battery(embedded, tmp_path, capsys, monkeypatch):
    # to a folder that does not exist yet: created, as embed does
    out = tmp_path / "new" / "folder" / "e.npz"
    code, err = run_cli(["export", str(embedded), "-o", str(out)], capsys, monkeypatch)
    assert code == 0, err
    assert sorted(np.load(out).files) == ["a", "b", "c"]
    # from corrupted files
    data = embedded.read_bytes()
    for label, corrupt in (("truncated", data[: len(data) // 2]), ("garbled", b"\x00" * 512 + data[512:])):
        bad = tmp_path / f"{label}.h5"
        bad.write_bytes(corrupt)
        target = tmp_path / f"{label}.csv"
        code, err = run_cli(["export", str(bad), "-o", str(target)], capsys, monkeypatch)
        assert code == 2 and ("corrupt" in err or "not a readable HDF5 file" in err), (label, err)
        assert "Traceback" not in err and not target.exists() and not target.with_name(target.name + ".tmp").exists()
