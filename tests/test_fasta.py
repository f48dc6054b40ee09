"""FASTA reading and the input policy: clear errors naming the record, fixes that warn once."""
import gzip
import logging

import pytest

from seqvec.errors import DuplicateIdError, FastaFormatError, InvalidSequenceError
from seqvec.io.fasta import normalize_sequences, parse_id, read_fasta, sequences_digest

pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


def write(tmp_path, text, name="in.fasta"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reference_fasta(data_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="seqvec"):
        seqs = read_fasta(data_dir / "test.fasta")
    assert list(seqs)[:3] == ["seqwence", "protein", "padded_xxx"]
    assert len(seqs) == 11
    assert seqs["rare_letters"] == "MKXUZBOAXXXLLUZBOZZBBOOUUXGT"  # X U Z B O are valid letters
    assert seqs["lowercase_input"] == "MKTAYIAKQRQISFVKSH"
    assert len(seqs["sp|P69905|HBA_HUMAN"]) == 142  # multi-line record joined
    assert len(seqs["long_2100"]) == 2100
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["upper-cased lower-case residues in 1 record"]


@pytest.mark.parametrize("header, id_field, split_char, expected", [
    ("sp|P69905|HBA_HUMAN Hemoglobin alpha", None, None, "sp|P69905|HBA_HUMAN"),
    ("sp|P69905|HBA_HUMAN Hemoglobin alpha", 1, "|", "P69905"),
    ("sp|P69905|HBA_HUMAN Hemoglobin alpha", -1, "|", "HBA_HUMAN Hemoglobin alpha"),
    ("sp|P69905|HBA_HUMAN Hemoglobin alpha", None, "|", "sp"),
    ("a b c", 2, None, "c"),
    ("  lead  spaces", None, None, "lead"),
])
def test_parse_id(header, id_field, split_char, expected):
    assert parse_id(header, id_field, split_char) == expected


def test_parse_id_missing_field():
    with pytest.raises(FastaFormatError, match=r"no field 5 .* '\|' \(3 fields\)"):
        parse_id("sp|P1|X", 5, "|")


def test_id_options_in_read_fasta(tmp_path, data_dir):
    path = write(tmp_path, ">sp|P69905|HBA_HUMAN alpha\nMVL\n>tr|Q1|Q1_X\nMK\n")
    assert list(read_fasta(path, id_field=1, split_char="|")) == ["P69905", "Q1"]
    assert list(read_fasta(path, id_field=2, split_char="|")) == ["HBA_HUMAN alpha", "Q1_X"]
    # a header with no '|' has one field only: field 1 is an error naming the record number
    with pytest.raises(FastaFormatError, match="record 1: header 'seqwence SEQWENCE.*no field 1"):
        read_fasta(data_dir / "test.fasta", id_field=1, split_char="|")


def test_gzip_is_read_transparently(tmp_path, data_dir):
    raw = (data_dir / "test.fasta").read_bytes()
    gz = tmp_path / "in.fasta.gz"
    gz.write_bytes(gzip.compress(raw))
    unnamed = tmp_path / "compressed.fa"  # detected by content, not by name
    unnamed.write_bytes(gzip.compress(raw))
    expected = read_fasta(data_dir / "test.fasta")
    assert read_fasta(gz) == expected
    assert read_fasta(unnamed) == expected


def test_missing_file(tmp_path):
    with pytest.raises(FastaFormatError, match="input file not found: .*nope.fasta"):
        read_fasta(tmp_path / "nope.fasta")


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    with pytest.raises(FastaFormatError, match="input file is empty"):
        read_fasta(write(tmp_path, text))


def test_not_fasta(tmp_path):
    with pytest.raises(FastaFormatError, match="not FASTA: the first line should start with '>' but is 'MKTAYIAKQR'"):
        read_fasta(write(tmp_path, "MKTAYIAKQR\nMKL\n"))


def test_binary_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b">x\n\xff\xfe\x00\x01")
    with pytest.raises(FastaFormatError, match="not a text FASTA file"):
        read_fasta(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "in.fasta.gz"
    path.write_bytes(gzip.compress(b">a\nMKL\n" * 1000)[:50])
    with pytest.raises(FastaFormatError, match="cannot read"):
        read_fasta(path)


def test_empty_sequence_names_the_record(tmp_path):
    with pytest.raises(InvalidSequenceError, match="record 'b': empty sequence") as err:
        read_fasta(write(tmp_path, ">a\nMK\n>b description\n>c\nMK\n"))
    assert err.value.record_id == "b"


def test_only_a_stop_is_empty(tmp_path):
    with pytest.raises(InvalidSequenceError, match="record 'a': empty sequence"):
        read_fasta(write(tmp_path, ">a\n*\n"))


def test_empty_header(tmp_path):
    with pytest.raises(FastaFormatError, match="record 2: empty header: no record id"):
        read_fasta(write(tmp_path, ">a\nMK\n>\nMK\n"))


def test_duplicates_all_named(tmp_path):
    text = ">a x\nMK\n>b\nMK\n>a y\nMK\n>c\nM\n>b\nK\n>d\nM\n"
    with pytest.raises(DuplicateIdError, match="duplicate record ids: 'a', 'b'") as err:
        read_fasta(write(tmp_path, text))
    assert err.value.ids == ["a", "b"]


def test_duplicates_after_id_parsing(tmp_path):
    text = ">sp|P1|A_HUMAN\nMK\n>tr|P1|B_HUMAN\nMK\n"
    assert len(read_fasta(write(tmp_path, text))) == 2
    with pytest.raises(DuplicateIdError, match="'P1'"):
        read_fasta(write(tmp_path, text), id_field=1, split_char="|")


@pytest.mark.parametrize("sequence, char, position", [
    ("MKT-AYI", "-", 4),
    ("MKTAY1", "1", 6),
    ("MK\tL", "\t", 3),
    ("MKéL", "é", 3),
    ("MK*L", "*", 3),  # only a terminal '*' is dropped
    ("MKL**", "*", 4),  # ... and only one
])
def test_invalid_character_named_with_position(tmp_path, sequence, char, position):
    with pytest.raises(InvalidSequenceError) as err:
        read_fasta(write(tmp_path, f">ok\nMK\n>bad one\n{sequence}\n"))
    assert err.value.record_id == "bad"
    assert f"invalid character {char!r} at position {position} " in str(err.value)


def test_position_counts_across_lines(tmp_path):
    with pytest.raises(InvalidSequenceError, match=r"invalid character '\.' at position 8 "):
        read_fasta(write(tmp_path, ">r\nMKTAY\nIA.K\n"))


def test_fixes_warn_once_with_counts(tmp_path, caplog):
    text = ">a\nmkl*\n>b\nMKL*\n>c\nMkL\n>d\nMKL\n"
    with caplog.at_level(logging.WARNING, logger="seqvec"):
        seqs = read_fasta(write(tmp_path, text))
    assert seqs == {"a": "MKL", "b": "MKL", "c": "MKL", "d": "MKL"}
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warnings == ["dropped a terminal '*' from 2 records", "upper-cased lower-case residues in 2 records"]


def test_windows_line_endings_and_blank_lines(tmp_path):
    path = tmp_path / "win.fasta"
    path.write_bytes(b"\r\n>a desc\r\nMK\r\nTL\r\n\r\n>b\r\nM\r\n")
    assert read_fasta(path) == {"a": "MKTL", "b": "M"}


def test_normalize_sequences_same_policy():
    assert normalize_sequences({"x": "mk*"}) == {"x": "MK"}
    with pytest.raises(InvalidSequenceError, match="record 'y': invalid character '5' at position 2"):
        normalize_sequences({"x": "MK", "y": "M5"})


def test_digest_depends_on_ids_sequences_and_order():
    a = sequences_digest({"a": "MK", "b": "L"})
    assert a == sequences_digest({"a": "MK", "b": "L"})
    assert a != sequences_digest({"b": "L", "a": "MK"})
    assert a != sequences_digest({"a": "MK", "b": "M"})
    assert a != sequences_digest({"a": "MK", "c": "L"})
