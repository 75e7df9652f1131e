"""lib.device.classify: public tables as researchers download them (UCI's / Kaggle's wdbc.csv with its trailing comma,
scikit-learn's column names, semicolons, a byte order mark, no header line, extra columns), the preprocessed model
pointing to the raw-input one, the output's columns and labels, an error naming the cause for every bad input, and the
minimal install (four files, NumPy and LiteRT) running on its own. Models: notebook 06's committed export of run
wdbc, split r0f0 (outputs/wdbc/export, as tests/test_export.py and tests/test_runtimes.py)."""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lib.core import paths
from lib.device import classify, litert

EXPORT = paths.ROOT / "outputs" / "wdbc" / "export"
# what classify needs of the repository (docs/classify.md, the minimal install)
MINIMAL = ["lib/__init__.py", "lib/device/__init__.py", "lib/device/classify.py", "lib/device/litert.py"]
HEAVY = ("tensorflow", "tf_keras", "pandas", "sklearn", "scipy")


@pytest.fixture(scope="module")
def wdbc():
    """scikit-learn's WDBC (value for value UCI's wdbc.csv): rows, 1 = malignant, scikit-learn's and UCI's names."""
    from sklearn.datasets import load_breast_cancer

    from lib.data import datasets

    b = load_breast_cancer()
    return b.data, (b.target == 0).astype(int), [str(n) for n in b.feature_names], datasets.WDBC_FEATURES


@pytest.fixture
def export(tmp_path):
    """A copy of the committed export (sm_deploy and sm_int8 with their contracts) to edit."""
    d = tmp_path / "export"
    d.mkdir()
    for name in ("sm_deploy", "sm_int8"):
        for ext in (".tflite", ".json"):
            shutil.copy2(EXPORT / f"{name}{ext}", d / f"{name}{ext}")
    return d


def _contract(folder, name="sm_deploy", **changes):
    doc = json.loads((folder / f"{name}.json").read_text())
    doc.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del doc[k]
    (folder / f"{name}.json").write_text(json.dumps(doc, indent=1))
    return doc


def _write(path, header, rows, delimiter=",", trailing="", quote_header=False, encoding="utf-8"):
    head = [f'"{h}"' for h in header] if quote_header else list(header)
    lines = [delimiter.join(head) + trailing] + [delimiter.join(str(v) for v in r) + trailing for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def _uci(path, X, y):
    """The UCI / Kaggle wdbc.csv layout: quoted names id, diagnosis and the 30 features, M / B, a trailing comma on
    every line (the header's 33rd name is empty)."""
    from lib.data import datasets

    rows = [[900000 + i, "M" if yi else "B", *[repr(float(v)) for v in x]] for i, (x, yi) in enumerate(zip(X, y))]
    return _write(path, ["id", "diagnosis", *datasets.WDBC_FEATURES], rows, trailing=",", quote_header=True)


def _cli(capsys, *args):
    code = classify.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _want(X, model=EXPORT / "sm_deploy.tflite"):
    out = litert.LiteModel.from_path(model).predict(np.asarray(X, np.float32)).astype(np.float64)
    return out[:, 1] / out.sum(axis=1)


def _agreement(out_csv: str, diagnosis):
    got = list(csv.DictReader(io.StringIO(out_csv)))
    return np.mean([(r["malignant"] == "1") == (d == "M") for r, d in zip(got, diagnosis, strict=True)])


# ------------------------------------------------------------------------------------- tables as downloaded

def test_uci_wdbc_csv_as_downloaded(shared_data, capsys):
    """../shared/data/wdbc.csv (UCI / Kaggle, trailing comma): classified, the ID copied, the diagnosis ignored and
    named, and the decisions agree with the diagnosis on most rows (the model's training rows are among them)."""
    path = shared_data / "wdbc.csv"
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "row,id,p_malignant,p_malignant_calibrated,malignant,label" and len(lines) == 570
    assert "classify: ignored 1 column(s) not used by the model: diagnosis" in err
    assert "copied the ID column 'id' to the output" in err and "recognised" not in err
    table = list(csv.reader(path.open()))[1:]
    got = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in got] == [t[0] for t in table]
    assert [r["row"] for r in got] == [str(i) for i in range(1, 570)]
    assert all(r["label"] == ("malignant" if r["malignant"] == "1" else "benign") for r in got)
    agree = _agreement(out, [t[1] for t in table])
    print(f"UCI wdbc.csv: decisions agree with the diagnosis on {agree:.1%} of 569 rows")
    assert agree >= 0.93


