"""Shared code of the breast-cancer knowledge-distillation study, one subpackage per stage.

Importing ``lib`` (before TensorFlow) selects Keras 2 (``tf_keras``), switches oneDNN's non-deterministic fused
kernels off and gives TensorFlow one intra-op and one inter-op thread unless the environment already chose.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the thread count decides how TensorFlow's kernels split and sum, so the core count would change the numbers
for _threads in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    if not os.environ.get(_threads, "").strip():
        os.environ[_threads] = "1"

