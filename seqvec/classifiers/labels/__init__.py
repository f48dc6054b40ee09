"""Tasks and their label files: what is predicted (``tasks``), the benchmark formats
(``readers``), the user's own tables and FASTA (``userlabels``), any file by its format
(``files``)."""
from seqvec.moved import forward_names

# ``seqvec.classifiers.labels`` was the module that is ``labels.files`` now (for one release)
__getattr__ = forward_names(__name__, __path__[0])
