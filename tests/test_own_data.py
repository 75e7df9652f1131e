"""A user's own table (``dataset: table``): its params, its loader's checks, the runs discovered from params/, its
own summary profile, the exported contract's wording, and one fast run of a synthetic table end to end through
``make run``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.analysis import tables
from lib.compress import deploy
from lib.core import params, paths
from lib.data import datasets
from lib.tools import deps

ROOT = paths.ROOT
TEMPLATE = ROOT / "params" / "templates" / "own-data.yaml"


def synthetic_table(path: Path, n: int = 120, seed: int = 0, trailing_comma: bool = False, sep: str = ",") -> Path:
    """A two-class table a user might hold: an ID, 6 numeric measures, a text column, a follow-up time that leaks
    the outcome, and an outcome 'yes'/'no'."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    df = pd.DataFrame({"patient": [f"P{i:03d}" for i in range(n)]})
    for j in range(6):
        df[f"m{j}"] = np.round(rng.normal(1.5 * y * (j % 3 == 0), 1.0), 3)
    df["site"] = rng.choice(["north", "south"], n)
    df["followup_days"] = np.where(y, 300, 900) + rng.integers(0, 50, n)
    df["outcome"] = np.where(y, "yes", "no")
    text = df.to_csv(index=False, sep=sep)
    if trailing_comma:
        text = "\n".join(line + sep for line in text.splitlines()) + "\n"
    path.write_text(text)
    return path


def table_params(params_dir: Path, data: Path, run: str = "mine", **extra) -> params.Params:
    shutil.copy(ROOT / "params" / "wdbc.yaml", params_dir / "wdbc.yaml")
    body = {"extends": "wdbc", "dataset": "table", "data_path": str(data), "target": "outcome", "positive": "yes",
            "id_column": "patient", "exclude": ["followup_days"], "pca_components": None,
            "positive_label": "event", "negative_label": "no event", **extra}
    (params_dir / f"{run}.yaml").write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in body.items()) + "\n")
    return params.load(run)


# ------------------------------------------------------------------------------------------------ params
def test_the_template_is_a_valid_run(params_dir, tmp_path):
    data = tmp_path / "gbsg.csv"
    shutil.copy(TEMPLATE, params_dir / "gbsg.yaml")
    shutil.copy(ROOT / "params" / "wdbc.yaml", params_dir / "wdbc.yaml")
    P = params.load("gbsg", data_path=str(data))
    assert P.dataset == "table" and P.target == "status" and P.positive == 1 and P.exclude == ["rfstime"]
    assert P.labels == ("recurrence-free", "recurrence or death") and P.pca_components is None
    assert P.folds == 5 and P.target_sensitivity == 0.95  # the rigorous protocol, from wdbc


def test_table_params_name_what_is_missing_or_misplaced(params_dir, tmp_path):
    data = synthetic_table(tmp_path / "t.csv")
    with pytest.raises(params.ParamsError, match="'target'.*needs data_path, target and positive"):
        table_params(params_dir, data, target=None)
    with pytest.raises(params.ParamsError, match="'exclude'.*either features"):
        table_params(params_dir, data, features=["m0", "m1", "m2"])
    with pytest.raises(params.ParamsError, match="'data_path'.*csv or .parquet"):
        table_params(params_dir, tmp_path / "t.xlsx")
    with pytest.raises(params.ParamsError, match="'target'.*only a 'dataset: table' run"):
        params.load("wdbc", target="diagnosis")
    with pytest.raises(params.ParamsError, match="'dataset'.*wdbc, bcd, pbcnt, table"):
        params.load("wdbc", dataset="mine")


# ------------------------------------------------------------------------------------------------ loader
def test_a_table_loads_with_ids_labels_and_notes(params_dir, tmp_path):
    for i, kw in enumerate(({}, {"trailing_comma": True}, {"sep": ";"})):
        P = table_params(params_dir, synthetic_table(tmp_path / f"t{i}.csv", **kw))
        ds = datasets.load(P)
        assert list(ds.X.columns) == [f"m{j}" for j in range(6)], kw  # text column and excluded time left out
        assert ds.labels == ("no event", "event") and set(ds.y) == {0, 1}
        assert ds.groups is not None and len(set(ds.groups)) == len(ds.y)
        assert any("site" in n for n in ds.notes)
    P = table_params(params_dir, synthetic_table(tmp_path / "t.csv"), exclude=[], features=["m2", "m0", "m1"])
    assert list(datasets.load(P).X.columns) == ["m2", "m0", "m1"]
    df = pd.read_csv(tmp_path / "t.csv")
    df.loc[3, "m1"] = np.nan
    df.to_csv(tmp_path / "na.csv", index=False)
    ds = datasets.load(table_params(params_dir, tmp_path / "na.csv"))
    assert ds.n_missing == 1 and any("imputed" in n for n in ds.notes)


def test_positive_as_yaml_reads_it(params_dir, tmp_path):
    data = synthetic_table(tmp_path / "t.csv")
    (params_dir / "wdbc.yaml").write_text((ROOT / "params" / "wdbc.yaml").read_text())
    (params_dir / "yn.yaml").write_text(f"extends: wdbc\ndataset: table\ndata_path: {data}\ntarget: outcome\n"
                                        "positive: yes\nid_column: patient\nexclude: [followup_days]\npca_components: null\n")
    P = params.load("yn")
    assert P.positive is True and datasets.load(P).y.sum() == (pd.read_csv(data).outcome == "yes").sum()
    df = pd.read_csv(data).assign(outcome=lambda d: np.where(d.outcome == "yes", 1.0, 0.0))
    df.to_csv(tmp_path / "num.csv", index=False)
    assert datasets.load(table_params(params_dir, tmp_path / "num.csv", positive="1")).y.sum() == df.outcome.sum()


def _broken(tmp_path, edit) -> Path:
    df = pd.read_csv(synthetic_table(tmp_path / "base.csv"))
    df = edit(df)
    p = tmp_path / "broken.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize("edit, extra, message", [
    (lambda d: d.drop(columns="outcome"), {}, r"missing column\(s\) 'outcome'"),
    (lambda d: d.assign(outcome=np.where(d.index % 3 == 0, "maybe", d.outcome)), {}, "exactly 2 values.*maybe"),
    (lambda d: d, {"positive": "YES"}, "no row has outcome = 'YES'.*'no', 'yes'"),
    (lambda d: d.assign(outcome=d.outcome.where(d.index != 4)), {}, "target column 'outcome' is empty in data row 5"),
    (lambda d: d.assign(m3=d.m3.astype(object).where(d.index != 7, "12,5")), {"exclude": [], "features": ["m1", "m2", "m3"]},
     r"non-numeric.*'12,5'.*column 'm3', data row 8"),
    (lambda d: d.assign(m4=1.0), {}, r"constant column\(s\) \['m4'\]"),
    (lambda d: d.assign(m2=d.m2.astype(str).str.replace(".", ",", regex=False)), {}, r"\['m2'\] hold numbers with decimal commas"),
    (lambda d: d.assign(outcome=np.where(d.index < 4, "yes", "no")), {}, r"4 samples \(IDs\) of class 'event': too few for 5 folds"),
    (lambda d: d.assign(patient=[f"P{i % 8}" for i in range(len(d))]), {}, r"8 samples \(IDs\): too few for 5 folds and an inner"),
    (lambda d: d, {"pca_components": 7}, "pca_components = 7 is more than PCA can give: 6 features"),
    (lambda d: d, {"exclude": [], "features": ["m0", "m1"]}, "2 input.*need at least 3"),
    (lambda d: d, {"exclude": ["nope"]}, r"'exclude' names column\(s\) \['nope'\]"),
    (lambda d: d.assign(patient=d.patient.where(d.index != 2)), {}, "ID column 'patient' is empty in data row 3"),
])
def test_loader_errors_name_the_cause(params_dir, tmp_path, edit, extra, message):
    P = table_params(params_dir, _broken(tmp_path, edit), **extra)
    with pytest.raises(datasets.DataError, match=message):
        datasets.load(P)


def test_grouped_paper_runs_reserved_names_and_ragged_rows(params_dir, tmp_path):
    data = synthetic_table(tmp_path / "t.csv")
    with pytest.raises(params.ParamsError, match="'id_column'.*paper protocol splits rows"):
        table_params(params_dir, data, protocol="paper", teacher_patience=None, target_sensitivity=None)
    with pytest.raises(params.ParamsError, match="reserved"):
        table_params(params_dir, data, run="summary-x")
    lines = data.read_text().splitlines()  # a separator at the end of the data rows only
    (tmp_path / "ragged.csv").write_text("\n".join(lines[:1] + [ln + "," for ln in lines[1:]]) + "\n")
    ds = datasets.load(table_params(params_dir, tmp_path / "ragged.csv"))
    assert list(ds.X.columns) == [f"m{j}" for j in range(6)] and ds.groups[0] == "P000"


def test_a_parquet_table_loads_as_its_csv(params_dir, tmp_path):
    csv = synthetic_table(tmp_path / "t.csv")
    pd.read_csv(csv).to_parquet(tmp_path / "t.parquet", index=False)
    a, b = datasets.load(table_params(params_dir, csv)), datasets.load(table_params(params_dir, tmp_path / "t.parquet"))
    assert a.X.equals(b.X) and (a.y == b.y).all() and (a.groups == b.groups).all()


