"""TFLite models of the study: conversion from Keras, evaluation in LiteRT, operator inventory, size breakdown and
stripping, and the model files of each run and split. The interpreter itself is :mod:`lib.device.litert`.

TensorFlow is imported where a function needs it: notebook 08 reads predictions through
:mod:`lib.compress.predictions`, which imports this module, and never needs TensorFlow.
"""
from __future__ import annotations

import gc
import gzip
import tempfile
from collections import Counter
from contextlib import contextmanager

import numpy as np

from lib.core import metrics, operating, paths
from lib.core.formatting import write_bytes
from lib.device.litert import LiteModel

MODES = ("float", "dynamic", "int8")


# ------------------------------------------------------------------------------------------------ conversion
@contextmanager
def keras_converter(model, reference: bool = False):
    """A ``tf.lite.TFLiteConverter`` for a Keras (tf_keras) model whose output is byte for byte what
    ``TFLiteConverter.from_keras_model(model)`` gives, faster.

    ``from_keras_model`` saves the model as a SavedModel and converts that. Saving a Keras model traces a
    serialisation function for every layer (its ``call`` with and without losses, in both training modes), and
    the converter reloads them all; it then reads only the serving signature. Here the SavedModel holds just
    that signature, the function Keras itself would export (``trace_model_call``: the same input and output
    names), and the model's variables. The converted graph, tensor names, signature and weights are the same;
    the one field that would differ, the conversion metadata's original model type, is set to ``KERAS_MODEL``
    as ``from_keras_model`` records it. ``tests/test_tflite.py`` checks the bytes against
    ``from_keras_model`` for each conversion mode. The SavedModel lives in a temporary directory until the
    block ends (the quantization debugger of :func:`lib.compress.deploy.convert` converts more than once).
    ``reference``: ``from_keras_model`` itself, what the tests compare with.

    The block runs with the process's objects frozen (:func:`frozen_heap`): the converter runs a full garbage
    collection on every ``convert()`` to free the SavedModel it loaded, which in a process that has trained
    models walks every object it holds (about 0.4 s a conversion in a notebook 06b task, a tenth of the task)."""
    import tensorflow as tf  # on use, as every TensorFlow import here: see the module docstring

    with frozen_heap():
        if reference:
            yield tf.lite.TFLiteConverter.from_keras_model(model)
            return
        with _saved_model_converter(model) as conv:
            yield conv


@contextmanager
def frozen_heap():
    """Objects that exist when the block starts are left out of garbage collections inside it (``gc.freeze``), and
    collected as usual again after it (``gc.unfreeze``). Objects made inside the block are collected as usual. It
    changes what a collection visits, never what a computation gives: ``tests/test_tflite.py`` checks the bytes."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _saved_model_converter(model):
    """:func:`keras_converter`'s converter from a SavedModel that holds only the serving signature."""
    import tensorflow as tf
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as metadata_fb
    from tf_keras.src.saving.legacy import saving_utils

    serving = saving_utils.trace_model_call(model)  # tf_keras returns the concrete function itself
    root = tf.Module()
    root.variables_of_model = list(model.variables)
    with tempfile.TemporaryDirectory(prefix="kdstudy-convert-") as tmp:
        tf.saved_model.save(root, tmp, signatures={"serving_default": serving},
                            options=tf.saved_model.SaveOptions(save_debug_info=True))
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        # a private field of the converter (a plain object: assigning a renamed field would not fail), checked
        # first, so that another TensorFlow stops with a clear error instead of writing other bytes
        env = getattr(getattr(conv, "_metadata", None), "environment", None)
        if env is None or not hasattr(env, "modelType") or not hasattr(metadata_fb.ModelType, "KERAS_MODEL"):
            raise RuntimeError(
                f"TensorFlow {tf.__version__}'s TFLiteConverter has no _metadata.environment.modelType, which "
                "lib.compress.tflite.keras_converter sets to match from_keras_model byte for byte; use the TensorFlow "
                "pinned in requirements.txt, or convert with reference=True")
        env.modelType = metadata_fb.ModelType.KERAS_MODEL
        yield conv


def representative_dataset(rows: np.ndarray):
    """The converter's ``representative_dataset`` (and the quantization debugger's ``debug_dataset``): one
    float32 row at a time, in the order given (the calibration is computed from these rows only)."""
    rep = np.asarray(rows, dtype=np.float32)

    def gen():
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    return gen


