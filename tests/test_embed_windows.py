"""Embedding into the columnar store window by window, holding a few bytes per record:
the first pass (``scan_fasta``) checks as ``read_fasta_checked`` does, and any cut into
windows gives the same store, resumable, with identical sequences embedded once."""
import gzip
import io
import logging
import os
import random
import sys
import threading

import numpy as np
import pytest

import seqvec
from seqvec.embeddings import inplace, pipeline
from seqvec.embeddings.columnar import sequence_digest
from seqvec.embeddings.inplace import InPlaceRun
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.errors import SeqVecError
from seqvec.io import read_fasta_checked
from seqvec.io.batching import window_ends, window_plan
from seqvec.io.fasta import sequences_digest
from seqvec.io.scan import scan_fasta

pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


class Crash(Exception):
    """Stands in for a process dying between two steps."""


def repeated_fasta(path, n=120, seed=0):
    """Random proteins of 5-60 residues; every 9th repeats one of 40 records earlier (many windows back)."""
    rng = random.Random(seed)
    seqs: list[str] = []
    for i in range(n):
        seqs.append(seqs[max(0, i - 40)] if i % 9 == 8 else
                    "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(5, 60))))
    path.write_text("".join(f">p{i} x\n{s}\n" for i, s in enumerate(seqs)))
    return path


def small_windows(monkeypatch, records=16, residues=500):
    monkeypatch.setattr(pipeline, "WINDOW_RECORDS", records)
    monkeypatch.setattr(pipeline, "WINDOW_RESIDUES", residues)


def assert_same_store(a, b):
    with seqvec.open_embeddings(a) as x, seqvec.open_embeddings(b) as y:
        assert x.ids == y.ids
        np.testing.assert_array_equal(x.lengths, y.lengths)
        np.testing.assert_array_equal(x.per_protein(), y.per_protein())
        for record_id in x.ids:
            np.testing.assert_array_equal(x.per_residue(record_id), y.per_residue(record_id), err_msg=record_id)


MESSY = ">a one\nmkv*\n>b\nAC-D.E\n>c\nMK1V\n>d\nWWW\n>e\n\n>f\nmkv*\n"


@pytest.mark.parametrize("options", [{}, {"strip_gaps": True}, {"skip_invalid": True},
                                     {"strip_gaps": True, "skip_invalid": True}, {"split_char": "|", "id_field": 0}])
def test_scan_keeps_what_read_fasta_checked_returns(tmp_path, options):
    path = tmp_path / "in.fa"
    path.write_text(MESSY if options.get("skip_invalid") else ">a one\nmkv*\n>b\nACDE\n>d\nWWW\n>f\nmkv*\n")
    if "strip_gaps" in options and not options.get("skip_invalid"):
        path.write_text(">a one\nmkv*\n>b\nAC-D.E\n>d\nWWW\n")
    checked = read_fasta_checked(path, **options)
    scanned = scan_fasta(path, spool=tmp_path, **options)
    try:
        sequences = checked.sequences
        assert scanned.sha256 == sequences_digest(sequences)
        assert scanned.lengths.tolist() == [len(s) for s in sequences.values()]
        assert bytes(scanned.digests).hex() == "".join(sequence_digest(s) for s in sequences.values())
        assert [i for chunk in scanned.id_chunks(size=2) for i in chunk] == list(sequences)
        assert [i for chunk in scanned.id_chunks(1, 3) for i in chunk] == list(sequences)[1:3]
        assert [(i, s) for _, i, s in scanned.records()] == list(sequences.items())
        assert [row for row, _, _ in scanned.records(stop=2)] == [0, 1]
        assert scanned.skipped == checked.skipped
    finally:
        scanned.close()


@pytest.mark.parametrize("text", ["", ">a\nMKV\n>a\nWW\n>b\nK\n>b\nKK\n", ">\nMKV\n>b c\x01\nWW\n", ">a\nMK1\n>b\nWW\n>c\nX X\n",
                                  ">a\n\n", "MKV\n"])
def test_scan_raises_what_read_fasta_checked_raises(tmp_path, text):
    path = tmp_path / "in.fa"
    path.write_text(text)
    with pytest.raises(SeqVecError) as expected:
        read_fasta_checked(path)
    with pytest.raises(type(expected.value)) as found:
        scan_fasta(path, spool=tmp_path)
    assert str(found.value) == str(expected.value)
    assert not list(tmp_path.glob(".seqvec-*"))


def test_scan_reads_standard_input_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b">a\nMKV\n>b\nWWWK\n")))
    scanned = scan_fasta("-", spool=tmp_path)
    assert [s for _, _, s in scanned.records()] == ["MKV", "WWWK"] == [s for _, _, s in scanned.records()]
    assert scanned.name == "<stdin>"
    scanned.close()
    assert not list(tmp_path.iterdir())  # the copy of standard input is gone


