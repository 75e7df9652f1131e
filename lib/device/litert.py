"""The LiteRT interpreter as a model: float rows in, the model's float outputs back, whatever its I/O types.

What a Raspberry Pi (or any device) runs: NumPy and ``ai-edge-litert`` (or the legacy ``tflite-runtime``) only,
never TensorFlow. Integer models take int8 inputs: a float input x becomes ``clip(round(x / scale +
zero_point), -128, 127)`` (:func:`quantize`). The authors' evaluation did ``(x / scale + zero_point).astype(uint8)``,
which truncates instead of rounding and wraps around instead of clipping (reference section 7).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # a Pi with the frozen legacy runtime
    from tflite_runtime.interpreter import Interpreter


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Float -> integer input with rounding and clipping to the dtype's range."""
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * scale


class LiteModel:
    """A .tflite model in the LiteRT interpreter, with float in / float out whatever its I/O types."""

    def __init__(self, content: bytes, num_threads: int = 1):
        try:
            self.interpreter = Interpreter(model_content=bytes(content), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"not a loadable TFLite model ({len(content)} bytes): {e}") from e
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = int(self.input["shape"][0])

    @classmethod
    def from_path(cls, path, num_threads: int = 1) -> "LiteModel":
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"TFLite model not found: {p}")
        try:
            return cls(p.read_bytes(), num_threads)
        except ValueError as e:
            raise ValueError(f"{p}: {e}") from e

    @property
    def input_dtype(self):
        return self.input["dtype"]

    def prepare_input(self, X: np.ndarray) -> np.ndarray:
        """Float rows -> the model's input dtype (quantized with rounding and clipping for integer models)."""
        if np.issubdtype(self.input_dtype, np.integer):
            scale, zp = self.input["quantization"]
            return quantize(X, scale, zp, self.input_dtype)
        return np.asarray(X, dtype=self.input_dtype)

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self.interpreter.resize_tensor_input(self.input["index"], [n, *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            self._batch = n

    def invoke(self, x_prepared: np.ndarray) -> np.ndarray:
        """One call on already-prepared input (what the latency benchmark times)."""
        self._resize(len(x_prepared))
        self.interpreter.set_tensor(self.input["index"], x_prepared)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def predict(self, X: np.ndarray, batch: int = 1, prepare=None) -> np.ndarray:
        """Float outputs for float rows X (n, F, 1), ``batch`` rows per invoke. ``prepare`` replaces
        :meth:`prepare_input` (e.g. to evaluate the authors' input quantization)."""
        prepare = prepare or self.prepare_input
        outs = []
        for i in range(0, len(X), batch):
            raw = self.invoke(prepare(X[i:i + batch]))
            if np.issubdtype(raw.dtype, np.integer):
                scale, zp = self.output["quantization"]
                raw = dequantize(raw, scale, zp)
            outs.append(np.asarray(raw, dtype=np.float32).copy())
        return np.concatenate(outs)