def convert(model, mode: str = "float", representative: np.ndarray | None = None, reference: bool = False) -> bytes:
    """Keras (tf_keras) model -> .tflite bytes (:func:`keras_converter`; ``reference``: through
    ``from_keras_model``, the same bytes, slower).

    ``float``: no optimisation. ``dynamic``: ``Optimize.DEFAULT`` (weight-only int8, float activations).
    ``int8``: full-integer with int8 input and output, calibrated on ``representative`` rows (training rows only).
    """
    import tensorflow as tf  # on use: see the module docstring

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "int8" and (representative is None or len(representative) == 0):
        raise ValueError("int8 conversion needs representative rows (from the training part)")
    with keras_converter(model, reference) as conv:
        if mode in ("dynamic", "int8"):
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "int8":
            conv.representative_dataset = representative_dataset(representative)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        return bytes(conv.convert())


# ------------------------------------------------------------------------------------------------ inspection
def _schema():
    from tensorflow.lite.tools import flatbuffer_utils  # on use: see the module docstring

    return flatbuffer_utils


def _op_names(m) -> list[str]:
    from tensorflow.lite.python import schema_py_generated as schema  # on use: see the module docstring

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in m.subgraphs[0].operators:
        code = m.operatorCodes[op.opcodeIndex]
        out.append(names.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode)))
    return out


def inventory(content: bytes) -> Counter:
    """Operator counts of a .tflite model's main graph."""
    return Counter(_op_names(_schema().convert_bytearray_to_object(bytearray(content))))


def size_breakdown(content: bytes) -> dict:
    """Where a .tflite file's bytes go: weight buffers, metadata buffers and everything else (graph structure,
    tensor tables, quantization parameters, names, padding)."""
    m = _schema().convert_bytearray_to_object(bytearray(content))
    meta_buffers = {md.buffer for md in (m.metadata or [])}
    weights = sum(len(b.data) for i, b in enumerate(m.buffers) if b.data is not None and i not in meta_buffers)
    meta = sum(len(m.buffers[i].data) for i in meta_buffers if m.buffers[i].data is not None)
    names = sum(len(t.name or b"") for t in m.subgraphs[0].tensors)
    return {"total": len(content), "weights": weights, "metadata": meta, "tensor_names": names,
            "structure": len(content) - weights - meta - names, "operators": len(m.subgraphs[0].operators),
            "tensors": len(m.subgraphs[0].tensors)}


def gzip_size(content: bytes) -> int:
    return len(gzip.compress(bytes(content), compresslevel=9, mtime=0))


# ------------------------------------------------------------------------------------------------ stripping
_SHAPE_OPS = {"RESHAPE", "EXPAND_DIMS", "SQUEEZE"}


def strip(content: bytes) -> bytes:
    """Remove what inference does not need, keeping the predictions bit-identical:

    1. tensor names, the description and the signature table (``flatbuffer_utils.strip_strings`` and more);
    2. metadata entries and their buffers (``min_runtime_version``, ``CONVERSION_METADATA``);
    3. shape-only ops that undo each other (RESHAPE then EXPAND_DIMS back to the same shape, between the
       Conv1D layers) and a RESHAPE feeding a FULLY_CONNECTED (which flattens its input itself), when input
       and output quantization are equal;
    4. tensors and buffers nothing references any more.
    Callers must check the result against the original in LiteRT (tests do).
    """
    fu = _schema()
    m = fu.convert_bytearray_to_object(bytearray(content))
    fu.strip_strings(m)
    meta = {md.buffer for md in (m.metadata or [])}
    m.metadata, m.signatureDefs, m.description = None, None, None
    for i in meta:
        m.buffers[i].data = None
    g = m.subgraphs[0]
    names = _op_names(m)

    def same_q(a, b):
        qa, qb = g.tensors[a].quantization, g.tensors[b].quantization
        key = (lambda q: None if q is None or q.scale is None else (list(q.scale), list(q.zeroPoint)))
        return key(qa) == key(qb)

    def shape(t):
        return list(g.tensors[t].shape)

    consumers = lambda t: [k for k, op in enumerate(g.operators) if t in list(op.inputs)]  # noqa: E731
    drop, rename = set(), {}
    for k, op in enumerate(g.operators):
        if names[k] not in _SHAPE_OPS or k in drop:
            continue
        src, dst = int(op.inputs[0]), int(op.outputs[0])
        if dst in list(g.outputs) or not same_q(src, dst):
            continue
        users = consumers(dst)
        if len(users) != 1:
            continue
        u = users[0]
        if names[u] in _SHAPE_OPS and u not in drop:  # reshape + inverse reshape: a no-op pair
            out2 = int(g.operators[u].outputs[0])
            if shape(out2) == shape(src) and same_q(src, out2) and out2 not in list(g.outputs):
                drop |= {k, u}
                rename[out2] = src
        elif names[u] == "FULLY_CONNECTED" and names[k] == "RESHAPE":
            drop.add(k)
            rename[dst] = src
    if drop:
        g.operators = [op for k, op in enumerate(g.operators) if k not in drop]
        for op in g.operators:
            op.inputs = np.array([rename.get(int(t), int(t)) for t in op.inputs], dtype=np.int32)
        _compact(m)
    return bytes(fu.convert_object_to_bytearray(m))


