"""Notebooks 04-06: pruning, quantization, TFLite conversion and export, the deployable model and its runtimes."""
