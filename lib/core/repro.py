"""Seeding and determinism: the same params give the same numbers (nbval depends on it)."""
from __future__ import annotations

import os
import platform
import random
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import sklearn
import tensorflow as tf
import tf_keras


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic.

    Call it before building each model: the same seed then gives the same initial weights, dropout masks and
    shuffles, whatever ran before in the kernel.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def versions() -> dict:
    """Versions of what produced a result (printed by every notebook; stored beside results)."""
    out = {"python": platform.python_version(), "tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
           "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    # from the installed distributions: importing tfmot only for its version would slow notebook 02's start
    for key, dist in (("tfmot", "tensorflow-model-optimization"), ("ai-edge-litert", "ai-edge-litert")):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:  # pragma: no cover
            pass
    return out
