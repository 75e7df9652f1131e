"""lib.compress.runtimes: the committed C array (outputs/wdbc/export/sm_int8_model.h) is the deployable model. Loaded in
TensorFlow Lite Micro it gives LiteRT's reference kernels' outputs to within a few output levels on a few rows
(often bit for bit, not always: the two round intermediate products differently), and on the test rows of its
split the decisions of notebook 06 (LiteRT's default kernels, outputs/wdbc/predictions.csv)."""
import numpy as np
import pandas as pd
import pytest

from lib.core import params, paths
from lib.data import datasets, preprocess, splits
from lib.compress import runtimes

ARRAY = paths.ROOT / "outputs" / "wdbc" / "export" / "sm_int8_model.h"


@pytest.fixture(scope="module")
def split_rows():
    P = params.load("wdbc")
    ds = datasets.load(P)
    s = splits.ensure(P, ds.y)[0]  # the split notebook 06 exports (the header of the array names it)
    assert f"split {s.id}" in ARRAY.read_text().splitlines()[0]
    return s, preprocess.prepare(P, ds, s)


def test_c_array_in_tflm_reproduces_the_notebooks_outputs(split_rows):
    s, prep = split_rows
    content = runtimes.read_c_array(ARRAY)
    assert len(content) == 2688 and content[4:8] == b"TFL3"
    table, raw = runtimes.compare(content, prep.X_test, prep.y_test)
    t = table.set_index("runtime")
    # TFLM ~ LiteRT's reference kernels: a few output levels on a few rows at most
    d = np.abs(raw["tflm"].astype(int) - raw["litert_ref"].astype(int)).max(axis=1)
    assert d.max() <= 4 and (d > 0).mean() <= 0.05
    # LiteRT's default kernels are what notebook 06 measured: its scores, row for row
    pred = pd.read_csv(paths.ROOT / "outputs" / "wdbc" / "predictions.csv")
    p = pred[(pred.fold == s.id) & (pred.model == "SM_INT8")]
    q = runtimes.io_quantization(content)
    assert np.allclose(runtimes.malignancy(raw["litert"], q["output_scale"], q["output_zero_point"]), p.score, atol=1e-6)
    # the kernels round differently (a few output levels) but no decision of this split differs
    assert t.loc["tflm", "rows_decision_differs"] == 0 and t.loc["tflm", "max_level_difference"] <= 8
    assert t.loc["tflm", "accuracy"] == pytest.approx(float((p.pred == p.y).mean()))


def test_random_int8_inputs_tflm_within_a_few_levels_of_reference_kernels():
    content = runtimes.read_c_array(ARRAY)
    q = runtimes.io_quantization(content)
    X8 = np.random.default_rng(0).integers(-128, 128, size=(200, *q["input_shape"]), dtype=np.int8)
    d = np.abs(runtimes.raw_outputs(content, X8, "tflm").astype(int) - runtimes.raw_outputs(content, X8, "litert_ref").astype(int))
    assert d.max() <= 4 and (d.max(axis=1) > 0).mean() <= 0.05  # 0 of these 200 rows, 4 of 2,000 by up to 4 levels


def test_bad_arrays_and_runtimes_are_named(tmp_path):
    with pytest.raises(runtimes.RuntimeError_, match="not found"):
        runtimes.read_c_array(tmp_path / "none.h")
    (tmp_path / "empty.h").write_text("const uint8_t m[] = {};\n")
    with pytest.raises(runtimes.RuntimeError_, match="no bytes"):
        runtimes.read_c_array(tmp_path / "empty.h")
    (tmp_path / "junk.h").write_text("const uint8_t m[] = {" + ", ".join(["0x01"] * 16) + "};\n")
    with pytest.raises(runtimes.RuntimeError_, match="not a TFLite FlatBuffer"):
        runtimes.read_c_array(tmp_path / "junk.h")
    with pytest.raises(runtimes.RuntimeError_, match="unknown runtime"):
        runtimes.raw_outputs(b"", np.zeros((1, 26, 1), np.int8), "coral")


DEPLOY = paths.ROOT / "outputs" / "wdbc" / "export"


def test_deployable_c_array_and_contract_reproduce_notebook_06(split_rows, tmp_path):
    """The exported SM_DEPLOY (raw measurements in): its C array's bytes are the .tflite beside it; in TFLite
    Micro they reproduce notebook 06's runtime table row for the split; lib.device.classify with the contract beside it
    decides every raw test row as that table's LiteRT row at the run's threshold."""
    import json

    s, prep = split_rows
    content = runtimes.read_c_array(DEPLOY / "sm_deploy_model.h")
    assert content == (DEPLOY / "sm_deploy.tflite").read_bytes()
    spec = json.loads((DEPLOY / "sm_deploy.json").read_text())
    P = params.load("wdbc")
    ds = datasets.load(P)
    assert spec["features"] == ds.feature_names and spec["split"] == s.id and spec["input"]["dtype"] == "float32"
    raw = ds.X.to_numpy(float)[s.test]
    table, out = runtimes.compare(content, raw, prep.y_test, spec["threshold"])
    committed = pd.read_csv(paths.ROOT / "outputs" / "wdbc" / "runtimes.csv")
    mine = committed[(committed.fold == s.id) & (committed.model == "SM_DEPLOY")].set_index("runtime")
    for r in runtimes.RUNTIMES:  # same accuracy and disagreement counts on this machine's runtimes
        got = table.set_index("runtime").loc[r]
        assert got.accuracy == pytest.approx(mine.loc[r, "accuracy"])
        assert got.rows_decision_differs == mine.loc[r, "rows_decision_differs"]
    csv = tmp_path / "raw.csv"
    pd.DataFrame(raw, columns=ds.feature_names).to_csv(csv, index=False)
    from lib.device import classify

    p, decision, _ = classify.classify(DEPLOY / "sm_deploy.tflite", csv)
    from lib.core.metrics import malignancy_score

    assert np.array_equal(decision, (malignancy_score(out["litert"]) >= spec["threshold"]).astype(int))
