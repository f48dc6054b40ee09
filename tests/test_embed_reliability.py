"""One output, one run; fingerprints that cover every number-changing input; clean failures on write."""
import errno
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import seqvec.embeddings.parts as parts
from seqvec.cli.main import main
from seqvec.embeddings.h5 import read_h5, read_h5_attrs
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.errors import (
    EmbedOptionError,
    InvalidSequenceError,
    OutputLockedError,
    OutputMismatchError,
    OutputWriteError,
    WeightFileError,
)
from seqvec.io.lock import OutputLock

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("seqvec_logs_to_caplog", "one_thread")


def random_fasta(path, n, low, high, seed=0):
    rng = random.Random(seed)
    path.write_text("".join(f">p{i}\n{''.join(rng.choice('ACDEFGHIKLMNPQRSTVWY') for _ in range(rng.randint(low, high)))}\n"
                            for i in range(n)))
    return path


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    return random_fasta(tmp_path_factory.mktemp("in") / "in.fasta", 30, 5, 60)


def assert_same(a, b):
    for view in ("per_residue", "per_protein"):
        x, y = read_h5(a, view), read_h5(b, view)
        assert list(x) == list(y)
        for record_id in x:
            np.testing.assert_array_equal(x[record_id], y[record_id], err_msg=record_id)


def fail_write_after(monkeypatch, n_parts, error=errno.ENOSPC):
    """The disk fills up after ``n_parts`` part files (plain file writes fail as the OS would)."""
    original, calls = parts.write_file, []

    def write_file(path, data):
        if path.name.startswith("part-"):
            if len(calls) == n_parts:
                with open(path, "wb") as fh:  # the OS writes some bytes, then refuses the rest
                    fh.write(bytes(data)[:100])
                raise OSError(error, os.strerror(error))
            calls.append(path)
        return original(path, data)

    monkeypatch.setattr(parts, "write_file", write_file)


def interrupt(monkeypatch, fasta, out, model, **options):
    """A run that stops on a full disk after two parts."""
    with monkeypatch.context() as m:
        fail_write_after(m, 2)
        with pytest.raises(OutputWriteError):
            embed_fasta(fasta, out, model, **options)


# --- one output, one run ----------------------------------------------------------------

def test_second_run_fails_at_once_naming_the_holder(tmp_path, fasta, tiny_model):
    out = tmp_path / "o.h5"
    shared_tmp = tmp_path / "o.h5.tmp"
    shared_tmp.write_bytes(b"the other run's merge")
    with OutputLock(out):
        with pytest.raises(OutputLockedError, match=f"being written by another run \\(pid {os.getpid()} on ") as err:
            embed_fasta(fasta, out, tiny_model)
        assert err.value.holder.startswith(f"pid {os.getpid()}")
        # nothing of the first run's files was touched
        assert shared_tmp.read_bytes() == b"the other run's merge"
        assert not out.exists() and not (tmp_path / "o.h5.partial").exists()
    embed_fasta(fasta, out, tiny_model)
    assert len(read_h5(out, "per_protein")) == 30
    assert not (tmp_path / "o.h5.lock").exists()


@pytest.mark.slow
def test_two_processes_on_one_output(tmp_path, tiny_model_dir):
    """The race of the report: the second process exits 1 naming the first, which finishes a valid file."""
    fasta = random_fasta(tmp_path / "big.fasta", 150, 40, 120, seed=2)
    out = tmp_path / "cc.h5"
    command = [sys.executable, "-m", "seqvec", "embed", str(fasta), "-o", str(out), "--model", str(tiny_model_dir),
               "--threads", "1", "--max-residues", "1", "-q"]  # one part per protein: a run of several seconds
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "cc.h5.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.poll() is None, "the first run ended before the second started: make it longer"
    assert second.returncode == 1, second.stderr
    assert f"being written by another run (pid {first.pid} on " in second.stderr
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert len(read_h5(out, "per_residue")) == 150


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, fasta, tiny_model, caplog):
    (tmp_path / "o.h5.lock").write_text("pid 999999999 on a-host-long-gone\n")
    with caplog.at_level(logging.INFO, logger="seqvec"):
        embed_fasta(fasta, tmp_path / "o.h5", tiny_model)
    assert "taking over the lock" in caplog.text and "pid 999999999" in caplog.text
    assert not (tmp_path / "o.h5.lock").exists()


