"""``seqvec embed`` end to end (start-up, reading, embedding, writing) for benchmarks/embed_speed.py.

One case writes its proteins to a FASTA file and runs ``python -m seqvec embed`` on it
with the case's weights and ``--workers`` (without: one process with a thread per CPU);
it reports the wall time and the peak RSS: of the one process, or the sum over the
workers as ``seqvec embed`` logs it. A run past ``timeout_s`` (900) is stopped and
reported as timed out (its residues/s is then an upper bound).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_embed_cli(case: dict) -> dict:
    """Embed ``case["sequences"]`` with the CLI; ``case["workers"]``: None, an int or "auto"."""
    with tempfile.TemporaryDirectory(prefix="seqvec-bench-") as tmp:
        fasta, out = Path(tmp) / "in.fasta", Path(tmp) / "out.h5"
        fasta.write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(case["sequences"])))
        command = [sys.executable, "-m", "seqvec", "embed", str(fasta), "-o", str(out), "--options",
                   case["weights"][0], "--weights", case["weights"][1], "--precision", case["precision"],
                   "--max-residues", str(case.get("budget") or case["max_residues"])]
        if case.get("workers"):
            command += ["--workers", str(case["workers"])]
        if not case.get("workers"):  # threads only: one process on every CPU (workers share them out)
            command += ["--threads", str(os.cpu_count() or 1)]
        start = time.perf_counter()
        proc = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True)
        limit, timed_out = case.get("timeout_s", 900), False
        while True:
            done, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() - start > limit:  # a busy machine can stall threads badly: report a bound
                proc.kill()
                _, code, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - start
        stderr = proc.stderr.read() if proc.stderr else ""
        proc.returncode = os.waitstatus_to_exitcode(code)
        if proc.returncode != 0 and not timed_out:
            raise RuntimeError(f"seqvec embed failed: {stderr[-2000:]}")
    together = re.search(r"peak RSS of the (\d+) workers: .* MiB; together (\d+) MiB", stderr)
    chose = re.search(r"--workers auto: (\d+) worker\(s\) x (\d+) thread", stderr)
    residues = sum(len(s) for s in case["sequences"])
    return {"residues": residues, "seconds": seconds, "residues_per_s": residues / seconds,
            "peak_rss_mib": float(together.group(2)) if together else usage.ru_maxrss / 1024,
            "workers": int(together.group(1)) if together else 1, "timed_out": timed_out,
            "auto_choice": f"{chose.group(1)}x{chose.group(2)}" if chose else None}
