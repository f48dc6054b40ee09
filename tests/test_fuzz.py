"""Property-based fuzzing: every input parses or raises seqvec's own error, never anything else.

Hypothesis runs derandomized (a fixed seed) with a bounded number of examples, so the
suite is reproducible and takes well under a minute. Inputs: random bytes, random
FASTA-looking records, random edits of the real test files; for options.json, random
JSON and random edits of a real file.
"""
import copy
import gzip
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqvec.errors import SeqVecError
from seqvec.io import iter_records, read_fasta_checked
from seqvec.lm.config import SeqVecConfig
from seqvec.lm.training.corpus import read_corpus

DATA = Path(__file__).resolve().parent / "data"
FUZZ = settings(derandomize=True, max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
REAL_FASTA = (DATA / "test.fasta").read_bytes()[:3000]
REAL_OPTIONS = json.loads((DATA / "tiny_options.json").read_text())

pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def read_all_ways(path: Path) -> None:
    """Every FASTA entry point on one file; only seqvec's own errors may escape."""
    for read in (lambda: read_fasta_checked(path), lambda: read_fasta_checked(path, skip_invalid=True, strip_gaps=True),
                 lambda: read_fasta_checked(path, id_field=1, split_char="|"), lambda: read_corpus(path),
                 lambda: list(iter_records(path))):
        try:
            read()
        except SeqVecError:
            pass


def edits():
    """Random byte edits: (position fraction, bytes to delete, bytes to insert)."""
    return st.lists(st.tuples(st.floats(0, 1), st.integers(0, 20), st.binary(max_size=12)), min_size=1, max_size=6)


def apply(data: bytes, changes) -> bytes:
    for where, n_delete, insert in changes:
        at = int(where * len(data))
        data = data[:at] + insert + data[at + n_delete:]
    return data


header = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=30)
sequence_line = st.text(st.sampled_from("ACDEFGHIKLMNPQRSTVWYXBZUOacdek-.*  \t1é"), max_size=40)
record = st.tuples(header, st.lists(sequence_line, max_size=4))


@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_fasta_random_bytes(scratch, data, compress):
    path = scratch / "random.fa"
    path.write_bytes(gzip.compress(data) if compress else data)
    read_all_ways(path)


@FUZZ
@given(st.lists(record, max_size=8), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_fasta_random_records(scratch, records, newline, compress):
    text = "".join(f">{h}{newline}" + "".join(f"{line}{newline}" for line in lines) for h, lines in records)
    path = scratch / "records.fa"
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    read_all_ways(path)


@FUZZ
@given(edits(), st.booleans())
def test_fasta_edits_of_a_real_file(scratch, changes, compress_first):
    # editing the compressed bytes makes corrupt gzip; editing the text makes odd FASTA
    data = apply(gzip.compress(REAL_FASTA), changes) if compress_first else apply(REAL_FASTA, changes)
    path = scratch / "edited.fa"
    path.write_bytes(data)
    read_all_ways(path)


def load_options(scratch: Path, data: bytes) -> None:
    path = scratch / "options.json"
    path.write_bytes(data)
    try:
        config = SeqVecConfig.from_json(path)
    except SeqVecError:
        return
    assert config.n_layers >= 1 and config.digest()


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True)
                           | st.text(max_size=10),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)


@FUZZ
@given(st.binary(max_size=200))
def test_options_random_bytes(scratch, data):
    load_options(scratch, data)


@FUZZ
@given(json_values)
def test_options_random_json(scratch, value):
    load_options(scratch, json.dumps(value).encode())


def leaf_paths(tree, prefix=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaf_paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from leaf_paths(value, (*prefix, i))
    yield prefix


PATHS = [p for p in leaf_paths(REAL_OPTIONS) if p]


odd_values = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e300, 10**30, 0, -1, 0.5, "",
                              "sixty-four", "3", [], [[1, 2, 3]], [["1", 2]], {}, None, True])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(st.just("delete"), odd_values, json_values)),
                min_size=1, max_size=3))
def test_options_edits_of_a_real_file(scratch, changes):
    options = copy.deepcopy(REAL_OPTIONS)
    for path, value in changes:
        parent = options
        try:
            for key in path[:-1]:
                parent = parent[key]
            if value == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this place
    load_options(scratch, json.dumps(options).encode())
