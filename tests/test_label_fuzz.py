"""Property-based tests: every label reader either parses a file or raises seqvec's own error.

Three kinds of input, for every reader (the benchmark formats and the user formats):
random bytes, random valid-looking records, and random edits of the real slices in
tests/data. Hypothesis runs a bounded number of examples from a fixed seed
(``derandomize``), so the tests are repeatable and take seconds.
"""
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqvec.classifiers.labels.files import read_label_file, read_labels
from seqvec.classifiers.labels.readers import READERS, LabelSet
from seqvec.classifiers.labels.userlabels import USER_FORMATS
from seqvec.errors import SeqVecError

DATA = Path(__file__).resolve().parent / "data"
FUZZ = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FORMATS = sorted(set(READERS) | set(USER_FORMATS))
# a real slice of every format: the file (or folder) to edit, and the file inside it that is edited
REAL = {
    "deeploc": "tasks/deeploc_pool_small.fasta", "deeploc-numeric": "tasks/deeploc_numeric_small.fasta",
    "deeploc-json": "tasks/deeploc_labels_q2_small.json", "netsurfp-csv": "tasks/CB513_small.csv",
    "flip": "tasks/flip_small/sampled.fasta", "tape-csv": "tasks/tape_small.csv",
    "chezod": "tasks/CheZOD_small_CheZOD_scores.txt", "biotrainer": "biotrainer/residue_to_value/input.fasta",
    "biotrainer-labels": "biotrainer/multiple_test_sets/labels.fasta", "csv": None,
}
CSV_EXAMPLE = b"id,label,set\nP1,enzyme,train\nP2,other,train\nP3,enzyme,val\nP4,other,test\n"


def place(tmp: Path, fmt: str, content: bytes) -> Path:
    """Write ``content`` where a file of format ``fmt`` is read from (with the companions it needs)."""
    tmp.mkdir(parents=True, exist_ok=True)
    if fmt == "flip":
        for name in ("sequences.fasta", "mask.fasta"):
            (tmp / name).write_bytes((DATA / "tasks" / "flip_small" / name).read_bytes())
        (tmp / "sampled.fasta").write_bytes(content)
        return tmp
    if fmt == "chezod":
        (tmp / "X_sequences.fasta").write_bytes((DATA / "tasks" / "CheZOD_small_sequences.fasta").read_bytes())
        path = tmp / "X_CheZOD_scores.txt"
    elif fmt == "biotrainer-labels":
        (tmp / "sequences.fasta").write_bytes((DATA / "biotrainer" / "multiple_test_sets" / "sequences.fasta")
                                              .read_bytes())
        path = tmp / "labels.fasta"
    else:
        path = tmp / {"deeploc-json": "labels.json", "netsurfp-csv": "l.csv", "tape-csv": "l.csv",
                      "csv": "l.csv"}.get(fmt, "labels.fasta")
    path.write_bytes(content)
    return path


def parses_or_raises_own_error(path: Path, fmt: str | None) -> None:
    try:
        labels = read_label_file(path, fmt)
    except SeqVecError:
        return
    assert isinstance(labels, LabelSet) and labels.sequences


def real_bytes(fmt: str) -> bytes:
    return CSV_EXAMPLE if REAL[fmt] is None else (DATA / REAL[fmt]).read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(content=st.binary(max_size=400))
def test_random_bytes(tmp_path_factory, fmt, content):
    parses_or_raises_own_error(place(tmp_path_factory.mktemp("b"), fmt, content), fmt)


@pytest.mark.parametrize("fmt", [*FORMATS, None])
@FUZZ
@given(data=st.data())
def test_random_edits_of_real_files(tmp_path_factory, fmt, data):
    source = fmt or data.draw(st.sampled_from(FORMATS))
    content = bytearray(real_bytes(source))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(content)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        chunk = data.draw(st.binary(min_size=1, max_size=6) | st.sampled_from(
            [b">", b"\n", b",", b";", b"\t", b"=", b"SET=test", b"TARGET=", b"MASK=1", b"\xff", b"\x00", b"\"", b"999"]))
        if action == "insert":
            content[at:at] = chunk
        elif action == "delete":
            del content[at:at + len(chunk)]
        elif action == "replace":
            content[at:at + len(chunk)] = chunk
        else:
            del content[at:]
    # fmt None: the format is detected, as the CLI does by default
    parses_or_raises_own_error(place(tmp_path_factory.mktemp("e"), source, bytes(content)), fmt)


TOKEN = st.text(alphabet="ACDEFGHIKLMNPQRSTVWYXacz01-.;:=, \t", min_size=0, max_size=12)


@st.composite
def biotrainer_record(draw):
    rid = draw(st.sampled_from(["a", "b", "c", "d", "Seq1"]) | st.text("abc12_|.", min_size=1, max_size=5))
    sequence = draw(st.text("ACDEFGHIKLMNPQRSTVWY", min_size=0, max_size=9))
    fields = []
    if draw(st.booleans()):
        target = draw(st.one_of(
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.lists(st.floats(-5, 5).map(lambda v: f"{v:.2f}"), max_size=10).map(";".join),
            st.text("HEC", min_size=0, max_size=10), TOKEN, st.sampled_from(["A;B", "x;", ";"])))
        fields.append(f"TARGET={target}")
    if draw(st.booleans()):
        fields.append("SET=" + draw(st.sampled_from(["train", "val", "test", "test2", "pred", "TEST", "nope", ""])))
    if draw(st.booleans()):
        fields.append("VALIDATION=" + draw(st.sampled_from(["True", "False", "maybe"])))
    if draw(st.booleans()):
        fields.append("MASK=" + draw(st.text("01", max_size=10)))
    return f">{rid} {' '.join(draw(st.permutations(fields)))}\n{sequence}\n"


@FUZZ
@given(records=st.lists(biotrainer_record(), min_size=1, max_size=6),
       kind=st.sampled_from([None, "protein_class", "protein_value", "residue_class", "residue_value",
                             "protein_multilabel"]))
def test_valid_looking_biotrainer_records(tmp_path_factory, records, kind):
    path = tmp_path_factory.mktemp("r") / "task.fasta"
    path.write_text("".join(records))
    try:
        labels = read_labels(path, "biotrainer", kind=kind)
    except SeqVecError:
        return
    spec = labels.specs["task"]
    if kind:
        assert spec.kind.value == kind
    assert set(labels.labels["task"]) <= set(labels.sequences)


@FUZZ
@given(rows=st.lists(st.lists(TOKEN, min_size=0, max_size=4), min_size=0, max_size=6),
       header=st.booleans(), tab=st.booleans())
def test_valid_looking_csv_rows(tmp_path_factory, rows, header, tab):
    sep = "\t" if tab else ","
    lines = (["id" + sep + "label" + sep + "set"] if header else []) + [sep.join(r) for r in rows]
    path = tmp_path_factory.mktemp("c") / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    parses_or_raises_own_error(path, "csv")


@FUZZ
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                      max_size=3), max_leaves=8))
def test_valid_looking_json(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("j") / "labels.json"
    path.write_text(json.dumps(value))
    parses_or_raises_own_error(path, "deeploc-json")
