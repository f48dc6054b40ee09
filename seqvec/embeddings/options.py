"""The settings of an embedding run, validated once, and the choices the CLI offers.

This module imports nothing heavy, so that ``seqvec embed --help`` can list the choices.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from seqvec.errors import EmbedOptionError

DTYPE_CHOICES = ("float32", "float16")
COMPRESSION_CHOICES = ("gzip", "lzf", "none")
# columnar: one matrix per view plus a records table (seqvec.embeddings.columnar); per-id: one
# dataset per protein and view (per_residue/<key>, the first seqvec layout); uniprot: UniProt's
# per-protein.h5 (one dataset per id at the root, one view)
LAYOUT_CHOICES = ("columnar", "per-id", "uniprot")
EXPORT_FORMATS = ("npz", "csv", "biotrainer", "uniprot", "parquet")  # seqvec.embeddings.export
TABLE_ENCODERS = ("onehot", "blosum62", "protvec")  # encoders.ENCODERS
# lm = the language model; lm+TABLE = the language model with the table's rows appended (encoders.WithTable)
ENCODER_CHOICES = ("lm", *TABLE_ENCODERS, *(f"lm+{t}" for t in TABLE_ENCODERS))
PRECISION_CHOICES = ("float32", "bf16")  # SeqVecLM.set_precision
# padded residues per batch; --workers N gives each worker 1/N of it. More residues per batch keep
# more proteins in the rows of the recurrent products (benchmarks/embed_speed.py --compare-refill)
DEFAULT_MAX_RESIDUES = 64000


def uses_lm(encoder: str) -> bool:
    """Whether an encoder choice runs the language model (``lm`` or ``lm+TABLE``)."""
    return encoder == "lm" or encoder.startswith("lm+")


def _check_choice(name: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise EmbedOptionError(f"{name}={value!r} is not one of {', '.join(map(str, choices))}")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N; EmbedOptionError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise EmbedOptionError(f"`shard` {text!r}: expected K/N, e.g. 3/10 (shard 3 of 10, counting from 1)")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise EmbedOptionError(f"`shard` {text!r}: K must be between 1 and N={n} (shards count from 1; "
                               f"a Slurm array of them is 1-{n})")
    return k, n


@dataclass(frozen=True)
class EmbedSettings:
    """What to compute and how to store it.

    Every field except ``max_residues`` identifies the content of an output file: a rerun
    with other values is an ``OutputMismatchError``. ``max_residues`` changes the speed and,
    since batch composition moves the last digits of float32 sums (about 1e-6), it must
    stay the same when an unfinished run is resumed, so that one file never mixes two
    batchings.
    """

    per_residue: bool = True  # store the per-residue view
    per_protein: bool = True  # store the per-protein view
    layers: str = "sum"  # a view of the model's output layers: a name in seqvec.embeddings.reduce.VIEWS
    dtype: str = "float32"  # storage dtype (reductions are computed in float32)
    compression: str = "gzip"  # HDF5 filter of every per-id / uniprot dataset (columnar: its records table)
    layout: str = "columnar"  # how the file is organised: a name in LAYOUT_CHOICES
    encoder: str = "lm"  # the language model or a baseline encoder
    id_field: int | None = None  # header.split(split_char)[id_field]; both None: first word
    split_char: str | None = None
    carry_state: bool = False  # legacy allennlp mode: LSTM state carried in file order
    precision: str | None = None  # LSTM matrix products: float32 (exact) or bf16 (1.8-2.1x faster with AMX,
    # not exact); None: float32 for a model loaded by name, a model object's own setting
    strip_gaps: bool = False  # remove alignment gaps '-' and '.' from sequences
    skip_invalid: bool = False  # leave out invalid records (listed in OUTPUT.skipped.tsv) instead of failing
    max_residues: int = DEFAULT_MAX_RESIDUES  # residue budget of one batch (padded)
    shard: str | None = None  # "K/N": embed the K-th of N shares of the input (seqvec.embeddings.shards)

    def __post_init__(self):
        from seqvec.embeddings.reduce import VIEWS  # here: reduce imports this module

        _check_choice("layers", self.layers, tuple(VIEWS))
        _check_choice("dtype", self.dtype, DTYPE_CHOICES)
        _check_choice("compression", self.compression, COMPRESSION_CHOICES)
        _check_choice("layout", self.layout, LAYOUT_CHOICES)
        if self.layout == "uniprot" and self.per_residue and self.per_protein:
            raise EmbedOptionError("layout='uniprot' holds one view per file: turn `per_residue` off (UniProt's "
                                   "per-protein.h5) or `per_protein` off (per-residue arrays)")
        if self.shard is not None:
            parse_shard(self.shard)
            if self.layout != "columnar":
                raise EmbedOptionError(f"shards are columnar files; layout={self.layout!r} cannot be sharded")
            if self.carry_state:
                raise EmbedOptionError("carry_state embeds one protein after another; it cannot be sharded")
        _check_choice("encoder", self.encoder, ENCODER_CHOICES)
        if self.precision is not None:
            _check_choice("precision", self.precision, PRECISION_CHOICES)
        if self.precision not in (None, "float32") and not uses_lm(self.encoder):
            raise EmbedOptionError(f"precision applies to the language model only, not encoder={self.encoder!r}")
        if not (self.per_residue or self.per_protein):
            raise EmbedOptionError("nothing to store: per-residue and per-protein output are both off")
        if not isinstance(self.max_residues, int) or isinstance(self.max_residues, bool) or \
                not 1 <= self.max_residues <= 2**63 - 1:
            raise EmbedOptionError(f"max_residues must be a positive integer within 64 bits, got {self.max_residues!r}")
        if self.id_field is not None and (not isinstance(self.id_field, int) or isinstance(self.id_field, bool)
                                          or abs(self.id_field) > 2**31):
            raise EmbedOptionError(f"id_field must be an integer (a field's position), got {self.id_field!r}")
        for flag in ("per_residue", "per_protein", "carry_state", "strip_gaps", "skip_invalid"):
            if not isinstance(getattr(self, flag), bool):
                raise EmbedOptionError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.split_char == "":
            raise EmbedOptionError("split_char must not be empty")
        if self.carry_state and not uses_lm(self.encoder):
            raise EmbedOptionError(f"carry_state applies to the language model only, not encoder={self.encoder!r}")

    def identity(self) -> dict:
        """The fields that decide the content of the output (all but ``max_residues``; ``shard``
        only when set)."""
        d = asdict(self)
        del d["max_residues"]
        if d["shard"] is None:
            del d["shard"]
        return d
