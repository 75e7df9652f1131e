"""Notebook 01 and the opening of every run: the datasets, their splits and the per-split preprocessing."""
