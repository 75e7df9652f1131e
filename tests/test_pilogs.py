"""Parsers of the authors' Raspberry Pi logs and of our runner's CSV: the reference files give the numbers of
the reference README (section 9); malformed files fail naming file and line; appended runs, blank lines,
trailing whitespace and CRLF are read. The reference files are never copied into the repository: modified
variants are written to tmp_path."""
import csv

import numpy as np
import pytest

from lib.core import paths
from lib.device import pilogs
from lib.device.pi_runner import COLUMNS
from lib.device.pilogs import PiLogError

REF = paths.ROOT.parent / "shared" / "reference" / "pi_reference"

# file -> (model load, invoke, load + tensors + prep + invoke), ms, as in the reference table
LATENCY = {
    "kd/lat_distiller.txt": ("TM", 2.04, 1.12, 3.34),  # the paper's SM_TFLite (its script prints "(TM)")
    "kd/lat_SM_Scratch.txt": ("TM", 1.99, 1.14, 3.32),
    "kd/lat_TM.txt": ("TM", 10.66, 2.84, 13.71),
    "ptq/lat_TM_PTQ.txt": ("TM_PTQ", 2.20, 2.68, 5.07),
    "ptq/lat_TM_PTQ_INT.txt": ("TM_PTQ_INT", 1.04, 2.72, 4.10),
}


@pytest.fixture(scope="module")
def ref():
    if not REF.is_dir():
        pytest.skip(f"the authors' Pi logs are not at {REF} (shared/reference/pi_reference)")
    return REF


def variant(tmp_path, name, text):
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


# ------------------------------------------------------------------------------------------------ reference
@pytest.mark.parametrize("rel", LATENCY)
def test_latency_reference_numbers(ref, rel):
    label, load, invoke, total = LATENCY[rel]
    df = pilogs.parse_latency(ref / rel)
    assert len(df) == 1 and df.record.tolist() == [0]
    r = df.iloc[0]
    assert r.label == label and r.x_shape == (86, 26, 1) and r.y_shape == (86, 2)
    assert round(r.model_load_s * 1000, 2) == load
    assert round(r.invoke_s * 1000, 2) == invoke
    assert round(r.total_ms, 2) == total
    assert r.expected == [0.0, 1.0] and r.expected_class == 1
    assert r.correct == (rel != "kd/lat_TM.txt")  # the KD-folder teacher gets test row 0 wrong
    s = pilogs.latency_summary(df).iloc[0]
    assert (round(s.model_load_ms, 2), round(s.invoke_ms, 2), round(s.total_ms, 2)) == (load, invoke, total)


def test_latency_outputs(ref):
    assert pilogs.parse_latency(ref / "kd/lat_distiller.txt").output[0] == [0.39474314, 0.6447891]
    assert pilogs.parse_latency(ref / "kd/lat_TM.txt").output[0] == [9.9945611e-01, 5.5933336e-04]
    intonly = pilogs.parse_latency(ref / "ptq/lat_TM_PTQ_INT.txt").iloc[0]
    assert intonly.output == [3, 247] and intonly.integer_only and intonly.predicted_class == 1


def test_cpu_mem_reference_numbers(ref):
    expect = {"kd/cpu_mem.txt": (149, 50.2, 53.1), "ptq/cpu_mem_beta.txt": (150, 51.7, 54.5)}
    for rel, (rows, t_mean, t_max) in expect.items():
        df = pilogs.parse_cpu_mem(ref / rel)
        assert len(df) == rows and set(df.run) == {0}
        assert df.t_s.tolist() == [float(i) for i in range(rows)]
        s = pilogs.monitor_summary(df).iloc[0]
        assert 3.5 <= round(s.cpu_mean, 1) <= 4.1 and 30 < s.cpu_max < 32
        assert df.mem_percent.min() >= 5.7 and df.mem_percent.max() <= 8.4
        assert s.swap_mean == 0 and (df.swap_percent == 0).all()
        assert (round(s.temp_mean, 1), round(s.temp_max, 1)) == (t_mean, t_max)


