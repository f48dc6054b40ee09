"""Heads on embeddings, in wings by job, each importing only the wings before it:
``labels`` (tasks, label files) < ``heads`` (the networks, their files, prediction) <
``training`` (datasets, the training loop) < ``evaluation`` (metrics, scoring a head) <
``selection`` (splits, cross-validation, hyperparameter search, comparisons)."""
