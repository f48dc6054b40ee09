"""Nothing lost: interrupted runs (up to SIGKILL) finish on rerun, equal to uninterrupted ones."""
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

from seqvec.embeddings.h5 import read_h5, read_h5_attrs
from seqvec.embeddings.parts import PartialRun
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.errors import OutputMismatchError

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog")


class Crash(Exception):
    """Stands in for a process dying between two steps."""


def random_fasta(path, n, low, high, seed=0):
    rng = random.Random(seed)
    path.write_text("".join(f">p{i} random\n{''.join(rng.choice('ACDEFGHIKLMNPQRSTVWY') for _ in range(rng.randint(low, high)))}\n"
                            for i in range(n)))
    return path


def crash_after(monkeypatch, n_parts):
    """Make the n-th write_part call fail (after n_parts parts were written)."""
    original = PartialRun.write_part
    calls = []

    def write_part(self, *args, **kwargs):
        if len(calls) == n_parts:
            raise Crash()
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PartialRun, "write_part", write_part)


def assert_same_file(a, b, exact=True):
    for view in ("per_residue", "per_protein"):
        x, y = read_h5(a, view), read_h5(b, view)
        assert list(x) == list(y)
        for record_id in x:
            if exact:
                np.testing.assert_array_equal(x[record_id], y[record_id], err_msg=record_id)
            else:
                np.testing.assert_allclose(x[record_id], y[record_id], atol=1e-6, rtol=1e-6, err_msg=record_id)


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    return random_fasta(tmp_path_factory.mktemp("in") / "in.fasta", 30, 5, 60)


@pytest.mark.parametrize("carry_state", [False, True])
def test_interrupted_run_finishes_equal(tmp_path, fasta, tiny_model, monkeypatch, carry_state):
    options = dict(layers="all", max_residues=100, carry_state=carry_state, layout="per-id")
    reference = embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, **options)
    out = tmp_path / "out.h5"
    with monkeypatch.context() as m:
        crash_after(m, 4)
        with pytest.raises(Crash):
            embed_fasta(fasta, out, tiny_model, **options)
    assert not out.exists()
    assert len(list((tmp_path / "out.h5.partial").glob("part-*.h5"))) == 4
    embed_fasta(fasta, out, tiny_model, **options)
    assert not (tmp_path / "out.h5.partial").exists()
    assert_same_file(out, reference)  # the same batches, restored state: bit for bit
    assert read_h5_attrs(out)["n_records"] == 30


def test_crash_during_merge_and_cleanup(tmp_path, fasta, tiny_model, monkeypatch):
    out = tmp_path / "out.h5"
    with monkeypatch.context() as m:
        m.setattr(PartialRun, "merge", lambda self, *a: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):
            embed_fasta(fasta, out, tiny_model, layout="per-id")
    (tmp_path / "out.h5.tmp").write_bytes(b"half-written merge")
    embeds = []
    with monkeypatch.context() as m:
        m.setattr(type(tiny_model), "embed_batch", lambda self, s: embeds.append(s))
        m.setattr(PartialRun, "remove", lambda self: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):  # killed right after the final rename
            embed_fasta(fasta, out, tiny_model, layout="per-id")
    assert embeds == []  # every record was in a part: nothing embedded again
    assert out.exists() and (tmp_path / "out.h5.partial").exists()
    embed_fasta(fasta, out, tiny_model, layout="per-id")  # sees a complete output and removes the sidecar
    assert not (tmp_path / "out.h5.partial").exists()
    assert len(read_h5(out)) == 30


def test_leftovers_of_killed_writes(tmp_path, fasta, tiny_model, monkeypatch, caplog):
    out = tmp_path / "out.h5"
    with monkeypatch.context() as m:
        crash_after(m, 2)
        with pytest.raises(Crash):
            embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    partial = tmp_path / "out.h5.partial"
    (partial / "part-r0-deadbeef.h5.tmp").write_bytes(b"\x89HDF\r\n truncated")
    (partial / "part-r0-corrupt.h5").write_bytes(b"garbage")
    embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert "removing unreadable part" in caplog.text
    assert not partial.exists()
    with h5py.File(out) as f:
        assert len(f["per_residue"]) == len(f["per_protein"]) == 30


def test_unfinished_run_with_other_settings(tmp_path, fasta, tiny_model, monkeypatch):
    out = tmp_path / "out.h5"
    with monkeypatch.context() as m:
        crash_after(m, 1)
        with pytest.raises(Crash):
            embed_fasta(fasta, out, tiny_model, dtype="float16", max_residues=100, layout="per-id")
    with pytest.raises(OutputMismatchError, match=r"unfinished run with other settings \(dtype: 'float16' -> "
                                                  r"'float32'\).*`overwrite`"):
        embed_fasta(fasta, out, tiny_model, layout="per-id")
    embed_fasta(fasta, out, tiny_model, overwrite=True)
    assert read_h5(out, "per_protein")["p0"].dtype == np.float32


@pytest.mark.slow
def test_sigkill_then_rerun(tmp_path, tiny_model_dir, tiny_model):
    """A real process killed with SIGKILL while it writes parts; the same command finishes the job."""
    fasta = random_fasta(tmp_path / "big.fasta", 80, 40, 120, seed=1)
    out = tmp_path / "out.h5"
    command = [sys.executable, "-m", "seqvec", "embed", str(fasta), "-o", str(out), "--model", str(tiny_model_dir),
               "--max-residues", "130", "--threads", "1", "--layers", "all", "--layout", "per-id"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    partial = tmp_path / "out.h5.partial"
    proc = subprocess.Popen([*command, "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(partial.glob("part-*.h5"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()
    n_parts = len(list(partial.glob("part-*.h5")))
    assert not out.exists() and n_parts >= 3

    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    done = int(re.search(r"\((\d+) of 80 records already done\)", rerun.stderr).group(1))
    assert done >= n_parts  # at least one record per part was not embedded again
    assert not partial.exists()

    reference = embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, layers="all", max_residues=130, layout="per-id")
    assert_same_file(out, reference, exact=False)  # other process, other thread count: float noise only
    with h5py.File(out) as f:
        assert [f["per_residue"][k].attrs["id"] for k in f["per_residue"]] == [f"p{i}" for i in range(80)]
