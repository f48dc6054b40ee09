"""The ``seqvec`` command line: a thin shell over the library."""
