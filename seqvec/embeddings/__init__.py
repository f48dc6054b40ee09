"""FASTA in, HDF5 out: input validation, batching, reductions, the HDF5 store, baseline encoders."""