def test_power_reference_numbers(ref):
    df = pilogs.parse_power(ref / "power/resource_run1.txt")
    assert len(df) == 258 and set(df.run) == {0}
    s = pilogs.power_summary(df).iloc[0]
    assert s.power_mean == pytest.approx(0.11, abs=0.005)
    assert 0 < s.negative_share < 0.5 and s.power_min < 0
    assert (df.voltage_v == 4.88).all()


def test_load_folder_reference(ref):
    d = pilogs.load_folder(ref)
    assert d["skipped"] == [] and d["runner"].empty
    assert sorted(d["latency"].file) == sorted([*LATENCY, "ptq/lat_TM.txt"])
    assert sorted(d["cpu_mem"].file.unique()) == ["kd/cpu_mem.txt", "ptq/cpu_mem_beta.txt"]
    assert d["power"].file.unique().tolist() == ["power/resource_run1.txt"]
    summary = pilogs.latency_summary(d["latency"]).set_index("file")
    for rel, (*_, total) in LATENCY.items():
        assert round(summary.loc[rel, "total_ms"], 2) == total


# ------------------------------------------------------------------------------------------------ malformed
def test_garbage_line_in_latency_log(ref, tmp_path):
    lines = (ref / "kd/lat_distiller.txt").read_text().splitlines(keepends=True)
    p = variant(tmp_path, "lat_bad.txt", "".join(lines[:2] + ["garbage here\n"] + lines[2:]))
    with pytest.raises(PiLogError, match=r"lat_bad\.txt:3: unrecognised line in a latency log: garbage here"):
        pilogs.parse_latency(p)


def test_incomplete_latency_record(ref, tmp_path):
    lines = (ref / "kd/lat_distiller.txt").read_text().splitlines(keepends=True)
    p = variant(tmp_path, "lat_cut.txt", "".join(lines[:6]))  # stops before the output and invoke lines
    with pytest.raises(PiLogError, match=r"lat_cut\.txt:1: incomplete record \(no output, invoke_s\)"):
        pilogs.parse_latency(p)


def test_non_numeric_cpu_mem_cell(ref, tmp_path):
    lines = (ref / "kd/cpu_mem.txt").read_text().splitlines(keepends=True)
    lines[9] = "0.5 \t abc \t 0.0 \t 49.66\n"
    p = variant(tmp_path, "cpu_mem_bad.txt", "".join(lines))
    with pytest.raises(PiLogError, match=r"cpu_mem_bad\.txt:10: non-numeric field: 0\.5 \t abc"):
        pilogs.parse_cpu_mem(p)


def test_five_field_power_row(ref, tmp_path):
    lines = (ref / "power/resource_run1.txt").read_text().splitlines(keepends=True)
    lines[6] = "0.05     4.88    0.26    510     2.49\n"
    p = variant(tmp_path, "power_bad.txt", "".join(lines))
    with pytest.raises(PiLogError, match=r"power_bad\.txt:7: expected 6 fields, found 5: 0\.05"):
        pilogs.parse_power(p)


# ------------------------------------------------------------------------------------------------ tolerance
def messy(text):
    """CRLF line ends, trailing spaces and tabs, extra blank lines."""
    return "\r\n".join(line + " \t" if line.strip() else line for line in text.splitlines()) + "\r\n\r\n  \r\n"


def test_appended_latency_runs(ref, tmp_path):
    a = (ref / "kd/lat_distiller.txt").read_text()
    b = (ref / "kd/lat_TM.txt").read_text()
    df = pilogs.parse_latency(variant(tmp_path, "lat_two.txt", messy(a) + "\n\n" + messy(b)))
    assert df.record.tolist() == [0, 1]
    assert df.total_ms.round(2).tolist() == [3.34, 13.71]
    s = pilogs.latency_summary(df)
    assert s.records.tolist() == [2] and round(s.total_ms.iloc[0], 3) == round((3.343582 + 13.711691) / 2, 3)


