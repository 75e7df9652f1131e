"""A self-contained deployable model: raw measurements in, P(malignant) out; and the export of a model as a C
array with its input contract (:func:`c_array`, :func:`contract`).

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
incomplete rows and name the missing feature. It makes ``SM_DEPLOY`` of notebook 05 (:func:`lib.compress.quantization.deploy_split`)
and the exported ``sm_deploy`` of 06; ``tests/test_deploy.py`` checks it on a trained student.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter

from lib.core import calibration as cal
from lib.core import operating
from lib.compress import runtimes
from lib.compress.tflite import keras_converter, representative_dataset

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
    n_raw, n_feat = A.shape
    inp = keras.Input((n_raw,), name="raw")
    aff = keras.layers.Dense(n_feat, name=PREPROCESS, trainable=False)
    h = aff(inp)
    aff.set_weights([A.astype(np.float32), b.astype(np.float32)])
    h = keras.layers.Reshape((n_feat, 1), name="to_student")(h)
    return keras.Model(inp, student(h), name="SM_DEPLOY")


def convert(model, raw_rows: np.ndarray, reference: bool = False) -> bytes:
    """Full-integer student with the ``preprocess`` layer in float; calibrated on raw training rows
    (``reference``: through ``from_keras_model``, :func:`lib.compress.tflite.keras_converter`)."""
    if len(raw_rows) == 0:
        raise DeployError("conversion needs raw training rows to calibrate the int8 part")
    gen = representative_dataset(raw_rows)
    with keras_converter(model, reference) as conv:  # what from_keras_model gives, faster (lib.compress.tflite)
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
    return [t["name"] for t in Interpreter(model_content=bytes(content)).get_tensor_details()]


# ------------------------------------------------------------------------------------------------ export
def c_array(content: bytes, symbol: str, comment: list[str]) -> str:
    """``content`` as C source in the ``xxd -i`` layout, 16-byte aligned (TensorFlow Lite Micro needs it),
    with ``comment`` lines on top (:func:`lib.compress.runtimes.read_c_array` parses it back)."""
    if not symbol.isidentifier():
        raise DeployError(f"{symbol!r} is not a C identifier")
    body = ",\n".join("  " + ", ".join(f"0x{b:02x}" for b in content[k:k + 12]) for k in range(0, len(content), 12))
    head = "".join(f"// {line}\n" for line in comment)
    return (f"{head}#include <stdint.h>\nalignas(16) const uint8_t {symbol}[] = {{\n{body}\n}};\n"
            f"const unsigned int {symbol}_len = {len(content)};\n")


def contract(content: bytes, *, model: str, run: str, split: str, features: list[str] | None, units: str,
             threshold: float | None, labels: tuple[str, str] = ("benign", "malignant"),
             id_column: str | None = None, calibration: tuple[float, float] | None = None) -> dict:
    """The input contract of an exported model, written beside its C array and read by :mod:`lib.device.classify`
    (its keys ``features``, ``threshold``, ``output``): what goes in (feature order, dtype, scale), what comes
    out, and the decision at the run's operating point, also in the output's int8 scale for an int8 output.
    ``features`` None: the model takes preprocessed inputs (SM_INT8), named ``input_1..`` (``lib.device.classify``
    then points to ``sm_deploy.tflite`` beside it). ``labels`` (class 0, class 1) word the output and the
    decision; other labels than benign / malignant are written as ``label`` (what classify's output calls them);
    ``id_column``: the sample-ID column of the run's table, which classify copies to its output. ``calibration``:
    the (a, b) of the Platt map fitted with the threshold (:mod:`lib.core.operating`), written as the contract's
    ``calibration`` (classify then adds the calibrated probability); the model's output stays the raw,
    uncalibrated score, and the threshold applies to it."""
    q = runtimes.io_details(content)
    int_in, int_out = (np.issubdtype(q[k], np.integer) for k in ("input_dtype", "output_dtype"))
    have = threshold is not None and np.isfinite(threshold)
    t = float(threshold) if have else 0.5
    n_in = int(np.prod(q["input_shape"]))
    neg, pos = labels
    out = {"model": model, "run": run, "split": split, "bytes": len(content),
           "features": list(features) if features is not None else [f"input_{i + 1}" for i in range(n_in)],
           "units": units, "threshold": t,
           "threshold_source": "operating point: the target sensitivity by the split-conformal rule on out-of-fold "
                               "scores of the training rows only" if have
           else "argmax (0.5): this run has no operating point",
           "output": f"P({pos}) = p1 / (p0 + p1) of the two sigmoid outputs (P({neg}), P({pos})); "
                     f"{pos} when >= threshold",
           "decision": f"{pos} if p1 / (p0 + p1) >= {t:.6g}",
           "missing_values": "not accepted: every row must hold every feature (lib.device.classify names the missing one)",
           "input": {"dtype": np.dtype(q["input_dtype"]).name, "shape": [1, *q["input_shape"]]},
           "output_tensor": {"dtype": np.dtype(q["output_dtype"]).name}}
    if (neg, pos) != ("benign", "malignant"):
        out["label"] = {"negative": neg, "positive": pos}
    if id_column and features is not None:
        out["id_column"] = id_column
    if int_in:
        out["input"].update(scale=q["input_scale"], zero_point=q["input_zero_point"],
                            quantize="q = clip(round(x / scale) + zero_point, -128, 127)")
    if calibration is not None and all(v is not None and np.isfinite(v) for v in calibration):
        a, b = (float(v) for v in calibration)
        out["calibration"] = {
            "method": "platt", "a": a, "b": b, "fitted_on": "out-of-fold scores of the training part",
            "clip": cal.EPS,
            "formula": f"P({pos}), calibrated = sigmoid(a * logit(p) + b), p = the raw p1 / (p0 + p1) clipped to "
                       f"[clip, 1 - clip]",
            "note": "the model's output is the raw, uncalibrated score; the threshold applies to the raw score"}
    if int_out:
        out["output_tensor"].update(scale=q["output_scale"], zero_point=q["output_zero_point"])
        out["decision_int8"] = operating.int8_rule(t, q["output_zero_point"], pos)
    return out
