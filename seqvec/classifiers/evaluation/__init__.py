"""Scoring a head: metrics per task kind with confidence intervals (``metrics``), a saved
head on a labelled set (``evaluate``)."""
