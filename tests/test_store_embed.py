"""`seqvec embed` into the columnar store: in place, resumable, identical sequences once, shards, layouts."""
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import seqvec
from seqvec.embeddings import inplace
from seqvec.embeddings.inplace import InPlaceRun
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.embeddings.shards import INDEX_NAME, shard_name
from seqvec.errors import EmbedOptionError, OutputMismatchError, OutputWriteError

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


class Crash(Exception):
    """Stands in for a process dying between two steps."""


def random_fasta(path, n, low, high, seed=0, repeat_every=0):
    rng = random.Random(seed)
    seqs = ["".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(low, high))) for _ in range(n)]
    if repeat_every:
        seqs = [seqs[i - 1] if i and i % repeat_every == 0 else s for i, s in enumerate(seqs)]
    path.write_text("".join(f">p{i} x\n{s}\n" for i, s in enumerate(seqs)))
    return path


def assert_same_store(a, b, exact=True):
    same = np.testing.assert_array_equal if exact else (
        lambda p, q, err_msg="": np.testing.assert_allclose(p, q, atol=1e-5, rtol=0, err_msg=err_msg))
    with seqvec.open_embeddings(a) as x, seqvec.open_embeddings(b) as y:
        assert x.ids == y.ids
        np.testing.assert_array_equal(x.lengths, y.lengths)
        same(x.per_protein(), y.per_protein())
        for record_id in x.ids:
            same(x.per_residue(record_id), y.per_residue(record_id), err_msg=record_id)


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    return random_fasta(tmp_path_factory.mktemp("in") / "in.fasta", 30, 5, 60, repeat_every=7)


def crash_after(monkeypatch, n_batches):
    """The n-th batch write raises (n batches were written and committed before)."""
    original, calls = InPlaceRun.write, []

    def write(self, *args, **kwargs):
        if len(calls) == n_batches:
            raise Crash()
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(InPlaceRun, "write", write)
    monkeypatch.setattr(inplace, "COMMIT_SECONDS", 0.0)


@pytest.mark.parametrize("layers", ["sum", "all"])
def test_default_layout_equals_per_id(tmp_path, fasta, tiny_model, layers):
    columnar = embed_fasta(fasta, tmp_path / "c.h5", tiny_model, layers=layers, max_residues=100)
    per_id = embed_fasta(fasta, tmp_path / "p.h5", tiny_model, layers=layers, max_residues=100, layout="per-id")
    with seqvec.open_embeddings(columnar) as store:
        assert store.layout == "columnar" and store.attrs["format_version"] == 1
        assert store.attrs["fingerprint"]["layout"] == "columnar" and store.identity["layers"] == layers
        with h5py.File(columnar) as f:
            assert f["per_residue"].ndim == (3 if layers == "all" else 2)
    assert_same_store(columnar, per_id, exact=False)  # other batches (repeats are embedded once): float noise


@pytest.mark.parametrize("layout", ["columnar", "per-id"])
def test_identical_sequences_embedded_once(tmp_path, fasta, tiny_model, monkeypatch, caplog, layout):
    caplog.set_level(logging.INFO, logger="seqvec")
    embedded = []
    original = type(tiny_model).embed_batch
    monkeypatch.setattr(type(tiny_model), "embed_batch", lambda self, s: embedded.extend(s) or original(self, s))
    out = embed_fasta(fasta, tmp_path / "o.h5", tiny_model, max_residues=100, layout=layout)
    assert len(embedded) == 26 and len(set(embedded)) == 26  # 30 records, 4 repeat the one before
    assert "4 records repeat the sequence of an earlier one: 26 distinct sequences" in caplog.text
    with seqvec.open_embeddings(out) as store:
        assert len(store) == 30 and store.ids == [f"p{i}" for i in range(30)] and store.layout == layout
        np.testing.assert_array_equal(store.per_residue("p7"), store.per_residue("p6"))
        np.testing.assert_array_equal(store.per_protein(["p14"]), store.per_protein(["p13"]))


def test_interrupted_run_finishes_equal(tmp_path, fasta, tiny_model, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="seqvec")
    reference = embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, max_residues=100)
    out = tmp_path / "out.h5"
    with monkeypatch.context() as m:
        crash_after(m, 3)
        with pytest.raises(Crash):
            embed_fasta(fasta, out, tiny_model, max_residues=100)
    assert not out.exists() and (tmp_path / "out.h5.partial" / "store.h5").is_file()
    with pytest.raises(OutputMismatchError, match="another batch plan"):
        embed_fasta(fasta, out, tiny_model, max_residues=300)
    with pytest.raises(OutputMismatchError, match="other settings.*dtype"):
        embed_fasta(fasta, out, tiny_model, max_residues=100, dtype="float16")
    embed_fasta(fasta, out, tiny_model, max_residues=100)
    assert re.search(r"batches to embed \(3 of \d+ batches already done\)", caplog.text)
    assert not (tmp_path / "out.h5.partial").exists()
    assert_same_store(out, reference)  # bit for bit


