"""Notebook 08: every run's results side by side, with the uncertainty the data allow.

The statistics themselves live in :mod:`lib.core.stats` (intervals, Nadeau-Bengio, Friedman/Nemenyi, McNemar,
repeated measures, calibration, inflation); this module gathers the runs' tidy outputs, applies them the same
way to every run, and writes the across-run files:

- ``outputs/<name>.csv`` (``summary.csv``): one row per run x model x format x metric: mean, the naive 95%
  t-interval over splits (``ci_low``/``ci_high``), ``n`` splits, and the corrected interval
  (``corrected_low``/``corrected_high``: variance x (1/J + n_test/n_train), Nadeau & Bengio 2003), which
  accounts for the training rows the splits share;
- ``outputs/<name>/``: comparisons, diagnostic accuracy, calibration, efficiency and transfer tables, figures;
- ``outputs/<name>.md`` (``summary.md``) and ``outputs/model_card.md`` (full profile), whose words
  :mod:`lib.analysis.documents` renders from templates with the verdicts of :mod:`lib.analysis.claims`.

Two profiles: ``full`` reads the full runs, ``fast`` the ``-fast`` smoke-test runs (what CI re-executes).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as st

from lib.analysis import runs as runs_
from lib.core import calibration as calibration_
from lib.core import formatting, operating, pareto, params, paths, results, stats
from lib.core.decisions import load_decisions
from lib.core.metrics import METRICS
from lib.transfer import verdict


@dataclass(frozen=True)
class Profile:
    name: str  # outputs/<name>.csv, outputs/<name>.md, outputs/<name>/ (tables, figures, the executed notebook)
    runs: tuple  # runs whose results are summarised
    rigorous: tuple  # the rigorous runs (one per dataset)
    paper: str  # the paper-protocol run ...
    paper_rigorous: str  # ... and the rigorous run of the same dataset it is compared with
    transfer: str  # the cross-dataset run (notebook 03b)
    deploy_run: str  # the run whose SM_INT8 the model card describes
    fast: bool = False  # smoke-test numbers (the fast profile, or a -fast run alone)
    single: bool = False  # one run alone: no cross-run, paper-protocol or transfer sections


def _profile_of(fast: bool) -> Profile:
    """The study's summary across its runs, discovered from ``params/``: every run of the study's datasets in the
    profile (a name ending in ``-fast`` is the fast profile), rigorous runs in dataset order, then the paper run;
    the paper run is compared with the rigorous run of its dataset, and the model card describes the first
    rigorous run's deployable model."""
    settings = [params.load(r) for r in runs_.ordinary_runs() if r.endswith("-fast") == fast]
    study = sorted((P for P in settings if P.dataset in params.STUDY_DATASETS),
                   key=lambda P: (P.is_paper, params.STUDY_DATASETS.index(P.dataset), P.run))
    rigorous = tuple(P.run for P in study if not P.is_paper)
    paper = next((P for P in study if P.is_paper), None)
    paper_rigorous = next((P.run for P in study if paper is not None and not P.is_paper
                           and P.dataset == paper.dataset), None)
    transfer = next((r for r in runs_.transfer_runs() if r.endswith("-fast") == fast), None)
    return Profile("summary-fast" if fast else "summary", tuple(P.run for P in study), rigorous,
                   paper.run if paper is not None else None, paper_rigorous, transfer, rigorous[0] if rigorous else None,
                   fast=fast)


def _single_run(run: str) -> Profile:
    """One run alone (a user's table run, or any run under ``make run``): its own summary and model card under
    ``outputs/summary-<run>/``, without the study's cross-run comparisons."""
    P = params.load(run)
    return Profile(f"summary-{run}", (run,), () if P.is_paper else (run,), run if P.is_paper else None, None, None, run,
                   fast=run.endswith("-fast"), single=True)


# The deployable model of the study (its model card: outputs/model_card.md).
DEPLOYABLE = "SM_INT8"
# What the student is compared with, in order: (A, B, question). A - B > 0 means A is better.
QUESTIONS = (
    ("SM", "SM_scratch", "does KD beat training the student from scratch?"),
    ("SM", "TM", "does the student match the teacher?"),
    ("SM_INT8", "SM", "does int8 quantization of the student cost accuracy?"),
    ("SM_INT8", "TM", "does the deployable student match the teacher?"),
    ("SM_paperloss", "SM_scratch", "does the paper's KD loss do anything at equal budget?"),
    ("SM_scratch", "TM", "is the teacher that distils better than the student trained alone?"),
    ("SM_INT8", "LR", "does the deployable student do as well as a logistic regression?"),
    ("SM_INT8", "RF", "does the deployable student do as well as a random forest?"),
)
BASELINES = ("LR", "RF")  # scikit-learn models of the rigorous runs (format 'sklearn'), lib/train/baselines.py
OPERATING_MODELS = ("TM", "SM_scratch", "SM", "SM_INT8", "SM_DEPLOY", "LR", "RF")
COMPRESSED_TEACHERS = ("TM_pruned", "TM_pruned80", "TM_pruned90", "TM_PTQ", "TM_PTQ_INT8", "TM_QAT")
COMPRESSED = COMPRESSED_TEACHERS + ("SM", "SM_INT8")  # the ways to make a small model (KD is one)
# The same student network trained three ways (float TFLite): a small model too, so the Pareto sets include the
# two trained without Hinton KD; and, being one architecture, the spread of their host latencies is host noise.
SMALL_NETWORKS = pareto.SAME_NETWORK
FRONT_MODELS = COMPRESSED + ("SM_scratch", "SM_paperloss")
CURVE_MODELS = ("TM", "SM", "SM_INT8")  # ROC and reliability curves
DIAG_MODELS = ("TM", "SM_scratch", "SM_paperloss", "SM", "SM_INT8")
SUMMARY_COLUMNS = ["run", "model", "format", "metric", "mean", "ci_low", "ci_high", "n"]


class SummaryError(ValueError):
    """Inputs of the summary are missing or inconsistent; the message names the run and file."""


PROFILES = ("full", "fast")


