"""Notebook 08: every run's results side by side, with the uncertainty the data allow.

The statistics themselves live in :mod:`lib.stats` (intervals, Nadeau-Bengio, Friedman/Nemenyi, McNemar,
repeated measures, calibration, inflation); this module gathers the runs' tidy outputs, applies them the same
way to every run, and writes the across-run files:

- ``outputs/<name>.csv`` (``summary.csv``): one row per run x model x format x metric: mean, the naive 95%
  t-interval over splits (``ci_low``/``ci_high``), ``n`` splits, and the corrected interval
  (``corrected_low``/``corrected_high``: variance x (1/J + n_test/n_train), Nadeau & Bengio 2003), which
  accounts for the training rows the splits share;
- ``outputs/<name>/``: comparisons, diagnostic accuracy, calibration, efficiency and transfer tables, figures;
- ``outputs/<name>.md`` (``summary.md``) and ``outputs/model_card.md`` (full profile), written by
  :func:`write_markdown`.

Two profiles: ``full`` reads the full runs, ``fast`` the ``-fast`` smoke-test runs (what CI re-executes).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st

from . import paths, results, stats
from .metrics import METRICS


@dataclass(frozen=True)
class Profile:
    name: str  # outputs/<name>.csv, outputs/<name>.md, outputs/<name>/ (tables, figures, the executed notebook)
    runs: tuple  # runs whose results are summarised
    rigorous: tuple  # the rigorous runs (one per dataset)
    paper: str  # the paper-protocol run ...
    paper_rigorous: str  # ... and the rigorous run of the same dataset it is compared with
    transfer: str  # the cross-dataset run (notebook 03b)
    deploy_run: str  # the run whose SM_INT8 the model card describes


PROFILES = {
    "full": Profile("summary", ("wdbc", "bcd", "pbcnt", "wdbc-paper"), ("wdbc", "bcd", "pbcnt"), "wdbc-paper",
                    "wdbc", "wdbc-to-bcd", "wdbc"),
    "fast": Profile("summary-fast", ("wdbc-fast", "bcd-fast", "pbcnt-fast", "wdbc-paper-fast"),
                    ("wdbc-fast", "bcd-fast", "pbcnt-fast"), "wdbc-paper-fast", "wdbc-fast", "wdbc-to-bcd-fast", "wdbc-fast"),
}
# The deployable model of the study (its model card: outputs/model_card.md).
DEPLOYABLE = "SM_INT8"
# What the student is compared with, in order: (A, B, question). A - B > 0 means A is better.
QUESTIONS = (
    ("SM", "SM_scratch", "does KD beat training the student from scratch?"),
    ("SM", "TM", "does the student match the teacher?"),
    ("SM_INT8", "SM", "does int8 quantization of the student cost accuracy?"),
    ("SM_INT8", "TM", "does the deployable student match the teacher?"),
    ("SM_paperloss", "SM_scratch", "does the paper's KD loss do anything at equal budget?"),
)
COMPRESSED_TEACHERS = ("TM_pruned", "TM_pruned80", "TM_pruned90", "TM_PTQ", "TM_PTQ_INT8", "TM_QAT")
COMPRESSED = COMPRESSED_TEACHERS + ("SM", "SM_INT8")  # the ways to make a small model (KD is one)
CURVE_MODELS = ("TM", "SM", "SM_INT8")  # ROC and reliability curves
DIAG_MODELS = ("TM", "SM_scratch", "SM", "SM_INT8")
SUMMARY_COLUMNS = ["run", "model", "format", "metric", "mean", "ci_low", "ci_high", "n"]


class SummaryError(ValueError):
    """Inputs of the summary are missing or inconsistent; the message names the run and file."""


def profile(name: str) -> Profile:
    if name not in PROFILES:
        raise SummaryError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}")
    return PROFILES[name]


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
        raise SummaryError(f"{path}: not a splits file written by lib.splits ({e})") from e


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
    """Splits x models table of one metric (one run)."""
    d = res[res["format"] == fmt]
    return d.pivot(index="fold", columns="model", values=metric)


def holm(p) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok):
        order = ok[np.argsort(p[ok])]
        m = len(ok)
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p[i]))
            out[i] = running
    return out


def comparisons(res: pd.DataFrame, n_train: int, n_test: int,
                metrics_=("accuracy", "sensitivity", "specificity")) -> pd.DataFrame:
    """The study's paired questions on one run (TFLite models, same splits): SM vs SM_scratch, SM vs TM,
    SM_INT8 vs SM and vs TM, and SM vs each compressed teacher. Naive and corrected (Nadeau-Bengio) CI and p;
    ``corrected_p_holm`` adjusts the corrected p-values over the comparisons of one metric (Holm);
    ``detectable_80``: the smallest difference the run detects with 80% power (:func:`minimum_detectable`)."""
    run = res["run"].iloc[0]
    pairs = list(QUESTIONS) + [("SM", t, f"is the student as good as {t}?") for t in COMPRESSED_TEACHERS]
    rows = []
    for metric in metrics_:
        table = per_split(res, metric)
        block = []
        for a, b, q in pairs:
            if a not in table or b not in table:
                continue
            both = table[[a, b]].dropna()
            block.append({"run": run, "metric": metric, "a": a, "b": b, "question": q,
                          **stats.paired(both[a], both[b], n_train, n_test),
                          "detectable_80": minimum_detectable(both[a], both[b], n_train, n_test)})
        adj = holm([r["corrected_p"] for r in block])
        for r, p in zip(block, adj):
            r["corrected_p_holm"] = p
        rows += block
    return pd.DataFrame(rows)


def rank_tests(res: pd.DataFrame, metric: str = "accuracy") -> dict:
    """Friedman (and Iman-Davenport) over the splits of one run, every TFLite model, plus Nemenyi p-values."""
    table = per_split(res, metric)
    fr = stats.friedman(table)
    return {**fr, "nemenyi": stats.nemenyi(table)}


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


def calibration_line(y, score, eps: float = 1e-6) -> tuple[float, float]:
    """Calibration intercept and slope: the logistic regression of the outcome on the logit of the predicted
    probability (perfect calibration: intercept 0, slope 1; slope < 1: too extreme, > 1: too timid). NaN when one
    class is absent or the scores separate the classes perfectly (no finite maximum-likelihood fit)."""
    import statsmodels.api as sm

    y = np.asarray(y, float)
    p = np.clip(np.asarray(score, float), eps, 1 - eps)
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    x = np.log(p / (1 - p))
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit()
    except Exception:  # perfect separation or no convergence
        return float("nan"), float("nan")
    a, b = (float(v) for v in fit.params)
    return (a, b) if np.isfinite(a) and np.isfinite(b) and abs(b) < 1e3 else (float("nan"), float("nan"))


def calibration(pred: pd.DataFrame, protocol: str, models=DIAG_MODELS, bins: int = 10) -> pd.DataFrame:
    """Brier score and its decomposition (reliability - resolution + uncertainty) of each model, first pass, and
    the calibration intercept and slope (:func:`calibration_line`)."""
    one = first_pass(pred, protocol)
    rows = []
    for m in models:
        p = one[one["model"] == m]
        if len(p):
            a, b = calibration_line(p["y"], p["score"])
            rows.append({"run": pred["run"].iloc[0], "model": m, "n": len(p),
                         **stats.brier_decomposition(p["y"].to_numpy(), p["score"].to_numpy(), bins=bins),
                         "calibration_intercept": a, "calibration_slope": b})
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
TRAINING_SETTINGS = {"TM": ("teacher_lr", "teacher_epochs", "batch_size"),
                     "SM_scratch": ("student_lr", "student_epochs", "batch_size"),
                     "SM": ("kd_loss", "kd_lr", "kd_epochs", "batch_size"),
                     "SM_INT8": ("kd_loss", "kd_lr", "kd_epochs", "batch_size"),
                     "TM_PTQ": ("teacher_lr", "teacher_epochs", "batch_size")}


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
            differ = [f"{k} {getattr(settings['paper'], k, None)} vs {getattr(settings['rigorous'], k, None)}" for k in keys
                      if getattr(settings["paper"], k, None) != getattr(settings["rigorous"], k, None)]
            rows[-1]["confounds"] = "; ".join(differ)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ efficiency
def efficiency(res: pd.DataFrame, latency: pd.DataFrame | None) -> pd.DataFrame:
    """Accuracy (TFLite, mean over splits), size and host latency of each model of one run, accuracy per KiB and
    per microsecond, and whether the model is Pareto-optimal in (accuracy, size) and (accuracy, latency)."""
    d = res[res["format"] == "tflite"]
    g = d.groupby("model")
    out = pd.DataFrame({"accuracy": g["accuracy"].mean(), "size_bytes": g["size_bytes"].mean(),
                        "gzip_bytes": g["size_gzip_bytes"].mean(), "params": g["params"].first()})
    if latency is not None and len(latency):
        one = latency[latency["batch"] == 1].set_index("model")["median_us"]
        out["median_us"] = one.reindex(out.index)
    else:
        out["median_us"] = np.nan
    out["accuracy_per_kib"] = out["accuracy"] / (out["size_bytes"] / 1024)
    out["accuracy_per_us"] = out["accuracy"] / out["median_us"]
    for cost in ("size_bytes", "median_us"):
        out[f"pareto_{cost}"] = pareto(out["accuracy"], out[cost])
    return out.reset_index().assign(run=res["run"].iloc[0])


def pareto(accuracy: pd.Series, cost: pd.Series) -> pd.Series:
    """True where no other model is at least as accurate and at least as cheap, and strictly better in one."""
    a, c = accuracy.to_numpy(float), cost.to_numpy(float)
    flags = []
    for i in range(len(a)):
        if np.isnan(c[i]):
            flags.append(False)
            continue
        dom = (a >= a[i]) & (c <= c[i]) & ((a > a[i]) | (c < c[i]))
        flags.append(not bool(np.any(dom & ~np.isnan(c))))
    return pd.Series(flags, index=accuracy.index)


# ------------------------------------------------------------------------------------------------ writing
def write_csv(df: pd.DataFrame, path) -> None:
    """Atomic CSV write (lib.results' writer), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    results._atomic_csv(df, path)


def write_text(text: str, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def fmt_ci(mean, lo, hi, pct: bool = True, digits: int = 1) -> str:
    """'96.1% [95.2, 97.1]' (pct) or '0.961 [0.952, 0.971]'. A proportion's interval is shown clipped to [0, 1]
    (a t-interval over few splits can reach past it; the CSVs keep the unclipped bounds)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if lo is not None and not math.isnan(lo):
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    if pct:
        s = f"{100 * mean:.{digits}f}%"
        return s if (lo is None or math.isnan(lo)) else f"{s} [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"
    s = f"{mean:.3f}"
    return s if (lo is None or math.isnan(lo)) else f"{s} [{lo:.3f}, {hi:.3f}]"


def fmt_p(p) -> str:
    """'= .374', '< .001' or '= n/a', written after a 'p'."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "= n/a"
    return "< .001" if p < 0.001 else "= " + f"{p:.3f}".replace("0.", ".", 1)


def md_table(df: pd.DataFrame) -> str:
    """A pandas table as GitHub markdown (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.tolist()) + " |")
    return "\n".join(lines)


def outputs_for(prof: Profile):
    """(summary.csv, summary.md, model card, details folder) of a profile: ``outputs/summary.csv``,
    ``outputs/summary.md``, ``outputs/model_card.md``, ``outputs/summary/`` for the full profile; the fast
    profile keeps everything apart (``outputs/summary-fast.*``, ``outputs/summary-fast/model_card.md``)."""
    root = paths.outputs_root()
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


def transfer_results(run: str) -> pd.DataFrame | None:
    """The cross-dataset run's ``transfer_summary.csv`` (notebook 03b), or None if that run has not been made."""
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
    """Does any (features, k, model) beat the target's majority class? As in notebook 03b (``lib.transfer.
    verdict``), a cell transfers when the t-interval (over seeds) of its target accuracy lies entirely above the
    majority-class accuracy and, where reported, that of its balanced accuracy above 0.5 (the majority rule's).
    Also: the authors' method, SM at k = 6 (their reported cell) next to the paper's 73.97% [65.04, 82.90]."""
    acc = tr[(tr["part"] == "target") & (tr["metric"] == "accuracy")].copy()
    majority = float(acc["majority"].dropna().iloc[0]) if acc["majority"].notna().any() else float("nan")
    acc["above"] = acc["ci_low"] > majority
    bal = tr[(tr["part"] == "target") & (tr["metric"] == "balanced_accuracy")]
    if len(bal):
        keys = ["features", "k", "model"]
        ok = bal.assign(bal_ok=bal["ci_low"] > 0.5)[keys + ["bal_ok"]]
        acc = acc.merge(ok, on=keys, how="left")
        acc["above"] = acc["above"] & acc["bal_ok"].fillna(False).astype(bool)
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


# ------------------------------------------------------------------------------------------------ markdown
# ------------------------------------------------------------------------------------------------ the report
# summary.md and model_card.md are rendered from Jinja2 templates (lib/templates/) filled with computed values;
# every conclusion is a claim of lib.claims whose wording follows from its verdict (templates/claims.j2).
TEMPLATES = paths.ROOT / "lib" / "templates"


def _row(df: pd.DataFrame, **match) -> pd.Series | None:
    m = df
    for k, v in match.items():
        m = m[m[k] == v]
    return m.iloc[0] if len(m) else None


def _acc(table: pd.DataFrame, run: str, model: str, fmt: str = "tflite", metric: str = "accuracy") -> str:
    """'96.1% [94.8, 97.4]' with the corrected interval (naive where a run has one split only)."""
    r = _row(table, run=run, model=model, format=fmt, metric=metric)
    if r is None:
        return "n/a"
    lo, hi = (r["corrected_low"], r["corrected_high"]) if "corrected_low" in r else (r["ci_low"], r["ci_high"])
    return fmt_ci(r["mean"], lo, hi)


def _size(eff: pd.DataFrame, run: str, model: str, col: str = "size_bytes") -> float:
    r = _row(eff, run=run, model=model)
    return float("nan") if r is None else float(r[col])


def _majority_only(diag: pd.DataFrame, run: str, model: str) -> bool:
    """True when the model answers the majority class for every row of the first pass (specificity or
    sensitivity exactly 0)."""
    d = _row(diag, run=run, model=model)
    return d is not None and (d["specificity_pooled"] == 0 or d["sensitivity_pooled"] == 0)


def _pts(x, digits: int = 2) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:+.{digits}f}"


def _iv(lo, hi, digits: int = 2) -> str:
    return "n/a" if lo is None or math.isnan(lo) else f"[{100 * lo:+.{digits}f}, {100 * hi:+.{digits}f}]"


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(pts=_pts, iv=_iv, p=fmt_p, code=lambda s: f"`{s}`",
                       pct=lambda x, d=1: "n/a" if x is None or math.isnan(x) else f"{100 * x:.{d}f}%",
                       trim0=lambda x: f"{x:g}", ci=fmt_ci, bytes=lambda x: "n/a" if math.isnan(x) else f"{x:,.0f} B")
    return env


def render(template: str, **context) -> str:
    """Render ``lib/templates/<template>``; an undefined name is an error, never an empty string."""
    return _env().get_template(template).render(**context).rstrip() + "\n"


def _group(by_run: dict) -> dict:
    """{value: [runs]} from {run: value}, in first-seen order."""
    out = {}
    for r, v in by_run.items():
        out.setdefault(v, []).append(r)
    return out


def _kd_cells(run: str) -> int | None:
    """How many (alpha, T) cells a run's grid searched for SM (its ablation_03.csv), or None."""
    f = paths.outputs_root() / run / "ablation_03.csv"
    if not f.exists():
        return None
    a = pd.read_csv(f)
    return int(a[["alpha", "temperature"]].drop_duplicates().shape[0]) if {"alpha", "temperature"} <= set(a) else None


def report_claims(prof: Profile, runs, comp, diag, decisions) -> dict:
    """Every claim of summary.md, computed from the comparisons: per run SM - TM, SM_INT8 - TM, SM - SM_scratch,
    SM_paperloss - SM_scratch (accuracy, margin_accuracy) and SM - TM on sensitivity (margin_sensitivity); the
    two answers across rigorous runs."""
    from . import claims as cl

    m, ms = decisions.margin_accuracy, decisions.margin_sensitivity
    out = {}
    for r in runs:
        for a, b in (("SM", "TM"), ("SM_INT8", "TM"), ("SM", "SM_scratch"), ("SM_paperloss", "SM_scratch")):
            out[(r, a, b)] = cl.difference(comp, r, a, b, "accuracy", m)
        out[(r, "SM", "TM", "sensitivity")] = cl.difference(comp, r, "SM", "TM", "sensitivity", ms)
    rig = [r for r in prof.rigorous if r in runs]
    out["student_matches_teacher"] = cl.student_matches_teacher([out[(r, "SM", "TM")] for r in rig])
    out["kd_beats_scratch"] = cl.kd_beats_scratch([out[(r, "SM", "SM_scratch")] for r in rig])
    return out


def efficiency_claims(eff: pd.DataFrame, latency: dict, diag: pd.DataFrame) -> list[dict]:
    """Per run: the Pareto set of compressed models in (accuracy, size), the fastest models with ties (overlapping
    ranges of medians over repeats), and whether the smallest model on the front answers the majority class."""
    from . import claims as cl

    rows = []
    for run, d in eff.groupby("run", sort=False):
        d = d[d["model"].isin(COMPRESSED)].copy()
        if d.empty:
            continue
        lat = cl.latency_ranges(latency.get(run))
        d = d.drop(columns=[c for c in ("median_us_min", "median_us_max") if c in d]).merge(
            lat[["model", "median_us_min", "median_us_max"]], on="model", how="left")
        front = cl.pareto_front(d, "size_bytes")
        front = sorted(front, key=lambda mname: float(d.set_index("model").loc[mname, "size_bytes"]))
        fast = cl.fastest_ties(d)
        di = d.set_index("model")
        teachers = di[di.index.isin(COMPRESSED_TEACHERS)]
        bt = teachers["accuracy_per_kib"].idxmax() if len(teachers) else None
        top = di["accuracy"].idxmax()
        rows.append({
            "run": run, "front_size": front, "fastest": fast, "smallest": front[0] if front else None,
            "front_size_detail": [f"{x} ({100 * di.loc[x, 'accuracy']:.1f}%, {di.loc[x, 'size_bytes']:,.0f} B)" for x in front],
            "fastest_detail": [f"{x} ({di.loc[x, 'median_us']:.1f} µs, repeats {di.loc[x, 'median_us_min']:.1f}-"
                               f"{di.loc[x, 'median_us_max']:.1f})" for x in fast],
            "best_teacher": "none" if bt is None else f"{bt} gives the most accuracy per byte "
                            f"({100 * di.loc[bt, 'accuracy']:.1f}% at {di.loc[bt, 'size_bytes']:,.0f} B)",
            "most_accurate": f"{top} ({100 * di.loc[top, 'accuracy']:.1f}% at {di.loc[top, 'size_bytes']:,.0f} B)",
            "ptq_bytes": f"{_size(eff, run, 'TM_PTQ'):,.0f} B", "pruned_bytes": f"{_size(eff, run, 'TM_pruned'):,.0f} B",
            "pruned_gzip": f"{_size(eff, run, 'TM_pruned', 'gzip_bytes'):,.0f} B",
            "majority_only": bool(front) and _majority_only(diag, run, front[0])})
    return rows


def transfer_claim(verdict: dict, target_only: pd.DataFrame | None, lr: dict | None) -> dict:
    """Question 4 from the transfer verdict and the target-only rules: does the pre-specified WDBC-trained cell
    beat every rule that uses no WDBC data by more than its own interval (Wilson over the target rows)?"""
    pre, w = verdict["prespecified"], verdict.get("prespecified_wilson")
    maj = verdict["majority"]
    parts, glance, gdiff = [], "", "–"
    bf = verdict["by_features"]
    a_above, a_n = bf.get("authors", (0, 0))
    if a_n:
        parts.append(f"The authors' method (separate PCA per dataset): {a_above} of {a_n} cells have an interval "
                     f"over seeds above the majority class ({100 * maj:.1f}%)"
                     + (", picked among them on target accuracy (selection on the test set)." if a_above else "."))
    asis = target_only[target_only["prevalence_target"] == "as is"] if target_only is not None else None
    verdict_word, gain, half = "not_tested", float("nan"), float("nan")
    if pre is not None and asis is not None and len(asis) and w is not None:
        best = asis.loc[asis["accuracy"].idxmax()]
        gain = float(pre["mean"]) - float(best["accuracy"])
        half = (w[2] - w[1]) / 2
        verdict_word = "beats_target_only" if gain > half else "no_more_than_target_only"
        parts.append(f"The cell fixed in advance (params/report/decisions.yaml) reaches "
                     f"{fmt_ci(pre['mean'], pre['ci_low'], pre['ci_high'])} on BCD (interval over seeds; Wilson over the "
                     f"{w[3]} rows [{100 * w[1]:.1f}, {100 * w[2]:.1f}]); the best rule that uses no WDBC data "
                     f"({best['rule']}, on BCD's own signed PC1) reaches {100 * best['accuracy']:.1f}%. WDBC adds "
                     f"{100 * gain:+.1f} points, "
                     + ("more than the cell's interval (±" if verdict_word == "beats_target_only" else "within the cell's interval (±")
                     + f"{100 * half:.1f}): "
                     + ("the WDBC-trained model beats every target-only rule." if verdict_word == "beats_target_only" else
                        "nothing is shown to transfer beyond what BCD's own feature distribution gives: a rule on BCD's own "
                        "signed PC1, with no WDBC row, does as well."))
        glance = ("Yes: beats every BCD-only rule" if verdict_word == "beats_target_only" else
                  "Not shown: no better than a BCD-only rule")
        gdiff = f"pre-specified cell − best BCD-only rule {100 * gain:+.1f} (±{100 * half:.1f})"
        low = target_only[target_only["prevalence_target"] != "as is"]
        if len(low):
            parts.append("At lower prevalence the BCD-only rules move: " + "; ".join(
                f"{r['rule']} {100 * r['accuracy']:.1f}% at {100 * r['prevalence']:.0f}% malignant" for _, r in low.iterrows())
                + ".")
    elif pre is None:
        parts.append("The pre-specified cell was not run.")
    if lr is not None and lr["kd"] != lr["scratch"]:
        parts.append(f"In notebook 03b SM trains at Adam {lr['kd']:g} and SM_scratch at {lr['scratch']:g} (the authors' "
                     "learning-rate confound): their difference there is not an effect of distillation.")
    return {"answer": " ".join(parts), "gain": gain,
            "half": half, "glance": glance or f"{verdict['n_above']} of {verdict['n_cells']} cells above the majority class",
            "glance_diff": gdiff, "verdict": verdict_word}


def markdown(prof: Profile, runs, missing, table, comp, diag, cal, infl, eff, best, verdict, ranks,
             pi_reference: pd.DataFrame | None = None, *, decisions=None, latency: dict | None = None,
             target_only: pd.DataFrame | None = None, transfer_lr: dict | None = None, paper_lr: dict | None = None,
             sizes: dict | None = None, forest_path=None) -> tuple[str, list]:
    """``summary.md`` rendered from ``templates/summary.md.j2``, and the list of claims it states (for
    ``claims.csv``). Everything is computed from the tables passed in; ``pi_reference`` is notebook 07's reading
    of the authors' Pi latency logs (optional); ``forest_path``: where to draw the figure of the answers at a
    glance (:func:`answers_forest`), which the markdown shows beside its table."""
    from . import claims as cl

    decisions = decisions or cl.load_decisions()
    C = report_claims(prof, runs, comp, diag, decisions)
    rig = [r for r in prof.rigorous if r in runs]

    def majority_runs(a, b):
        return [r for r in rig if _majority_only(diag, r, a) and _majority_only(diag, r, b)]

    glance = [{"question": "Student matches teacher? (SM − TM)", "a": "SM", "b": "TM",
               "claims": [C[(r, "SM", "TM")] for r in rig], "majority_runs": majority_runs("SM", "TM")},
              {"question": "KD beats scratch? (SM − SM_scratch)", "a": "SM", "b": "SM_scratch",
               "claims": [C[(r, "SM", "SM_scratch")] for r in rig], "majority_runs": majority_runs("SM", "SM_scratch")}]
    teacher = []
    for r in runs:
        d = _row(diag, run=r, model="TM")
        spec0 = None
        if d is not None and d["specificity_pooled"] == 0:
            auc = _row(table, run=r, model="TM", format="tflite", metric="roc_auc")
            spec0 = {"n_normal": int(d["tn"] + d["fp"]), "auc": None if auc is None else float(auc["mean"])}
        teacher.append({"run": r, "sm": _acc(table, r, "SM"), "tm": _acc(table, r, "TM"), "sm_int8": _acc(table, r, "SM_INT8"),
                        "c": C[(r, "SM", "TM")], "c8": C[(r, "SM_INT8", "TM")], "cs": C[(r, "SM", "TM", "sensitivity")], "spec0": spec0,
                        "sm_copies": _majority_only(diag, r, "SM")})
    kd = [{"run": r, "sm": _acc(table, r, "SM"), "scratch": _acc(table, r, "SM_scratch"), "c": C[(r, "SM", "SM_scratch")],
           "paper": r == prof.paper, "n_cells": _kd_cells(r) or "n/a"} for r in runs]
    paperloss = [{"run": r, "sm": _acc(table, r, "SM_paperloss"), "scratch": _acc(table, r, "SM_scratch"),
                  "c": C[(r, "SM_paperloss", "SM_scratch")]} for r in runs
                 if C[(r, "SM_paperloss", "SM_scratch")].verdict != "missing"]
    effc = efficiency_claims(eff, latency or {}, diag)
    tr = None if verdict is None else {**transfer_claim(verdict, target_only, transfer_lr), "lines": verdict["text"].splitlines(),
                                       "n_rows": (verdict.get("prespecified_wilson") or (0, 0, 0, "all"))[3],
                                       "target_only": [] if target_only is None else target_only.to_dict("records")}
    if forest_path is not None:
        import matplotlib.pyplot as plt

        fig = answers_forest(glance, decisions.margin_accuracy)
        fig.savefig(forest_path, dpi=100, metadata={"Software": None})
        plt.close(fig)
    infl_rows = ([] if infl is None or not len(infl) or "inflation_verdict" not in infl else
                 infl.assign(confounds=infl["confounds"].fillna("") if "confounds" in infl else "").to_dict("records"))
    paper_kd = C.get((prof.paper, "SM", "SM_scratch")) if prof.paper in runs else None
    details = prof.name
    n_paper = (sizes or {}).get(prof.paper, {}).get("n_splits", "n/a")
    folds = {r: (sizes or {}).get(r, {}).get("n_splits") for r in rig}
    text = render("summary.md.j2", profile="full" if prof.name == "summary" else "fast", fast=prof.name != "summary",
                  runs=runs, missing=missing, d=decisions, glance=glance,
                  smallest=sorted({e["smallest"] for e in effc if e["smallest"]}), q1=C["student_matches_teacher"],
                  q2=C["kd_beats_scratch"], kd_budget=_group({r: _kd_cells(r) or "n/a" for r in rig}), paper_kd=paper_kd,
                  paper_lr=paper_lr or {"kd": "n/a", "scratch": "n/a"}, efficiency=effc, transfer=tr,
                  transfer_run=prof.transfer, teacher=teacher, kd=kd, paperloss=paperloss,
                  forest=f"{details}/figures/08_answers.png", paper=prof.paper, paper_splits=n_paper,
                  folds_text="cross-validation (" + ", ".join(f"{r}: {n} splits" for r, n in folds.items()) + ")",
                  claims_file=f"`{details}/claims.csv`", details=details, profile_name=prof.name,
                  paper_claims=_paper_claims(prof, runs, table, comp, eff, infl, verdict, pi_reference),
                  paper_rigorous=prof.paper_rigorous, inflation=infl_rows,
                  inflated=[_label(r) for r in infl_rows if r["inflation_verdict"] == "inflated" and not r["confounds"]],
                  not_detectable=[_label(r) for r in infl_rows if r["inflation_verdict"] == "no_detectable_difference" and not r["confounds"]],
                  deflated=[_label(r) for r in infl_rows if r["inflation_verdict"] == "deflated" and not r["confounds"]],
                  diagnostic=_diagnostic_rows(prof, diag),
                  calibration=[{**c, "brier_splits": _ci_plain(table, c["run"], c["model"], "brier")} for c in cal.to_dict("records")],
                  ranks=[{"run": r, "p": ranks[r]["p"], "n_blocks": ranks[r]["n_blocks"], "k": ranks[r]["k"],
                          "cd": ranks[r]["critical_difference"],
                          "top": ", ".join(f"{m_} {v:.1f}" for m_, v in ranks[r]["avg_ranks"].head(4).items())}
                         for r in runs if ranks.get(r) is not None])
    stated = [c for c in C.values()]
    if tr is not None:
        stated.append(cl.Claim("wdbc_helps_on_bcd", prof.transfer, tr["verdict"], value=tr["gain"], margin=tr["half"],
                               subject="pre-specified cell - best target-only rule"))
    for e in effc:
        stated.append(cl.Claim("pareto_size", e["run"], "front", detail={"models": e["front_size"]}))
    # (the fastest models and their ties are a measurement of host latency at one moment: in the text, not here)
    return text, stated


def _ci_plain(table, run, model, metric, fmt="tflite") -> str:
    """'0.031 [0.022, 0.040]' with the corrected interval (fractions, not percentages)."""
    r = _row(table, run=run, model=model, format=fmt, metric=metric)
    if r is None:
        return "n/a"
    return fmt_ci(r["mean"], r["corrected_low"], r["corrected_high"], pct=False) if r["n"] > 1 else fmt_ci(r["mean"], None, None, pct=False)


def _label(r: dict) -> str:
    return f"{r['model']} {r['format']} {r['metric']}"


def _paper_claims(prof, runs, table, comp, eff, infl, verdict, pi_reference) -> list[list[str]]:
    """The rows of 'The paper's claims beside ours' (numbers only; the paper's column is its reported value)."""
    rows = []
    if infl is not None and len(infl):
        for _, r in infl.iterrows():
            paper_val = "–" if r["paper_reported"] is None or (isinstance(r["paper_reported"], float) and math.isnan(r["paper_reported"])) \
                else f"{100 * r['paper_reported']:.2f}%"
            rows.append([f"{r['model']} {r['format']} {r['metric']} ({r['source']})", paper_val,
                         f"{fmt_ci(r['paper_protocol_mean'], r['paper_protocol_low'], r['paper_protocol_high'])} "
                         f"(t-interval over seeds), seeds {100 * r['paper_protocol_min']:.1f}–{100 * r['paper_protocol_max']:.1f}",
                         _acc(table, prof.paper_rigorous, r["model"], r["format"], r["metric"])])
    w, pr = prof.paper_rigorous, prof.paper
    if w in runs and pr in runs:
        def d(run):
            r = _row(comp, run=run, a="SM", b="SM_scratch", metric="accuracy")
            return "n/a" if r is None else f"{_pts(r['mean_diff'], 2)} {_iv(r['corrected_ci_low'], r['corrected_ci_high'])}"
        rows.append(["KD beats scratch (earlier paper: SM .97 vs SM_scratch .86)", "+11 points", d(pr), d(w)])
        loss = []
        for run_ in (pr, w):
            tm_, sm_ = _row(table, run=run_, model="TM", format="keras", metric="accuracy"), \
                _row(table, run=run_, model="SM", format="tflite", metric="accuracy")
            loss.append("n/a" if tm_ is None or sm_ is None else
                        f"{100 * (tm_['mean'] - sm_['mean']) / tm_['mean']:+.2f}% (TM {100 * tm_['mean']:.1f}%, SM {100 * sm_['mean']:.1f}%)")
        rows.append(["SM_TFLite relative loss to its teacher", "2.33% (of an implied 100% teacher)", loss[0], loss[1]])
        for model, kb, label in (("SM", 5.21, "SM_TFLite size"), ("TM_pruned", 2924.31, "pruned size"),
                                 ("TM_PTQ", 746.59, "PTQ size"), ("TM_PTQ_INT8", 750.69, "PTQ_INT8 size")):
            rows.append([label, f"{kb:,.2f} kB", f"{_size(eff, pr, model) / 1024:,.2f} KiB", f"{_size(eff, w, model) / 1024:,.2f} KiB"])
        rows.append(["smallest deployable model", "5.21 kB (SM_TFLite)", f"SM_INT8 {_size(eff, pr, 'SM_INT8'):,.0f} B",
                     f"SM_INT8 {_size(eff, w, 'SM_INT8'):,.0f} B"])
        rows.append(["SM_TFLite latency", "3.3 ms on the Pi (one un-warmed call plus model loading)",
                     f"{_size(eff, pr, 'SM', 'median_us'):.1f} µs per warm invoke (x86 host)",
                     f"{_size(eff, w, 'SM', 'median_us'):.1f} µs (x86 host)"])
        rows.append(["pruned latency", "13.68 ms on the Pi", f"{_size(eff, pr, 'TM_pruned', 'median_us'):.1f} µs (x86 host)",
                     f"{_size(eff, w, 'TM_pruned', 'median_us'):.1f} µs (x86 host)"])
    if pi_reference is not None and len(pi_reference):
        ref = pi_reference.set_index("model")
        for model in ("SM (SM_TFLite)", "TM (KD folder)", "TM_PTQ", "TM_PTQ_INT8"):
            if model in ref.index:
                x = ref.loc[model]
                rows.append([f"{model}: the authors' own Pi log, read by notebook 07", f"{x['total_ms']:.2f} ms",
                             f"of which model load {x['model_load_ms']:.2f} ms and one un-warmed invoke {x['invoke_ms']:.2f} ms",
                             f"(data loading, {x['data_load_ms']:.2f} ms, excluded from their total)"])
    if verdict is not None and verdict["authors_k6_sm"] is not None:
        a = verdict["authors_k6_sm"]
        rows.append(["cross-dataset accuracy (PCA 6, SM)", "73.97% [65.04, 82.90]",
                     f"{fmt_ci(a['mean'], a['ci_low'], a['ci_high'])} (t-interval, {int(a['n'])} seeds)",
                     f"majority class {100 * verdict['majority']:.1f}%"])
    return rows


def _diagnostic_rows(prof, diag) -> list[list[str]]:
    rows = []
    for _, d in diag[diag["model"].isin(DIAG_MODELS)].iterrows():
        if d["run"] == prof.paper:
            sens = fmt_ci(d["sensitivity_mean"], d["sensitivity_ci_low"], d["sensitivity_ci_high"]) + " (mean over seeds)"
            spec = fmt_ci(d["specificity_mean"], d["specificity_ci_low"], d["specificity_ci_high"]) + " (mean over seeds)"
            where = " (first seed)"
        else:
            sens = fmt_ci(d["sensitivity_pooled"], d["sensitivity_wilson_low"], d["sensitivity_wilson_high"])
            spec = fmt_ci(d["specificity_pooled"], d["specificity_wilson_low"], d["specificity_wilson_high"])
            where = ""
        rows.append([d["run"], d["model"], sens, spec, f"{d['fn']} of {d['tp'] + d['fn']}{where}",
                     f"{d['fp']} of {d['tn'] + d['fp']}{where}"])
    return rows


# ------------------------------------------------------------------------------------------------ model card
def model_card(prof: Profile, table, diag, cal, eff, sizes, verdict=None, *, res=None, run_params=None,
               transfer_text: str | None = None) -> str:
    """The model card of the deployable model (:data:`DEPLOYABLE` of ``prof.deploy_run``) rendered from
    ``templates/model_card.md.j2``: settings from the run's results (``res``: its results rows, for the (alpha,
    T) each split used and the parameter counts) and params (``run_params``: preprocessing), numbers from the
    tables of notebook 08."""
    from . import claims as cl

    run, m = prof.deploy_run, DEPLOYABLE
    metrics = []
    for name in ("accuracy", "sensitivity", "specificity", "roc_auc"):
        r = _row(table, run=run, model=m, format="tflite", metric=name)
        pct = name != "roc_auc"
        if r is None:
            metrics.append((name.replace("_", " "), "n/a", "n/a"))
            continue
        corrected = fmt_ci(r["mean"], r["corrected_low"], r["corrected_high"], pct=pct) if r["n"] > 1 else fmt_ci(r["mean"], None, None, pct=pct)
        metrics.append((name.replace("_", " "), corrected, fmt_ci(r["mean"], r["ci_low"], r["ci_high"], pct=pct)))
    kd = cl.kd_settings(res) if res is not None else {"counts": [], "first": None, "n_splits": 0}

    def n_params(model):
        if res is None:
            return None
        p = res[res["model"] == model]["params"].dropna()
        return int(p.iloc[0]) if len(p) else None

    d, c = _row(diag, run=run, model=m), _row(cal, run=run, model=m)
    P = run_params
    return render("model_card.md.j2", run=run, model=m, fast=prof.name != "summary", metrics=metrics,
                  size=_size(eff, run, m), gz=_size(eff, run, m, "gzip_bytes"), us=_size(eff, run, m, "median_us"),
                  tm_bytes=_size(eff, run, "TM"), ptq_bytes=_size(eff, run, "TM_PTQ"), sz=sizes.get(run, {}),
                  kd=kd, sm_params=n_params("SM"), tm_params=n_params("TM"), n_cells=_kd_cells(run),
                  kd_loss=getattr(P, "kd_loss", "n/a"), pca=getattr(P, "pca_components", "n/a"),
                  epochs=getattr(P, "kd_epochs", "n/a"),
                  diag=None if d is None else d.to_dict(), brier=None if c is None else float(c["brier"]),
                  transfer=transfer_text)


# ------------------------------------------------------------------------------------------------ figures
def spread_labels(ax, x, y, labels, min_gap_pt: float = 9.0, fontsize: int = 7) -> None:
    """Label scatter points without collisions: labels in one column right of the axes, at the height of their
    points where they fit, spaced at least ``min_gap_pt`` points apart, each joined to its point by a thin line. (Belongs in lib.plots; kept
    here until the next full re-run, since every notebook imports lib.plots.)"""
    fig = ax.figure
    fig.canvas.draw()
    to_pt = 72.0 / fig.dpi
    disp = ax.transData.transform(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
    order = np.argsort(disp[:, 1])
    # clusters of labels closer than the gap are spaced by the gap and centred on their points (merged until
    # no two clusters overlap)
    clusters = []  # [bottom, [wanted heights]]
    for i in order:
        clusters.append([disp[i, 1] * to_pt, [disp[i, 1] * to_pt]])
        while len(clusters) > 1 and clusters[-2][0] + len(clusters[-2][1]) * min_gap_pt > clusters[-1][0]:
            wants = clusters[-2][1] + clusters[-1][1]
            clusters[-2:] = [[float(np.mean([w - k * min_gap_pt for k, w in enumerate(wants)])), wants]]
    placed = [bottom + k * min_gap_pt for bottom, wants in clusters for k in range(len(wants))]
    shift = dict(zip(order, placed))
    for i, lab in enumerate(labels):
        dy = shift[i] - disp[i, 1] * to_pt
        ax.annotate(lab, (x[i], y[i]), xytext=(1.04, dy), textcoords=("axes fraction", "offset points"),
                    fontsize=fontsize, va="center", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.6"})


def answers_forest(glance: list[dict], margin: float):
    """The figure of the answers at a glance: one panel per question, one row per run, the corrected 95% interval
    of A - B (thick) and the naive one (thin), each panel on its own scale with the margin shaded."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(glance), figsize=(4.6 * len(glance), 0.26 * max(len(q["claims"]) for q in glance) + 0.9),
                             squeeze=False, gridspec_kw={"wspace": 0.45})
    m = 100 * margin
    for ax, q in zip(axes[0], glance):
        cs = q["claims"][::-1]
        y = np.arange(len(cs))
        ax.axvspan(-m, m, color="0.92", zorder=0)
        ax.axvline(0, color="C3", lw=1)
        ends = [m, -m]
        for yi, c in zip(y, cs):
            if not math.isnan(c.naive_low):
                ax.hlines(yi + 0.15, 100 * c.naive_low, 100 * c.naive_high, color="0.65", lw=1.5)
            if not math.isnan(c.low):
                ax.hlines(yi, 100 * c.low, 100 * c.high, color="C0", lw=4)
                ends += [100 * c.low, 100 * c.high]
            if not math.isnan(c.value):
                ax.plot(100 * c.value, yi, "ko", ms=4)
                ends.append(100 * c.value)
        lo, hi = min(ends), max(ends)
        ax.set_xlim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
        ax.set_yticks(y, [c.run for c in cs], fontsize=8)
        ax.set_ylim(-0.6, len(cs) - 0.4)
        ax.set_title(f"{q['a']} − {q['b']}", fontsize=9)
        ax.set_xlabel("accuracy points (blue: corrected 95% CI; grey: naive)", fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig
