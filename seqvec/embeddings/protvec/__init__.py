"""ProtVec (Asgari & Mofrad 2015): skip-gram vectors of amino-acid 3-grams.

``vectors`` reads the vector files and looks 3-grams up with numpy (the encoder behind
``--encoder protvec``); ``train`` trains them with gensim (``seqvec train-protvec``), the
only part that needs gensim, imported when training starts.
"""
from seqvec.embeddings.protvec.train import ProtVecSettings, train_protvec, train_word2vec
from seqvec.embeddings.protvec.vectors import (
    BUNDLED_DIR,
    META_FILE,
    UNKNOWN,
    VECTORS_FILE,
    ProtVecEncoder,
    ProtVecVectors,
    bundled_protvec,
    centred_kmers,
    load_protvec,
    reading_frames,
)

__all__ = ["BUNDLED_DIR", "META_FILE", "UNKNOWN", "VECTORS_FILE", "ProtVecEncoder", "ProtVecSettings",
           "ProtVecVectors", "bundled_protvec", "centred_kmers", "load_protvec", "reading_frames", "train_protvec",
           "train_word2vec"]
