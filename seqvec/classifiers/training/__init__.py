"""Training a head: embeddings and labels as tensors (``data``), the training loop (``train``),
one head trained on label files (``experiment``)."""
