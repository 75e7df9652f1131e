"""A self-contained deployable model (issue 14, part): raw measurements in, P(malignant) out.

The fitted preprocessing of a rigorous split (median imputation, StandardScaler, PCA, StandardScaler) is one affine
map of the raw features for complete rows: ``z = x A + b`` (:func:`affine_of`, checked on rows, not assumed).
:func:`build` puts it in front of the trained student as a frozen ``Dense`` layer named ``preprocess``;
:func:`convert` makes the student full-integer and keeps the ``preprocess`` layer in float.

Why the affine map stays in float: raw WDBC features span very different ranges (area in the hundreds to thousands,
smoothness about 0.1), and an int8 input tensor has one scale for all of them, so quantizing the raw input would
erase the small features. Quantization starts after the map, where every feature is standardised: the model takes
float32 raw rows, its first op is the float map, then a QUANTIZE to the student's int8 and a DEQUANTIZE at the
end (TensorFlow's ``QuantizationDebugger`` with the ``preprocess`` node denylisted).

Missing values: the map is affine only for complete rows (the imputer fills in medians); a deployment must refuse
incomplete rows and name the missing feature. This module does not yet feed the study's results (``SM_DEPLOY`` is not
in the results contract yet); ``tests/test_deploy.py`` checks it on a trained student.
"""
from __future__ import annotations

import numpy as np

PREPROCESS = "preprocess"


class DeployError(ValueError):
    """A preprocessing that is not affine, or a model that cannot be built or converted."""


def affine_of(transform, n_features: int, check_rows: np.ndarray | None = None, atol: float = 1e-8):
    """(A, b) with ``transform.transform(X) == X @ A + b`` for complete rows; raises DeployError if the transform
    is not affine on ``check_rows`` (default: a few random rows) within ``atol``."""
    f = lambda Z: np.asarray(transform.transform(np.asarray(Z, dtype=float)), dtype=float).reshape(len(Z), -1)
    b = f(np.zeros((1, n_features)))[0]
    A = f(np.eye(n_features)) - b
    rows = check_rows if check_rows is not None else np.random.default_rng(0).normal(size=(8, n_features))
    err = float(np.abs(np.asarray(rows, float) @ A + b - f(rows)).max())
    scale = max(1.0, float(np.abs(f(rows)).max()))
    if err > atol * scale:
        raise DeployError(f"the preprocessing is not affine on complete rows (max deviation {err:.3g})")
    return A, b


def build(student, A: np.ndarray, b: np.ndarray):
    """raw rows (n, F_raw) -> frozen affine map -> (n, F, 1) -> the student's outputs."""
    import tf_keras as keras

    n_raw, n_feat = A.shape
    inp = keras.Input((n_raw,), name="raw")
    aff = keras.layers.Dense(n_feat, name=PREPROCESS, trainable=False)
    h = aff(inp)
    aff.set_weights([A.astype(np.float32), b.astype(np.float32)])
    h = keras.layers.Reshape((n_feat, 1), name="to_student")(h)
    return keras.Model(inp, student(h), name="SM_DEPLOY")


def convert(model, raw_rows: np.ndarray) -> bytes:
    """Full-integer student with the ``preprocess`` layer in float; calibrated on raw training rows."""
    import tensorflow as tf

    rep = np.asarray(raw_rows, dtype=np.float32)
    if len(rep) == 0:
        raise DeployError("conversion needs raw training rows to calibrate the int8 part")

    def gen():
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    # the ops of the float map, by the names a plain conversion gives their output tensors
    nodes = [n for n in _tensor_names(conv.convert()) if f"/{PREPROCESS}/" in n]
    if not nodes:
        raise DeployError(f"no '{PREPROCESS}' op in the converted graph")
    opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
    dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=gen, debug_options=opts)
    return bytes(dbg.get_nondebug_quantized_model())


def _tensor_names(content: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [t["name"] for t in Interpreter(model_content=bytes(content)).get_tensor_details()]
