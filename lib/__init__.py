"""Shared code of the breast-cancer knowledge-distillation study.

Importing ``lib`` (before TensorFlow) selects Keras 2 (``tf_keras``), which tensorflow-model-optimization
requires, and switches off oneDNN's non-deterministic fused kernels. The Makefile and the Jupyter kernel set
the same variables; setting them here too makes ``import lib`` the one line a notebook needs.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["paths", "params", "data", "splits", "preprocess", "models", "metrics", "results", "repro"]
