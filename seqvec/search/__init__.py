"""Nearest-neighbour search over per-protein embeddings and annotation transfer (FAISS)."""