def test_appended_monitor_runs(ref, tmp_path):
    a = (ref / "kd/cpu_mem.txt").read_text()
    df = pilogs.parse_cpu_mem(variant(tmp_path, "cpu_mem_two.txt", messy(a) + messy(a)))
    assert df.groupby("run").size().tolist() == [149, 149]
    assert df[df.run == 1].t_s.iloc[0] == 0.0
    assert len(pilogs.monitor_summary(df)) == 2

    p = (ref / "power/resource_run1.txt").read_text()
    df = pilogs.parse_power(variant(tmp_path, "power_two.txt", messy(p) + p))
    assert df.groupby("run").size().tolist() == [258, 258]
    assert pilogs.power_summary(df).power_mean.round(3).tolist() == [0.109, 0.109]


# ------------------------------------------------------------------------------------------------ runner CSV
def runner_csv(path, rows, header=COLUMNS):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        base = {c: "" for c in header}
        for r in rows:
            w.writerow([{**base, **r}.get(c, "") for c in header])
    return path


def test_runner_csv_checks(tmp_path):
    ok = {"session": "s", "event": "invoke", "timestamp_utc": "2025-01-01T00:00:00.000001+00:00",
          "t_rel_s": "0.5", "latency_us": "12.5", "repeat": "0", "index": "3", "batch": "1"}
    df = pilogs.parse_runner(runner_csv(tmp_path / "ok.csv", [ok, {**ok, "event": "monitor", "temp_c": "51.1",
                                                                  "latency_us": "", "throttled": "0x50000"}]))
    assert df.latency_us.tolist()[0] == 12.5 and np.isnan(df.latency_us.iloc[1]) and df.temp_c.iloc[1] == 51.1
    assert df.throttled.iloc[1] == "0x50000"
    assert pilogs.throttled_flags("0x50000") == ["under-voltage has occurred", "throttling has occurred"]
    assert pilogs.throttled_flags("0x0") == [] and pilogs.throttled_flags("") == []

    with pytest.raises(PiLogError, match=r"bad\.csv:3: non-numeric latency_us 'fast'"):
        pilogs.parse_runner(runner_csv(tmp_path / "bad.csv", [ok, {**ok, "latency_us": "fast"}]))
    header = [c for c in COLUMNS if c not in ("temp_c", "throttled")]
    with pytest.raises(PiLogError, match=r"old\.csv:1: not a runner CSV: header lacks temp_c, throttled"):
        pilogs.parse_runner(runner_csv(tmp_path / "old.csv", [ok], header))


def test_load_folder_mixed_and_empty(ref, tmp_path):
    d = tmp_path / "logs"
    (d / "pi").mkdir(parents=True)
    variant(d / "pi", "run2.txt", (ref / "kd/lat_TM.txt").read_text())  # recognised by its first line
    variant(d, "cpu.txt", messy((ref / "ptq/cpu_mem_beta.txt").read_text()))
    variant(d, "notes.txt", "measured on the bench PSU\n")
    variant(d, "other.csv", "a,b\n1,2\n")
    runner_csv(d / "pi" / "pi_session_x.csv", [{"session": "x", "event": "load", "load_ms": "1.5"}])
    out = pilogs.load_folder(d)
    assert out["skipped"] == ["notes.txt", "other.csv"]
    assert out["latency"].file.tolist() == ["pi/run2.txt"] and out["power"].empty
    assert len(out["cpu_mem"]) == 150 and out["runner"].load_ms.tolist() == [1.5]

    (tmp_path / "empty").mkdir()
    with pytest.raises(PiLogError, match=r"empty: folder is empty"):
        pilogs.load_folder(tmp_path / "empty")
    with pytest.raises(PiLogError, match=r"nowhere: folder not found"):
        pilogs.load_folder(tmp_path / "nowhere")


def test_reference_model_names_every_latency_log():
    """Notebook 07 names the model each of the authors' latency logs timed (pi_reference_latency_07.csv)."""
    assert set(LATENCY) <= set(pilogs.REFERENCE_MODELS)
    assert pilogs.reference_model("kd/lat_distiller.txt") == "SM (SM_TFLite)"  # the paper's SM_TFLite
    assert pilogs.reference_model("ptq/lat_TM.txt") == "TM (PTQ folder)"
    assert pilogs.reference_model("pi/run2.txt") == "pi/run2.txt"  # any other file keeps its name
