"""lib.tools.bench: FLOP counts of the reference architectures by hand, the teacher-floor arithmetic, recorded notebook
times and the command line's errors. Nothing here times anything (times are benchmarks, not tests)."""
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from lib.train import architectures
from lib.tools import bench


def test_layer_flops_by_hand():
    t = architectures.build_teacher(26)
    flops = {layer.name: bench.layer_flops(layer) for layer in t.layers}
    # conv1: 25 steps x kernel 2 x 1 channel x 64 filters, multiply-add = 2, plus a bias per output
    assert flops["conv1"] == 2 * 25 * 2 * 1 * 64 + 25 * 64
    assert flops["conv2"] == 2 * 24 * 2 * 64 * 448 + 24 * 448
    assert flops["dense"] == 2 * 24 * 448 * 64 + 64
    assert flops["logits"] == 2 * 64 * 2 + 2
    assert flops["bn1"] == 2 * 25 * 64 and flops["bn2"] == 2 * 24 * 448
    assert flops["drop1"] == flops["flatten"] == flops["probs"] == 0
    assert bench.forward_flops(t) == sum(flops.values()) == 4_172_546


def test_student_is_three_orders_cheaper():
    s, t = architectures.build_student(26), architectures.build_teacher(26)
    assert bench.forward_flops(s) == 5_118
    assert bench.forward_flops(t) / bench.forward_flops(s) > 800


def test_training_flops_is_three_forward_passes_per_row():
    t = architectures.build_teacher(9)
    assert bench.training_flops(t, n_rows=100, epochs=2) == 3 * bench.forward_flops(t) * 100 * 2


def _executed_nb(path, seconds, cells=()):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": seconds}
    for source, d in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["papermill"] = {"duration": d}
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_recorded_times_and_table(tmp_path):
    _executed_nb(tmp_path / "wdbc" / "02_teacher.ipynb", 120.0)
    _executed_nb(tmp_path / "wdbc" / "03_distillation.ipynb", 300.0)
    _executed_nb(tmp_path / "wdbc" / "03_distillation.ipynb.failed.ipynb", 5.0)  # never counted
    times = bench.recorded_times(tmp_path, ["wdbc"])
    assert sorted(times.notebook) == ["02_teacher", "03_distillation"]
    table = bench.per_notebook_table(times)
    assert table.loc["wdbc", "total"] == pytest.approx(7.0)
    md = bench.markdown({"n": 8, "warmup": 1, "repeats": 2, "gflops_median": 10.0, "gflops_q1": 9.0,
                         "gflops_q3": 11.0, "threads": "default"}, [], times)
    assert "| wdbc | 2.00 | 5.00 | 7.00 |" in md and "Added up: wdbc 7.0 min." in md


def test_teacher_floor_from_outputs(tmp_path):
    run = tmp_path / "wdbc"
    run.mkdir()
    (run / "splits.json").write_text(json.dumps({"splits": [{"train": list(range(100))}, {"train": list(range(102))}]}))
    pd.DataFrame({"model": ["TM", "TM", "SM"], "train_time_s": [10.0, 20.0, 1.0]}).to_csv(run / "results_02.csv")
    f = bench.teacher_floor("wdbc", gflops=1.0, outputs=tmp_path)
    per_epoch = bench.training_flops(architectures.build_teacher(26), 101, 1)
    assert f["n_train"] == 101 and f["gflops_per_epoch"] == pytest.approx(per_epoch / 1e9)
    assert f["floor_s_per_epoch"] == pytest.approx(per_epoch / 1e9)
    assert f["measured_s_per_epoch"] == pytest.approx(15.0 / 50)  # median of TM's times over 50 epochs
    assert f["times_floor"] == pytest.approx(f["measured_s_per_epoch"] / f["floor_s_per_epoch"])
    # early stopping: each teacher's time over the epochs it trained (the cap where it ran to the end)
    pd.DataFrame({"model": ["TM", "TM", "TM"], "train_time_s": [10.0, 20.0, 30.0],
                  "epochs_trained": [10, 50, None]}).to_csv(run / "results_02.csv")
    f = bench.teacher_floor("wdbc", gflops=1.0, outputs=tmp_path)
    assert f["measured_s_per_epoch"] == pytest.approx(0.6)  # median of 1.0, 0.4, 0.6
    assert (f["measured_s_per_epoch_min"], f["measured_s_per_epoch_max"]) == pytest.approx((0.4, 1.0))


def test_teacher_floor_names_missing_outputs(tmp_path):
    with pytest.raises(bench.BenchError, match="splits.json not found.*notebooks 01-02 of run 'wdbc'"):
        bench.teacher_floor("wdbc", 1.0, tmp_path)