def profile(name: str) -> Profile:
    """'full' or 'fast': the study's summary across its runs; the name of an ordinary run: that run alone."""
    if name in PROFILES:
        return _profile_of(name == "fast")
    if name in runs_.ordinary_runs():
        return _single_run(name)
    raise SummaryError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)} or the name of a run "
                       f"({', '.join(runs_.ordinary_runs())})")


# ------------------------------------------------------------------------------------------------ inputs
def _stale(run: str) -> bool:
    d = paths.outputs_root() / run
    merged = d / "results.csv"
    stages = list(d.glob("results_*.csv"))
    return not merged.exists() or any(p.stat().st_mtime > merged.stat().st_mtime for p in stages)


def load_results(run: str) -> pd.DataFrame:
    """The run's ``results.csv``, merged from its stage files first if it is missing or older than one of them
    (``make`` gathers it; a scratch tree re-executed by nbval has only the stage files)."""
    d = paths.outputs_root() / run
    if not list(d.glob("results_*.csv")) and not (d / "results.csv").exists():
        raise SummaryError(f"run '{run}' has no results under {d}: run its notebooks first (make reproduce)")
    if _stale(run):
        results.gather(run)
    return results.load(run)


def split_sizes(run: str) -> dict:
    """n_train (rows a model was fit on) and n_test of the run's first split, from ``splits.json``, plus the
    protocol: what the Nadeau-Bengio correction needs. n_train excludes the inner validation rows (notebooks 03
    and 04 use the same convention): n_test/n_train is 0.295 on wdbc instead of 0.25 with the outer training
    part, so the corrected intervals are about 6% wider, i.e. conservative."""
    path = paths.outputs_root() / run / "splits.json"
    try:
        d = json.loads(path.read_text())
        s0 = d["splits"][0]
        return {"n_train": len(s0["train"]), "n_test": len(s0["test"]), "protocol": d["header"]["protocol"],
                "n_splits": len(d["splits"])}
    except FileNotFoundError:
        raise SummaryError(f"{path} not found: run notebook 01 for run '{run}'") from None
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
        raise SummaryError(f"{path}: not a splits file written by lib.data.splits ({e})") from e


def split_ranges(run: str) -> dict:
    """The rows to fit and the test rows over all splits of a run, as text ('386' or '386-387')."""
    d = json.loads((paths.outputs_root() / run / "splits.json").read_text())

    def span(key):
        n = sorted({len(x[key]) for x in d["splits"]})
        return str(n[0]) if len(n) == 1 else f"{n[0]}-{n[-1]}"

    return {"n_train": span("train"), "n_test": span("test")}


def available(runs) -> tuple[list, list]:
    """(runs with results, runs without): a missing run (e.g. pbcnt without its data file) is reported, not
    fatal."""
    have, missing = [], []
    for r in runs:
        d = paths.outputs_root() / r
        (have if (d / "results.csv").exists() or list(d.glob("results_*.csv")) else missing).append(r)
    return have, missing


# ------------------------------------------------------------------------------------------------ intervals
def corrected_interval(values, n_train: int, n_test: int, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) with the Nadeau-Bengio variance (1/J + n_test/n_train) x SD^2 instead of SD^2 / J:
    the interval for the model's expected accuracy that allows for the overlap of training sets."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    J = len(v)
    if J < 2:
        return (float(v.mean()) if J else float("nan"), float("nan"), float("nan"))
    half = st.t.ppf(0.5 + level / 2, J - 1) * v.std(ddof=1) * math.sqrt(1 / J + n_test / n_train)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def summary_table(res: pd.DataFrame, n_train: int, n_test: int) -> pd.DataFrame:
    """One row per run x model x format x metric: mean, naive t-interval, n, SD and the corrected interval.
    Every metric is a proportion (or AUC / Brier) in [0, 1], so both intervals are clipped to [0, 1]."""
    rows = []
    for (run, model, fmt), g in res.groupby(["run", "model", "format"], sort=False):
        for m in METRICS:
            v = g[m].to_numpy(dtype=float)
            mean, lo, hi = stats.t_interval(v)
            _, clo, chi = corrected_interval(v, n_train, n_test)
            lo, hi, clo, chi = (float(np.clip(x, 0.0, 1.0)) if not np.isnan(x) else x for x in (lo, hi, clo, chi))
            n = int(np.sum(~np.isnan(v)))
            rows.append({"run": run, "model": model, "format": fmt, "metric": m, "mean": mean, "ci_low": lo,
                         "ci_high": hi, "n": n, "sd": float(np.nanstd(v, ddof=1)) if n > 1 else float("nan"),
                         "corrected_low": clo, "corrected_high": chi})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ comparisons
def per_split(res: pd.DataFrame, metric: str, fmt: str = "tflite") -> pd.DataFrame:
    """Splits x models table of one metric (one run): the ``fmt`` rows, and the baselines (their only format,
    ``sklearn``), so that every deployable model is a column."""
    d = res[(res["format"] == fmt) | (res["format"] == "sklearn")]
    return d.pivot(index="fold", columns="model", values=metric)


def split_rows(res: pd.DataFrame, model: str, metric: str) -> pd.Series:
    """Per split, the test rows behind one step of ``metric`` for ``model``'s deployable rows (TFLite or
    scikit-learn): all test rows (accuracy), the cancers (sensitivity), the normal rows (specificity, also at the
    operating point), the smaller class counted twice (balanced accuracy: one row moves it by 1 / (2 n_class))."""
    d = res[(res["model"] == model) & res["format"].isin(["tflite", "sklearn"])].drop_duplicates("fold").set_index("fold")
    pos, neg = d["tp"] + d["fn"], d["tn"] + d["fp"]
    if metric in ("sensitivity", "op_sensitivity"):
        return pos
    if metric in ("specificity", "op_specificity"):
        return neg
    if metric == "balanced_accuracy":
        return 2 * np.minimum(pos, neg)
    return d["n_test"]


COMPARED_METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "op_specificity")


