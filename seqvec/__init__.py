"""seqvec: protein language-model embeddings (SeqVec / ELMo) in pure PyTorch.

The public API is re-exported here and imported lazily, so that ``import seqvec``
(and ``seqvec --help``) does not pay for importing torch.

>>> import seqvec                                    # doctest: +SKIP
>>> model = seqvec.load_model()                      # the bundled model
>>> model.embed("SEQWENCE").shape                    # [3, L, D]
"""
from importlib import import_module

from seqvec import moved

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "SeqVecConfig": "seqvec.lm.config",
    "SeqVecLM": "seqvec.lm.model",
    "load_model": "seqvec.lm.pretrained",
    "Embedder": "seqvec.embeddings.embedder",
    "embed_fasta": "seqvec.embeddings.pipeline",
    "read_h5": "seqvec.embeddings.h5",
    "open_embeddings": "seqvec.embeddings.store",
    "EmbeddingStore": "seqvec.embeddings.store",
    "to_dataframe": "seqvec.classifiers.labels.frame",
    "load_heads": "seqvec.classifiers.heads.predict",
    "predict_sequences": "seqvec.classifiers.heads.predict",
    "load_head": "seqvec.classifiers.heads.checkpoint",
    "build_head": "seqvec.classifiers.heads.registry",
    "train_head": "seqvec.classifiers.training.experiment",
    "FitConfig": "seqvec.classifiers.training.train",
    "evaluate_head": "seqvec.classifiers.evaluation.evaluate",
    "read_labels": "seqvec.classifiers.labels.files",
    "get_tasks": "seqvec.classifiers.labels.tasks",
    "embed_sequences": "seqvec.embeddings.pipeline",
    "IndexSettings": "seqvec.search.index",
    "build_index": "seqvec.search.index",
    "load_index": "seqvec.search.neighbours",
    "search_index": "seqvec.search.api",
    "transfer_labels": "seqvec.search.api",
    "load_protvec": "seqvec.embeddings.protvec",
}

__all__ = ["__version__", *_EXPORTS]

moved.install()  # old import paths (seqvec.pipeline, seqvec.classifiers.readers, ...) for one release


def __dir__() -> list[str]:
    """The public API (``dir(seqvec)``), not only what is imported so far."""
    return sorted({*globals(), *__all__})


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seqvec' has no attribute {name!r}")
