"""``seqvec index``, ``seqvec search``, ``seqvec transfer``: nearest neighbours and annotation transfer."""
