"""The heads (``base`` holds their contract), the registry of their names (``registry``),
their saved form (``checkpoint``) and prediction with a saved head on new proteins (``predict``)."""
from seqvec.moved import forward_names

# ``seqvec.classifiers.heads`` was the module that is ``heads.registry`` now (for one release)
__getattr__ = forward_names(__name__, __path__[0])
