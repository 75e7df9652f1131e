"""Shared code of the breast-cancer knowledge-distillation study.

Importing ``lib`` (before TensorFlow) selects Keras 2 (``tf_keras``), which tensorflow-model-optimization
requires, and switches off oneDNN's non-deterministic fused kernels. The Makefile and the Jupyter kernel set
the same variables; setting them here too makes ``import lib`` the one line a notebook needs.

It also gives TensorFlow one intra-op and one inter-op thread unless the environment already chose (an empty
value counts as not chosen). By default TensorFlow uses one thread per core, and the thread count sets how its
kernels split and sum: the same code on the same CPU computed other numbers with another core count. With one
thread the core count no longer matters (another CPU still sums in its own order, within the tolerances of
``tests/tolerances.yaml``), two notebooks under ``make -j2`` (or the workers of :mod:`lib.core.parallel`) do not compete
for each other's cores, and a teacher trains as fast as with two threads (measured on 2 wdbc splits alone: 25.1 s
with one thread, 24.9 s with two). ``make test``'s stand-in for another machine sets another count (STANDIN).
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for _threads in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    if not os.environ.get(_threads, "").strip():
        os.environ[_threads] = "1"

__all__ = ["paths", "params", "data", "splits", "preprocess", "models", "metrics", "results", "repro"]
