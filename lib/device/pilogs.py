"""Parsers for Raspberry Pi logs: the authors' published files and our runner's CSV (for notebook 07).

Three formats come from the authors' Resource Usage Experiment (``shared/reference/pi_reference``):

- **A, latency** (``lat_*.txt``): one record per run of an ``evaluating_*.py`` script, stages timed with
  ``time.time()`` in seconds; one un-warmed invoke on test row 0. Several runs appended -> several records.
- **B, monitor** (``cpu_mem*.txt``): ``sys_mon.py``, one row per second: CPU %, memory %, swap %, CPU temperature.
  A repeated header starts a new run.
- **C, power** (``resource_run*.txt``): a current/voltage sensor log (the sensor code is not published).

Our runner (:mod:`lib.device.pi_runner`) writes one CSV per session; :func:`parse_runner` reads it.

Every parser raises :class:`PiLogError` (a ``ValueError``) with ``"<path>:<line>: <what is wrong>: <the line>"``
for anything it cannot read. Blank lines, trailing spaces and tabs, and CRLF line ends are tolerated.
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lib.device.pi_runner import COLUMNS as RUNNER_COLUMNS

RUNNER_NUMERIC = ("threads", "repeat", "index", "batch", "t_rel_s", "latency_us", "load_ms", "throughput_sps",
                  "accuracy", "cpu_percent", "mem_percent", "swap_percent", "temp_c")
THROTTLED_BITS = {  # vcgencmd get_throttled: bits 0-3 now, bits 16-19 sticky since boot
    0: "under-voltage", 1: "arm frequency capped", 2: "currently throttled", 3: "soft temperature limit",
    16: "under-voltage has occurred", 17: "arm frequency capping has occurred", 18: "throttling has occurred",
    19: "soft temperature limit has occurred"}


class PiLogError(ValueError):
    """A log file (or folder) that cannot be read; the message names the file and, where there is one, the line."""


def _error(path, lineno: int, what: str, line: str) -> PiLogError:
    return PiLogError(f"{path}:{lineno}: {what}: {line}")


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PiLogError(f"{p}: file not found") from None
    except UnicodeDecodeError as e:
        raise PiLogError(f"{p}: not a UTF-8 text file: {e}") from None


def _lines(path):
    """(line number, text without trailing whitespace) for every non-blank line; CRLF and CR handled."""
    text = _read_text(Path(path))
    for n, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        line = line.rstrip()
        if line:
            yield n, line


def _floats(path, n: int, line: str, cells: list[str], expected: int) -> list[float]:
    if len(cells) != expected:
        raise _error(path, n, f"expected {expected} fields, found {len(cells)}", line)
    try:
        return [float(c) for c in cells]
    except ValueError:
        raise _error(path, n, "non-numeric field", line) from None


# ------------------------------------------------------------------------------------------------ format A
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_SECS = rf":\s+{_NUM}\s*secs$"
_LATENCY_LINES = [  # (field, regex); the first starts a record
    ("data_load_s", re.compile(rf"^Loading test data(?: model)? time{_SECS}")),
    ("x_shape", re.compile(r"^X:\s*\(([\d,\s]*)\)$")),
    ("y_shape", re.compile(r"^y:\s*\(([\d,\s]*)\)$")),
    ("model_load_s", re.compile(rf"^Load the (integer-only )?TFLite model time{_SECS}")),
    ("tensors_s", re.compile(rf"^Get input and output tensors time{_SECS}")),
    ("prep_s", re.compile(rf"^Prepare the input data time{_SECS}")),
    ("output", re.compile(r"^Output=\s*\[\[([^\[\]]*)\]\]\s*Expected Output:\s*\[([^\[\]]*)\]$")),
    ("invoke_s", re.compile(rf"^single feature data evaluation time \(([^)]*)\){_SECS}")),
]
LATENCY_FIELDS = [f for f, _ in _LATENCY_LINES]
LATENCY_STAGES_S = ("model_load_s", "tensors_s", "prep_s", "invoke_s")  # what the paper's "ms" figures add up


def parse_latency(path, file: str | None = None) -> pd.DataFrame:
    """Format A -> one row per record: file, record (from 0), line (where it starts), label (the text in
    parentheses of the invoke line), integer_only, data_load_s, x_shape, y_shape, model_load_s, tensors_s,
    prep_s, invoke_s, output and expected (lists), total_ms = (model_load + tensors + prep + invoke) x 1000 (how
    the paper's figures were formed), predicted_class, expected_class, correct (argmax)."""
    file = str(path) if file is None else file
    records: list[dict] = []
    cur: dict | None = None

    def close(rec):
        missing = [f for f in LATENCY_FIELDS if f not in rec]
        if missing:
            raise _error(path, rec["line"], f"incomplete record (no {', '.join(missing)})", rec["first"])
        records.append(rec)

    for n, line in _lines(path):
        for field, rx in _LATENCY_LINES:
            m = rx.match(line)
            if m:
                break
        else:
            raise _error(path, n, "unrecognised line in a latency log", line)
        if field == "data_load_s":
            if cur is not None:
                close(cur)
            cur = {"line": n, "first": line}
        elif cur is None:
            raise _error(path, n, "line before the first 'Loading test data' line", line)
        if field in cur:
            raise _error(path, n, f"second '{field}' line in one record (missing 'Loading test data' line?)", line)
        if field in ("x_shape", "y_shape"):
            cur[field] = tuple(int(v) for v in m.group(1).replace(",", " ").split())
        elif field == "model_load_s":
            cur["integer_only"] = m.group(1) is not None
            cur[field] = float(m.group(2))
        elif field == "output":
            try:
                cur["output"] = [float(v) for v in m.group(1).replace(",", " ").split()]
                cur["expected"] = [float(v) for v in m.group(2).replace(",", " ").split()]
            except ValueError:
                raise _error(path, n, "non-numeric output", line) from None
            if not cur["output"] or len(cur["output"]) != len(cur["expected"]):
                raise _error(path, n, "output and expected output differ in length", line)
        elif field == "invoke_s":
            cur["label"] = m.group(1)
            cur[field] = float(m.group(2))
        else:
            cur[field] = float(m.group(1))
    if cur is not None:
        close(cur)
    if not records:
        raise PiLogError(f"{path}: no latency record")
    df = pd.DataFrame(records).drop(columns="first")
    df.insert(0, "file", file)
    df.insert(1, "record", range(len(df)))
    df["total_ms"] = df[list(LATENCY_STAGES_S)].sum(axis=1) * 1000
    df["predicted_class"] = df["output"].map(lambda v: int(np.argmax(v)))
    df["expected_class"] = df["expected"].map(lambda v: int(np.argmax(v)))
    df["correct"] = df["predicted_class"] == df["expected_class"]
    cols = ["file", "record", "line", "label", "integer_only", "data_load_s", "x_shape", "y_shape", *LATENCY_STAGES_S,
            "output", "expected", "total_ms", "predicted_class", "expected_class", "correct"]
    return df[cols]


# ------------------------------------------------------------------------------------------------ formats B and C
def _table(path, file, header: re.Pattern, columns: list[str], interval_s: float, name: str) -> pd.DataFrame:
    """Header-separated runs of whitespace-separated numbers -> file, run, t_s, *columns."""
    file = str(path) if file is None else file
    rows, run, t = [], -1, 0
    for n, line in _lines(path):
        if header.match(line):
            run, t = run + 1, 0
            continue
        if run < 0:
            raise _error(path, n, f"data before the first {name} header", line)
        rows.append([file, run, t * interval_s, *_floats(path, n, line, line.split(), len(columns))])
        t += 1
    if run < 0:
        raise PiLogError(f"{path}: no {name} header")
    return pd.DataFrame(rows, columns=["file", "run", "t_s", *columns])


_CPU_HEADER = re.compile(r"^CPU:\s+Mem:\s+Swap:\s+CPU Temp:$")
_POWER_HEADER = re.compile(r"^I\(A\):\s+V\(v\):\s+P\(W\):\s+Raw I:\s+Temp I:\s+Raw V:$")


def parse_cpu_mem(path, file: str | None = None) -> pd.DataFrame:
    """Format B -> file, run (from 0; a repeated header starts a new one), t_s (seconds since the run's first
    row, one row per second as ``sys_mon.py`` slept 1 s), cpu_percent, mem_percent, swap_percent, temp_c."""
    return _table(path, file, _CPU_HEADER, ["cpu_percent", "mem_percent", "swap_percent", "temp_c"], 1.0,
                  "'CPU: Mem: Swap: CPU Temp:'")


def parse_power(path, file: str | None = None, interval_s: float = 1.0) -> pd.DataFrame:
    """Format C -> file, run, t_s (row number x ``interval_s``: the sensor's period is not documented),
    current_a, voltage_v, power_w, raw_i, temp_i, raw_v (raw_i and raw_v look like 10-bit ADC counts)."""
    return _table(path, file, _POWER_HEADER, ["current_a", "voltage_v", "power_w", "raw_i", "temp_i", "raw_v"],
                  interval_s, "'I(A): V(v): P(W): ...'")


# ------------------------------------------------------------------------------------------------ runner CSV
def parse_runner(path, file: str | None = None) -> pd.DataFrame:
    """Our runner's session CSV -> DataFrame (numeric columns converted, ``timestamp_utc`` as UTC datetimes,
    a ``file`` column added first). A last line without its newline (runner killed mid-write) is dropped with
    a warning."""
    p = Path(path)
    file = str(path) if file is None else file
    text = _read_text(p)
    if text and not text.endswith(("\n", "\r")):
        cut = max(text.rfind("\n"), text.rfind("\r")) + 1
        last_no = text.count("\n", 0, cut) + 1
        warnings.warn(f"{p}:{last_no}: truncated last line dropped (runner stopped mid-write?): "
                      f"{text[cut:][:80]}", stacklevel=2)
        text = text[:cut]
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise PiLogError(f"{p}: empty file, expected the runner's CSV header")
    header = [h.strip() for h in header]
    missing = [c for c in RUNNER_COLUMNS if c not in header]
    if missing:
        raise _error(p, 1, f"not a runner CSV: header lacks {', '.join(missing)}", ",".join(header))
    rows, lines = [], []
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise _error(p, reader.line_num, f"expected {len(header)} fields, found {len(row)}", ",".join(row))
        rows.append(row)
        lines.append(reader.line_num)
    df = pd.DataFrame(rows, columns=header)
    for c in RUNNER_NUMERIC:
        cells = df[c].str.strip()
        num = pd.to_numeric(cells.replace("", np.nan), errors="coerce")
        bad = num.isna() & (cells != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise _error(p, lines[i], f"non-numeric {c} {cells.iloc[i]!r}", ",".join(rows[i]))
        df[c] = num
    df["timestamp_utc"] = pd.to_datetime(df["timestamp_utc"].replace("", None), utc=True, format="ISO8601")
    df.insert(0, "file", file)
    return df


def throttled_flags(value) -> list[str]:
    """``'0x50000'`` (``vcgencmd get_throttled``) -> the names of the set bits; [] for 0 or empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return []
    v = int(str(value), 16) if isinstance(value, str) else int(value)
    return [name for bit, name in THROTTLED_BITS.items() if v >> bit & 1]


# ------------------------------------------------------------------------------------------------ folders
def _first_line(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    return line.strip()
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _kind(path: Path) -> str | None:
    first = _first_line(path)
    if path.suffix.lower() == ".csv":
        if first is not None:
            cols = {c.strip() for c in next(csv.reader([first]))}
            if set(RUNNER_COLUMNS) <= cols:
                return "runner"
        return None
    if path.suffix.lower() != ".txt":
        return None
    if path.name.startswith("lat_") or (first or "").startswith("Loading test data"):
        return "latency"
    if (first or "").startswith("CPU:"):
        return "cpu_mem"
    if (first or "").startswith("I(A):"):
        return "power"
    return None


_PARSERS = {"latency": parse_latency, "cpu_mem": parse_cpu_mem, "power": parse_power, "runner": parse_runner}


def load_folder(path) -> dict:
    """Every log under ``path`` (recursively), recognised by name and first line -> ``{"latency", "cpu_mem",
    "power", "runner"}`` DataFrames (empty when there is none; ``file`` relative to ``path``) and ``"skipped"``:
    the relative paths of files that are none of these. A recognised file that does not parse raises."""
    root = Path(path)
    if not root.is_dir():
        raise PiLogError(f"{root}: folder not found")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise PiLogError(f"{root}: folder is empty, no Pi logs to read")
    found: dict[str, list] = {k: [] for k in _PARSERS}
    skipped = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        kind = _kind(p)
        if kind is None:
            skipped.append(rel)
        else:
            found[kind].append(_PARSERS[kind](p, file=rel))
    out = {k: (pd.concat(v, ignore_index=True) if v else pd.DataFrame()) for k, v in found.items()}
    out["skipped"] = skipped
    return out


# ------------------------------------------------------------------------------------------------ summaries
# The model each of the authors' latency logs timed (file relative to the reference folder), as notebook 07 names it.
REFERENCE_MODELS = {"kd/lat_distiller.txt": "SM (SM_TFLite)", "kd/lat_SM_Scratch.txt": "SM_scratch",
                    "kd/lat_TM.txt": "TM (KD folder)", "ptq/lat_TM.txt": "TM (PTQ folder)",
                    "ptq/lat_TM_PTQ.txt": "TM_PTQ", "ptq/lat_TM_PTQ_INT.txt": "TM_PTQ_INT8"}


def reference_model(file: str) -> str:
    """The model an authors' latency log timed (:data:`REFERENCE_MODELS`); any other file keeps its name."""
    return REFERENCE_MODELS.get(file, file)


def latency_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per file and label (labels repeat across files: the KD scripts all print "(TM)"): records, means over
    records in ms of data_load, model_load, tensors, prep, invoke and total, and the share of correct outputs."""
    g = df.groupby(["file", "label"], sort=False)
    out = g.agg(records=("record", "size"), data_load_ms=("data_load_s", "mean"),
                model_load_ms=("model_load_s", "mean"), tensors_ms=("tensors_s", "mean"), prep_ms=("prep_s", "mean"),
                invoke_ms=("invoke_s", "mean"), total_ms=("total_ms", "mean"), correct=("correct", "mean"))
    for c in ("data_load_ms", "model_load_ms", "tensors_ms", "prep_ms", "invoke_ms"):
        out[c] *= 1000
    return out.reset_index()


def monitor_summary(df: pd.DataFrame, by=("file", "run")) -> pd.DataFrame:
    """Per ``by`` group (for runner monitor rows use e.g. ``by=("session",)``): samples, cpu mean/max,
    mem mean/max, swap mean, temp mean/max."""
    g = df.groupby(list(by), sort=False, dropna=False)
    return g.agg(samples=("cpu_percent", "size"), cpu_mean=("cpu_percent", "mean"), cpu_max=("cpu_percent", "max"),
                 mem_mean=("mem_percent", "mean"), mem_max=("mem_percent", "max"),
                 swap_mean=("swap_percent", "mean"), temp_mean=("temp_c", "mean"),
                 temp_max=("temp_c", "max")).reset_index()


def power_summary(df: pd.DataFrame, by=("file", "run")) -> pd.DataFrame:
    """Per ``by`` group: samples, mean/median/min/max power_w, share of negative power readings, mean current."""
    g = df.groupby(list(by), sort=False, dropna=False)
    out = g.agg(samples=("power_w", "size"), power_mean=("power_w", "mean"), power_median=("power_w", "median"),
                power_min=("power_w", "min"), power_max=("power_w", "max"),
                negative_share=("power_w", lambda s: float((s < 0).mean())), current_mean=("current_a", "mean"))
    return out.reset_index()
