"""Notebook 03b: the cross-dataset question (train on WDBC, test on BCD): params, experiment, verdict, figures."""