def test_scan_reads_a_pipe_twice(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(gzip.compress(b">a\nMKV\n>b\nWWWK\n")))
    writer.start()
    scanned = scan_fasta(fifo, spool=tmp_path)
    writer.join()
    assert [s for _, _, s in scanned.records()] == ["MKV", "WWWK"] == [s for _, _, s in scanned.records()]
    scanned.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_window_plan_covers_each_row_to_embed_once():
    lengths = np.random.default_rng(0).integers(1, 90, 500).astype(np.int32)
    embed = np.random.default_rng(1).random(500) < 0.8
    ends = window_ends(lengths, residues=1000, records=64)
    assert ends[-1] == 500 and np.all(np.diff(ends) > 0) and np.diff(np.concatenate([[0], ends])).max() <= 64
    rows, starts, first_batch = window_plan(lengths, embed, 200, ends)
    assert sorted(rows.tolist()) == np.flatnonzero(embed).tolist()
    assert first_batch[-1] == len(starts) - 1
    for w in range(len(ends)):  # each window's batches hold only its rows, longest first
        begin = ends[w - 1] if w else 0
        window = rows[starts[first_batch[w]]:starts[first_batch[w + 1]]]
        assert np.all((window >= begin) & (window < ends[w]))
        assert np.all(np.diff(lengths[window]) <= 0)
    padded = np.diff(starts) * lengths[rows[starts[:-1]]]
    assert np.all((padded <= 200) | (np.diff(starts) == 1))


def test_small_windows_give_the_same_store_holding_one_window(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="seqvec")
    fasta = repeated_fasta(tmp_path / "in.fa")
    whole = embed_fasta(fasta, tmp_path / "whole.h5", encoder="onehot", max_residues=200)
    small_windows(monkeypatch)
    held, embedded = [], []
    original_read, original_embed = pipeline._read_window, pipeline.embed_layers
    monkeypatch.setattr(pipeline, "_read_window", lambda *a: held.append(original_read(*a)) or held[-1])
    monkeypatch.setattr(pipeline, "embed_layers",
                        lambda model, ids, seqs: embedded.extend(ids) or original_embed(model, ids, seqs))
    windowed = embed_fasta(fasta, tmp_path / "windowed.h5", encoder="onehot", max_residues=200)
    assert_same_store(whole, windowed)
    assert len(held) > 5 and max(len(h) for h in held) <= 16  # sequences in memory: one window's
    distinct = len({s for _, _, s in scan_fasta(fasta, spool=tmp_path).records()})
    assert len(embedded) == len(set(embedded)) == distinct < 120  # repeats (windows apart) embedded once
    assert f"{120 - distinct} records repeat the sequence of an earlier one: {distinct} distinct" in caplog.text


def test_small_windows_resume_after_a_crash_bit_identical(tmp_path, monkeypatch):
    fasta = repeated_fasta(tmp_path / "in.fa", seed=3)
    whole = embed_fasta(fasta, tmp_path / "whole.h5", encoder="onehot", max_residues=150)
    small_windows(monkeypatch, records=10, residues=300)
    out = tmp_path / "out.h5"
    original, calls = InPlaceRun.write, []

    def write(self, *args, **kwargs):
        if len(calls) == 7:
            raise Crash()
        calls.append(1)
        return original(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(InPlaceRun, "write", write)
        m.setattr(inplace, "COMMIT_SECONDS", 0.0)
        with pytest.raises(Crash):
            embed_fasta(fasta, out, encoder="onehot", max_residues=150)
    assert len(InPlaceRun(pipeline.PartialRun(out)).done()) == 7
    embed_fasta(fasta, out, encoder="onehot", max_residues=150)
    assert_same_store(whole, out)


def test_other_windows_do_not_resume_an_unfinished_run(tmp_path, monkeypatch):
    fasta = repeated_fasta(tmp_path / "in.fa")
    out = tmp_path / "out.h5"
    with monkeypatch.context() as m:
        m.setattr(InPlaceRun, "write", lambda *a: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):
            embed_fasta(fasta, out, encoder="onehot", max_residues=150)
        (out.with_name("out.h5.partial") / "journal-r0.txt").write_text("0\n")  # as if one batch were done
    small_windows(monkeypatch)
    with pytest.raises(SeqVecError, match="another batch plan"):
        embed_fasta(fasta, out, encoder="onehot", max_residues=150)


def test_shards_with_small_windows_equal_one_run(tmp_path, monkeypatch):
    fasta = repeated_fasta(tmp_path / "in.fa", seed=5)
    whole = embed_fasta(fasta, tmp_path / "whole.h5", encoder="onehot", max_residues=150)
    small_windows(monkeypatch, records=8, residues=200)
    for k in (3, 1, 2):
        embed_fasta(fasta, tmp_path / "shards", encoder="onehot", max_residues=150, shard=f"{k}/3")
    assert_same_store(whole, tmp_path / "shards")


def test_copies_find_identical_digests_also_when_8_bytes_collide():
    rng = np.random.default_rng(0)
    digests = rng.integers(0, 256, (300, 16), dtype=np.uint8)
    digests[[40, 90, 299]] = digests[7]
    digests[[120]] = digests[60]
    for case in (digests, digests.copy()):
        if case is not digests:
            case[200, :8] = case[7, :8]  # the first 8 bytes of another sequence: compared in full
        embed, repeats, first = pipeline._copies(case)
        assert repeats.tolist() == [40, 90, 299, 120] and first.tolist() == [7, 7, 7, 60]
        assert embed.sum() == 296 and not embed[[40, 90, 299, 120]].any() and embed[200]