def comparisons(res: pd.DataFrame, n_train: int, n_test: int, metrics_=COMPARED_METRICS) -> pd.DataFrame:
    """The study's paired questions on one run (TFLite models, same splits): SM vs SM_scratch, SM vs TM,
    SM_INT8 vs SM and vs TM, and SM vs each compressed teacher. Naive and corrected (Nadeau-Bengio) CI and p;
    ``corrected_p_holm`` adjusts the corrected p-values over the comparisons of one metric (Holm);
    ``detectable_80``: the smallest difference the run detects with 80% power (:func:`minimum_detectable`).
    ``op_specificity``: specificity at each model's operating point (sensitivity matched at the target), for the
    pairs where both models have one."""
    run = res["run"].iloc[0]
    pairs = list(QUESTIONS) + [("SM", t, f"is the student as good as {t}?") for t in COMPRESSED_TEACHERS]
    rows = []
    for metric in metrics_:
        if metric not in res or res[metric].isna().all():
            continue
        table = per_split(res, metric)
        block = []
        for a, b, q in pairs:
            if a not in table or b not in table:
                continue
            both = table[[a, b]].dropna()
            if both.empty:
                continue
            block.append({"run": run, "metric": metric, "a": a, "b": b, "question": q,
                          **stats.paired(both[a], both[b], n_train, n_test),
                          "detectable_80": minimum_detectable(both[a], both[b], n_train, n_test)})
        adj = stats.holm([r["corrected_p"] for r in block])
        for r, p in zip(block, adj):
            r["corrected_p_holm"] = p
        rows += block
    return pd.DataFrame(rows)


def rank_tests(res: pd.DataFrame, metric: str = "accuracy") -> dict:
    """Friedman (and Iman-Davenport) over the splits of one run, every TFLite model but SM_DEPLOY (SM_INT8's
    student again, with the preprocessing inside: counting it would rank one model twice), plus Nemenyi p-values."""
    table = per_split(res[res["model"] != "SM_DEPLOY"], metric)
    fr = stats.friedman(table)
    return {**fr, "nemenyi": stats.nemenyi(table)}


