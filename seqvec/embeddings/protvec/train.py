"""Training ProtVec 3-gram vectors with gensim's Word2Vec (skip-gram), seeded and reproducible.

Where each setting comes from (docs/protvec.md has the details):

- skip-gram over 3-grams, each protein split into three reading frames of
  non-overlapping 3-grams, vectors of 100 dimensions, a context window of 25 words:
  the ProtVec paper (Asgari & Mofrad 2015, PLoS ONE 10:e0141287);
- negative sampling (5 noise words), sub-sampling threshold 1e-3, learning rate
  0.025 -> 0.0001, ``min_count`` 5: gensim's defaults (the paper names none of them);
- 5 epochs: gensim's default; the paper gives no number.

Reproducibility: gensim draws its initial vectors from ``seed`` and, with one worker
thread, processes words in a fixed order, so the same corpus and settings give the same
vectors bit for bit. More workers are faster but not reproducible (gensim's threads race
on the shared vectors, as in the original word2vec), so ``workers`` defaults to 1.

gensim is needed here only (``pip install seqvec[protvec]``); embedding with the
vectors needs numpy alone (:mod:`seqvec.embeddings.protvec.vectors`).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqvec.embeddings.protvec.vectors import ProtVecVectors, reading_frames
from seqvec.errors import ConfigError, MissingDependencyError
from seqvec.io.fasta import read_fasta
from seqvec.io.output import check_folder, check_not_input
from seqvec.progress import progress_bar

logger = logging.getLogger(__name__)

MAX_SENTENCE = 10_000  # gensim's MAX_WORDS_IN_BATCH: longer sentences would be cut silently, so we split them


@dataclass(frozen=True)
class ProtVecSettings:
    """Settings of a ProtVec training run (see the module docstring for their sources)."""

    vector_size: int = 100  # dimensions per 3-gram (ProtVec paper)
    window: int = 25  # context words on each side (ProtVec paper)
    negative: int = 5  # noise words per positive pair, negative sampling (gensim default)
    min_count: int = 5  # 3-grams seen fewer times are dropped and look up as unknown (gensim default)
    sample: float = 1e-3  # down-sampling threshold of frequent words (gensim default)
    alpha: float = 0.025  # initial learning rate, decaying linearly to min_alpha (gensim default)
    min_alpha: float = 0.0001
    epochs: int = 5  # passes over the corpus (gensim default)
    seed: int = 0  # initial vectors and sampling
    workers: int = 1  # gensim threads; 1 is reproducible bit for bit, more is faster but not

    def __post_init__(self):
        for name in ("vector_size", "window", "min_count", "epochs", "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"`ProtVecSettings.{name}` must be a positive integer, got {value!r}", field=name,
                                  value=value)
        if self.negative < 1:
            raise ConfigError(f"`ProtVecSettings.negative` must be at least 1, got {self.negative!r}",
                              field="negative", value=self.negative)
        if not 0 < self.min_alpha <= self.alpha:
            raise ConfigError(f"need 0 < `ProtVecSettings.min_alpha` <= `ProtVecSettings.alpha`, got "
                              f"{self.min_alpha!r} and {self.alpha!r}", field="alpha", value=self.alpha)


class FrameCorpus:
    """gensim's restartable corpus: the reading frames of every protein, in file order.

    A frame longer than :data:`MAX_SENTENCE` words is split into pieces of that size.
    """

    def __init__(self, sequences: list[str]):
        self.sequences = sequences

    def __iter__(self) -> Iterator[list[str]]:
        for sequence in self.sequences:
            for frame in reading_frames(sequence):
                for start in range(0, len(frame), MAX_SENTENCE):
                    yield frame[start:start + MAX_SENTENCE]


def _gensim_word2vec():
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise MissingDependencyError("training ProtVec needs gensim: pip install 'seqvec[protvec]'",
                                     package="gensim") from None
    return Word2Vec


class _EpochTicks:
    """A gensim training callback (the hooks of ``CallbackAny2Vec``) that advances a progress bar per epoch."""

    def __init__(self, bar):
        self.bar = bar

    def on_epoch_end(self, _model) -> None:
        self.bar.update(1)

    def on_epoch_begin(self, _model) -> None: ...
    def on_train_begin(self, _model) -> None: ...
    def on_train_end(self, _model) -> None: ...


def train_word2vec(sequences: list[str], settings: ProtVecSettings = ProtVecSettings(), *, progress: bool = False):
    """Train and return gensim's ``Word2Vec`` on the reading frames of ``sequences``.

    ``sequences`` are upper-case protein sequences (as :func:`seqvec.io.fasta.read_fasta`
    gives them). Raises ConfigError if the corpus yields no word seen ``min_count`` times.
    """
    Word2Vec = _gensim_word2vec()
    corpus = FrameCorpus(sequences)
    model = Word2Vec(vector_size=settings.vector_size, window=settings.window, min_count=settings.min_count,
                     sg=1, hs=0, negative=settings.negative, sample=settings.sample, alpha=settings.alpha,
                     min_alpha=settings.min_alpha, seed=settings.seed, workers=settings.workers)
    model.build_vocab(corpus)
    if not model.wv.index_to_key:
        raise ConfigError(f"no 3-gram occurs {settings.min_count} times in the corpus; lower "
                          "`ProtVecSettings.min_count` or give more sequences", field="min_count",
                          value=settings.min_count)
    logger.info("ProtVec vocabulary: %d words from %d words of text", len(model.wv), model.corpus_total_words)
    with progress_bar(total=settings.epochs, desc="ProtVec epochs", unit="epoch", enabled=progress) as bar:
        model.train(corpus, total_examples=model.corpus_count, epochs=settings.epochs, callbacks=[_EpochTicks(bar)])
    return model


def train_protvec(corpus: str | os.PathLike, output: str | os.PathLike,
                  settings: ProtVecSettings = ProtVecSettings(), *, progress: bool = False,
                  overwrite: bool = False) -> Path:
    """Train ProtVec on a FASTA file and write ``vectors.npz`` + ``protvec.json`` into ``output``.

    Nothing is written until training has finished; the two files then replace any older
    ones only with ``overwrite`` (else ConfigError, before the corpus is read).
    """
    out = Path(output)
    if (out / "vectors.npz").exists() and not overwrite:
        raise ConfigError(f"{out} already holds ProtVec vectors; give `overwrite` to replace them",
                          field="output", value=str(out))
    check_not_input(out / "vectors.npz", [corpus])  # the output policy (seqvec.io.output), before training
    check_not_input(out / "protvec.json", [corpus])
    check_folder(out.parent)
    sequences = list(read_fasta(corpus).values())
    started = time.monotonic()
    model = train_word2vec(sequences, settings, progress=progress)
    seconds = time.monotonic() - started
    import gensim

    words = list(model.wv.index_to_key)
    meta = {"settings": asdict(settings), "k": 3, "sg": 1,
            "corpus": {"file": Path(corpus).name, "sequences": len(sequences),
                       "residues": sum(map(len, sequences)), "words": int(model.corpus_total_words)},
            "training_seconds": round(seconds, 1), "gensim_version": gensim.__version__,
            "counts": {w: int(model.wv.get_vecattr(w, "count")) for w in words}}
    vectors = ProtVecVectors(words, np.asarray(model.wv.vectors, dtype=np.float32), meta)
    staging = out.parent / f".{out.name}.partial"
    vectors.save(staging)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("vectors.npz", "protvec.json"):  # the vectors first: the json tells a finished directory
        os.replace(staging / name, out / name)
    staging.rmdir()
    logger.info("ProtVec: %d words x %d dims trained in %.0f s, written to %s", len(words), vectors.dim,
                seconds, out)
    return out
