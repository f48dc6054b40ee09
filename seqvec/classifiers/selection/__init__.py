"""Choosing among heads and settings: splits by sequence identity (``splits``), holdout and
cross-validation (``crossval``), hyperparameter search (``search``), comparisons (``compare``)."""
