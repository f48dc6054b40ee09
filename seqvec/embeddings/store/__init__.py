"""The embedding store: the columnar layout, shards, and one reader for every layout.

:func:`open_embeddings` opens seqvec's files (columnar or per-id), shard folders, UniProt's
and biotrainer's files; :mod:`.columnar` defines and writes the columnar layout;
:mod:`.shards` cuts the input into shards and joins them with an index.
"""
from seqvec.embeddings.store.reader import EmbeddingStore, open_embeddings

__all__ = ["EmbeddingStore", "open_embeddings"]
