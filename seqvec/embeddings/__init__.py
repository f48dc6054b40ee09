"""FASTA in, HDF5 out: the Embedder protocol, the pipeline (lock, parts, resume), reductions,
the HDF5 store, baseline encoders. Reading FASTA and forming batches live in :mod:`seqvec.io`."""
