"""Formatting and writing of the study's report artefacts: one of each, shared by notebook 03b (``lib.transfer.experiment``),
notebook 08 (``lib.analysis.tables``, ``lib.analysis.documents``), the benchmark and the re-check.

- :func:`fmt_ci`: a proportion (or any number) with its interval, '96.1% [95.2, 97.1]';
- :func:`fmt_p`: a p-value written after a 'p';
- :func:`md_table`: a pandas table as GitHub markdown;
- :func:`write_csv` / :func:`write_text` / :func:`write_bytes`: atomic writes (a temporary file renamed over the
  target), so a failed run never leaves a half-written file that looks finished; every results table
  (``lib.core.results``), ``predictions.csv``, ``splits.json`` and TFLite model goes through them. (Keras models are
  written the same way by ``lib.train.fitting.save``, under a temporary name that keeps the ``.keras`` ending Keras
  requires.)
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def _missing(v) -> bool:
    """None or a NaN of any float type (Python, NumPy)."""
    if v is None:
        return True
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def fmt_ci(mean, lo, hi, pct: bool = True, digits: int = 1, sign: bool = True) -> str:
    """'96.1% [95.2, 97.1]' (pct; ``sign=False``: '96.1 [95.2, 97.1]', for tables whose header says %) or
    '0.961 [0.952, 0.971]'. A proportion's interval is shown clipped to [0, 1] (a t-interval over few splits can
    reach past it; the CSVs keep the unclipped bounds). Without an interval, the mean alone."""
    if _missing(mean):
        return "n/a"
    mean = float(mean)
    has_ci = not _missing(lo) and not _missing(hi)
    if has_ci:
        lo, hi = max(float(lo), 0.0), min(float(hi), 1.0)
    if pct:
        s = f"{100 * mean:.{digits}f}" + ("%" if sign else "")
        return f"{s} [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]" if has_ci else s
    s = f"{mean:.3f}"
    return f"{s} [{lo:.3f}, {hi:.3f}]" if has_ci else s


def fmt_p(p) -> str:
    """'= .374', '< .001' or '= n/a', written after a 'p'."""
    if _missing(p):
        return "= n/a"
    return "< .001" if p < 0.001 else "= " + f"{p:.3f}".replace("0.", ".", 1)


def md_table(df: pd.DataFrame) -> str:
    """A pandas table as GitHub markdown (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.tolist()) + " |")
    return "\n".join(lines)


def _atomic(path, write) -> Path:
    """``write(tmp)`` to ``<name>.tmp`` beside ``path`` (its folder created), then the rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    tmp.replace(path)
    return path


def write_csv(df: pd.DataFrame, path, **to_csv) -> Path:
    """Atomic CSV write (no index; ``to_csv``: more of pandas' options, e.g. ``float_format``)."""
    return _atomic(path, lambda tmp: df.to_csv(tmp, index=False, **to_csv))


def write_text(text: str, path) -> Path:
    """Atomic text write."""
    return _atomic(path, lambda tmp: tmp.write_text(text))


def write_bytes(content: bytes, path) -> Path:
    """Atomic binary write (a TFLite model)."""
    return _atomic(path, lambda tmp: tmp.write_bytes(bytes(content)))
