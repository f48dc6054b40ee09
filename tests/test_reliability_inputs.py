"""Issue 24's battery, second half: numbers checked where they enter (every numeric option of
every command, with Hypothesis), label files read strictly, training that diverges or learns
nothing saves nothing, embeddings that do not match the proteins are refused."""
import argparse
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqvec.classifiers.labels.files import read_labels
from seqvec.cli.common import INT64_MAX
from seqvec.cli.main import build_parser, main
from seqvec.errors import LabelFormatError, SeqVecError

pytestmark = pytest.mark.usefixtures("one_thread")

SEQUENCES = ["MKTAYIAKQR", "MSTNPKPQRK", "MKLVVLGAAG", "MPEPTIDESQ", "MAAAGGGKKL", "MWWLLKKAAE"]


def run_cli(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def value_file(tmp_path, values, name="task.fasta", sets=True) -> object:
    path = tmp_path / name
    path.write_text("".join(f">p{n} TARGET={v}{' SET=train' if sets else ''}\n{SEQUENCES[n % 6]}\n"
                            for n, v in enumerate(values)))
    return path


# --- numbers: every numeric option of every command ---------------------------------------

def numeric_options() -> list[tuple[list[str], argparse.Action]]:
    """(the words that reach the sub-parser, the action) of every int/float option of the CLI."""
    found = []

    def walk(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*words, name])
            elif getattr(action.type, "__name__", "") in ("int", "float") and action.option_strings:
                found.append((words, action))

    walk(build_parser(), [])
    return found


OPTIONS = numeric_options()
TEXTS = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "-inf", "inf", "1e400", "1_000", "0x10", "1e3", "", " 5", "NaN", "9" * 40, "-0"]),
)


def test_every_numeric_option_is_checked():
    assert len(OPTIONS) > 30  # the sweep reached the options of every command
    assert all(action.type not in (int, float) for _, action in OPTIONS)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(which=st.integers(min_value=0, max_value=len(OPTIONS) - 1), text=TEXTS)
def test_numeric_options_refuse_out_of_range_at_parse_time(which, text):
    words, action = OPTIONS[which]
    try:
        value = action.type(text)
    except argparse.ArgumentTypeError:
        return  # argparse reports it as a usage error (exit 2) before any work
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    assert math.isfinite(value), (words, action.dest, text)
    if isinstance(value, int):
        assert -INT64_MAX - 1 <= value <= INT64_MAX, (words, action.dest, text)


@pytest.mark.parametrize("args,message", [
    (["evaluate", "--head", "h", "--embeddings", "e", "--labels", "l", "--bootstrap", "10" * 10], "--bootstrap"),
    (["plot", "curves", "log", "-o", "x.png", "--dpi", "100000"], "--dpi"),
    (["embed", "in.fa", "-o", "o.h5", "--max-residues", "9" * 30], "--max-residues"),
    (["train", "--labels", "l", "--embeddings", "e", "-o", "o", "--lr", "inf"], "--lr"),
    (["train", "--labels", "l", "--embeddings", "e", "-o", "o", "--seed", str(2**64)], "--seed"),
])
def test_named_number_cases(capsys, args, message):
    code, err = run_cli(capsys, *args)
    assert code == 2 and message in err, err


def test_yaml_numbers(tmp_path, capsys):
    labels = value_file(tmp_path, [1.5, 2.5, 3.5, 4.5])
    for training in ({"lr": float("nan")}, {"epochs": 2**70}, {"lr": 1e20}, {"seed": -1}, {"epochs": 2.5}):
        pipeline = tmp_path / "p.yaml"
        pipeline.write_text(f"output: {tmp_path / 'run'}\ninput: {{labels: [{labels}]}}\nencoders: [onehot]\n"
                            f"training: {{{', '.join(f'{k}: {v}' for k, v in training.items())}}}\n"
                            .replace("nan", ".nan"))
        code, err = run_cli(capsys, "run", pipeline)
        assert code == 2 and f"training.{next(iter(training))}" in err, (training, err)
        assert not (tmp_path / "run").exists()


# --- label files ------------------------------------------------------------------------------

@pytest.mark.parametrize("odd", ["0x1p3", "1_000", "1e300", "-1e39", "infinity", "1,5"])
def test_value_task_with_one_odd_value_names_the_record(tmp_path, odd):
    values = [0.5 * n for n in range(30)]
    values[17] = odd
    with pytest.raises(LabelFormatError, match="record 'p17'"):
        read_labels(value_file(tmp_path, values))


