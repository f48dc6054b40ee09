"""The bottom layer: one FASTA reader (files, gzip by content, pipes), one batcher, the World."""
import gzip
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqvec.errors import FastaFormatError, InputNotFoundError, InvalidSequenceError, SeqVecError
from seqvec.io import World, budget_batches, check_sequences, iter_records, read_fasta, read_fasta_checked
from seqvec.io.lock import OutputLock
from seqvec.lm.training.corpus import read_corpus

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


def write(tmp_path, data, name="in.fasta"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def many_records(n=93):
    return "".join(f">r{i} some description\n{'MKTAYIAKQRQISFVKSHFSRQ' * (1 + i % 7)}\n" for i in range(n))


@pytest.mark.parametrize("compress", [False, True])
def test_pipe_is_read_once_and_whole(compress, tmp_path):
    """``cat f | seqvec ... /dev/stdin`` and ``-``: every record, gzip recognised without re-opening."""
    data = many_records().encode()
    data = gzip.compress(data) if compress else data
    code = ("import sys; from seqvec.io import read_fasta; "
            "print(len(read_fasta(sys.argv[1])), len(read_fasta.__doc__) > 0)")
    for name in ("-", "/dev/stdin"):
        result = subprocess.run([sys.executable, "-c", code, name], input=data, capture_output=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.split()[0] == b"93"


def test_gzip_by_content_everywhere(tmp_path, caplog):
    """The LM corpus and the label readers use the same reader: gzip content named .fa works."""
    path = write(tmp_path, gzip.compress(b">a\nmkl\n>b\nMKV\n"), "corpus.fa")
    with caplog.at_level(logging.WARNING, logger="seqvec"):
        assert read_corpus(path) == ["MKL", "MKV"]
    # lower case is upper-cased with the one counted warning, as for embedding
    assert [r.getMessage() for r in caplog.records] == ["upper-cased lower-case residues in 1 record"]
    plain = write(tmp_path, ">a x\nMK\n", "plain.gz")  # a .gz name on plain text
    assert list(iter_records(plain)) == [("a x", "MK")]


@pytest.mark.parametrize("data, where", [
    (b">a\nMKL\n>b\nM\xffK\n", "byte 11, line 4"),  # offsets count from 0
    (b"\xef\xbb\xbf>a\nMK\xc3\n", "byte 8, line 2"),  # after a byte-order mark
])
def test_non_utf8_names_the_byte(tmp_path, data, where):
    for path in (write(tmp_path, data), write(tmp_path, gzip.compress(data), "in.gz")):
        with pytest.raises(FastaFormatError, match=f"not a text FASTA file \\({where}: not UTF-8\\)") as err:
            read_fasta(path)
        assert err.value.path == str(path)


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(many_records().encode())
    corrupt = bytearray(good)
    corrupt[len(good) // 2: len(good) // 2 + 8] = b"\x00" * 8
    for data in (bytes(corrupt), good[: len(good) // 2], good[:5]):
        path = write(tmp_path, data, "x.fasta.gz")
        with pytest.raises(FastaFormatError, match="cannot read"):
            read_fasta(path)
        with pytest.raises(FastaFormatError, match="cannot read"):
            read_corpus(path)


def test_missing_input_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        read_fasta(tmp_path / "nope.fa")
    assert isinstance(err.value, InputNotFoundError) and isinstance(err.value, SeqVecError)
    with pytest.raises(InputNotFoundError, match="is a directory"):
        read_fasta(tmp_path)


def test_space_and_tab_inside_a_sequence_are_both_invalid(tmp_path):
    with pytest.raises(InvalidSequenceError) as err:
        read_fasta(write(tmp_path, ">a\nMK L\n>b\nMK\tL\n>c\n  MKL  \n"))
    assert err.value.problems == [
        ("a", "invalid character ' ' at position 3 (1 invalid in total; only letters A-Z are allowed)"),
        ("b", "invalid character '\\t' at position 3 (1 invalid in total; only letters A-Z are allowed)")]


def test_every_bad_record_in_one_error(tmp_path):
    text = "".join(f">ok{i}\nMK\n>bad{i}\nM{i % 10}K\n" for i in range(25)) + ">empty\n"
    with pytest.raises(InvalidSequenceError) as err:
        read_fasta(write(tmp_path, text))
    assert [rid for rid, _ in err.value.problems] == [f"bad{i}" for i in range(25)] + ["empty"]
    message = str(err.value)
    assert message.startswith("26 invalid records:")
    assert "record 'bad19'" in message and "record 'bad20'" not in message
    assert message.endswith("... and 6 more invalid records")


def test_every_bad_header_in_one_error(tmp_path):
    with pytest.raises(FastaFormatError) as err:
        read_fasta(write(tmp_path, ">a\nMK\n>\nMK\n>c\x00d\nMK\n>\nM\n"))
    assert err.value.record == 2
    assert "3 bad headers" in str(err.value) and "record 3: header 'c\\x00d'" in str(err.value)


def test_skip_invalid_and_strip_gaps(tmp_path, caplog):
    path = write(tmp_path, ">a\nMK-L.V\n>b\nM1K\n>c\nmk\n")
    with pytest.raises(InvalidSequenceError, match="'-' at position 3"):
        read_fasta(path)
    with caplog.at_level(logging.WARNING, logger="seqvec"):
        checked = read_fasta_checked(path, strip_gaps=True, skip_invalid=True)
    assert checked.sequences == {"a": "MKLV", "c": "MK"}
    assert checked.skipped == [("b", "invalid character '1' at position 2 (1 invalid in total; "
                                     "only letters A-Z are allowed)")]
    assert "removed gaps ('-', '.') from 1 record" in caplog.text
    with pytest.raises(FastaFormatError, match="no valid FASTA records"):
        read_fasta_checked(write(tmp_path, ">b\nM1K\n", "all_bad.fa"), skip_invalid=True)


def test_corpus_names_records_without_header(tmp_path):
    with pytest.raises(InvalidSequenceError, match=r"record '#2': invalid character '1'"):
        read_corpus(write(tmp_path, ">a\nMK\n>\nM1\n"))


def test_check_sequences_keeps_repeated_ids():
    assert check_sequences([("x", "MK"), ("x", "ml")]).records == [("x", "MK"), ("x", "ML")]


@pytest.mark.parametrize("lengths, budget, kwargs, expected", [
    ([5, 30, 10, 10, 1, 12], 30, {}, [[1], [5, 2], [3, 0, 4]]),
    ([50, 3, 3], 10, {}, [[0], [1, 2]]),  # longer than the budget: alone
    ([50, 3, 3], 10, {"min_items": 2}, [[0, 1], [2]]),  # two before the budget applies
    ([4, 4, 4, 4, 4], None, {"max_items": 2}, [[0, 1], [2, 3], [4]]),
    ([1, 9, 1, 9], 18, {"order": [0, 1, 2, 3]}, [[0, 1], [2, 3]]),  # padded to the longest so far
])
def test_budget_batches(lengths, budget, kwargs, expected):
    assert budget_batches(lengths, budget, **kwargs) == expected


def test_world_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    world = World.from_env()
    assert (world.rank, world.size, world.is_main) == (0, 1, True)
    assert world.start() is False and world.any(True) and not world.any(False)
    assert world.device("cuda") == "cuda"
    assert World(1, 2, 1).device("cuda") == "cuda:1"


def test_lock_names_holder_and_is_released(tmp_path):
    out = tmp_path / "o.h5"
    with OutputLock(out):
        assert "pid " in (tmp_path / "o.h5.lock").read_text()
        with pytest.raises(BlockingIOError) as err:  # OutputLockedError is a BlockingIOError
            OutputLock(out).acquire()
        assert err.value.holder.startswith(f"pid {os.getpid()} on ")
    assert not (tmp_path / "o.h5.lock").exists()
    with OutputLock(out):  # free again
        pass
