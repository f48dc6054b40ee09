"""``seqvec export`` (embeddings to other formats, a head to ONNX) and ``seqvec export-head`` (a head to ONNX)."""
