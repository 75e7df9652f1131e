"""Shared code of the breast-cancer knowledge-distillation study.

Importing ``lib`` (before TensorFlow) selects Keras 2 (``tf_keras``), which tensorflow-model-optimization
requires, and switches off oneDNN's non-deterministic fused kernels. The Makefile and the Jupyter kernel set
the same variables; setting them here too makes ``import lib`` the one line a notebook needs.

It also gives TensorFlow one intra-op and one inter-op thread unless the environment already chose. By default
TensorFlow uses one thread per core, and the thread count sets the order of floating-point sums in its kernels:
the same code computed other numbers on a machine with another core count. With one thread a 2-core laptop and a
64-core server compute alike, two notebooks under ``make -j2`` (or the workers of :mod:`lib.parallel`) do not
compete for each other's cores, and the models of this study are too small to gain from more threads.
``make test``'s stand-in for another machine sets another count (the Makefile's STANDIN).
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

__all__ = ["paths", "params", "data", "splits", "preprocess", "models", "metrics", "results", "repro"]