def _compact(m) -> None:
    """Drop tensors no operator or graph I/O uses, and buffers no tensor uses; renumber."""
    g = m.subgraphs[0]
    used = sorted({int(t) for op in g.operators for t in list(op.inputs) + list(op.outputs) if int(t) >= 0}
                  | {int(t) for t in g.inputs} | {int(t) for t in g.outputs})
    tmap = {old: new for new, old in enumerate(used)}
    g.tensors = [g.tensors[i] for i in used]
    for op in g.operators:
        op.inputs = np.array([tmap.get(int(t), -1) if int(t) >= 0 else -1 for t in op.inputs], dtype=np.int32)
        op.outputs = np.array([tmap[int(t)] for t in op.outputs], dtype=np.int32)
    g.inputs = np.array([tmap[int(t)] for t in g.inputs], dtype=np.int32)
    g.outputs = np.array([tmap[int(t)] for t in g.outputs], dtype=np.int32)
    bufs = sorted({0} | {int(t.buffer) for t in g.tensors})
    bmap = {old: new for new, old in enumerate(bufs)}
    m.buffers = [m.buffers[i] for i in bufs]
    for t in g.tensors:
        t.buffer = bmap[int(t.buffer)]




# ------------------------------------------------------------------------------------------------ evaluation
def evaluate(content: bytes, X: np.ndarray, y: np.ndarray, keras_outputs: np.ndarray | None = None,
             point: operating.Point | None = None) -> dict:
    """Contract metrics of a .tflite model in LiteRT on (X, y), its sizes and, given the Keras source's
    outputs, the share of rows where both predict the same class (``agreement``); given an operating ``point``,
    its columns (:func:`lib.core.operating.fields`)."""
    out = LiteModel(content).predict(X)
    m = metrics.classify(y, out)
    m.update(operating.fields(y, out, point))
    m.update({"size_bytes": len(content), "size_gzip_bytes": gzip_size(content)})
    if keras_outputs is not None:
        m["agreement"] = float(np.mean(out.argmax(1) == np.asarray(keras_outputs).argmax(1)))
    return m


def model_file(run: str, name: str, split_id: str):
    return paths.models_dir(run) / f"{name}_{split_id}.tflite"


def save(content: bytes, run: str, name: str, split_id: str):
    return write_bytes(content, model_file(run, name, split_id))


def load(run: str, name: str, split_id: str) -> bytes:
    path = model_file(run, name, split_id)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the notebook that converts {name} for run '{run}' first")
    return path.read_bytes()


def calibration_index(n_rows: int, n: int | None, seed: int) -> np.ndarray:
    """Indices of the representative rows for int8 calibration: all ``n_rows`` training rows, or ``n`` of them
    drawn at random (the authors took the first 100 rows of their shuffled training split, i.e. a random 100)."""
    if n is None or n >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, n, replace=False))


def calibration_rows(X_train: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """The rows of :func:`calibration_index`."""
    return X_train[calibration_index(len(X_train), n, seed)]


def quantize_like_authors(x: np.ndarray, scale: float, zero_point: int, dtype=np.uint8) -> np.ndarray:
    """The authors' input quantization, for comparison only: no rounding (truncation) and no clipping
    (values outside the range wrap around)."""
    return (np.asarray(x, dtype=np.float64) / scale + zero_point).astype(np.int64).astype(dtype)