def test_write_failure_is_an_error_and_resumes(tmp_path, fasta, tiny_model, monkeypatch):
    out = tmp_path / "out.h5"
    original = InPlaceRun.commit
    calls = []

    def commit(self):
        if len(calls) == 2:
            raise OSError(28, os.strerror(28))
        calls.append(1)
        original(self)

    with monkeypatch.context() as m:
        m.setattr(InPlaceRun, "commit", commit)
        m.setattr(inplace, "COMMIT_SECONDS", 0.0)
        with pytest.raises(OSError):
            embed_fasta(fasta, out, tiny_model, max_residues=100)
    embed_fasta(fasta, out, tiny_model, max_residues=100)
    assert_same_store(out, embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, max_residues=100))


def test_no_room_for_the_output_fails_at_the_start(tmp_path, fasta, tiny_model, monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, os.strerror(28))

    with monkeypatch.context() as m:
        m.setattr(os, "posix_fallocate", full)
        with pytest.raises(OutputWriteError, match="No space left on device"):
            embed_fasta(fasta, tmp_path / "o.h5", tiny_model)
    assert not (tmp_path / "o.h5").exists()


def test_uniprot_layout_and_layout_options(tmp_path, fasta, tiny_model):
    out = embed_fasta(fasta, tmp_path / "per-protein.h5", tiny_model, layout="uniprot", per_residue=False)
    with h5py.File(out) as f:
        assert isinstance(f["p0"], h5py.Dataset) and f["p0"].shape == (tiny_model.output_dim,)
    with seqvec.open_embeddings(out) as store:
        assert store.layout == "uniprot" and store.ids == [f"p{i}" for i in range(30)]
    with pytest.raises(EmbedOptionError, match="one view per file"):
        embed_fasta(fasta, tmp_path / "u.h5", tiny_model, layout="uniprot")
    with pytest.raises(EmbedOptionError, match="layout='flat' is not one of"):
        embed_fasta(fasta, tmp_path / "u.h5", tiny_model, layout="flat")
    with pytest.raises(EmbedOptionError, match="K must be between 1 and N=3"):
        embed_fasta(fasta, tmp_path / "d", tiny_model, shard="0/3")


def test_carried_state_into_columnar(tmp_path, fasta, tiny_model):
    columnar = embed_fasta(fasta, tmp_path / "c.h5", tiny_model, carry_state=True)
    per_id = embed_fasta(fasta, tmp_path / "p.h5", tiny_model, carry_state=True, layout="per-id")
    assert seqvec.open_embeddings(columnar).layout == "columnar"
    assert_same_store(columnar, per_id)


def test_shards_in_process_equal_one_run(tmp_path, fasta, tiny_model):
    reference = embed_fasta(fasta, tmp_path / "one.h5", tiny_model, max_residues=1)  # each protein alone
    folder = tmp_path / "shards"
    for k in (3, 1):
        assert embed_fasta(fasta, folder, tiny_model, max_residues=1, shard=f"{k}/3") == folder
        assert not (folder / INDEX_NAME).exists()
    embed_fasta(fasta, folder, tiny_model, max_residues=1, shard="2/3")
    with seqvec.open_embeddings(folder) as store:
        assert store.layout == "shards"
        assert store.attrs["fingerprint"] == seqvec.open_embeddings(reference).attrs["fingerprint"]
    assert_same_store(folder, reference)


def _embed_command(fasta, out, *extra):
    # commit after every batch, so that a kill leaves journalled work behind
    code = ("import sys; import seqvec.embeddings.inplace as m; m.COMMIT_SECONDS = 0.0; "
            "from seqvec.cli.main import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, "embed", str(fasta), "-o", str(out), "--encoder", "onehot",
            "--max-residues", "300", *(extra or ["-q"])]


@pytest.mark.slow
def test_shards_scrambled_one_killed_equal_bit_for_bit(tmp_path):
    fasta = random_fasta(tmp_path / "in.fasta", 1000, 30, 200, seed=3, repeat_every=11)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    single = tmp_path / "single.h5"
    assert subprocess.run(_embed_command(fasta, single, "-q"), env=env).returncode == 0
    folder = tmp_path / "shards"
    for k in (4, 2):
        assert subprocess.run(_embed_command(fasta, folder, "--shard", f"{k}/4", "-q"), env=env).returncode == 0
    # shard 1 is killed while it writes; its journal holds the batches it finished
    proc = subprocess.Popen(_embed_command(fasta, folder, "--shard", "1/4", "-q"), env=env, stderr=subprocess.PIPE)
    journal = folder / f"{shard_name(1, 4)}.partial" / "journal-r0.txt"
    deadline = time.monotonic() + 60
    while (not journal.exists() or journal.read_text().count("\n") < 3) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (folder / shard_name(1, 4)).exists()
    for k in (3, 1):
        rerun = subprocess.run(_embed_command(fasta, folder, "--shard", f"{k}/4", "-v"), env=env,
                               capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        if k == 1:
            done = int(re.search(r"\((\d+) of \d+ batches already done\)", rerun.stderr).group(1))
            assert done >= 3
    assert (folder / INDEX_NAME).is_file()
    assert_same_store(folder, single)