def test_uci_layout_written_here(wdbc, tmp_path, capsys):
    """The same layout written by the test (quoted names, trailing comma), so it also runs without ../shared:
    the probabilities are the model's on the rows, the decisions agree with the labels on most rows."""
    X, y, _, _ = wdbc
    path = _uci(tmp_path / "wdbc.csv", X, y)
    assert path.read_text().splitlines()[0].endswith('"fractal_dimension_worst",')
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", path)
    assert code == 0, err
    got = list(csv.DictReader(io.StringIO(out)))
    assert np.allclose([float(r["p_malignant"]) for r in got], _want(X), atol=1e-6)
    assert _agreement(out, ["M" if v else "B" for v in y]) >= 0.93
    # a CRLF file without the trailing comma on the header line only reads the same
    text = path.read_text().replace('"fractal_dimension_worst",\n', '"fractal_dimension_worst"\n', 1)
    (tmp_path / "crlf.csv").write_bytes(text.replace("\n", "\r\n").encode())
    assert _cli(capsys, EXPORT / "sm_deploy.tflite", tmp_path / "crlf.csv")[1] == out


def test_scikit_learn_names(wdbc, tmp_path, capsys):
    """load_breast_cancer's names ('mean radius', 'radius error', 'worst radius', 'mean concave points', ...) with its
    target column, written by pandas with and without its index: the columns are found and the convention reported."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    X, y, sk, uci = wdbc
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(tmp_path / "sk.csv", index=False)
    frame.to_csv(tmp_path / "sk_index.csv")
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", tmp_path / "sk.csv")
    assert code == 0, err
    assert ("classify: recognised the columns by scikit-learn's names (load_breast_cancer) for 30 of the 30 features "
            "(e.g. 'mean radius' = radius_mean)") in err
    assert "ignored 1 column(s) not used by the model: target" in err
    got = pd.read_csv(io.StringIO(out))
    assert list(got.columns) == ["row", "p_malignant", "p_malignant_calibrated", "malignant", "label"]
    assert np.allclose(got.p_malignant, _want(X), atol=1e-6)
    code, out2, err = _cli(capsys, EXPORT / "sm_deploy.tflite", tmp_path / "sk_index.csv")
    assert code == 0 and out2 == out and "ignored 2 column(s) not used by the model: column 1 (no name), target" in err
    for a, b in [("mean radius", "radius_mean"), ("radius error", "radius_se"), ("worst radius", "radius_worst"),
                 ("mean concave points", "concave points_mean"), ("mean fractal dimension", "fractal_dimension_mean")]:
        assert classify.match_columns([a], {"features": uci}) == {0: (b, "sklearn")}
    assert [classify.match_columns([n], {"features": uci})[0][0] for n in sk] == uci  # all 30, in order


def test_names_by_case_spaces_and_punctuation(wdbc, tmp_path, capsys):
    X, y, _, uci = wdbc
    names = [n.replace("_", " ").title() for n in uci]  # 'Radius Mean', 'Concave Points Mean', ...
    names[7] = "concave_points_mean"
    _write(tmp_path / "t.csv", names, X[:4])
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", tmp_path / "t.csv")
    assert code == 0, err
    assert "recognised the columns by their names ignoring case, spaces, underscores and punctuation for 30 of the 30" \
           in err and "'Radius Mean' = radius_mean" in err


def test_contract_synonyms_with_and_without(wdbc, export, tmp_path, capsys):
    """A contract's ``synonyms`` map other names automatically (reported); without the key, the same table misses the
    columns and the error says so."""
    X, y, _, uci = wdbc
    names = [f"F{i + 1}" for i in range(30)]
    _write(tmp_path / "t.csv", names, X[:3])
    code, _, err = _cli(capsys, export / "sm_deploy.tflite", tmp_path / "t.csv")
    assert code == 2
    assert "missing column(s): none of the model's 30 features is in the header (the header: F1, F2" in err
    _contract(export, synonyms={f: [n, "other " + n] for f, n in zip(uci, names)})
    code, out, err = _cli(capsys, export / "sm_deploy.tflite", tmp_path / "t.csv")
    assert code == 0, err
    assert "recognised the columns by the contract's synonyms for 30 of the 30 features (e.g. 'F1' = radius_mean)" \
        in err
    assert np.allclose([float(r["p_malignant"]) for r in csv.DictReader(io.StringIO(out))], _want(X[:3]), atol=1e-6)
    # a synonym and the contract's name of one feature in one table: an error, not a guess
    _write(tmp_path / "two.csv", [*names, "radius_mean"], [[*x, x[0]] for x in X[:3]])
    code, _, err = _cli(capsys, export / "sm_deploy.tflite", tmp_path / "two.csv")
    assert code == 2
    assert "the columns 'F1' (column 1), 'radius_mean' (column 31) all give the feature radius_mean" in err


def test_delimiters_byte_order_mark_and_quotes(wdbc, tmp_path, capsys):
    X, y, _, uci = wdbc
    ref = _cli(capsys, EXPORT / "sm_deploy.tflite", _write(tmp_path / "c.csv", uci, X[:6]))[1]
    variants = {"semicolon.csv": dict(delimiter=";"), "tab.tsv": dict(delimiter="\t"),
                "bom.csv": dict(encoding="utf-8-sig", quote_header=True),
                "semicolon_trailing.csv": dict(delimiter=";", trailing=";", quote_header=True)}
    for name, kw in variants.items():
        code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", _write(tmp_path / name, uci, X[:6], **kw))
        assert code == 0 and out == ref, (name, err)
        assert "recognised" not in err and "ignored" not in err, name
    assert classify.sniff_delimiter('"a;b",c,d') == "," and classify.sniff_delimiter("a;b;c") == ";"


def test_missing_header_line(wdbc, tmp_path, capsys):
    """A first line of numbers: the error says so and gives the names to add (and how many other columns to name)."""
    X, y, _, uci = wdbc
    _write(tmp_path / "bare.csv", ["17.99"] + [repr(float(v)) for v in X[0][1:]], X[1:3])
    code, _, err = _cli(capsys, EXPORT / "sm_deploy.tflite", tmp_path / "bare.csv")
    assert code == 2
    assert err.startswith("classify: ")
    assert "the first line holds numbers, not column names: add the header line with the contract's features " \
           "(any order)" in err
    assert ",".join(uci) in err
    # UCI's wdbc.data: id, diagnosis, then the 30 features, no header
    _write(tmp_path / "wdbc.data", ["842302", "M", *[repr(float(v)) for v in X[0]]], [])
    code, _, err = _cli(capsys, EXPORT / "sm_deploy.tflite", tmp_path / "wdbc.data")
    assert code == 2 and "the line has 32 values and the model 30 features: name the other 2 column(s) too" in err


def test_extra_columns_ignored_named_or_rejected_with_strict(wdbc, tmp_path, capsys):
    X, y, _, uci = wdbc
    rows = [["s%d" % i, "M" if yi else "B", *x, 7] for i, (x, yi) in enumerate(zip(X[:4], y[:4]))]
    path = _write(tmp_path / "extra.csv", ["sample_id", "diagnosis", *uci, "age"], rows)
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", path)
    assert code == 0
    assert "classify: ignored 2 column(s) not used by the model: diagnosis, age" in err
    assert out.splitlines()[0] == "row,sample_id,p_malignant,p_malignant_calibrated,malignant,label"
    assert out.splitlines()[1].startswith("1,s0,")
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", path, "--strict")
    assert code == 2 and out == ""
    assert "2 column(s) not used by the model: 'diagnosis', 'age' (--strict: remove them" in err
    # --id-column copies another column (and is not an extra one under --strict); a missing one is an error
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", path, "--id-column", "diagnosis")
    assert code == 0 and out.splitlines()[0] == "row,diagnosis,p_malignant,p_malignant_calibrated,malignant,label"
    assert "ignored 2 column(s) not used by the model: sample_id, age" in err
    code, _, err = _cli(capsys, EXPORT / "sm_deploy.tflite", path, "--id-column", "patient")
    assert code == 2 and "no column 'patient' for --id-column (the header: sample_id, diagnosis, radius_mean" in err
    only = _write(tmp_path / "only.csv", ["ID", *uci], [[1, *X[0]]])
    code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", only, "--strict")
    assert code == 0 and out.splitlines()[0] == "row,ID,p_malignant,p_malignant_calibrated,malignant,label" and "ignored" not in err


def test_preprocessed_model_points_to_the_raw_input_model(wdbc, export, tmp_path, capsys):
    X, y, _, uci = wdbc
    raw = _write(tmp_path / "raw.csv", uci, X[:3])
    code, _, err = _cli(capsys, export / "sm_int8.tflite", raw)
    assert code == 2
    assert "sm_int8.tflite: this model takes preprocessed inputs (input_1..input_26" in err
    assert f"the raw-input model beside it, sm_deploy.tflite: python -m lib.device.classify " \
           f"{export / 'sm_deploy.tflite'} INPUT.csv" in err
    _contract(export, "sm_int8", raw_input_model="wdbc_raw.tflite")
    code, _, err = _cli(capsys, export / "sm_int8.tflite", raw)
    assert code == 2 and "beside it, wdbc_raw.tflite (not found there: copy it beside this model)" in err
    (export / "sm_deploy.tflite").unlink()
    _contract(export, "sm_int8", raw_input_model=None)
    code, _, err = _cli(capsys, export / "sm_int8.tflite", raw)
    assert code == 2 and "No raw-input model (sm_deploy.tflite) is beside it" in err
    # named features and "preprocessed": true
    _contract(export, "sm_int8", features=[f"pc{i}" for i in range(26)], preprocessed=True)
    code, _, err = _cli(capsys, export / "sm_int8.tflite", raw)
    assert code == 2 and "this model takes preprocessed inputs (pc0..pc25" in err
    # preprocessed inputs under their names are classified (the int8 model's (26, 1) input)
    _contract(export, "sm_int8", features=[f"input_{i + 1}" for i in range(26)], preprocessed=None)
    Z = np.random.default_rng(0).normal(size=(5, 26))
    code, out, err = _cli(capsys, export / "sm_int8.tflite", _write(tmp_path / "pre.csv", [f"input_{i + 1}" for i in
                                                                                           range(26)], Z))
    assert code == 0, err
    assert np.allclose([float(r["p_malignant"]) for r in csv.DictReader(io.StringIO(out))],
                       _want(Z[..., None], export / "sm_int8.tflite"), atol=1e-6)


def test_output_columns_and_labels_from_the_contract(wdbc, export, tmp_path, capsys):
    X, y, _, uci = wdbc
    path = _write(tmp_path / "t.csv", uci, X[:25])
    _contract(export, label={"positive": "tumour tissue", "negative": "normal"}, threshold=0.5)
    out_csv = tmp_path / "out" / "p.csv"
    out_csv.parent.mkdir()
    code, out, err = _cli(capsys, export / "sm_deploy.tflite", path, "--out", out_csv)
    assert code == 0 and out == "" and "classify: 25 rows, " in err and " tumour tissue at threshold 0.5" in err
    got = list(csv.DictReader(out_csv.open()))
    assert list(got[0]) == ["row", "p_tumour_tissue", "p_tumour_tissue_calibrated", "tumour_tissue", "label"]
    p = _want(X[:25])
    assert [r["tumour_tissue"] for r in got] == [str(int(v >= 0.5)) for v in p]
    assert {r["label"] for r in got} == {"tumour tissue", "normal"}
    assert [r["label"] for r in got] == ["tumour tissue" if v >= 0.5 else "normal" for v in p]
    # the probability formula: p1 / (p0 + p1) of the two outputs, the decision at the threshold
    r = classify.run(export / "sm_deploy.tflite", path)
    assert np.allclose(r.p, p) and np.array_equal(r.decision, (p >= 0.5).astype(int))
    assert r.table.rows == list(range(1, 26))


def test_the_contracts_id_column_is_copied_and_never_unexpected(wdbc, export, tmp_path, capsys):
    X, y, _, uci = wdbc
    _contract(export, id_column="pid")
    path = _write(tmp_path / "t.csv", ["pid", *uci], [[f"P{i}", *row] for i, row in enumerate(X[:5])])
    code, out, err = _cli(capsys, export / "sm_deploy.tflite", path)
    assert code == 0 and out.splitlines()[0].startswith("row,pid,") and out.splitlines()[1].startswith("1,P0,")
    assert "ignored" not in err
    short = _write(tmp_path / "s.csv", ["pid", *uci[1:]], [[f"P{i}", *row[1:]] for i, row in enumerate(X[:5])])
    code, out, err = _cli(capsys, export / "sm_deploy.tflite", short)
    assert code == 2 and uci[0] in err and "unexpected" not in err


# ---------------------------------------------------------------------------------------------------- errors

def _bad_cells(uci, X):
    def table(edit):
        rows = [[repr(float(v)) for v in x] for x in X[:4]]
        edit(rows)
        return ",".join(uci) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"

    def put(i, j, v):
        return lambda rows: rows[i].__setitem__(j, v)

    return {
        "missing column": (",".join(uci[1:]) + "\n" + "1," * 28 + "1\n",
                           r"missing column\(s\) \['radius_mean'\]"),
        "near-miss name": (",".join(["radius_men", *uci[1:]]) + "\n" + "1," * 29 + "1\n",
                           r"missing column\(s\) \['radius_mean'\]; did you mean 'radius_men' for radius_mean\?"),
        "one column": ("|".join(uci) + "\n" + "|".join("1" * 30) + "\n",
                       r"the first line is one column .*: separate the columns with commas, semicolons or tabs"),
        "empty cell": (table(put(2, 3, "")), "data row 3: missing value in column 'area_mean' \\(the model needs "
                                             "complete rows\\)"),
        "NaN": (table(put(0, 5, "NaN")), "data row 1: missing value in column 'compactness_mean'"),
        "question mark": (table(put(1, 0, "?")), "data row 2: missing value in column 'radius_mean'"),
        "word": (table(put(0, 0, "large")), "data row 1: column 'radius_mean' holds 'large', not a number$"),
        "decimal comma": (table(put(0, 1, '"10,38"')), "data row 1: column 'texture_mean' holds '10,38', not a number "
                                                       "\\(a comma inside a number: write decimals with a point"),
        "infinite": (table(put(3, 2, "-inf")), "data row 4: column 'perimeter_mean' holds '-inf', not a finite number"),
        "short row": (table(lambda rows: rows[1].pop()), "data row 2 has 29 cells, the header 30$"),
        "long row": (table(lambda rows: rows[1].append("5")), "data row 2 has 31 cells, the header 30 names: a value "
                                                              "in column 31 has no column name"),
        "duplicated name": (",".join([*uci, "x", "x"]) + "\n" + "1," * 31 + "1\n", r"the header names \['x'\] more "
                                                                                   "than once"),
        "empty file": ("\n\n", r"empty file \(expected a header line with the columns radius_mean, texture_mean"),
        "header only": (",".join(uci) + "\n", r"no data rows \(only the header line\)"),
    }


def test_each_bad_table_names_its_cause(wdbc, tmp_path, capsys):
    X, y, _, uci = wdbc
    for i, (case, (text, pattern)) in enumerate(_bad_cells(uci, X).items()):
        path = tmp_path / f"bad{i}.csv"
        path.write_text(text)
        with pytest.raises(classify.InputError, match=pattern):
            classify.classify(EXPORT / "sm_deploy.tflite", path)
        code, out, err = _cli(capsys, EXPORT / "sm_deploy.tflite", path)
        assert code == 2 and out == "" and err.startswith(f"classify: {path}: "), case
        assert len(err.strip().splitlines()) == 1, (case, err)
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(classify.InputError, match="a spreadsheet workbook .*save the sheet as CSV first"):
        classify.classify(EXPORT / "sm_deploy.tflite", tmp_path / "book.xlsx")
    with pytest.raises(classify.InputError, match="input file not found"):
        classify.classify(EXPORT / "sm_deploy.tflite", tmp_path / "nothing.csv")


def test_each_bad_model_or_contract_names_its_cause(wdbc, export, tmp_path, capsys):
    X, y, _, uci = wdbc
    good = _write(tmp_path / "good.csv", uci, X[:2])
    with pytest.raises(classify.InputError, match="contract is missing .*give it with --contract"):
        classify.classify(export / "sm_deploy.tflite", good, tmp_path / "none.json")
    (export / "broken.tflite").write_bytes(b"not a model")
    shutil.copy2(export / "sm_deploy.json", export / "broken.json")
    with pytest.raises(classify.InputError, match="not a loadable TFLite model"):
        classify.classify(export / "broken.tflite", good)
    with pytest.raises(classify.InputError, match="TFLite model not found"):
        classify.classify(export / "absent.tflite", good, export / "sm_deploy.json")
    # the int8 model (26 inputs) with the raw model's contract (30 features)
    with pytest.raises(classify.InputError, match=r"takes rows of shape \(26, 1\), the contract lists 30 features"):
        classify.classify(export / "sm_int8.tflite", good, export / "sm_deploy.json")
    doc = json.loads((export / "sm_deploy.json").read_text())
    bad = {"{ not json": "not valid JSON",
           json.dumps([1, 2]): "not a model contract",
           json.dumps({k: v for k, v in doc.items() if k != "threshold"}): r"missing key\(s\) \['threshold'\]",
           json.dumps({**doc, "threshold": 1.5}): r"'threshold' must be a number in \[0, 1\)",
           json.dumps({**doc, "features": []}): "'features' must be a non-empty list",
           json.dumps({**doc, "features": uci[:29] + uci[:1]}): r"'features' names \['radius_mean'\] more than once",
           json.dumps({**doc, "synonyms": {"nope": ["x"]}}): "'synonyms' must map features of the contract",
           json.dumps({**doc, "synonyms": {"radius_mean": ["Texture Mean"]}}): "synonym 'Texture Mean' of radius_mean "
                                                                                "also names texture_mean",
           json.dumps({**doc, "label": {"positive": "malignant"}}): "'label' must be",
           json.dumps({**doc, "preprocessed": "yes"}): "'preprocessed' must be true or false"}
    for text, pattern in bad.items():
        (export / "c.json").write_text(text)
        with pytest.raises(classify.InputError, match=pattern):
            classify.classify(export / "sm_deploy.tflite", good, export / "c.json")
    code, out, err = _cli(capsys, export / "sm_deploy.tflite", good, "--contract", export / "c.json")
    assert code == 2 and err.startswith(f"classify: {export / 'c.json'}: ")
    code, _, err = _cli(capsys, export / "sm_deploy.tflite", good, "--out", tmp_path / "no" / "dir" / "o.csv")
    assert code == 2 and "cannot write the output" in err


# ----------------------------------------------------------------------------------------- the minimal install

def test_minimal_install_is_classify_import_closure():
    """The four files docs/classify.md lists are everything classify imports from lib (lib.tools.deps follows the
    imports), and the page says so with the packages to install."""
    from lib.tools import deps

    assert deps.module_closure({"lib.device.classify"}) == MINIMAL
    page = (paths.ROOT / "docs" / "classify.md").read_text()
    assert all(f in page for f in MINIMAL) and "pip install numpy ai-edge-litert==2.3.0" in page


DRIVER = r'''
import json, os, runpy, sys
here = os.path.dirname(os.path.abspath(__file__))
# the venv's .pth file puts the repository on sys.path: take every folder that holds a lib package off it
has_lib = lambda p: os.path.isfile(os.path.join(p or ".", "lib", "__init__.py"))
sys.path[:] = [here] + [p for p in sys.path if os.path.abspath(p or ".") != here and not has_lib(p)]
sys.argv = ["classify", *sys.argv[1:]]
try:
    runpy.run_module("lib.device.classify", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as e:
    code = e.code
import lib
json.dump({"code": code, "lib": lib.__file__, "path": sys.path,
           "lib_modules": sorted(m for m in sys.modules if m == "lib" or m.startswith("lib.")),
           "heavy": sorted(m for m in %r if m in sys.modules)}, open(os.path.join(here, "report.json"), "w"))
''' % (HEAVY,)


def test_minimal_install_classifies_alone(wdbc, tmp_path):
    """Exactly the four files in a fresh folder, run in an isolated interpreter (python -I: no PYTHONPATH, no
    current folder) whose repository entries are taken off sys.path: classify runs, lib comes from the folder, and
    no TensorFlow, pandas, scikit-learn or SciPy is imported."""
    X, y, _, _ = wdbc
    app = tmp_path / "app"
    for f in MINIMAL:
        (app / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(paths.ROOT / f, app / f)
    for ext in (".tflite", ".json"):
        shutil.copy2(EXPORT / f"sm_deploy{ext}", app / f"sm_deploy{ext}")
    _uci(app / "wdbc.csv", X[:40], y[:40])
    (app / "driver.py").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-I", "driver.py", "sm_deploy.tflite", "wdbc.csv", "--out", "out.csv"],
                          cwd=app, env=env, capture_output=True, text=True, timeout=300)
    report = json.loads((app / "report.json").read_text())
    assert proc.returncode == 0 and report["code"] == 0, proc.stderr
    assert os.path.dirname(report["lib"]) == str(app / "lib")
    assert not any(os.path.isfile(os.path.join(p or ".", "lib", "__init__.py")) and os.path.abspath(p) != str(app)
                   for p in report["path"])
    assert report["lib_modules"] == ["lib", "lib.device", "lib.device.litert"] and report["heavy"] == []
    got = list(csv.DictReader((app / "out.csv").open()))
    assert len(got) == 40 and list(got[0]) == ["row", "id", "p_malignant", "p_malignant_calibrated", "malignant", "label"]
    assert np.allclose([float(r["p_malignant"]) for r in got], _want(X[:40]), atol=1e-6)
    # without the folder's own lib the driver finds none: the repository's is really out of reach
    shutil.rmtree(app / "lib")
    proc = subprocess.run([sys.executable, "-I", "driver.py", "sm_deploy.tflite", "wdbc.csv"], cwd=app, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "No module named 'lib'" in proc.stderr


def test_a_reader_that_stops_early_is_not_an_error(wdbc, tmp_path):
    """``... | head``: the pipe closes before every row is written; the command ends quietly with 0, no traceback."""
    X, y, _, _ = wdbc
    path = _uci(tmp_path / "wdbc.csv", np.tile(X, (8, 1)), np.tile(y, 8))  # 4,552 rows: more than a pipe holds
    cmd = (f"{sys.executable} -m lib.device.classify {EXPORT / 'sm_deploy.tflite'} {path} | head -n 2; "
           "echo \"status ${PIPESTATUS[0]}\" >&2")
    for _ in range(3):  # the pipe may close before or after the first write
        proc = subprocess.run(["bash", "-c", cmd], cwd=paths.ROOT, capture_output=True, text=True, timeout=120)
        assert proc.stdout.splitlines()[0].startswith("row,id,"), proc.stdout
        assert "Traceback" not in proc.stderr and "status 0" in proc.stderr, proc.stderr
