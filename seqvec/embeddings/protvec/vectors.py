"""ProtVec (Asgari & Mofrad 2015): skip-gram vectors of amino-acid 3-grams, as an encoder.

The vectors are trained by :mod:`seqvec.embeddings.protvec.train` (with gensim); this
module only reads them and looks them up with numpy, so embedding needs no gensim.

Words. Training splits each protein into its three reading frames of non-overlapping
3-grams (:func:`reading_frames`, ProtVec's "three lists of shifted non-overlapping
words"). A 3-gram holding a letter outside the 20 standard residues (X, B, Z, U, O, J)
becomes the one word :data:`UNKNOWN`, which gensim trains like any other word.

Unknown 3-grams. At look-up, a 3-gram that is not in the vocabulary (a non-standard
letter, or a 3-gram seen fewer than ``min_count`` times in training) takes the vector of
:data:`UNKNOWN`; where training kept no such word, the zero vector.

Per residue (``embed_batch``): residue ``i`` gets the vector of the 3-gram centred on
it, ``sequence[i-1:i+2]``; the first and last residue take the nearest 3-gram (the first
and the last), and a protein shorter than 3 residues the unknown vector for every
residue. (The SeqVec paper's own per-residue "DeepProtVec" could not be pinned down from
the text we could read; see docs/protvec.md.)

Per protein: the pipeline's mean over residues of that view. It equals the mean of the
protein's ``L - 2`` overlapping 3-gram vectors with the first and last counted twice.
ProtVec's own protein vector, the **sum** over the overlapping 3-grams, is
:meth:`ProtVecEncoder.protein_sum`.

Files (no pickle): ``vectors.npz`` (``words`` ``[V]`` unicode, ``vectors`` ``[V, D]``
float32; loaded with ``allow_pickle=False``) and ``protvec.json`` (format version, the
training settings, the corpus, the time taken).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqvec.errors import ModelNotFoundError, WeightFileError
from seqvec.io.fasta import normalize_sequences

logger = logging.getLogger(__name__)

K = 3  # 3-grams
STANDARD = frozenset("ACDEFGHIKLMNPQRSTVWY")
UNKNOWN = "<unk>"  # the word of every 3-gram holding a non-standard letter
FORMAT_VERSION = 1
VECTORS_FILE, META_FILE = "vectors.npz", "protvec.json"
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "data" / "models" / "protvec"


def word(kmer: str) -> str:
    """The vocabulary word of one 3-gram: itself, or :data:`UNKNOWN` if it holds a non-standard letter."""
    return kmer if STANDARD.issuperset(kmer) else UNKNOWN


def reading_frames(sequence: str) -> list[list[str]]:
    """ProtVec's three "sentences" of a protein: non-overlapping 3-grams starting at 0, 1 and 2.

    ``"AGAMQSASM"`` -> ``[[AGA, MQS, ASM], [GAM, QSA], [AMQ, SAS]]``; an incomplete 3-gram at
    the end of a frame is left out, and a frame without a 3-gram is left out.
    """
    frames = [[word(sequence[i:i + K]) for i in range(start, len(sequence) - K + 1, K)] for start in range(K)]
    return [frame for frame in frames if frame]


def centred_kmers(sequence: str) -> list[str]:
    """The 3-gram standing for each residue ``[L]``: centred on it, the nearest one at the ends."""
    n = len(sequence)
    if n < K:
        return [UNKNOWN] * n
    return [sequence[c - 1:c + 2] for c in np.clip(np.arange(n), 1, n - 2)]


@dataclass
class ProtVecVectors:
    """Trained 3-gram vectors: ``words`` ``[V]`` and ``vectors`` ``[V, D]`` float32, plus metadata."""

    words: list[str]
    vectors: np.ndarray
    meta: dict = field(default_factory=dict)  # settings, corpus, timing (protvec.json)

    def __post_init__(self):
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise WeightFileError(f"ProtVec vectors of shape {self.vectors.shape} do not match {len(self.words)} "
                                  "words")
        if len(set(self.words)) != len(self.words):
            raise WeightFileError("ProtVec vocabulary has duplicate words")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``vectors.npz`` and ``protvec.json`` into ``directory`` (created); returns it."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        words = np.array(self.words, dtype=f"<U{max(map(len, self.words), default=1)}")
        np.savez(out / VECTORS_FILE, words=words, vectors=self.vectors.astype(np.float32))
        meta = {"format": "seqvec-protvec", "format_version": FORMAT_VERSION, "words": len(self.words),
                "dim": self.dim, "vectors_sha256": vectors_sha256(self.words, self.vectors), **self.meta}
        (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ProtVecVectors:
        """Read a directory written by :meth:`save` (never unpickles anything)."""
        path = Path(directory)
        if not (path / VECTORS_FILE).is_file() or not (path / META_FILE).is_file():
            raise ModelNotFoundError(f"{path} holds no ProtVec vectors ({VECTORS_FILE} and {META_FILE}); "
                                     "train some with 'seqvec train-protvec'")
        try:
            meta = json.loads((path / META_FILE).read_text())
            with np.load(path / VECTORS_FILE, allow_pickle=False) as data:
                words, vectors = [str(w) for w in data["words"]], np.asarray(data["vectors"], dtype=np.float32)
        except (ValueError, KeyError, OSError) as err:
            raise WeightFileError(f"cannot read ProtVec vectors in {path}: {err}") from None
        if meta.get("format") != "seqvec-protvec" or meta.get("format_version") != FORMAT_VERSION:
            raise WeightFileError(f"{path / META_FILE} is not seqvec ProtVec format version {FORMAT_VERSION}")
        loaded = cls(words, vectors, {k: v for k, v in meta.items() if k not in ("format", "format_version")})
        if meta.get("vectors_sha256") not in (None, vectors_sha256(words, vectors)):
            raise WeightFileError(f"{path / VECTORS_FILE} does not match the checksum in {META_FILE}")
        return loaded


def vectors_sha256(words: list[str], vectors: np.ndarray) -> str:
    """Identity of a set of vectors: sha256 over the words in order and the float32 values."""
    digest = hashlib.sha256("\n".join(words).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


class ProtVecEncoder:
    """ProtVec as an :class:`~seqvec.embeddings.embedder.Embedder`: one output layer ``[1, L, D]``.

    The table is the trained vectors plus one last row, the unknown vector (that of
    :data:`UNKNOWN`, or zeros); a 3-gram's row is found through a dict.
    """

    n_output_layers = 1
    precision = "float32"
    device = torch.device("cpu")

    def __init__(self, vectors: ProtVecVectors, name: str = "protvec"):
        self.name = name
        self.vectors = vectors
        rows = {w: i for i, w in enumerate(vectors.words)}
        unknown = vectors.vectors[rows[UNKNOWN]] if UNKNOWN in rows else np.zeros(vectors.dim, np.float32)
        self.table = torch.from_numpy(np.vstack([vectors.vectors, unknown[None]]).astype(np.float32))  # [V+1, D]
        self._rows = {w: i for w, i in rows.items() if w != UNKNOWN}
        self._unknown_row = len(vectors.words)
        self.weights_sha256 = vectors_sha256(vectors.words, vectors.vectors)
        self.options_sha256 = hashlib.sha256(f"protvec k={K} centred {vectors.dim}".encode()).hexdigest()

    @property
    def output_dim(self) -> int:
        return self.vectors.dim

    def rows(self, kmers: list[str]) -> torch.Tensor:
        """Table rows of 3-grams ``[n]`` long; unknown ones get the unknown row."""
        return torch.tensor([self._rows.get(k, self._unknown_row) for k in kmers], dtype=torch.long)

    def embed_batch(self, sequences: list[str]) -> list[torch.Tensor]:
        """One float32 tensor ``(1, L, D)`` per sequence (checked as FASTA input is)."""
        checked = normalize_sequences({f"sequence {i + 1}": s for i, s in enumerate(sequences)})
        return [self.table[self.rows(centred_kmers(s))][None] for s in checked.values()]

    def embed(self, sequence: str) -> np.ndarray:
        """Encoding of one protein, ``(1, L, D)`` float32 numpy."""
        return self.embed_batch([sequence])[0].numpy()

    def protein_sum(self, sequence: str) -> np.ndarray:
        """ProtVec's protein vector ``[D]``: the sum over the ``L - 2`` overlapping 3-grams (zeros if none)."""
        (checked,) = normalize_sequences({"sequence": sequence}).values()
        kmers = [checked[i:i + K] for i in range(len(checked) - K + 1)]
        return self.table[self.rows(kmers)].sum(0).numpy()


def load_protvec(name_or_path: str | os.PathLike | None = None) -> ProtVecEncoder:
    """The bundled ProtVec (None or ``"protvec"``) or one in a directory written by ``seqvec train-protvec``."""
    if name_or_path is None or str(name_or_path) == "protvec":
        return bundled_protvec()
    path = Path(name_or_path)
    return ProtVecEncoder(ProtVecVectors.load(path), name=f"protvec:{path.resolve().name}")


@functools.lru_cache(maxsize=1)
def bundled_protvec() -> ProtVecEncoder:
    """The ProtVec shipped with seqvec (trained on the LM's pretraining corpus; see its README)."""
    if not (BUNDLED_DIR / VECTORS_FILE).is_file():
        raise ModelNotFoundError(f"the bundled ProtVec vectors are missing from {BUNDLED_DIR}: reinstall seqvec")
    return ProtVecEncoder(ProtVecVectors.load(BUNDLED_DIR))