def test_cli_rejects_unknown_run_and_bad_repeats(capsys):
    assert bench.main(["--runs", "nosuchrun"]) == 2
    assert "unknown run(s) nosuchrun" in capsys.readouterr().err
    assert bench.main(["--runs", "wdbc", "--repeats", "0"]) == 2
    assert "--repeats must be at least 1" in capsys.readouterr().err


def test_cli_rejects_a_transfer_run_as_floor_run(capsys):
    assert bench.main(["--runs", "wdbc", "--floor-runs", "wdbc-to-bcd"]) == 2
    assert "not a cross-dataset one" in capsys.readouterr().err


def test_default_runs_leave_out_pbcnt_without_its_file(monkeypatch, tmp_path):
    monkeypatch.setenv("PBCNT_CSV", str(tmp_path / "absent.csv"))
    runs = bench.default_runs()
    assert runs[0] == "wdbc" and "wdbc-fast" in runs and "wdbc-to-bcd-fast" in runs
    assert not any(r.startswith("pbcnt") for r in runs)


def test_failed_notebook_is_named_and_nothing_written(monkeypatch, tmp_path, capsys):
    from lib.tools import recheck

    def boom(run, root, nbs):
        raise RuntimeError("cell 3 raised")
    monkeypatch.setattr(recheck, "chain", boom)
    monkeypatch.setattr(bench.tempfile, "tempdir", str(tmp_path))  # the kept scratch tree goes there
    monkeypatch.setattr(bench, "matmul_throughput", lambda n: {"n": n, "repeats": 1, "warmup": 0, "gflops_median": 1.0,
                                                             "gflops_q1": 1.0, "gflops_q3": 1.0, "threads": "default"})
    out = tmp_path / "bench"
    assert bench.main(["--runs", "wdbc-fast", "--execute", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "run 'wdbc-fast' failed" in err and "cell 3 raised" in err and "kept for inspection" in err
    assert not out.exists()


def test_fixed_seconds_is_the_time_outside_cells_plus_the_import_cell(tmp_path):
    # 20 s in all: 3 s parameters, 5 s imports, 8 s work, so 4 s outside the cells (kernel start-up, shut-down)
    _executed_nb(tmp_path / "wdbc-fast" / "02_teacher.ipynb", 20.0,
                 [("run = 'wdbc'", 3.0), ("import numpy\nfrom lib import data", 5.0), ("train()", 8.0)])
    nb = json.loads((tmp_path / "wdbc-fast" / "02_teacher.ipynb").read_text())
    assert bench.fixed_seconds(nb) == pytest.approx(4.0 + 5.0)
    nb["cells"][1]["source"] = "import libfoo"  # no cell imports lib: unknown, not 0
    assert bench.fixed_seconds(nb) != bench.fixed_seconds(nb)
    nb["cells"][1]["source"] = "import lib.transfer.experiment"
    nb["cells"][2]["metadata"] = {}  # a cell without its duration: unknown, not guessed
    assert bench.fixed_seconds(nb) != bench.fixed_seconds(nb)
    times = bench.recorded_times(tmp_path, ["wdbc-fast"])
    assert times.fixed_seconds.tolist() == [pytest.approx(9.0)]


MM = {"n": 8, "warmup": 1, "repeats": 2, "gflops_median": 10.0, "gflops_q1": 9.0, "gflops_q3": 11.0, "threads": "1"}
CONV = {"teacher": {"warmup": 1, "repeats": 3, "seconds_median": 3.0, "seconds_q1": 2.9, "seconds_q3": 3.1},
        "student": {"warmup": 1, "repeats": 3, "seconds_median": 1.5, "seconds_q1": 1.4, "seconds_q3": 1.6}}


def test_fast_profile_fixed_costs_in_the_markdown(tmp_path):
    _executed_nb(tmp_path / "wdbc-fast" / "02_teacher.ipynb", 60.0, [("import lib", 6.0), ("train()", 50.0)])
    _executed_nb(tmp_path / "wdbc-fast" / "03_distillation.ipynb", 120.0, [("import lib", 8.0), ("bank()", 108.0)])
    _executed_nb(tmp_path / "wdbc-fast" / "04_pruning.ipynb", 30.0)  # no cell durations: left out, and said so
    pd.DataFrame({"model": ["TM", "TM_PTQ", "SM_INT8", "SM_DEPLOY", "TM_pruned"],
                  "format": ["keras", "tflite", "tflite", "tflite", "tflite"]}).to_csv(
        tmp_path / "wdbc-fast" / "results.csv", index=False)
    n = bench.saved_conversions(tmp_path, ["wdbc-fast", "bcd-fast"])  # a run without results counts 0
    assert n == {"teacher": 2, "student": 2}
    times = bench.recorded_times(tmp_path, ["wdbc-fast"])
    md = bench.markdown(MM, [], times, CONV, n)
    # start-up and set-up: (60 - 56 + 6) + (120 - 116 + 8) = 22 s; conversions 2 x 3 s + 2 x 1.5 s = 9 s; of 3.5 min
    assert "| start-up, imports and set-up cell, 2 of 3 notebooks | 11.0 s (median; 10.0-12.0) | 0.4 |" in md
    assert "| TFLite conversions of teacher-sized models, at least 2 (tflite rows of results.csv), at the float " \
           "conversion's time | 3.00 s (median of 3; IQR 2.90-3.10) | 0.1 |" in md
    assert "| together, at least |  | 0.5 |" in md
    assert "Of the fast profile's 3.5 min, at least 0.5 min (15%) do not shrink with fewer epochs." in md
    no_fast = bench.markdown(MM, [], bench.recorded_times(tmp_path, ["wdbc"]))
    assert "fixed costs" not in no_fast


def test_fixed_costs_without_any_known_time_are_left_out(tmp_path):
    _executed_nb(tmp_path / "wdbc-fast" / "04_pruning.ipynb", 30.0)
    md = bench.markdown(MM, [], bench.recorded_times(tmp_path, ["wdbc-fast"]))
    assert "Added up" in md and "fixed costs" not in md and "nan" not in md


def test_saved_conversions_names_a_table_that_is_not_results(tmp_path):
    (tmp_path / "wdbc-fast").mkdir()
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "wdbc-fast" / "results.csv", index=False)
    with pytest.raises(bench.BenchError, match="wdbc-fast/results.csv has no 'model' and 'format'"):
        bench.saved_conversions(tmp_path, ["wdbc-fast"])


def test_main_writes_the_conversion_rows_from_the_executed_tree(monkeypatch, tmp_path):
    """--execute: times, fixed costs and conversions come from the scratch tree the notebooks were executed into."""
    from lib.tools import recheck

    def chain(run, root, nbs):
        _executed_nb(Path(root) / run / "02_teacher.ipynb", 60.0, [("import lib", 6.0), ("train()", 50.0)])
        pd.DataFrame({"model": ["TM_PTQ", "SM_INT8"], "format": ["tflite", "tflite"]}).to_csv(
            Path(root) / run / "results.csv", index=False)
    monkeypatch.setattr(recheck, "chain", chain)
    monkeypatch.setattr(bench, "matmul_throughput", lambda n: MM)
    monkeypatch.setattr(bench, "conversion_time", lambda: CONV)
    out = tmp_path / "bench"
    assert bench.main(["--runs", "wdbc-fast", "--execute", "--floor-runs", "--out", str(out)]) == 0
    rows = pd.read_csv(out / "bench.csv")
    conv = rows[rows.kind == "conversion"].set_index("size")
    assert conv.loc["teacher", "saved_conversions"] == 1 and conv.loc["student", "seconds_median"] == 1.5
    assert "| start-up, imports and set-up cell, 1 of 1 notebooks | 10.0 s" in (out / "bench.md").read_text()


def test_timeline_lists_each_recorded_notebook_with_its_start_and_end(tmp_path, monkeypatch, capsys):
    _executed_nb(tmp_path / "wdbc" / "02_teacher.ipynb", 120.0)
    _executed_nb(tmp_path / "summary" / "08_statistics.ipynb", 30.0)
    _executed_nb(tmp_path / "wdbc" / "03_distillation.ipynb.failed.ipynb", 5.0)  # never counted
    for nb, start in (("wdbc/02_teacher", "2026-12-05T10:00:00"), ("summary/08_statistics", "2026-12-05T10:05:00")):
        path = tmp_path / f"{nb}.ipynb"
        d = json.loads(path.read_text())
        d["metadata"]["papermill"].update(start_time=start, end_time=start.replace(":00:", ":02:"))
        path.write_text(json.dumps(d))
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(tmp_path))
    out = tmp_path / "timeline.csv"
    assert bench.main(["--timeline", str(out)]) == 0
    df = pd.read_csv(out)
    assert df.run.tolist() == ["summary", "wdbc"] and df.notebook.tolist() == ["08_statistics", "02_teacher"]
    assert df.minutes.tolist() == [0.5, 2.0] and df.start.tolist()[1] == "2026-12-05T10:00:00"
    assert "2 notebooks, 2.5 min added up" in capsys.readouterr().out
    assert bench.main(["--runs", "summary"]) == 2  # only a timeline reads 08's folders
