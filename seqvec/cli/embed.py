"""``seqvec embed``: FASTA in, HDF5 embeddings out."""
from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from seqvec.cli.common import add_device_argument, add_download_argument, device_of, positive_int
from seqvec.embeddings.options import (
    COMPRESSION_CHOICES,
    DEFAULT_MAX_RESIDUES,
    DTYPE_CHOICES,
    ENCODER_CHOICES,
    LAYOUT_CHOICES,
    PRECISION_CHOICES,
)

OUTPUT_SUFFIXES = (".h5", ".hdf5")

HELP = "embed the proteins of a FASTA file into an HDF5 file"
DESCRIPTION = """\
Embed every protein of a FASTA file (plain or gzip) with the SeqVec language model or a
baseline encoder, and write per-residue and per-protein embeddings to one HDF5 file.
The default --layout columnar holds one matrix per view, in input order:
  records/id, records/length, records/digest   [N] the records table
  per_protein  [N, D]  mean over residues (layers summed first for --layers all)
  per_residue  [R, D]  (or [3, R, D] with --layers all); protein i is rows offsets[i]:offsets[i+1]
--layout per-id writes seqvec's first layout (per_residue/<key>, per_protein/<key>);
--layout uniprot writes UniProt's (one dataset per id at the root; one view).
Identical sequences are embedded once (every id still gets its rows).
Read any of them with seqvec.open_embeddings(path) (docs/embeddings.md).

Shards: --shard K/N -o FOLDER embeds the K-th of N shares of the input (contiguous,
balanced by residues) into FOLDER/shard-K-of-N.h5; each shard resumes and locks on its
own, and the last to finish writes FOLDER/index.h5, so FOLDER opens as one store.

The input ('-' for standard input) is checked completely before any model work:
missing/empty/non-FASTA files, bad headers, empty sequences, duplicate ids and characters
outside A-Z (spaces and tabs inside a sequence included) are errors naming every bad
record. Lower case is upper-cased and a terminal '*' dropped (with a warning);
--strip-gaps removes alignment gaps, --skip-invalid leaves bad records out and lists
them in OUTPUT.skipped.tsv.

Safe to interrupt: finished batches are kept in OUTPUT.partial/, and running the same
command again finishes the job. Rerunning a finished job does nothing; other settings
against an existing output are an error unless --overwrite is given. One output, one
run: a second run on the same output stops at once, naming the first (OUTPUT.lock).
Under 'torchrun --nproc-per-node N -m seqvec embed ...' each process embeds its share,
into the one .h5 output, or with -o FOLDER (no suffix) as shard RANK+1 of WORLD_SIZE.
Exit status: 0 done, 2 bad input or options, 1 a failure of the environment (disk full,
read-only folder, output locked): the finished batches are kept, rerun to resume.

example:
  seqvec embed proteins.fasta.gz -o proteins.h5 --model seqvec --dtype float16
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from seqvec.embeddings.reduce import VIEWS

    p.add_argument("fasta", type=Path, help="input FASTA file (gzip is recognised by its content; '-': standard input)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output HDF5 file, ending in .h5 or .hdf5 (for .npz or .csv, "
                                                                    "run 'seqvec export' on it afterwards)")
    model = p.add_argument_group("model")
    model.add_argument("--model", metavar="NAME|DIR",
                       help="registered model name (see 'seqvec models') or a directory with options.json and "
                            "weights.hdf5 (default: the bundled model)")
    add_download_argument(model)
    model.add_argument("--options", type=Path, metavar="FILE", help="options.json of an allennlp model (with --weights)")
    model.add_argument("--weights", type=Path, metavar="FILE", help="weights.hdf5 of an allennlp model (with --options)")
    model.add_argument("--encoder", choices=ENCODER_CHOICES, default="lm",
                       help="lm: the language model (default); onehot: 20 residues + X (21 dims); "
                            "blosum62: BLOSUM62 rows (21 dims); protvec: the bundled ProtVec, per residue the vector of the "
                            "3-gram centred on it (100 dims; --model DIR: vectors from 'seqvec train-protvec'); "
                            "lm+onehot, lm+blosum62, lm+protvec: the language model with those rows "
                            "appended (to layer 0, so each --layers view holds them once). Baselines allow --layers "
                            "sum|all only")
    model.add_argument("--carry-state", action="store_true",
                       help="legacy allennlp behaviour: embed one protein at a time in file order, each starting "
                            "from the LSTM state the previous one ended in (reproduces the SeqVec README recipe; "
                            "results then depend on the order of the file). Default: every protein from a zero state")
    out = p.add_argument_group("output")
    out.add_argument("--per-residue", action=argparse.BooleanOptionalAction, default=True,
                     help="store per-residue embeddings (default: on)")
    out.add_argument("--per-protein", action=argparse.BooleanOptionalAction, default=True,
                     help="store per-protein embeddings (default: on)")
    out.add_argument("--layers", choices=tuple(VIEWS), default="sum",
                     help="; ".join(f"{name}: {view.description}" for name, view in VIEWS.items()))
    out.add_argument("--dtype", choices=DTYPE_CHOICES, default="float32",
                     help="storage type; reductions are computed in float32 first (default: float32)")
    out.add_argument("--compression", choices=COMPRESSION_CHOICES, default="gzip",
                     help="HDF5 compression of every dataset of the per-id and uniprot layouts, and of the "
                          "columnar records table (the columnar matrices are stored uncompressed; use --dtype "
                          "float16 to halve them) (default: gzip)")
    out.add_argument("--layout", choices=LAYOUT_CHOICES, default="columnar",
                     help="columnar: a records table and one matrix per view (default); per-id: one dataset per "
                          "protein and view (per_residue/<key>, for tools that read seqvec's first layout); "
                          "uniprot: UniProt's per-protein.h5, one dataset per id at the root (with --no-per-residue)")
    out.add_argument("--shard", metavar="K/N",
                     help="embed only shard K of N (K = 1..N; e.g. a Slurm array task) into the folder -o as "
                          "shard-K-of-N.h5; the last shard to finish writes the folder's index.h5")
    out.add_argument("--overwrite", action="store_true",
                     help="replace an existing output or unfinished run made with other settings")
    records = p.add_argument_group("records")
    records.add_argument("--strip-gaps", action="store_true",
                         help="remove alignment gaps ('-' and '.') from the sequences (aligned FASTA); default: "
                              "a gap is an invalid character")
    records.add_argument("--skip-invalid", action="store_true",
                         help="leave out records with an invalid sequence instead of stopping; their ids and "
                              "reasons go to OUTPUT.skipped.tsv (default: stop, naming every bad record)")
    ids = p.add_argument_group("record ids")
    ids.add_argument("--id-field", type=int, metavar="N",
                     help="use field N (0-based; negative counts from the end) of the header split on --split-char "
                          "(default: the first whitespace-separated word)")
    ids.add_argument("--split-char", metavar="C",
                     help="character to split headers on for --id-field (default: whitespace), e.g. '|' with "
                          "--id-field 1 turns 'sp|P69905|HBA_HUMAN ...' into 'P69905'")
    run_group = p.add_argument_group("resources")
    run_group.add_argument("--max-residues", type=positive_int, default=DEFAULT_MAX_RESIDUES, metavar="N",
                           help="residue budget of one batch, padding included; longer proteins are embedded "
                                "alone. Memory grows with it (the full SeqVec model on a CPU: about 1.35 GiB and 14 KiB "
                                f"per residue of a full batch). Default {DEFAULT_MAX_RESIDUES:,}, shared out among --workers")
    add_device_argument(run_group, "; under torchrun, cuda means cuda:LOCAL_RANK")
    run_group.add_argument("--precision", choices=PRECISION_CHOICES, default="float32",
                           help="LSTM matrix products in float32 (default; exact to allennlp) or bf16 "
                                "(bfloat16 products, float32 state; not exact: per-protein cosine to float32 > 0.9999). "
                                "bf16 is faster only on CPUs with bfloat16 instructions (AMX: 1.8-2.1x measured; "
                                "AVX512_BF16); 'seqvec info' shows what this CPU has. See docs/performance.md")
    run_group.add_argument("--threads", type=_thread_count, metavar="N",
                           help=f"CPU threads for torch, at most the {os.cpu_count()} CPUs of this machine "
                                f"(default: torch's choice; with --workers: per worker, default the CPUs shared out)")
    run_group.add_argument("--workers", type=_workers, metavar="N|auto",
                           help="embed in N processes at once, each with its own threads and share of the batches "
                                "(rank 0 merges; interrupt and rerun to resume; the output is bit-identical to one "
                                "process with the same threads). 'auto' measures which split of the CPUs into workers "
                                "x threads is fastest here (once; cached in workers.json in the seqvec cache) and says "
                                "what it chose. Default: one process")


def _thread_count(text: str) -> int:
    value = positive_int(text)
    cpus = os.cpu_count() or 1
    if value > cpus:
        raise argparse.ArgumentTypeError(f"{value} threads is more than the {cpus} CPUs of this machine")
    return value


def _workers(text: str) -> int | str:
    if text == "auto":
        return text
    value = positive_int(text)
    if value > (os.cpu_count() or 1):
        raise argparse.ArgumentTypeError(f"{value} workers is more than the {os.cpu_count()} CPUs of this machine")
    return value


def _run_workers(args: argparse.Namespace) -> int | None:
    """Start the workers of --workers and return the exit status, or None to embed in this process."""
    from seqvec.errors import EmbedOptionError
    from seqvec.io.workers import WorkerPlan, launch
    from seqvec.lm.config import SeqVecConfig
    from seqvec.lm.pretrained import resolve
    from seqvec.lm.refill import DEFAULT_ROWS
    from seqvec.lm.tuning import choose_workers, prepare_worker_kernels

    if args.carry_state or str(args.fasta) == "-":
        raise EmbedOptionError("--workers shares the batches among processes: not with --carry-state or "
                               "standard input")
    shape = None
    if args.encoder.startswith("lm"):
        _, options, _ = resolve(args.model, options=args.options, weights=args.weights)
        config = SeqVecConfig.from_json(options)
        shape = (config.projection_dim, config.lstm_dim, config.projection_dim)
    cpus = os.cpu_count() or 1
    if args.workers == "auto":
        plan = choose_workers(shape, args.precision, DEFAULT_ROWS) if shape else WorkerPlan(1, cpus)
        if args.threads:
            plan = WorkerPlan(plan.workers, args.threads)
    else:
        plan = WorkerPlan(args.workers, args.threads or max(1, cpus // args.workers))
    if plan.workers == 1:
        args.threads = plan.threads
        return None
    if shape:
        prepare_worker_kernels(shape, args.precision, plan.threads)
    words, skip = [], False
    for word in args.words:
        if skip or word.startswith(("--workers", "--threads")):
            skip = word in ("--workers", "--threads")
            continue
        words.append(word)
    if not any(word.startswith("--max-residues") for word in words):  # the default budget, shared out
        words += ["--max-residues", str(max(1, DEFAULT_MAX_RESIDUES // plan.workers))]
    return launch(words, plan)


def check_output_suffix(output: Path) -> None:
    """An embedding output must be HDF5: anything else would be HDF5 under a misleading name."""
    from seqvec.errors import EmbedOptionError

    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise EmbedOptionError(
            f"-o {output}: embeddings are written as HDF5, so the output must end in .h5 or .hdf5. "
            f"For .npz or .csv, embed to an .h5 file and convert it: "
            f"seqvec export {output.with_suffix('.h5')} -o {output}"
            if output.suffix.lower() in (".npz", ".csv") else
            f"-o {output}: embeddings are written as HDF5, so the output must be a file ending in .h5 or .hdf5 "
            f"(e.g. -o {output.with_suffix('.h5').name if output.suffix else output.name + '.h5'}); "
            "'seqvec export' converts it to .npz or .csv")


def run(args: argparse.Namespace) -> int:
    import torch

    from seqvec.embeddings.pipeline import embed_fasta

    several = int(os.environ.get("WORLD_SIZE", "1")) > 1 or bool(args.workers)  # ranks may write shards
    if args.shard is None and not (several and args.output.suffix == ""):
        check_output_suffix(args.output)
    if args.workers and os.environ.get("WORLD_SIZE", "1") != "1":
        from seqvec.errors import EmbedOptionError

        raise EmbedOptionError("--workers starts its own processes; under torchrun, leave it out")
    if args.workers:
        status = _run_workers(args)
        if status is not None:
            return status
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    embed_fasta(
        args.fasta, args.output, args.model, options_file=args.options, weights_file=args.weights,
        device=device_of(args), overwrite=args.overwrite, progress=not args.quiet,
        command=command_line(args),
        per_residue=args.per_residue, per_protein=args.per_protein, layers=args.layers, dtype=args.dtype,
        compression=args.compression, encoder=args.encoder, id_field=args.id_field, split_char=args.split_char,
        carry_state=args.carry_state, precision=args.precision, strip_gaps=args.strip_gaps,
        skip_invalid=args.skip_invalid, max_residues=args.max_residues, layout=args.layout, shard=args.shard)
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command with every option spelled out (recorded in the output file)."""
    words = ["seqvec", "embed", str(args.fasta), "-o", str(args.output)]
    for flag in ("model", "options", "weights", "encoder", "layers", "dtype", "compression", "layout", "shard", "id_field",
                 "split_char", "precision", "max_residues", "device", "threads"):
        value = getattr(args, flag)
        if value is not None:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    for flag in ("per_residue", "per_protein"):
        words.append(f"--{'' if getattr(args, flag) else 'no-'}{flag.replace('_', '-')}")
    words += [f"--{flag.replace('_', '-')}" for flag in ("carry_state", "strip_gaps", "skip_invalid", "overwrite")
              if getattr(args, flag)]
    return shlex.join(words)
