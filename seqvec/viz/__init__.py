"""Plots: attention, filters, projections, confusion matrices, learning curves."""
