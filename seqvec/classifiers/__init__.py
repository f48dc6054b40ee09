"""Task data, heads, the training loop, metrics and comparisons."""
