"""Language-model training speed (forward + backward + optimizer step), run by hand.

    python benchmarks/train_speed.py [--steps 5] [--threads 0]

Prints residues per second for the bundled config (``mini``: torch.nn.LSTM path, no
clipping), a wider one (``wide``: mini with LSTM cell 1024 and projection 256, 4x the LSTM
work per residue) and the full SeqVec config (``seqvec``: seqvec's own clipped LSTM under
autograd), on random windows of the training window length; median over --steps steps.
Each in float32 and under ``torch.autocast("cpu", torch.bfloat16)`` (the same-run ratio is
printed): on the 2026-12-03 Sapphire-Rapids host bf16 autocast made training slower, since
``nn.LSTM`` with projections has no oneDNN path and autocast only adds casts.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by hand from a checkout


def measure(preset: str, windows: int, window: int, steps: int, bf16: bool = False) -> float:
    from dataclasses import replace

    import numpy as np
    import torch

    from seqvec.lm.bilm import BiLM
    from seqvec.lm.config import PRESETS
    from seqvec.lm.corpus import collate

    torch.manual_seed(0)
    shapes = {**PRESETS, "wide": replace(PRESETS["mini"], lstm_dim=1024, projection_dim=256)}
    model = BiLM(shapes[preset])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8).astype(np.int64)
    types, lengths = collate([rng.choice(letters, window) for _ in range(windows)])
    times = []
    for _ in range(steps + 1):  # the first step warms up
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(types, lengths).sum() / (2 * windows * (window - 1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t)
    return windows * window / statistics.median(times[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    for preset, windows, window in (("mini", 32, 256), ("wide", 32, 256), ("seqvec", 4, 64)):
        fp32 = measure(preset, windows, window, args.steps)
        bf16 = measure(preset, windows, window, args.steps, bf16=True)
        print(f"{preset:7s} {windows} windows x {window} tokens: float32 {fp32:8.1f}, bf16 autocast {bf16:8.1f} "
              f"residues/s (ratio {bf16 / fp32:.2f}; forward + backward + step, {torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