def test_all_numbers_stay_a_value_task(tmp_path):
    labels = read_labels(value_file(tmp_path, ["1", "-2.5", ".5", "3e-4", "+7"]))
    assert labels.specs["task"].kind.value == "protein_value"


@pytest.mark.parametrize("header,message", [
    ("id,label,set,set", "more than once"),
    ("ID,label,Label", "more than once"),
    ("name2,label", "no id column"),
    ("label,id", "no id column"),
])
def test_csv_headers(tmp_path, header, message):
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + "".join(f"p{n},{n % 2},train,test\n" for n in range(6)))
    with pytest.raises(LabelFormatError, match=message):
        read_labels(path)


def test_excel_csv_with_bom_and_crlf_reads_like_plain(tmp_path):
    rows = ["id,label,set"] + [f"p{n},{'AB'[n % 2]},train" for n in range(6)]
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    plain.write_text("\n".join(rows) + "\n")
    excel.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    a, b = read_labels(plain, task_name="t"), read_labels(excel, task_name="t")
    assert a.labels == b.labels and a.ids == b.ids and "id" not in b.ids[0]


def test_records_without_set_are_counted(tmp_path, caplog, seqvec_logs_to_caplog):
    path = tmp_path / "t.fasta"
    path.write_text(">a TARGET=1.5 SET=train\nMKV\n>b TARGET=2.5\nMKL\n>c TARGET=0.5\nMKW\n")
    read_labels(path)
    assert "2 of 3 records have no SET=" in caplog.text


@pytest.mark.parametrize("name", ["length", "id", "_provenance", "ss3_probabilities", "a,b"])
def test_task_names_that_would_overwrite_output_fields(tmp_path, name):
    with pytest.raises(LabelFormatError, match="task name"):
        read_labels(value_file(tmp_path, [1.5, 2.5, 3.5]), task_name=name)


@pytest.mark.parametrize("head", ["fnn", "la", "convlstm"])
def test_a_labels_file_called_train_works_with_every_head(head, tmp_path, capsys):
    labels = tmp_path / "train.fasta"
    labels.write_text("".join(f">p{n} TARGET={'AB'[n % 2]} SET={'train' if n < 10 else 'test'}\n"
                              f"{''.join(random.Random(n).choices('ACDEFGHIKLMNPQRSTVWY', k=30))}\n"
                              for n in range(12)))
    out = tmp_path / "head"
    code, err = run_cli(capsys, "train", "-q", "--labels", labels, "--embeddings", tmp_path / "e.h5", "--encoder",
                        "onehot", "--head", head, "-o", out, "--epochs", "1")
    assert code == 0, err
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q\nMKTAYIAKQRQISFVKSHFSRQ\n")
    assert run_cli(capsys, "predict", "-q", fasta, "-o", tmp_path / "p.json", "--heads", out)[0] == 0
    assert "train" in (tmp_path / "p.json").read_text()


# --- training that learns nothing or diverges ---------------------------------------------------

def test_non_finite_loss_saves_nothing(tmp_path, capsys, monkeypatch):
    import torch

    from seqvec.classifiers.training import train

    labels = value_file(tmp_path, [0.5 * n for n in range(12)])
    out = tmp_path / "head"
    real = train.task_losses
    monkeypatch.setattr(train, "task_losses",
                        lambda *a, **k: {t: (loss * torch.tensor(float("nan")), weight)
                                         for t, (loss, weight) in real(*a, **k).items()})
    code, err = run_cli(capsys, "train", "--labels", labels, "--embeddings", tmp_path / "e.h5", "--encoder",
                        "onehot", "-o", out, "--epochs", "3")
    assert code == 2 and "diverged and nothing is saved" in err, err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".head")]


def test_every_residue_masked_learns_nothing(tmp_path, capsys):
    path = tmp_path / "masked.fasta"
    path.write_text("".join(f">p{n} TARGET={'HEC' * 3} SET=train MASK={'0' * 9}\nMKTAYIAKQ\n" for n in range(8)))
    code, err = run_cli(capsys, "train", "--labels", path, "--embeddings", tmp_path / "e.h5", "--encoder", "onehot",
                        "-o", tmp_path / "head", "--epochs", "2", "--kind", "residue_class")
    assert code == 2 and not (tmp_path / "head").exists(), err