# --- fingerprints -----------------------------------------------------------------------

@pytest.fixture
def other_options_dir(tmp_path, tiny_model_dir):
    """The same weights with other options that change the numbers (another clipping)."""
    d = tmp_path / "other_options"
    d.mkdir()
    options = json.loads((tiny_model_dir / "options.json").read_text())
    options["lstm"]["cell_clip"] = 0.5
    (d / "options.json").write_text(json.dumps(options))
    shutil.copy(tiny_model_dir / "weights.hdf5", d / "weights.hdf5")
    return d


def test_options_are_in_the_fingerprint(tmp_path, fasta, tiny_model_dir, other_options_dir, monkeypatch):
    out = tmp_path / "o.h5"
    interrupt(monkeypatch, fasta, out, tiny_model_dir, max_residues=100, layout="per-id")
    with pytest.raises(OutputMismatchError, match="model_options_sha256") as err:
        embed_fasta(fasta, out, other_options_dir, max_residues=100, layout="per-id")
    assert set(err.value.differences) == {"model_options_sha256"}  # same weights file
    embed_fasta(fasta, out, tiny_model_dir, max_residues=100, layout="per-id")
    with pytest.raises(OutputMismatchError, match="model_options_sha256.*`overwrite`"):
        embed_fasta(fasta, out, other_options_dir)  # a finished file made with other options
    attrs = read_h5_attrs(out)
    assert attrs["fingerprint"]["model_options_sha256"] and attrs["max_residues"] == 100


def test_resume_keeps_the_batch_plan(tmp_path, fasta, tiny_model, monkeypatch):
    out = tmp_path / "o.h5"
    interrupt(monkeypatch, fasta, out, tiny_model, max_residues=100, layout="per-id")
    with pytest.raises(OutputMismatchError, match="another batch plan.*same `max_residues`") as err:
        embed_fasta(fasta, out, tiny_model, max_residues=300, layout="per-id")
    assert list(err.value.differences) == ["batching"]
    embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert_same(out, embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, max_residues=100, layout="per-id"))


def test_resume_keeps_the_matrix_kernels(tmp_path, fasta, tiny_model, monkeypatch):
    """SEQVEC_KERNEL (and the host's measured choices) are part of an unfinished run's batch plan:
    a resume with another kernel would mix results that differ in the last digits."""
    out = tmp_path / "o.h5"
    monkeypatch.setenv("SEQVEC_KERNEL", "mkl")
    interrupt(monkeypatch, fasta, out, tiny_model, max_residues=100, layout="per-id")
    monkeypatch.setenv("SEQVEC_KERNEL", "onednn")
    with pytest.raises(OutputMismatchError, match="SEQVEC_KERNEL") as err:
        embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    found, wanted = err.value.differences["batching"]
    assert found["kernels"]["forced"] == "mkl" and wanted["kernels"]["forced"] == "onednn"
    monkeypatch.setenv("SEQVEC_KERNEL", "mkl")
    embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert_same(out, embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, max_residues=100, layout="per-id"))


def test_resume_is_pinned_to_the_kernels_of_the_finished_parts(tmp_path, fasta, tiny_model, monkeypatch):
    """With SEQVEC_KERNEL=auto each part records the kernel chosen per product shape; a resume in a
    process that would measure otherwise (here: a cache that prefers the other kernel) uses them."""
    import torch

    from seqvec.embeddings.parts import PartialRun
    from seqvec.lm import kernels

    if len(kernels.available_kernels(torch.float32, torch.device("cpu"))) < 2:
        pytest.skip("one matrix kernel only in this torch: nothing to choose")
    out = tmp_path / "o.h5"
    monkeypatch.delenv("SEQVEC_KERNEL", raising=False)
    interrupt(monkeypatch, fasta, out, tiny_model, max_residues=100, layout="per-id")
    recorded = PartialRun(out).kernel_choices()
    assert recorded and set(recorded.values()) <= set(kernels.KERNELS)
    kernels.CACHE.forget()
    flipped = {"mkl": "onednn", "onednn": "mkl"}
    monkeypatch.setattr(kernels.KernelCache, "entries", lambda self, path=None, host=None: {
        shape: {"kernel": flipped[kernel]} for shape, kernel in recorded.items()})
    embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    used = kernels.CACHE.used()  # (parts record every choice of the process, other runs' shapes too)
    assert set(used) & set(recorded) and all(recorded[s] == k for s, k in used.items() if s in recorded)
    kernels.CACHE.forget()


