"""``seqvec info``: this machine's CPU, the torch build, and the matrix kernels chosen on it."""
from __future__ import annotations

import argparse
import json

from seqvec.cli.common import positive_int

HELP = "show the CPU (AVX-512, bfloat16, AMX), the torch build and the matrix kernels chosen on this machine"
DESCRIPTION = """\
Print what decides seqvec's speed on this machine: the CPU model and the instruction
sets that matter (AVX2, AVX-512, AVX512_BF16, AMX), whether --precision bf16 can be
faster here, the torch build (version, BLAS, MKL, oneDNN, CUDA), the thread count, and
the matrix-product kernels (mkl or onednn) chosen for each product shape of the LSTM.

seqvec times the kernels on first use and keeps the fastest in kernels.json in its
cache directory ($SEQVEC_HOME or the platform cache), per CPU model, torch version and
thread count; delete the file to measure again. SEQVEC_KERNEL=mkl|onednn forces one.

examples:
  seqvec info
  seqvec info --measure --threads 2     # time the products of the full SeqVec shape now
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--measure", action="store_true",
                        help="time every kernel for the products of --shape now (replacing cached choices); "
                             "float32, and bf16 where the CPU has bfloat16 instructions")
    parser.add_argument("--shape", choices=("seqvec", "mini", "tiny"), default="seqvec",
                        help="model shape whose products --measure times (default: seqvec, the full size)")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="torch threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def render(r: dict) -> str:
    """The report as text."""
    cpu, build = r["cpu"], r["torch"]
    isa = ", ".join(f"{name} {_yes(v)}" for name, v in cpu["features"].items())
    if cpu["bf16_instructions"]:
        bf16 = f"--precision bf16 runs on the CPU's bfloat16 instructions ({cpu['bf16_instructions']})"
    elif any(v is None for v in cpu["features"].values()):
        bf16 = "--precision bf16: unknown whether this CPU has bfloat16 instructions"
    else:
        bf16 = "--precision bf16 will not be faster here: the CPU has no bfloat16 instructions"
    packed = ", ".join(f"{d} {_yes(v)}" for d, v in build["onednn_packed"].items())
    lines = [
        f"CPU       {cpu['model']} ({cpu['machine']}, {cpu['logical_cpus']} logical CPUs)",
        f"ISA       {isa}; torch dispatches {cpu['torch_capability']} code",
        f"bf16      {bf16}",
        f"torch     {build['version']}; BLAS {build['blas'] or 'unknown'}; MKL {build['mkl'] or 'no'}; "
        f"oneDNN {build['onednn'] or 'no'} (packed products: {packed}); "
        f"CUDA {build['cuda'] or 'no'}" + (f" ({build['cuda_devices']} devices)" if build["cuda"] else ""),
        f"threads   {r['threads']} (torch); SEQVEC_KERNEL={r['kernel_env']}",
        f"kernels   {r['kernel_cache']}, for {r['host_key']}:",
    ]
    if not r["kernels"]:
        lines.append("          none measured yet (they are measured on first use; or run 'seqvec info --measure')")
    for shape, entry in r["kernels"].items():
        times = ", ".join(f"{k} {v:.3f} ms" for k, v in sorted(entry.get("ms", {}).items()))
        notes = (["measured now"] if shape in r["measured_now"] else []) + (
            [f"busy: load {entry['load']:.1f} per CPU"] if entry.get("load", 0) > 1 else [])
        lines.append(f"          {shape:36s} {entry['kernel']:7s} {times}" + (f"  ({'; '.join(notes)})" if notes else ""))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from seqvec.lm.tuning import host_report

    r = host_report(args.shape if args.measure else None)
    print(json.dumps(r, indent=1) if args.json else render(r))
    return 0