def test_lr_zero_is_refused(tmp_path, capsys):
    code, err = run_cli(capsys, "train", "--labels", value_file(tmp_path, [1.5, 2.5, 3.5]), "--embeddings",
                        tmp_path / "e.h5", "--encoder", "onehot", "-o", tmp_path / "head", "--lr", "0")
    assert code == 2 and "learns nothing" in err


# --- embeddings that do not match the proteins ------------------------------------------------------

def test_embeddings_of_other_sequences_under_the_same_ids(tmp_path, capsys):
    labels = value_file(tmp_path, [0.5 * n for n in range(6)])
    other = tmp_path / "other.fasta"
    other.write_text("".join(f">p{n}\n{SEQUENCES[n] * 2}\n" for n in range(6)))
    assert run_cli(capsys, "embed", "-q", other, "-o", tmp_path / "e.h5", "--encoder", "onehot")[0] == 0
    assert run_cli(capsys, "train", "-q", "--labels", labels, "--embeddings", tmp_path / "good.h5", "--encoder",
                   "onehot", "-o", tmp_path / "good", "--epochs", "1")[0] == 0
    for command in (["train", "-o", tmp_path / "head"], ["evaluate", "--head", tmp_path / "good"]):
        code, err = run_cli(capsys, *command, "--labels", labels, "--embeddings", tmp_path / "e.h5")
        assert code == 2 and "another length" in err and "'p0' (10 residues, 20 embedded)" in err, err


@settings(max_examples=60, derandomize=True, deadline=None)
@given(columns=st.lists(st.sampled_from(["id", "ID", "label", "set", "sequence", "target", "name", "x", "Label",
                                         "split", "value", "mask", ""]), min_size=1, max_size=6),
       bom=st.booleans(), crlf=st.booleans())
def test_label_headers_parse_or_fail_cleanly(tmp_path_factory, columns, bom, crlf):
    rows = [",".join(columns)] + [",".join([f"p{n}", "A", "train", "MKV", "1", "p", "x", "y", "z", "a", "b", "c"]
                                           [:len(columns)]) for n in range(4)]
    path = tmp_path_factory.mktemp("h") / "t.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\r\n" if crlf else "\n").join(rows).encode())
    try:
        labels = read_labels(path)
    except SeqVecError:
        return
    lowered = [c.lower() for c in columns]
    if lowered[0] in ("id", "name", "sequence") or any(c in ("label", "set", "target", "value") for c in lowered):
        assert len(set(lowered)) == len(lowered)  # a header naming a column twice never parses
    assert all(not rid.startswith("\ufeff") and "\r" not in rid for rid in labels.ids)


def test_a_head_with_nan_weights_is_refused(tmp_path, capsys):
    import torch

    labels = value_file(tmp_path, [0.5 * n for n in range(12)])
    head = tmp_path / "head"
    assert run_cli(capsys, "train", "-q", "--labels", labels, "--embeddings", tmp_path / "e.h5", "--encoder",
                   "onehot", "-o", head, "--epochs", "1")[0] == 0
    state = torch.load(head / "weights.pt", weights_only=True)
    first = next(iter(state))
    state[first] = state[first] * float("nan")
    torch.save(state, head / "weights.pt")
    code, err = run_cli(capsys, "evaluate", "--head", head, "--labels", labels, "--embeddings", tmp_path / "e.h5")
    assert code == 2 and "non-finite weights" in err


def test_sequence_digests_where_the_file_records_them(tmp_path, capsys):
    """Same ids, same lengths, other residues: caught by the md5 digests a columnar file stores."""
    labels = value_file(tmp_path, [0.5 * n for n in range(6)])
    other = tmp_path / "other.fasta"
    other.write_text("".join(f">p{n}\n{SEQUENCES[n][::-1]}\n" for n in range(6)))
    h5 = tmp_path / "e.h5"
    assert run_cli(capsys, "embed", "-q", other, "-o", h5, "--encoder", "onehot", "--layout", "columnar")[0] == 0
    code, err = run_cli(capsys, "train", "--labels", labels, "--embeddings", h5, "-o", tmp_path / "head")
    assert code == 2 and "sequence digests differ" in err and "'p0'" in err, err