def test_columnar_resume_is_pinned_to_the_kernels_of_the_journalled_batches(tmp_path, fasta, tiny_model,
                                                                            monkeypatch):
    import torch

    from seqvec.embeddings.inplace import InPlaceRun
    from seqvec.embeddings.parts import PartialRun
    from seqvec.lm import kernels

    if len(kernels.available_kernels(torch.float32, torch.device("cpu"))) < 2:
        pytest.skip("one matrix kernel only in this torch: nothing to choose")
    out = tmp_path / "o.h5"
    monkeypatch.delenv("SEQVEC_KERNEL", raising=False)
    original, calls = InPlaceRun.write, []

    def write(self, *args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(original(self, *args, **kwargs))

    with monkeypatch.context() as m:
        m.setattr(InPlaceRun, "write", write)
        with pytest.raises(KeyboardInterrupt):
            embed_fasta(fasta, out, tiny_model, max_residues=100, layout="columnar")
    recorded = PartialRun(out).kernel_choices()
    assert recorded and InPlaceRun(PartialRun(out)).done()
    kernels.CACHE.forget()
    flipped = {"mkl": "onednn", "onednn": "mkl"}
    monkeypatch.setattr(kernels.KernelCache, "entries", lambda self, path=None, host=None: {
        shape: {"kernel": flipped[kernel]} for shape, kernel in recorded.items()})
    embed_fasta(fasta, out, tiny_model, max_residues=100, layout="columnar")
    used = kernels.CACHE.used()
    assert set(used) & set(recorded) and all(recorded[s] == k for s, k in used.items() if s in recorded)
    kernels.CACHE.forget()


def test_a_model_object_is_never_switched(tmp_path, fasta, tiny_model):
    with pytest.raises(EmbedOptionError, match="runs at precision 'float32', not 'bf16'"):
        embed_fasta(fasta, tmp_path / "o.h5", tiny_model, precision="bf16")
    assert tiny_model.precision == "float32"
    out = embed_fasta(fasta, tmp_path / "o.h5", tiny_model)
    assert read_h5_attrs(out)["fingerprint"]["precision"] == "float32"


# --- write failures ---------------------------------------------------------------------

@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO])
def test_write_failure_keeps_parts_for_the_resume(tmp_path, fasta, tiny_model, monkeypatch, code):
    out = tmp_path / "o.h5"
    with monkeypatch.context() as m:
        fail_write_after(m, 3, code)
        with pytest.raises(OutputWriteError, match=f"{os.strerror(code)}; the parts finished so far are kept") as err:
            embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert err.value.errno == code and isinstance(err.value, OSError)
    partial = tmp_path / "o.h5.partial"
    assert len(list(partial.glob("part-*.h5"))) == 3 and not list(partial.glob("*.tmp"))
    assert not out.exists()
    embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert_same(out, embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, max_residues=100, layout="per-id"))


