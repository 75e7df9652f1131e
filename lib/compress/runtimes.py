"""The runtimes a device would run an int8 model in, side by side (notebook 06's runtime table).

- ``litert``: LiteRT's default (optimised) kernels, what every accuracy of this study comes from;
- ``litert_ref``: LiteRT's reference kernels (``OpResolverType.BUILTIN_REF``), the portable code path;
- ``tflm``: TensorFlow Lite for Microcontrollers (PyPI ``tflite-micro``), what a microcontroller runs from the
  C array in ``outputs/<run>/export/``.

All three take the model's int8 input (:func:`lib.device.litert.quantize` of the float rows) and return its raw int8
output; :func:`compare` counts the rows whose output levels or decision differ between runtimes. Optimised and
reference kernels round intermediate products differently, so outputs may differ by a few levels near a
decision; the decision is P(malignant) = p1 / (p0 + p1) > threshold (0.5: the argmax every accuracy uses).

The C array is the deployable artefact: :func:`read_c_array` parses it back into the model's bytes and checks
the FlatBuffer identifier, so a test can run exactly the bytes a device would be flashed with.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro.python.tflite_micro import runtime as tflm

from lib.core.metrics import malignancy_score
from lib.device.litert import dequantize, quantize
from lib.compress import tflite

RUNTIMES = ("litert", "litert_ref", "tflm")


class RuntimeError_(ValueError):
    """A model or C array a runtime cannot load, or an input it cannot take."""


def read_c_array(path) -> bytes:
    """The model bytes of a C array written by notebook 06 (``alignas(16) const uint8_t name[] = {0x.., ...};``).
    A clear error names a missing file, an array without bytes, or bytes that are not a TFLite model."""
    p = Path(path)
    if not p.exists():
        raise RuntimeError_(f"C array not found: {p} (notebook 06 writes it)")
    text = p.read_text(errors="replace")
    if "{" not in text or "}" not in text:
        raise RuntimeError_(f"{p}: no array initializer {{...}} found")
    body = text[text.index("{") + 1:text.rindex("}")]
    values = re.findall(r"0x([0-9a-fA-F]{1,2})\b", body)
    if not values:
        raise RuntimeError_(f"{p}: the array holds no bytes")
    content = bytes(int(v, 16) for v in values)
    if content[4:8] != b"TFL3":
        raise RuntimeError_(f"{p}: not a TFLite FlatBuffer (identifier {content[4:8]!r}, expected b'TFL3')")
    return content


def _litert(content: bytes, reference: bool):
    kind = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    try:
        it = Interpreter(model_content=bytes(content), experimental_op_resolver_type=kind, num_threads=1)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise RuntimeError_(f"LiteRT cannot load the model ({len(content)} bytes): {e}") from e
    return it


def io_quantization(content: bytes) -> dict:
    """Input and output scale / zero point, input shape and dtypes of an int8 model."""
    q = io_details(content)
    if not (np.issubdtype(q["input_dtype"], np.integer) and np.issubdtype(q["output_dtype"], np.integer)):
        raise RuntimeError_("the model is not full-integer (int8 input and output)")
    return {k: q[k] for k in ("input_scale", "input_zero_point", "output_scale", "output_zero_point",
                              "input_shape")} | {"dtype": q["input_dtype"]}


def raw_outputs(content: bytes, X_int8: np.ndarray, runtime: str) -> np.ndarray:
    """The model's raw int8 outputs, one row per input row, in ``runtime`` (:data:`RUNTIMES`), one row per call
    (what a device does)."""
    if runtime not in RUNTIMES:
        raise RuntimeError_(f"unknown runtime {runtime!r}; known: {RUNTIMES}")
    X_int8 = np.asarray(X_int8)
    out = []
    if runtime == "tflm":
        try:
            it = tflm.Interpreter.from_bytes(bytes(content))
        except Exception as e:  # the TFLM binding raises plain RuntimeError / ValueError
            raise RuntimeError_(f"TensorFlow Lite Micro cannot load the model ({len(content)} bytes): {e}") from e
        for row in X_int8:
            it.set_input(row[None, ...], 0)
            it.invoke()
            out.append(np.array(it.get_output(0)).reshape(-1))
        return np.stack(out)
    it = _litert(content, reference=runtime == "litert_ref")
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    for row in X_int8:
        it.set_tensor(i, row[None, ...])
        it.invoke()
        out.append(it.get_tensor(o).reshape(-1).copy())
    return np.stack(out)


def malignancy(raw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """P(malignant) of raw int8 outputs: dequantized, then :func:`lib.core.metrics.malignancy_score`."""
    return malignancy_score(dequantize(np.asarray(raw), scale, zero_point).astype(np.float64))


def io_details(content: bytes) -> dict:
    """Input / output details of any model: dtypes, scales and zero points, the input shape."""
    it = _litert(content, reference=True)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    return {"input_dtype": i["dtype"], "input_scale": float(i["quantization"][0]),
            "input_zero_point": int(i["quantization"][1]), "output_dtype": o["dtype"],
            "output_scale": float(o["quantization"][0]), "output_zero_point": int(o["quantization"][1]),
            "input_shape": tuple(int(d) for d in i["shape"][1:])}


def compare(content: bytes, X: np.ndarray, y: np.ndarray, threshold: float = 0.5, runtimes=RUNTIMES) -> tuple[pd.DataFrame, dict]:
    """Every runtime on float rows ``X`` (quantized to the model's input when it is int8, as SM_INT8; fed as
    float to a model with a float input, as SM_DEPLOY's raw measurements) with labels ``y``: accuracy,
    sensitivity, specificity with the decision P(malignant) > ``threshold`` (0.5: the argmax) or >= it (an
    operating point), and against the first runtime the rows whose outputs differ, the largest difference
    (``max_level_difference`` in int8 output levels for an int8 output, ``max_abs_difference`` in probability
    for a float one) and the rows whose decision differs. Returns the table and the raw outputs."""
    q = io_details(content)
    X = np.asarray(X, dtype=np.float32).reshape(len(X), *q["input_shape"])
    int_in, int_out = (np.issubdtype(q[k], np.integer) for k in ("input_dtype", "output_dtype"))
    X_in = quantize(X, q["input_scale"], q["input_zero_point"], q["input_dtype"]) if int_in else X
    y = np.asarray(y).astype(int).ravel()
    raw = {r: raw_outputs(content, X_in, r) for r in runtimes}

    def decide(out):
        p = malignancy(out, q["output_scale"], q["output_zero_point"]) if int_out else \
            malignancy_score(np.asarray(out, np.float64))
        return p > threshold if threshold == 0.5 else p >= threshold

    base = raw[runtimes[0]].astype(np.float64)
    base_dec = decide(raw[runtimes[0]])
    rows = []
    for r in runtimes:
        dec = decide(raw[r])
        diff = np.abs(raw[r].astype(np.float64) - base)
        rows.append({"runtime": r, "n_rows": len(y), "accuracy": float((dec == y).mean()),
                     "sensitivity": float(dec[y == 1].mean()) if (y == 1).any() else float("nan"),
                     "specificity": float((~dec[y == 0]).mean()) if (y == 0).any() else float("nan"),
                     "rows_output_differs": int((diff.max(axis=1) > 0).sum()),
                     "max_level_difference": int(diff.max()) if int_out else float("nan"),
                     "max_abs_difference": float("nan") if int_out else float(diff.max()),
                     "rows_decision_differs": int((dec != base_dec).sum()), "threshold": threshold})
    return pd.DataFrame(rows), raw


def split_table(run: str, split, prep, raw_test: np.ndarray, thresholds: dict) -> pd.DataFrame:
    """Notebook 06's runtime table for one split: SM_INT8 (preprocessed rows) and SM_DEPLOY (the complete raw
    test rows: the model refuses incomplete ones) in every runtime, at each model's operating-point threshold
    (``thresholds``: {model: t}; 0.5 where a run has none)."""
    parts = []
    keep = ~np.isnan(np.asarray(raw_test, dtype=float)).any(axis=1)
    for name, X, y in (("SM_INT8", prep.X_test, prep.y_test), ("SM_DEPLOY", raw_test[keep], prep.y_test[keep])):
        if not tflite.model_file(run, name, split.id).exists():
            continue
        t = thresholds.get(name)
        table, _ = compare(tflite.load(run, name, split.id), X, y, 0.5 if t is None or np.isnan(t) else float(t))
        parts.append(table.assign(run=run, fold=split.id, model=name))
    cols = ["run", "fold", "model", "runtime"]
    out = pd.concat(parts, ignore_index=True)
    return out[cols + [c for c in out.columns if c not in cols]]