def rank_table(ranks: dict, against: str = "SM") -> pd.DataFrame:
    """The rank tests of every run (``{run: rank_tests(...)}``) as one tidy table (``rank_tests.csv``): a row per
    (run, model) with its average rank and its Nemenyi p-value against ``against``, and the run's Friedman
    statistic, p-values and critical difference repeated on each of its rows. Rows keep a fixed order (models by
    name), so that two runs whose near-tied ranks swap still line up model by model."""
    rows = []
    for run, fr in ranks.items():
        nem = fr["nemenyi"][against] if against in fr["nemenyi"] else pd.Series(dtype=float)
        for model, rank in fr["avg_ranks"].sort_index().items():
            rows.append({"run": run, "model": model, "avg_rank": float(rank),
                         "nemenyi_p": float(nem.get(model, np.nan)) if model != against else np.nan,
                         "statistic": fr["statistic"], "df": fr["df"], "p": fr["p"],
                         "iman_davenport_p": fr["iman_davenport_p"], "n_blocks": fr["n_blocks"], "k": fr["k"],
                         "critical_difference": fr["critical_difference"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ per row
def first_pass(pred: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The predictions in which every row is tested once: the folds of the first repeat (rigorous), or the
    first seed's split (paper: its 10 splits re-draw the same rows). Pooling further would count rows twice."""
    folds = pred["fold"].astype(str)
    if protocol == "paper":
        first = sorted(folds.unique(), key=lambda f: int(f.lstrip("s")))[0]
        return pred[folds == first]
    return pred[folds.str.startswith("r0")]


def diagnostic(pred: pd.DataFrame, res: pd.DataFrame, protocol: str, models=DIAG_MODELS) -> pd.DataFrame:
    """Sensitivity (malignant found) and specificity (benign cleared) of each model: pooled counts of the
    first pass with a Wilson interval, and the mean over all splits with a t-interval. A missed cancer (1 -
    sensitivity) is the costly error; ``fn`` counts them."""
    one = first_pass(pred, protocol)
    rows = []
    for m in models:
        p = one[one["model"] == m]
        if p.empty:
            continue
        tp = int(((p.y == 1) & (p.pred == 1)).sum()); fn = int(((p.y == 1) & (p.pred == 0)).sum())
        tn = int(((p.y == 0) & (p.pred == 0)).sum()); fp = int(((p.y == 0) & (p.pred == 1)).sum())
        r = res[(res["model"] == m) & (res["format"] == "tflite")]
        row = {"run": res["run"].iloc[0], "model": m, "pooled_rows": len(p), "tp": tp, "fn": fn, "tn": tn, "fp": fp}
        for name, k, n in (("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp)):
            est, lo, hi = stats.wilson(k, n)
            mean, mlo, mhi = stats.t_interval(r[name])
            row.update({f"{name}_pooled": est, f"{name}_wilson_low": lo, f"{name}_wilson_high": hi,
                        f"{name}_mean": mean, f"{name}_ci_low": mlo, f"{name}_ci_high": mhi})
        rows.append(row)
    return pd.DataFrame(rows)


def operating_point(res: pd.DataFrame, protocol: str, models=OPERATING_MODELS) -> pd.DataFrame:
    """Each deployable model (TFLite, or scikit-learn for the baselines) at 0.5 and at its operating point
    (``op_*`` columns of the results, :mod:`lib.core.operating`), counts pooled over the first pass (the folds of the
    first repeat: every row tested once) with Wilson intervals, and the range of the thresholds. Empty for a
    run without an operating point (the paper protocol)."""
    if "op_threshold" not in res or protocol == "paper":
        return pd.DataFrame()
    d = res[res["format"].isin(["tflite", "sklearn"]) & res["op_threshold"].notna()]
    d = d[d["fold"].astype(str).str.startswith("r0")]
    rows = []
    for m in models:
        g = d[d["model"] == m]
        if g.empty:
            continue
        row = {"run": res["run"].iloc[0], "model": m, **operating.pool(g)}
        if row["source"] == "inherited":  # a float conversion keeps its Keras source's threshold; SM_DEPLOY SM_INT8's
            src = "SM_INT8" if m == "SM_DEPLOY" else m
            fmt = "tflite" if m == "SM_DEPLOY" else "keras"
            k = res[(res["model"] == src) & (res["format"] == fmt) & res["op_source"].notna()]
            row["source"] = "/".join(sorted(set(k["op_source"]))) + f", of {src}" + (" (Keras)" if fmt == "keras" else "") \
                if len(k) else "inherited"
        pos, neg = row["cancers"], row["normals"]
        for when in ("05", "op"):
            for name, k, n in (("sensitivity", pos - row[f"missed_{when}"], pos),
                               ("specificity", neg - row[f"false_alarms_{when}"], neg)):
                est, lo, hi = stats.wilson(k, n)
                row.update({f"{name}_{when}": est, f"{name}_{when}_low": lo, f"{name}_{when}_high": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def predictive_values(opt: pd.DataFrame, prevalences: dict, models=("TM", "SM_INT8", "LR"),
                      skip_runs=()) -> pd.DataFrame:
    """PPV and NPV at each stated prevalence (decisions.yaml ``prevalences``) of each model at its operating
    point, from the pooled first-pass sensitivity and specificity of :func:`operating_point` (Bayes' rule). The
    bounds put both Wilson bounds in (PPV and NPV rise with sensitivity and with specificity): a conservative
    box, not an exact interval. ``skip_runs``: runs without a specificity to speak of (descriptive runs)."""
    rows = []
    if opt is None or not len(opt):
        return pd.DataFrame(rows)
    for o in opt[opt["model"].isin(models) & ~opt["run"].isin(skip_runs)].to_dict("records"):
        for setting, pi in prevalences.items():
            est = stats.ppv_npv(o["sensitivity_op"], o["specificity_op"], pi)
            lo = stats.ppv_npv(o["sensitivity_op_low"], o["specificity_op_low"], pi)
            hi = stats.ppv_npv(o["sensitivity_op_high"], o["specificity_op_high"], pi)
            rows.append({"run": o["run"], "model": o["model"], "setting": setting, "prevalence": float(pi),
                         "sensitivity": o["sensitivity_op"], "specificity": o["specificity_op"],
                         "ppv": est[0], "ppv_low": lo[0], "ppv_high": hi[0],
                         "npv": est[1], "npv_low": lo[1], "npv_high": hi[1]})
    return pd.DataFrame(rows)


def base_run(run: str) -> str:
    """The full run a fast run stands in for (``wdbc-fast`` -> ``wdbc``); any other run is itself."""
    return run[:-len("-fast")] if run.endswith("-fast") else run


def sample_sizes(pred: dict, runs, family: dict, margins: dict, setting: dict) -> pd.DataFrame:
    """For each primary comparison A - B (decisions.yaml ``primary_family``) on each of its runs: the share of
    discordant pairs in the first pass (rows where exactly one of the two is right; for sensitivity, among the
    cancers), the first pass's difference, and the patients a paired (McNemar-type) non-inferiority test of one
    fitted pair on one test set at the margin would need for the stated power at the stated one-sided level
    (:func:`lib.core.stats.sample_size`), if the two did not differ and at the observed difference (None when that
    difference lies beyond the margin). A yardstick of scale, not the power of the study's cross-validated test."""
    a, b = (x.strip() for x in family["comparison"].split(" - "))
    rows = []
    for r in runs:
        if r not in pred or base_run(r) not in family["runs"]:
            continue
        one = first_pass(pred[r], "rigorous")
        wide = one.assign(correct=one["y"] == one["pred"]).pivot(index="row", columns="model", values="correct")
        y = one.drop_duplicates("row").set_index("row")["y"].reindex(wide.index)
        if a not in wide or b not in wide:
            continue
        for metric in family["metrics"]:
            keep = y == 1 if metric == "sensitivity" else pd.Series(True, index=wide.index)
            disc = float((wide.loc[keep, a] != wide.loc[keep, b]).mean())
            diff = float(wide.loc[keep, a].mean() - wide.loc[keep, b].mean())
            n = stats.sample_size(disc, margins[metric], setting["alpha_one_sided"], setting["power"])
            n_obs = (stats.sample_size(disc, margins[metric], setting["alpha_one_sided"], setting["power"], diff)
                     if diff + margins[metric] > 0 else None)
            share = float(keep.mean())
            rows.append({"run": r, "comparison": f"{a} - {b}", "metric": metric, "margin": margins[metric],
                         "rows": int(keep.sum()), "discordant": int((wide.loc[keep, a] != wide.loc[keep, b]).sum()),
                         "discordant_share": disc, "needed": n,
                         "needed_patients": None if n is None else int(math.ceil(n / share)),
                         "observed_difference": diff, "needed_at_observed": n_obs,
                         "needed_patients_at_observed": None if n_obs is None else int(math.ceil(n_obs / share)),
                         "patients": int(len(wide)), "power": setting["power"],
                         "alpha_one_sided": setting["alpha_one_sided"]})
    return pd.DataFrame(rows)


NEURAL = ("TM", "TM_pruned", "TM_pruned80", "TM_pruned90", "TM_PTQ", "TM_PTQ_INT8", "TM_QAT", "SM", "SM_scratch",
          "SM_paperloss", "SM_INT8")


def descriptive_facts(pred: pd.DataFrame, res: pd.DataFrame, teacher_epochs: int | None) -> dict:
    """What makes a run descriptive, from its data: its normal rows (first pass), the normal rows that every
    neural model (TFLite) gets wrong at 0.5 and those that any gets wrong, and how many of its teachers stopped
    at the epoch cap rather than by early stopping, with the teacher's accuracy beside the majority class."""
    one = first_pass(pred, "rigorous")
    one = one[one["model"].isin(NEURAL)]
    normal = one[one["y"] == 0]
    wrong = normal[normal["pred"] == 1].groupby("model")["row"].apply(set)
    models = sorted(set(one["model"]))
    every = set.intersection(*[wrong.get(m, set()) for m in models]) if models else set()
    anyone = set().union(*wrong.values) if len(wrong) else set()
    tm = res[(res["model"] == "TM") & (res["format"] == "keras")]
    capped = int((tm["epochs_trained"] >= teacher_epochs).sum()) if teacher_epochs and "epochs_trained" in tm else None
    tm_acc = res[(res["model"] == "TM") & (res["format"] == "tflite")]["accuracy"].mean()
    pos = int((one.drop_duplicates("row")["y"] == 1).sum())
    n = int(one["row"].nunique())
    return {"normals": int(normal["row"].nunique()), "cancers": pos, "rows": n, "models": len(models),
            "wrong_by_every": sorted(int(x) for x in every), "wrong_by_any": sorted(int(x) for x in anyone),
            "teacher_capped": capped, "teacher_splits": int(len(tm)), "teacher_epochs": teacher_epochs,
            "teacher_accuracy": float(tm_acc), "majority": max(pos, n - pos) / n if n else float("nan")}


def mcnemar_table(pred: pd.DataFrame, pairs=(("SM", "TM"), ("SM", "SM_scratch"), ("SM_INT8", "SM"))) -> pd.DataFrame:
    """McNemar's exact test per split for each pair (same test rows): b = rows only A gets right, c = only B."""
    rows = []
    for fold, g in pred.groupby("fold", sort=False):
        wide = g.assign(correct=(g.y == g.pred)).pivot(index="row", columns="model", values="correct")
        for a, b in pairs:
            if a in wide and b in wide:
                r = stats.mcnemar(wide[a].to_numpy(bool), wide[b].to_numpy(bool))
                rows.append({"run": g["run"].iloc[0], "fold": fold, "model_a": a, "model_b": b, **r})
    return pd.DataFrame(rows)


def platt_scores(pred: pd.DataFrame, res: pd.DataFrame) -> pd.Series | None:
    """The scores of ``pred`` (one model's rows) mapped by each split's Platt scaling (``cal_a``, ``cal_b`` of the
    model's results row of that split, fitted on its out-of-fold scores; :mod:`lib.core.calibration`); None when
    the results carry none."""
    if not {"cal_a", "cal_b"} <= set(res.columns) or pred.empty:
        return None
    m = pred["model"].iloc[0]
    rows = res[(res["model"] == m) & res["format"].isin(["tflite", "sklearn"]) & res["cal_a"].notna()]
    ab = rows.drop_duplicates("fold").set_index("fold")[["cal_a", "cal_b"]]
    if ab.empty or not set(pred["fold"]) <= set(ab.index):
        return None
    a, b = ab.loc[pred["fold"], "cal_a"].to_numpy(), ab.loc[pred["fold"], "cal_b"].to_numpy()
    return pd.Series(calibration_.apply_platt(pred["score"].to_numpy(), a, b), index=pred.index)


def calibration(pred: pd.DataFrame, protocol: str, models=DIAG_MODELS, bins: int = 10,
                res: pd.DataFrame | None = None) -> pd.DataFrame:
    """Brier score and its decomposition (reliability - resolution + uncertainty) of each model, first pass, and
    the calibration intercept and slope (:func:`lib.core.calibration.intercept_slope`); with ``res`` carrying
    Platt scaling (``cal_a``, ``cal_b``), the same after it (``*_platt``)."""
    one = first_pass(pred, protocol)
    rows = []
    for m in models:
        p = one[one["model"] == m]
        if len(p):
            row = {"run": pred["run"].iloc[0], "model": m, "n": len(p),
                   **stats.brier_decomposition(p["y"].to_numpy(), p["score"].to_numpy(), bins=bins),
                   **calibration_.intercept_slope(p["y"], p["score"])}
            after = None if res is None else platt_scores(p, res)
            if after is not None:
                fit = calibration_.intercept_slope(p["y"], after)
                row.update({"brier_platt": float(np.mean((after.to_numpy() - p["y"].to_numpy()) ** 2)),
                            "calibration_intercept_platt": fit["calibration_intercept"],
                            "calibration_slope_platt": fit["calibration_slope"]})
            rows.append(row)
    return pd.DataFrame(rows)


def net_benefit(y, score, thresholds) -> np.ndarray:
    """Decision-curve net benefit of treating (here: referring) every row with score >= t, for each threshold
    probability t: TP/n - FP/n x t / (1 - t) (Vickers & Elkin 2006)."""
    y, s_ = np.asarray(y, int), np.asarray(score, float)
    n = len(y)
    out = []
    for t in thresholds:
        pos = s_ >= t
        tp, fp = int((pos & (y == 1)).sum()), int((pos & (y == 0)).sum())
        out.append(tp / n - fp / n * t / (1 - t))
    return np.array(out)


def minimum_detectable(values_a, values_b, n_train: int, n_test: int, power: float = 0.8, level: float = 0.95) -> float:
    """The smallest true mean difference A - B a run of J paired splits detects with ``power`` (two-sided, corrected
    variance sd^2 x (1/J + n_test/n_train)): (t_{1-alpha/2} + t_{power}) x corrected standard error, J - 1 df. NaN
    below 2 splits or when the splits do not vary."""
    d = (np.asarray(values_a, float) - np.asarray(values_b, float))
    d = d[~np.isnan(d)]
    J = len(d)
    if J < 2 or d.std(ddof=1) == 0:
        return float("nan")
    se = d.std(ddof=1) * math.sqrt(1 / J + n_test / n_train)
    return float((st.t.ppf(0.5 + level / 2, J - 1) + st.t.ppf(power, J - 1)) * se)


# ------------------------------------------------------------------------------------------------ across runs
def repeated_measures(res_by_run: dict, runs, models=("TM", "SM_scratch", "SM"), metric: str = "accuracy"):
    """Per rigorous dataset a one-way repeated-measures ANOVA (splits as subjects, model within), and across
    datasets a mixed model (random intercept per dataset:split); TFLite models. Returns (anova table, mixed)."""
    tabs, frames = [], []
    for run in runs:
        d = res_by_run[run]
        d = d[(d["format"] == "tflite") & d["model"].isin(models)]
        t = stats.rm_anova(d, metric).reset_index(names="effect")
        tabs.append(t.assign(run=run))
        frames.append(d)
    mixed = stats.mixed_model(pd.concat(frames, ignore_index=True), metric) if len(frames) > 1 else None
    return pd.concat(tabs, ignore_index=True), mixed


# The settings that train each model: where the two protocols' params differ in one of them, their difference
# is not protocol inflation alone (e.g. the paper protocol's scratch student at Adam 1e-4, the rigorous one at 1e-3).
# A distilled student inherits its teacher's training (it learns from the teacher's outputs).
_PROTOCOL = ("batch_size", "class_weight", "bn_recompute", "pca_input")
_TEACHER = ("teacher_lr", "teacher_epochs", "teacher_patience")
_KD = ("kd_loss", "kd_lr", "kd_epochs", "kd_alpha_T")
TRAINING_SETTINGS = {"TM": _TEACHER + _PROTOCOL,
                     "SM_scratch": ("student_lr", "student_epochs") + _PROTOCOL,
                     "SM": _KD + _TEACHER + _PROTOCOL,
                     "SM_INT8": _KD + _TEACHER + _PROTOCOL,
                     "TM_PTQ": _TEACHER + _PROTOCOL}


def _setting(P, key: str):
    """A training setting of a run as the inflation table quotes it: SM_scratch's learning rate and epochs read as
    the grid they were tuned over when the run tunes them, (alpha, T) as fixed or chosen on inner validation."""
    if P is None:
        return None
    if key == "pca_input":  # what PCA is fitted on, besides which rows (that part is the leakage itself)
        if not getattr(P, "pca_components", None):
            return "no PCA"
        return f"PCA({P.pca_components}) of unscaled features" if P.is_paper else f"PCA({P.pca_components}) of standardised features"
    if key in ("student_lr", "student_epochs") and getattr(P, "scratch_lrs", None):
        grid = P.scratch_lrs if key == "student_lr" else P.scratch_epochs
        return "tuned over " + "/".join(f"{v:g}" for v in grid)
    if key == "kd_alpha_T":
        if P.is_paper:
            return f"fixed ({P.kd_alpha:g}, {P.kd_temperature:g})"
        return f"chosen among {len(P.ablation_alphas) * len(P.ablation_temperatures)} cells"
    return getattr(P, key, None)


def corrected_difference(a, b, sizes_a: dict, sizes_b: dict, level: float = 0.95) -> dict:
    """mean(a) - mean(b) of two independent resampling runs, each mean's variance corrected for the training rows
    its splits share (Nadeau-Bengio: var x (1/J + n_test/n_train)), Welch-Satterthwaite degrees of freedom."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "low": float("nan"), "high": float("nan"), "p": float("nan")}
    va = a.var(ddof=1) * (1 / len(a) + sizes_a["n_test"] / sizes_a["n_train"])
    vb = b.var(ddof=1) * (1 / len(b) + sizes_b["n_test"] / sizes_b["n_train"])
    se = math.sqrt(va + vb)
    if se == 0:
        return {"diff": diff, "low": diff, "high": diff, "p": float("nan")}
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(st.t.ppf(0.5 + level / 2, df)) * se
    return {"diff": diff, "low": diff - half, "high": diff + half, "p": float(2 * st.t.sf(abs(diff) / se, df))}


def inflation_table(paper: pd.DataFrame, rigorous: pd.DataFrame, reported: dict, sizes: dict | None = None,
                    settings: dict | None = None) -> pd.DataFrame:
    """For each headline: the paper's reported number, ours under the paper protocol (mean, t-interval, min-max
    over seeds) and under the rigorous one, and the inflation (paper protocol - rigorous): the naive Welch interval
    and, with ``sizes`` ({"paper": split_sizes, "rigorous": split_sizes}), the corrected one, its verdict
    (``inflated`` / ``deflated`` / ``no_detectable_difference``), the training rows of each protocol (leakage and
    training-set size cannot be told apart by these two runs) and, with ``settings`` ({"paper": params,
    "rigorous": params}), the training settings of the model that differ between the runs (a confound, not
    inflation). ``reported``: {(model, format, metric): (value, source)}."""
    rows = []
    for (model, fmt, metric), (value, source) in reported.items():
        a = paper[(paper["model"] == model) & (paper["format"] == fmt)][metric].to_numpy(dtype=float)
        b = rigorous[(rigorous["model"] == model) & (rigorous["format"] == fmt)][metric].to_numpy(dtype=float)
        if not len(a) or not len(b):
            continue
        inf = stats.inflation(a, b)
        pm, plo, phi = stats.t_interval(a)
        rm, rlo, rhi = stats.t_interval(b)
        rows.append({"model": model, "format": fmt, "metric": metric, "paper_reported": value, "source": source,
                     "paper_protocol_mean": pm, "paper_protocol_low": plo, "paper_protocol_high": phi,
                     "paper_protocol_min": float(np.nanmin(a)), "paper_protocol_max": float(np.nanmax(a)),
                     "rigorous_mean": rm, "rigorous_low": rlo, "rigorous_high": rhi,
                     "protocol_inflation": inf["diff"], "protocol_inflation_low": inf["ci_low"],
                     "protocol_inflation_high": inf["ci_high"], "protocol_inflation_p": inf["p"],
                     "reported_minus_rigorous": value - rm if value is not None else float("nan")})
        if sizes is not None:
            c = corrected_difference(a, b, sizes["paper"], sizes["rigorous"])
            rows[-1].update({"corrected_inflation_low": c["low"], "corrected_inflation_high": c["high"],
                             "corrected_inflation_p": c["p"],
                             "inflation_verdict": ("inflated" if c["low"] > 0 else "deflated" if c["high"] < 0 else
                                                   "no_detectable_difference") if not math.isnan(c["low"]) else "untested",
                             "n_train_paper": sizes["paper"]["n_train"], "n_train_rigorous": sizes["rigorous"]["n_train"]})
        if settings is not None:
            keys = TRAINING_SETTINGS.get(model, ())
            pp, rr = settings["paper"], settings["rigorous"]
            differ = [f"{k.replace('kd_alpha_T', '(alpha, T)')} {_setting(pp, k)} vs {_setting(rr, k)}" for k in keys
                      if _setting(pp, k) != _setting(rr, k)]
            rows[-1]["confounds"] = "; ".join(differ)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ efficiency
def efficiency(res: pd.DataFrame, latency: pd.DataFrame | None, tie_rule: str | None = None) -> pd.DataFrame:
    """Accuracy (TFLite, mean over splits), size and host latency of each model of one run, accuracy per KiB and
    per microsecond, and whether the model is Pareto-optimal in (accuracy, size) and (accuracy, latency) by
    :func:`lib.core.pareto.front` (latency: from the range of medians over repeats, ``median_us_min``/``median_us_max``
    of ``latency``; overlapping ranges are ties, widened by ``tie_rule``: the decisions' ``latency_tie`` by default).
    SM_DEPLOY is left out: it is SM_INT8's student with the preprocessing inside, scored on complete rows only
    (BCD's incomplete rows are not its input), so its accuracy is not of the same rows (notebook 05 compares them)."""
    d = res[(res["format"] == "tflite") & (res["model"] != "SM_DEPLOY")]
    g = d.groupby("model")
    out = pd.DataFrame({"accuracy": g["accuracy"].mean(), "size_bytes": g["size_bytes"].mean(),
                        "gzip_bytes": g["size_gzip_bytes"].mean(), "params": g["params"].first()})
    ranges = pd.DataFrame(np.nan, index=out.index, columns=list(pareto.LATENCY_RANGE))  # for the latency front only
    if latency is not None and len(latency):
        one = latency[latency["batch"] == 1].set_index("model")
        out["median_us"] = one["median_us"].reindex(out.index)
        ranges = one[[c for c in pareto.LATENCY_RANGE if c in one]].reindex(out.index)  # pareto.front names a missing one
    else:
        out["median_us"] = np.nan
    out["accuracy_per_kib"] = out["accuracy"] / (out["size_bytes"] / 1024)
    out["accuracy_per_us"] = out["accuracy"] / out["median_us"]
    # lib.core.pareto's rule: latency ties where the ranges of medians over repeats overlap, widened as decided
    out["pareto_size_bytes"], out["pareto_median_us"] = pareto.front_flags(
        out.join(ranges), tie_rule or load_decisions().latency_tie, SMALL_NETWORKS)
    return out.reset_index().assign(run=res["run"].iloc[0])


# ------------------------------------------------------------------------------------------------ writing
# One of each for the whole study (lib/core/formatting.py); named here too, since notebook 08 and lib.analysis.documents use them so.
write_csv, write_text, fmt_ci, fmt_p, md_table = formatting.write_csv, formatting.write_text, formatting.fmt_ci, formatting.fmt_p, formatting.md_table


def outputs_for(prof: Profile):
    """(summary.csv, summary.md, model card, details folder) of a profile: ``outputs/summary.csv``,
    ``outputs/summary.md``, ``outputs/model_card.md``, ``outputs/summary/`` for the full profile; the fast
    profile keeps everything apart (``outputs/summary-fast.*``, ``outputs/summary-fast/model_card.md``)."""
    root = paths.outputs_root()
    if prof.single:  # one run alone: everything in outputs/summary-<run>/
        d = root / prof.name
        return d / "summary.csv", d / "summary.md", d / "model_card.md", d
    card = root / "model_card.md" if prof.name == "summary" else root / prof.name / "model_card.md"
    return root / f"{prof.name}.csv", root / f"{prof.name}.md", card, root / prof.name


def best_compressed(eff: pd.DataFrame) -> pd.DataFrame:
    """Per run, among the compressed models (:data:`COMPRESSED`): the best accuracy per byte and per
    microsecond, and the most accurate one, with their accuracy, size and latency."""
    rows = []
    for run, d in eff.groupby("run", sort=False):
        d = d[d["model"].isin(COMPRESSED)].set_index("model")
        if d.empty:
            continue
        per_byte = d["accuracy_per_kib"].idxmax()
        per_us = d["accuracy_per_us"].idxmax() if d["accuracy_per_us"].notna().any() else None
        top = d["accuracy"].idxmax()
        ranked_us = d["accuracy_per_us"].dropna().sort_values(ascending=False)
        second = ranked_us.index[1] if len(ranked_us) > 1 else None
        teachers = d[d.index.isin(COMPRESSED_TEACHERS)]
        t_byte = teachers["accuracy_per_kib"].idxmax() if len(teachers) else None
        rows.append({"run": run, "best_per_byte": per_byte, "accuracy": d.loc[per_byte, "accuracy"],
                     "size_bytes": d.loc[per_byte, "size_bytes"], "best_per_us": per_us,
                     "median_us": d.loc[per_us, "median_us"] if per_us else float("nan"),
                     "runner_up_per_us": second, "runner_up_us": d.loc[second, "median_us"] if second else float("nan"),
                     "best_teacher_per_byte": t_byte,
                     "teacher_accuracy": d.loc[t_byte, "accuracy"] if t_byte else float("nan"),
                     "teacher_size_bytes": d.loc[t_byte, "size_bytes"] if t_byte else float("nan"),
                     "most_accurate_compressed": top, "its_accuracy": d.loc[top, "accuracy"],
                     "its_size_bytes": d.loc[top, "size_bytes"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ transfer
TRANSFER_COLUMNS = ("features", "k", "model", "part", "metric", "mean", "ci_low", "ci_high", "n", "majority")


def transfer_results(run: str | None) -> pd.DataFrame | None:
    """The cross-dataset run's ``transfer_summary.csv`` (notebook 03b), or None if that run has not been made (or
    the profile has none)."""
    if run is None:
        return None
    path = paths.outputs_root() / run / "transfer_summary.csv"
    if not path.exists():
        return None
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise SummaryError(f"{path}: unreadable CSV: {e}") from e
    missing = [c for c in TRANSFER_COLUMNS if c not in df.columns]
    if missing:
        raise SummaryError(f"{path}: missing column(s) {missing}")
    rows = path.with_name("transfer.csv")  # the target's row count, for a Wilson interval of a pooled accuracy
    if rows.exists():
        try:
            t = pd.read_csv(rows, usecols=["part", "n"])
            df["n_rows"] = int(t[t["part"] == "target"]["n"].iloc[0])
        except (ValueError, IndexError, pd.errors.ParserError) as e:
            raise SummaryError(f"{rows}: cannot read the target's row count ({e})") from e
    return df


def transfer_verdict(tr: pd.DataFrame, paper=(0.7397, 0.6504, 0.8290), prespecified=("signed", 1, "LR")) -> dict:
    """Does any (features, k, model) beat the target's majority class? As in notebook 03b (``lib.transfer.verdict.
    verdict``, both through ``lib.transfer.verdict.configurations``), a cell beats the majority class when the t-interval (over
    seeds) of its target accuracy lies entirely above the majority-class accuracy and, where reported, that of its
    balanced accuracy above 0.5 (the majority rule's). Whether it transfers is decided against the target-only
    rules (``lib.analysis.documents.transfer_claim``).
    Also: the authors' method, SM at k = 6 (their reported cell) next to the paper's 73.97% [65.04, 82.90]."""
    bal = tr[(tr["part"] == "target") & (tr["metric"] == "balanced_accuracy")]
    acc = verdict.configurations(tr).rename(columns={"above_majority": "above"})
    majority = float(acc["majority"].iloc[0]) if len(acc) else float("nan")
    above = acc[acc["above"]].sort_values("mean", ascending=False)
    best = acc.sort_values("mean", ascending=False).iloc[0]

    def cell(features, k, model, metric="accuracy"):
        m = tr[(tr["part"] == "target") & (tr["metric"] == metric) & (tr["features"] == features) &
               (tr["k"] == k) & (tr["model"] == model)]
        return m.iloc[0] if len(m) else None

    authors6 = cell("authors", 6, "SM")
    by_features = {f: (int(g["above"].sum()), len(g)) for f, g in acc.groupby("features", sort=False)}
    # The one cell fixed before looking at any result (params/report/decisions.yaml: transfer_cell).
    pre = cell(*prespecified)
    lines = [f"Majority class (answer 'benign' for everyone): {100 * majority:.1f}% of the target."]
    if authors6 is not None:
        lines.append(f"Authors' method, SM at k = 6 (their reported cell): {fmt_ci(authors6['mean'], authors6['ci_low'], authors6['ci_high'])}"
                     f" (t-interval over {int(authors6['n'])} seeds); paper: {100 * paper[0]:.2f}% "
                     f"[{100 * paper[1]:.2f}, {100 * paper[2]:.2f}] (z with n = 13 for 10 runs).")
    lines.append(f"Cells (features x k x model) whose accuracy interval lies above the majority class"
                 f"{' and balanced-accuracy interval above 50%' if len(bal) else ''}: {len(above)} of {len(acc)} ("
                 + ", ".join(f"{f} features {a} of {n}" for f, (a, n) in by_features.items()) + ").")
    if pre is not None:
        ps, pp = cell(*prespecified, "sensitivity"), cell(*prespecified, "specificity")
        lines.append(f"Pre-specified cell ({prespecified[0]} features, k = {prespecified[1]}, {prespecified[2]}): "
                     f"{fmt_ci(pre['mean'], pre['ci_low'], pre['ci_high'])}"
                     + (f"; sensitivity {fmt_ci(ps['mean'], ps['ci_low'], ps['ci_high'])}, specificity "
                        f"{fmt_ci(pp['mean'], pp['ci_low'], pp['ci_high'])}" if ps is not None and pp is not None else "") + ".")
    if len(above):
        a = above.iloc[0]
        sens, spec = cell(a["features"], a["k"], a["model"], "sensitivity"), cell(a["features"], a["k"], a["model"], "specificity")
        extra = ""
        if sens is not None and spec is not None:
            extra = f"; sensitivity {fmt_ci(sens['mean'], sens['ci_low'], sens['ci_high'])}, specificity {fmt_ci(spec['mean'], spec['ci_low'], spec['ci_high'])}"
        lines.append(f"Best of them: {a['model']} on {a['features']} features, k = {int(a['k'])}: "
                     f"{fmt_ci(a['mean'], a['ci_low'], a['ci_high'])}{extra}. Picking the best of "
                     f"{len(acc)} cells on target accuracy is itself selection on the test set: read it as an upper bound.")
    else:
        lines.append(f"No cell is reliably better than answering 'benign'. Highest mean: {best['model']} on "
                     f"{best['features']} features, k = {int(best['k'])}: {fmt_ci(best['mean'], best['ci_low'], best['ci_high'])}.")
    sens_t = tr[(tr["part"] == "target") & (tr["metric"] == "sensitivity")].set_index(["features", "k", "model"])["mean"]
    above = above.assign(sensitivity=[sens_t.get((f, k, m), float("nan"))
                                      for f, k, m in zip(above["features"], above["k"], above["model"])])
    sm_signed = acc[(acc["features"] == "signed") & (acc["model"] == "SM")]["mean"]
    pre_wilson = None
    if pre is not None and "n_rows" in tr.columns and tr["n_rows"].notna().any():
        n = int(tr["n_rows"].dropna().iloc[0])
        pre_wilson = (*stats.wilson(round(float(pre["mean"]) * n), n), n)
    return {"majority": majority, "n_cells": len(acc), "n_above": len(above), "above": above,
            "prespecified_wilson": pre_wilson,
            "signed_sm_range": (float(sm_signed.min()), float(sm_signed.max())) if len(sm_signed) else None,
            "by_features": by_features, "prespecified": pre, "authors_k6_sm": authors6, "best": best,
            "transfers": bool(len(above)), "text": "\n".join(lines)}


def transfer_table(tr: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Target ``metric`` per (features, model) x k as 'mean [t-interval]' (percent)."""
    d = tr[(tr["part"] == "target") & (tr["metric"] == metric)].copy()
    d["cell"] = [fmt_ci(m, lo, hi) for m, lo, hi in zip(d["mean"], d["ci_low"], d["ci_high"])]
    return d.pivot_table(index=["features", "model"], columns="k", values="cell", aggfunc="first")


def read_optional(run: str | None, name: str):
    """``outputs/<run>/<name>`` if it exists (a CSV as a DataFrame, a JSON file as a dict), else None (also when
    the profile has no such run)."""
    if run is None:
        return None
    f = paths.outputs_root() / run / name
    if not f.exists():
        return None
    return json.loads(f.read_text()) if f.suffix == ".json" else pd.read_csv(f)