def test_no_room_to_merge(tmp_path, fasta, tiny_model, monkeypatch):
    out = tmp_path / "o.h5"
    with monkeypatch.context() as m:
        m.setattr(parts.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
        with pytest.raises(OutputWriteError, match="not enough space to merge.*kept in"):
            embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert not out.exists() and not (tmp_path / "o.h5.tmp").exists()
    assert (tmp_path / "o.h5.partial").is_dir()
    embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert_same(out, embed_fasta(fasta, tmp_path / "ref.h5", tiny_model, max_residues=100, layout="per-id"))


def test_merge_failure_is_an_error_not_a_crash(tmp_path, fasta, tiny_model, monkeypatch):
    out = tmp_path / "o.h5"
    original = parts.durable_replace

    def durable_replace(tmp, final):
        if final == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(tmp, final)

    with monkeypatch.context() as m:
        m.setattr(parts, "durable_replace", durable_replace)
        with pytest.raises(OutputWriteError, match="merged output"):
            embed_fasta(fasta, out, tiny_model, max_residues=100, layout="per-id")
    assert not out.exists() and not (tmp_path / "o.h5.tmp").exists()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 200 KB file system (needs root and mount; the monkeypatched tests above cover the rest)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
def test_disk_full_on_a_real_file_system(small_tmpfs, tmp_path, tiny_model_dir, capsys):
    fasta = random_fasta(tmp_path / "many.fasta", 200, 50, 300)
    out = small_tmpfs / "o.h5"
    command = ["embed", str(fasta), "-o", str(out), "--model", str(tiny_model_dir), "--max-residues", "300",
               "--compression", "none", "--layout", "per-id", "-q"]
    assert main(command) == 1
    assert "No space left on device; the parts finished so far are kept" in capsys.readouterr().err
    n_parts = len(list((small_tmpfs / "o.h5.partial").glob("part-*.h5")))
    assert n_parts >= 1 and not out.exists()
    # move the parts to a disk with room: the same command there finishes the job
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    shutil.copytree(small_tmpfs / "o.h5.partial", roomy / "o.h5.partial")
    command[3] = str(roomy / "o.h5")
    assert main([*command[:-1], "-v"]) == 0
    done = re.search(r"\((\d+) of 200 records already done\)", capsys.readouterr().err)
    assert done and int(done.group(1)) >= n_parts
    assert len(read_h5(roomy / "o.h5", "per_protein")) == 200


# --- leftovers and the API's sequence policy --------------------------------------------

def test_failed_model_load_leaves_nothing_behind(tmp_path, fasta, tiny_model_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(tiny_model_dir / "options.json", broken / "options.json")
    data = (tiny_model_dir / "weights.hdf5").read_bytes()
    (broken / "weights.hdf5").write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.h5"
    with pytest.raises(WeightFileError):
        embed_fasta(fasta, out, broken)
    assert not (tmp_path / "o.h5.partial").exists() and not (tmp_path / "o.h5.lock").exists()
    # a sidecar holding no finished batch (left by an older version) does not block either
    (tmp_path / "o.h5.partial").mkdir()
    (tmp_path / "o.h5.partial" / "manifest.json").write_text('{"model_sha256": "something else"}')
    embed_fasta(fasta, out, tiny_model_dir)
    assert len(read_h5(out)) == 30


def test_api_applies_the_sequence_policy(tiny_model, caplog):
    from seqvec.embeddings.encoders import onehot_encoder

    for model in (tiny_model, onehot_encoder()):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="seqvec"):
            np.testing.assert_array_equal(model.embed("seqwence"), model.embed("SEQWENCE"))
        assert "upper-cased lower-case residues in 1 record" in caplog.text
        with pytest.raises(InvalidSequenceError, match=r"invalid character '-' at position 4"):
            model.embed("SEQ-WENCE")
        with pytest.raises(InvalidSequenceError, match="empty sequence"):
            model.embed_batch(["MK", ""])


def test_models_are_embedders_with_identity_from_construction(tiny_model_dir):
    import seqvec
    from seqvec.embeddings.encoders import ENCODERS
    from seqvec.lm.allennlp_io import file_sha256

    model = seqvec.load_model(tiny_model_dir, precision="bf16")
    assert isinstance(model, seqvec.Embedder)
    assert all(isinstance(make(), seqvec.Embedder) for make in ENCODERS.values())
    assert model.name == tiny_model_dir.name and model.precision == "bf16"
    assert model.weights_sha256 == file_sha256(tiny_model_dir / "weights.hdf5")
    assert model.options_sha256 == model.config.digest()
