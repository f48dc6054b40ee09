"""A reader that stops early (``seqvec search ... | head``): the command stops quietly, status 141."""
import io
import os
import random
import subprocess
import sys
from pathlib import Path

from seqvec.cli.main import main

REPO = Path(__file__).resolve().parent.parent


def test_search_into_a_closed_pipe_stops_quietly(tmp_path):
    rng = random.Random(0)
    fasta = tmp_path / "p.fa"
    fasta.write_text("".join(f">p{i}\n{''.join(rng.choice('ACDEFGHIKLMNPQRSTVWY') for _ in range(40))}\n"
                             for i in range(2000)))
    assert main(["embed", str(fasta), "-o", str(tmp_path / "p.h5"), "--encoder", "onehot", "-q"]) == 0
    assert main(["index", str(tmp_path / "p.h5"), "-o", str(tmp_path / "p.index"), "-q"]) == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    search = subprocess.Popen([sys.executable, "-m", "seqvec", "search", str(tmp_path / "p.h5"), "-i",
                               str(tmp_path / "p.index"), "-k", "5", "-q"],  # 10,000 rows: more than a pipe holds
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert search.stdout is not None and search.stderr is not None
    assert search.stdout.readline().startswith(b"query\t")  # `| head -1`
    search.stdout.close()
    stderr = search.stderr.read().decode()
    assert search.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


class _ClosedPipe(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_every_command_stops_quietly_on_a_closed_pipe(monkeypatch, capsys):
    """The entry point handles it, whatever the command printed: here `seqvec models`."""
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(_ClosedPipe())))
    assert main(["models"]) == 141
