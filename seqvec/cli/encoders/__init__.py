"""Commands that make an encoder from unlabelled sequences: ``train-protvec`` (ProtVec 3-gram vectors)."""
