"""Training the language model on a FASTA corpus (``corpus`` reads and batches it, ``train``
runs the loop with checkpoints and resuming) and measuring it (``evaluate``: perplexity)."""
