"""`seqvec embed --workers N|auto`: worker processes give one process's file bit for bit, stop cleanly, resume."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seqvec.cli.main import main
from seqvec.embeddings import inplace
from seqvec.embeddings.h5 import read_h5, read_h5_attrs
from seqvec.embeddings.inplace import InPlaceRun
from seqvec.io.workers import WorkerPlan, splits
from seqvec.lm.tuning import choose_workers

REPO = Path(__file__).resolve().parent.parent


def _fasta(path: Path, n: int, longest: int, seed: int = 11) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(f">w{i}\n{''.join(rng.choice('ACDEFGHIKLMNPQRSTVWY') for _ in range(rng.randint(5, longest)))}\n"
                            for i in range(n)))
    return path


def _embed(fasta: Path, out: Path, model_dir: Path, *extra: str, quiet: bool = True) -> list[str]:
    return ["embed", str(fasta), "-o", str(out), "--model", str(model_dir), "--layers", "all",
            "--max-residues", "300", *(["-q"] if quiet else []), *extra]


def _assert_same_bits(a: Path, b: Path) -> None:
    assert read_h5_attrs(a)["fingerprint"] == read_h5_attrs(b)["fingerprint"]
    for view in ("per_residue", "per_protein"):
        x, y = read_h5(a, view), read_h5(b, view)
        assert list(x) == list(y)
        for record_id in x:
            np.testing.assert_array_equal(x[record_id], y[record_id], err_msg=record_id)


def _run(words: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqvec", *words], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300, **kwargs)


@pytest.mark.slow
def test_two_workers_resume_a_crashed_run_bit_identically(tmp_path, tiny_model_dir, monkeypatch):
    fasta = _fasta(tmp_path / "in.fasta", 40, 120)
    reference = tmp_path / "one.h5"
    assert main(_embed(fasta, reference, tiny_model_dir, "--threads", "1")) == 0

    out = tmp_path / "workers.h5"
    original, written = InPlaceRun.write, []

    def write(self, *args, **kwargs):  # one process dies after 2 batches (each journalled at once)
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(original(self, *args, **kwargs))

    with monkeypatch.context() as m:
        m.setattr(InPlaceRun, "write", write)
        m.setattr(inplace, "COMMIT_SECONDS", 0.0)
        assert main(_embed(fasta, out, tiny_model_dir, "--threads", "1")) == 130
    result = _run(_embed(fasta, out, tiny_model_dir, "--workers", "2", "--threads", "1", quiet=False))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 1:" in result.stderr and "already done" in result.stderr
    assert "peak RSS of the 2 workers" in result.stderr
    assert not Path(f"{out}.partial").exists()
    _assert_same_bits(out, reference)


@pytest.mark.slow
def test_interrupted_workers_stop_and_the_rerun_finishes(tmp_path, tiny_model_dir):
    fasta = _fasta(tmp_path / "in.fasta", 1000, 250, seed=12)  # seconds of work on a quiet machine
    out = tmp_path / "workers.h5"
    words = _embed(fasta, out, tiny_model_dir, "--workers", "2", "--threads", "1")
    proc = subprocess.Popen([sys.executable, "-m", "seqvec", *words], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = Path(f"{out}.partial")
    deadline = time.monotonic() + 240
    def journalled() -> int:  # batches the workers have committed so far
        return sum(len(j.read_text().splitlines()) for j in parts.glob("journal-r*.txt"))

    while time.monotonic() < deadline and journalled() < 2 and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before it could be interrupted: make the input larger"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert not out.exists() and parts.exists()
    again = _run(words)
    assert again.returncode == 0, again.stderr[-3000:]
    reference = tmp_path / "one.h5"
    assert _run(_embed(fasta, reference, tiny_model_dir, "--threads", "1")).returncode == 0
    _assert_same_bits(out, reference)


def test_auto_measures_once_and_caches(tmp_path, monkeypatch, seqvec_home):
    measured = []

    def fake_measure(plan, shape, precision, rows):
        measured.append(plan)
        return {1: 100.0, 2: 150.0}.get(plan.workers, 10.0)

    monkeypatch.setattr("seqvec.lm.tuning.measure_split", fake_measure)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    (seqvec_home / "workers.json").unlink(missing_ok=True)
    assert choose_workers((16, 64, 16), "float32", 8) == WorkerPlan(2, 1)
    assert measured == [WorkerPlan(1, 2), WorkerPlan(2, 1)]
    assert choose_workers((16, 64, 16), "float32", 8) == WorkerPlan(2, 1)  # from the cache
    assert len(measured) == 2
    cache = json.loads((seqvec_home / "workers.json").read_text())
    assert [v["rows_per_s"] for v in cache.values()] == [{"1x2": 100.0, "2x1": 150.0}]
    assert splits(6) == [WorkerPlan(1, 6), WorkerPlan(2, 3), WorkerPlan(3, 2), WorkerPlan(6, 1)]


def test_auto_measurement_runs_real_processes(seqvec_home):
    from seqvec.lm.tuning import measure_split

    rate = measure_split(WorkerPlan(1, 1), (16, 64, 16), "float32", 4)
    assert rate > 0
    assert measure_split(WorkerPlan(2, 1), (16, 64, 16), "float32", 4) > 0  # both wait for each other, then time


def test_workers_refuse_what_cannot_be_shared(tmp_path, tiny_model_dir, capsys):
    fasta = _fasta(tmp_path / "in.fasta", 3, 20)
    assert main(_embed(fasta, tmp_path / "o.h5", tiny_model_dir, "--workers", "2", "--carry-state")) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(_embed(fasta, tmp_path / "o.h5", tiny_model_dir, "--workers", "999"))


def test_workers_share_the_default_batch_budget(tmp_path, tiny_model_dir, monkeypatch):
    """N workers get 1/N of the default budget each (their peak memory adds up); a budget given is kept."""
    from seqvec.embeddings.options import DEFAULT_MAX_RESIDUES

    launched = []
    monkeypatch.setattr("seqvec.io.workers.launch", lambda words, plan: launched.append((words, plan)) or 0)
    monkeypatch.setattr("seqvec.lm.tuning.prepare_worker_kernels", lambda *args: None)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    fasta = _fasta(tmp_path / "in.fasta", 3, 20)
    words = ["embed", str(fasta), "-o", str(tmp_path / "o.h5"), "--model", str(tiny_model_dir), "-q"]
    assert main([*words, "--workers", "4", "--threads", "1"]) == 0
    assert main([*words, "--workers", "2", "--max-residues", "500"]) == 0
    (first, plan), (second, _) = launched
    assert plan == WorkerPlan(4, 1) and "--workers" not in first and "--threads" not in first
    assert first[first.index("--max-residues") + 1] == str(DEFAULT_MAX_RESIDUES // 4)
    assert second.count("--max-residues") == 1 and second[second.index("--max-residues") + 1] == "500"