def test_unreadable_or_missing_files(params_dir, tmp_path):
    with pytest.raises(datasets.DataError, match="data file not found"):
        datasets.load(table_params(params_dir, tmp_path / "none.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(datasets.DataError, match="not a readable CSV"):
        datasets.load(table_params(params_dir, tmp_path / "empty.csv"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(datasets.DataError, match="Parquet"):
        datasets.load(table_params(params_dir, tmp_path / "bad.parquet"))


def test_the_study_datasets_keep_their_labels_and_checks():
    assert datasets.load(params.load("wdbc-fast")).labels == ("benign", "malignant")
    assert params.load("pbcnt").labels == ("normal", "tumour")
    full = datasets.load_wdbc()
    rows = np.r_[np.flatnonzero(full.y == 0)[:20], np.flatnonzero(full.y == 1)[:20]]
    few = datasets.Dataset("wdbc", full.X.iloc[rows].reset_index(drop=True), full.y[rows], "40 rows of WDBC")
    with pytest.raises(datasets.DataError, match="pca_components = 26 is more than PCA can give: 30 features and about 17"):
        datasets.check_fits(params.load("wdbc-fast"), few)


# ------------------------------------------------------------------------------------------------ runs, profiles, contract
def test_runs_are_discovered_by_kind(params_dir, tmp_path):
    table_params(params_dir, synthetic_table(tmp_path / "t.csv"))
    (params_dir / "mine-fast.yaml").write_text("extends: mine\nfolds: 2\n")
    (params_dir / "wdbc-fast.yaml").write_text("extends: wdbc\nfolds: 2\n")
    (params_dir / "wdbc-to-bcd.yaml").write_text("extends: wdbc\ntransfer:\n  target: bcd\n")
    kinds = deps.run_kinds(params_dir)
    assert kinds["study"] == ["wdbc"] and kinds["study_fast"] == ["wdbc-fast"]
    assert kinds["table"] == ["mine"] and kinds["table_fast"] == ["mine-fast"]
    assert kinds["transfer"] == ["wdbc-to-bcd"]
    assert deps._top_level("data_path", "mine-fast", params_dir) == str(tmp_path / "t.csv")


def test_the_committed_runs_make_the_study_profiles():
    full, fast = tables.profile("full"), tables.profile("fast")
    assert full.runs == ("wdbc", "bcd", "pbcnt", "wdbc-paper") and full.rigorous == ("wdbc", "bcd", "pbcnt")
    assert (full.paper, full.paper_rigorous, full.transfer, full.deploy_run) == ("wdbc-paper", "wdbc", "wdbc-to-bcd", "wdbc")
    assert fast.runs == ("wdbc-fast", "bcd-fast", "pbcnt-fast", "wdbc-paper-fast") and fast.name == "summary-fast"
    one = tables.profile("bcd")
    assert (one.name, one.runs, one.paper, one.transfer, one.deploy_run) == ("summary-bcd", ("bcd",), None, None, "bcd")
    with pytest.raises(tables.SummaryError, match="unknown profile 'nope'"):
        tables.profile("nope")


def test_contract_words_the_runs_labels():
    from lib.train import architectures  # a tiny TFLite model to describe
    from lib.compress import tflite

    content = tflite.convert(architectures.build_student(6))
    c = deploy.contract(content, model="SM_DEPLOY", run="mine", split="r0f0", features=[f"m{j}" for j in range(6)],
                        units="six measures", threshold=0.3, labels=("no event", "event"))
    assert c["label"] == {"negative": "no event", "positive": "event"} and c["output"].startswith("P(event)")
    assert c["decision"].startswith("event if")
    study = deploy.contract(content, model="SM_DEPLOY", run="wdbc", split="r0f0", features=[f"m{j}" for j in range(6)],
                            units="six measures", threshold=0.3)
    assert "label" not in study and study["decision"].startswith("malignant if")
    assert datasets.contract_labels(params.load("pbcnt")) == ("benign", "malignant")


# ------------------------------------------------------------------------------------------------ end to end
def test_make_run_of_a_users_table_end_to_end(repo_copy):
    """A user's synthetic table, one params file, `make run`: results, a summary, a model card and an exported
    model with its contract in the user's words; a failing run afterwards leaves them untouched."""
    (repo_copy / "data").mkdir()
    synthetic_table(repo_copy / "data" / "mine.csv", n=160, trailing_comma=True)
    fast = (ROOT / "params" / "wdbc-fast.yaml").read_text().replace("extends: wdbc", "extends: mine")
    (repo_copy / "params" / "mine.yaml").write_text(
        "description: a user's table\nextends: wdbc\ndataset: table\ndata_path: data/mine.csv\ntarget: outcome\n"
        "positive: 'yes'\nid_column: patient\nexclude: [followup_days]\npca_components: null\n"
        "positive_label: event\nnegative_label: no event\nunits: six measures m0-m5\n")
    (repo_copy / "params" / "mine-fast.yaml").write_text(fast)
    env = {**os.environ, "PM_LOG": ""}
    env.pop("KDSTUDY_OUTPUTS", None)
    proc = subprocess.run(["make", "-s", "-o", ".venv/.installed", "run", "RUN=mine-fast", "PM_LOG="], cwd=repo_copy, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = repo_copy / "outputs"
    assert (out / "mine-fast" / "results.csv").exists()
    summary = (out / "summary-mine-fast" / "summary.md").read_text()
    pages = "".join(p.read_text() for p in sorted((out / "summary-mine-fast" / "pages").glob("*.md"))
                    if p.name != "glossary.md")  # the key page and its pages; the glossary is the study's
    card = (out / "summary-mine-fast" / "model_card.md").read_text()
    assert "mine-fast" in summary and "mine-fast" in card and "pages/answers.md" in summary
    for text in (summary + pages, card):  # in the run's own words, not the study's
        assert "malignan" not in text.lower() and "cancer" not in text.lower() and "`None`" not in text
        assert "P(event)" in text
    contract = json.loads((out / "mine-fast" / "export" / "sm_deploy.json").read_text())
    assert contract["label"]["positive"] == "event" and contract["units"] == "six measures m0-m5"
    assert contract["features"] == [f"m{j}" for j in range(6)]
    # a broken params file: make run stops with the cause, the run's outputs stay as they were
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    (repo_copy / "params" / "mine-fast.yaml").write_text(fast + "pca_components: 99\n")
    proc = subprocess.run(["make", "-s", "-o", ".venv/.installed", "run", "RUN=mine-fast", "PM_LOG="], cwd=repo_copy, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "pca_components = 99" in proc.stdout + proc.stderr
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and not p.name.endswith(".failed.ipynb")}
    assert after == before
