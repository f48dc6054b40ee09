"""Language-model training speed (forward + backward + optimizer step), run by hand.

    python benchmarks/train_speed.py [--steps 5] [--threads 0]

Prints residues per second for the bundled config (``mini``: torch.nn.LSTM path, no
clipping) and the full SeqVec config (``seqvec``: seqvec's own clipped LSTM under
autograd), on random windows of the training window length; median over --steps steps.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by hand from a checkout


def measure(preset: str, windows: int, window: int, steps: int) -> float:
    import numpy as np
    import torch

    from seqvec.lm.bilm import BiLM
    from seqvec.lm.config import PRESETS
    from seqvec.lm.corpus import collate

    torch.manual_seed(0)
    model = BiLM(PRESETS[preset])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8).astype(np.int64)
    types, lengths = collate([rng.choice(letters, window) for _ in range(windows)])
    times = []
    for _ in range(steps + 1):  # the first step warms up
        t = time.perf_counter()
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
    for preset, windows, window in (("mini", 32, 256), ("seqvec", 4, 64)):
        rate = measure(preset, windows, window, args.steps)
        print(f"{preset:7s} {windows} windows x {window} tokens: {rate:8.1f} residues/s (forward + backward + step, "
              f"{torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
