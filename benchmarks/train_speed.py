"""Training speed (forward + backward + optimizer step) of the language model and the heads, run by hand.

    python benchmarks/train_speed.py [--part lm|heads|all] [--steps 5] [--threads 0] [--lengths-from FASTA]

``lm`` prints residues per second for the bundled config (``mini``: torch.nn.LSTM path, no
clipping), a wider one (``wide``: mini with LSTM cell 1024 and projection 256, 4x the LSTM
work per residue) and the full SeqVec config (``seqvec``: seqvec's own clipped LSTM under
autograd), on random windows of the training window length; median over --steps steps.
Each in float32 and under ``torch.autocast("cpu", torch.bfloat16)`` (the same-run ratio is
printed): on the 2026-12-03 Sapphire-Rapids host bf16 autocast made training slower, since
``nn.LSTM`` with projections has no oneDNN path and autocast only adds casts.

``heads``: residues per second of one training step of each head with its default
hyper-parameters, on a batch of --head-batch (32) random proteins whose lengths follow
the DeepLoc test set (``--lengths-from``; default 300-700 residues): the ConvLSTM (conv +
torch.nn.LSTM + attention) on one-hot and on SeqVec-sized (1024) input, the CNN and the
light-attention head on 1024-dimensional input. Each in float32 and under bfloat16
autocast, with its FLOPs per step (torch's FLOP counter: matrix products and
convolutions, forward and backward) as GFLOP/s against this machine's float32 GEMM rate.
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
    from seqvec.lm.training.corpus import collate

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


HEAD_CASES = {  # name -> (registry name, input dim, outputs)
    "convlstm one-hot": ("convlstm", 21, {"localization": 10, "membrane": 2}),
    "convlstm 1024": ("convlstm", 1024, {"localization": 10, "membrane": 2}),
    "cnn 1024": ("cnn", 1024, {"dssp3": 3, "dssp8": 8}),
    "la 1024": ("la", 1024, {"localization": 10, "membrane": 2}),
}


def head_lengths(lengths_from: Path | None, n: int = 64, seed: int = 0) -> list[int]:
    """``n`` protein lengths drawn from a FASTA file's lengths (or uniform in 300-700)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if lengths_from is None:
        return [int(x) for x in rng.integers(300, 701, n)]
    from seqvec.io import iter_records

    pool = [len(s) for _, s in iter_records(lengths_from)]
    return [int(x) for x in rng.choice(pool, n)]


def measure_head(name: str, lengths: list[int], steps: int, autocast: bool) -> dict:
    """Residues/s and FLOPs of training steps of one head on one random batch (median over ``steps``)."""
    import torch
    from torch.nn import functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from seqvec.classifiers.heads.registry import HEADS

    registry, dim, outputs = HEAD_CASES[name]
    torch.manual_seed(0)
    head = HEADS[registry](dim, outputs)
    head.train()
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    batch, longest = len(lengths), max(lengths)
    x = torch.randn(batch, longest, dim)
    mask = torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]  # (B, L)
    per_residue = head.output_level == "residue"
    targets = {t: torch.randint(0, c, (batch, longest) if per_residue else (batch,)) for t, c in outputs.items()}

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = head(x, mask)
            loss = sum(F.cross_entropy(logits[t][mask] if per_residue else logits[t], targets[t][mask]
                                       if per_residue else targets[t]) for t in outputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    seconds = statistics.median(times)
    residues = min(sum(lengths), sum(min(n, 1000) for n in lengths) if registry == "convlstm" else sum(lengths))
    return {"residues": residues, "seconds": seconds, "residues_per_s": residues / seconds,
            "gflop": counter.get_total_flops() / 1e9, "gflops": counter.get_total_flops() / seconds / 1e9}


def float32_gemm_rate() -> float:
    """Best float32 GFLOP/s of a (256 x 512) @ (512 x 16384) product, MKL or oneDNN (as embed_speed.py)."""
    from benchmarks.embed_speed import gemm_rates

    return max(v for k, v in gemm_rates().items() if k.startswith("float32"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("lm", "heads", "all"), default="all")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--head-batch", type=int, default=32, help="proteins per head training batch")
    parser.add_argument("--lengths-from", type=Path, default=None,
                        help="FASTA whose length distribution the head batches follow (e.g. the DeepLoc test set)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part in ("lm", "all"):
        for preset, windows, window in (("mini", 32, 256), ("wide", 32, 256), ("seqvec", 4, 64)):
            fp32 = measure(preset, windows, window, args.steps)
            bf16 = measure(preset, windows, window, args.steps, bf16=True)
            print(f"{preset:7s} {windows} windows x {window} tokens: float32 {fp32:8.1f}, bf16 autocast {bf16:8.1f} "
                  f"residues/s (ratio {bf16 / fp32:.2f}; forward + backward + step, {torch.get_num_threads()} threads)")
    if args.part in ("heads", "all"):
        from seqvec.lm.host import cpu_info

        gemm = float32_gemm_rate()
        lengths = head_lengths(args.lengths_from, args.head_batch)
        print(f"heads: {cpu_info().model}, {torch.get_num_threads()} threads; batch of {len(lengths)} proteins, "
              f"{sum(lengths)} residues; float32 GEMM {gemm:.0f} GFLOP/s")
        for name in HEAD_CASES:
            f32 = measure_head(name, lengths, args.steps, autocast=False)
            bf16 = measure_head(name, lengths, args.steps, autocast=True)
            print(f"  {name:17s} float32 {f32['residues_per_s']:8.0f} residues/s ({f32['seconds']:.3f} s/step, "
                  f"{f32['gflop']:.1f} GFLOP, {f32['gflops']:5.1f} GFLOP/s = {f32['gflops'] / gemm:.2f} of GEMM); "
                  f"bf16 autocast {bf16['residues_per_s']:8.0f} residues/s "
                  f"({bf16['residues_per_s'] / f32['residues_per_s']:.2f}x)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
