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
    ``corrected_p_holm`` adjusts the corrected p-values over the comparisons of one metric (Holm)."""
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
                          **stats.paired(both[a], both[b], n_train, n_test)})
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


def calibration(pred: pd.DataFrame, protocol: str, models=CURVE_MODELS, bins: int = 10) -> pd.DataFrame:
    """Brier score and its decomposition (reliability - resolution + uncertainty) of each model, first pass."""
    one = first_pass(pred, protocol)
    rows = []
    for m in models:
        p = one[one["model"] == m]
        if len(p):
            rows.append({"run": pred["run"].iloc[0], "model": m, "n": len(p),
                         **stats.brier_decomposition(p["y"].to_numpy(), p["score"].to_numpy(), bins=bins)})
    return pd.DataFrame(rows)


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


def inflation_table(paper: pd.DataFrame, rigorous: pd.DataFrame, reported: dict) -> pd.DataFrame:
    """For each headline: the paper's reported number, ours under the paper protocol (mean, t-interval, min-max
    over seeds) and under the rigorous one, and the inflation (paper protocol - rigorous, Welch interval).
    ``reported``: {(model, format, metric): (value, source)}."""
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
    """'96.1% [95.2, 97.1]' (pct) or '0.961 [0.952, 0.971]'."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
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


def transfer_verdict(tr: pd.DataFrame, paper=(0.7397, 0.6504, 0.8290)) -> dict:
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
    # The one cell fixed before looking at any result: signed PC1 ("overall abnormality", the only component
    # with a correspondence across datasets) with logistic regression (the CNNs need >= 3 inputs).
    pre = cell("signed", 1, "LR")
    lines = [f"Majority class (answer 'benign' for everyone): {100 * majority:.1f}% of the target."]
    if authors6 is not None:
        lines.append(f"Authors' method, SM at k = 6 (their reported cell): {fmt_ci(authors6['mean'], authors6['ci_low'], authors6['ci_high'])}"
                     f" (t-interval over {int(authors6['n'])} seeds); paper: {100 * paper[0]:.2f}% "
                     f"[{100 * paper[1]:.2f}, {100 * paper[2]:.2f}] (z with n = 13 for 10 runs).")
    lines.append(f"Cells (features x k x model) whose accuracy interval lies above the majority class"
                 f"{' and balanced-accuracy interval above 50%' if len(bal) else ''}: {len(above)} of {len(acc)} ("
                 + ", ".join(f"{f} features {a} of {n}" for f, (a, n) in by_features.items()) + ").")
    if pre is not None:
        ps, pp = cell("signed", 1, "LR", "sensitivity"), cell("signed", 1, "LR", "specificity")
        lines.append(f"Pre-specified label-free cell (signed PC1, logistic regression): {fmt_ci(pre['mean'], pre['ci_low'], pre['ci_high'])}"
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


def transfer_answer(verdict: dict) -> str:
    """One paragraph: does anything transfer, by feature method, from :func:`transfer_verdict`."""
    bf = verdict["by_features"]
    pre = verdict["prespecified"]
    maj = 100 * verdict["majority"]
    parts = []
    a_above, a_n = bf.get("authors", (0, 0))
    if a_n:
        if a_above == 0:
            parts.append(f"The authors' method does not transfer: none of its {a_n} cells has an interval over seeds "
                         f"above {maj:.1f}%.")
        else:
            au = verdict["above"][verdict["above"]["features"] == "authors"]
            cells = ", ".join(f"k = {int(r['k'])} {r['model']} {100 * r['mean']:.1f}% (sensitivity {100 * r['sensitivity']:.0f}%)"
                              for _, r in au.iterrows())
            minority = bool((au["sensitivity"] < 0.5).all())
            parts.append(f"The authors' method barely transfers: {a_above} of {a_n} cells have an interval over seeds "
                         f"above {maj:.1f}% ({cells}), picked among {a_n} cells"
                         + (", each finding fewer than half of the cancers" if minority else "")
                         + "; notebook 03b shows how the result moves with the arbitrary signs of the principal "
                           "components.")
    s_above, s_n = bf.get("signed", (0, 0))
    if s_n:
        if pre is not None and pre["ci_low"] > verdict["majority"]:
            w = verdict.get("prespecified_wilson")
            wtxt = (f" (Wilson interval over the {w[3]} target rows [{100 * w[1]:.1f}, {100 * w[2]:.1f}]; the interval "
                    f"over seeds only shows how little the WDBC split matters)" if w else "")
            sm_range = verdict.get("signed_sm_range")
            sm_ok = sm_range is not None and sm_range[0] > verdict["majority"]
            parts.append(f"The label-free signed PCA does: standardized, with each component pointed towards 'more "
                         f"abnormal', PC1 means 'overall abnormality' in both datasets, and a logistic regression on it "
                         f"alone, the cell fixed in advance, reaches {fmt_ci(pre['mean'], pre['ci_low'], pre['ci_high'])} "
                         f"on BCD{wtxt}; {s_above} of {s_n} signed cells beat the majority class"
                         + (f", the distilled student (SM) at {100 * sm_range[0]:.1f}-{100 * sm_range[1]:.1f}% over k"
                            if sm_range else "")
                         + (". With signed features the same CNNs transfer, so what fails in the authors' version is the "
                            "feature alignment, not the models" if sm_ok else "")
                         + ". Beyond PC1 the components have no counterpart across datasets (notebook 03b), which is "
                           "why k = 1 was fixed in advance.")
        else:
            parts.append(f"With the label-free signed PCA, {s_above} of {s_n} cells beat the majority class.")
    return " ".join(parts)


def transfer_table(tr: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Target ``metric`` per (features, model) x k as 'mean [t-interval]' (percent)."""
    d = tr[(tr["part"] == "target") & (tr["metric"] == metric)].copy()
    d["cell"] = [fmt_ci(m, lo, hi) for m, lo, hi in zip(d["mean"], d["ci_low"], d["ci_high"])]
    return d.pivot_table(index=["features", "model"], columns="k", values="cell", aggfunc="first")


# ------------------------------------------------------------------------------------------------ markdown
def _row(df: pd.DataFrame, **match) -> pd.Series | None:
    m = df
    for k, v in match.items():
        m = m[m[k] == v]
    return m.iloc[0] if len(m) else None


def _acc(table: pd.DataFrame, run: str, model: str, fmt: str = "tflite", metric: str = "accuracy") -> str:
    r = _row(table, run=run, model=model, format=fmt, metric=metric)
    return "n/a" if r is None else fmt_ci(r["mean"], r["ci_low"], r["ci_high"])


def _diff(comp: pd.DataFrame, run: str, a: str, b: str, metric: str = "accuracy") -> tuple[str, str]:
    """('+0.4 points, corrected 95% CI [-1.1, +1.9], p = .37', verdict word)."""
    r = _row(comp, run=run, a=a, b=b, metric=metric)
    if r is None:
        return "n/a", "not measured"
    if r["note"] and "constant" in str(r["note"]):
        return f"{100 * r['mean_diff']:+.2f} points on every split (no variance: no test)", "constant difference"
    if r["note"] == "identical on every split":
        return "0 on every split", "identical accuracy on every split"
    if math.isnan(r["corrected_ci_low"]):
        return f"{100 * r['mean_diff']:+.2f} points ({r['note'] or 'no interval'})", "no test"
    txt = (f"{100 * r['mean_diff']:+.2f} points, corrected 95% CI [{100 * r['corrected_ci_low']:+.2f}, "
           f"{100 * r['corrected_ci_high']:+.2f}], p {fmt_p(r['corrected_p'])} (naive CI "
           f"[{100 * r['naive_ci_low']:+.2f}, {100 * r['naive_ci_high']:+.2f}], p {fmt_p(r['naive_p'])})")
    return txt, _verdict(a, b, r["corrected_ci_low"], r["corrected_ci_high"])


MARGIN = 0.02  # 2 accuracy points: the smallest difference the study treats as practically relevant


def _verdict(a: str, b: str, lo: float, hi: float) -> str:
    """Reading of a corrected interval of A - B against 0 and a +-2-point margin."""
    if lo > 0:
        return f"{a} better"
    if hi < 0:
        return f"{b} better"
    if lo >= -MARGIN and hi <= MARGIN:
        return "equivalent within ±2 points"
    if lo >= -MARGIN:
        return f"no detectable difference; {a} is non-inferior (not worse by more than 2 points)"
    if hi <= MARGIN:
        return (f"no detectable difference; {a} is not better by more than 2 points and may be up to "
                f"{-100 * lo:.1f} points worse")
    return "no detectable difference, and the interval is too wide to rule out one of 2 points either way"


def _size(eff: pd.DataFrame, run: str, model: str, col: str = "size_bytes") -> float:
    r = _row(eff, run=run, model=model)
    return float("nan") if r is None else float(r[col])


def _majority_only(diag: pd.DataFrame, run: str, model: str) -> bool:
    """True when the model answers the majority class for every row of the first pass (specificity or
    sensitivity exactly 0)."""
    d = _row(diag, run=run, model=model)
    return d is not None and (d["specificity_pooled"] == 0 or d["sensitivity_pooled"] == 0)


def _glance(prof, runs, comp, diag, best, verdict, eff) -> list[str]:
    """Four computed one-line answers for the top of summary.md."""
    rig = [r for r in prof.rigorous if r in runs]

    def diffs(a, b):
        out = []
        for r in rig:
            row = _row(comp, run=r, a=a, b=b, metric="accuracy")
            if row is not None:
                flag = " (both answer the majority class)" if _majority_only(diag, r, a) and _majority_only(diag, r, b) else ""
                ci = ("" if math.isnan(row["corrected_ci_low"]) else
                      f" [{100 * row['corrected_ci_low']:+.1f}, {100 * row['corrected_ci_high']:+.1f}]")
                out.append(f"{r} {100 * row['mean_diff']:+.1f}{ci}{flag}")
        return "; ".join(out)

    def any_sig(a, b, sign):
        for r in rig:
            row = _row(comp, run=r, a=a, b=b, metric="accuracy")
            if row is not None and not math.isnan(row["corrected_ci_low"]) and \
                    (row["corrected_ci_low"] > 0 if sign > 0 else row["corrected_ci_high"] < 0):
                return True
        return False

    def bound(a, b, col, fn):
        v = [row[col] for r in rig if (row := _row(comp, run=r, a=a, b=b, metric="accuracy")) is not None]
        v = [x for x in v if not math.isnan(x)]
        return fn(v) if v else float("nan")

    L = ["## Answers at a glance", "", "Questions 1 and 2 on the rigorous runs, differences in points with corrected "
         "95% intervals; question 3 over every run; question 4 on the cross-dataset run.", ""]
    tm_better = any_sig("SM", "TM", -1)
    worst = bound("SM", "TM", "corrected_ci_low", min)
    if tm_better:
        a1 = "No: the teacher is better on at least one dataset"
    elif worst >= -MARGIN:
        a1 = "Yes: on every dataset the student is at most 2 points worse than the teacher, or better"
    else:
        a1 = (f"Not shown: no dataset shows a difference, but the intervals allow the student to be up to "
              f"{-100 * worst:.1f} points worse")
    L.append(f"1. **Does the student match the teacher?** {a1} (SM − TM: {diffs('SM', 'TM')}).")
    kd_better = any_sig("SM", "SM_scratch", +1)
    best_gain = bound("SM", "SM_scratch", "corrected_ci_high", max)
    paper_kd = _row(comp, run=prof.paper, a="SM", b="SM_scratch", metric="accuracy")
    sig = paper_kd is not None and not math.isnan(paper_kd["corrected_ci_low"]) and paper_kd["corrected_ci_low"] > 0
    same = [r for r in rig if (x := _row(comp, run=r, a="SM_paperloss", b="SM_scratch", metric="accuracy")) is not None
            and x["note"] == "identical on every split"]
    extra = (f" The paper protocol's +{100 * paper_kd['mean_diff']:.1f} points are consistent with its learning-rate "
             f"confound (KD at Adam 1e-3, scratch at 1e-4)"
             + (f": at equal budget the paper's own KD loss gives exactly the scratch student's accuracy on every split "
                f"({', '.join(same)})" if same else "") + "." if sig else "")
    a2 = ("Yes, on at least one dataset" if kd_better else
          f"No: no dataset shows a gain, and the largest gain the intervals allow is {100 * best_gain:+.1f} points")
    L.append(f"2. **Does KD beat training from scratch?** {a2}, at the same budget (SM − SM_scratch: "
             f"{diffs('SM', 'SM_scratch')}).{extra}")
    if len(best):
        per_byte = sorted(set(best["best_per_byte"]))
        per_us = sorted(set(best["best_per_us"].dropna()))
        r_ = (best["teacher_size_bytes"] / best["size_bytes"]).dropna()
        ratio = f"{r_.min():,.0f}-{r_.max():,.0f} times" if len(r_) else "many times"
        gaps = [abs(_size(eff, r, "SM", "median_us") - _size(eff, r, "SM_INT8", "median_us")) for r in best["run"]]
        gaps = [g for g in gaps if not math.isnan(g)]
        tie = (f" (SM and SM_INT8 within {max(gaps):.1f} µs of each other on the host)" if gaps else "")
        useless = [r for r, m in zip(best["run"], best["best_per_byte"]) if _majority_only(diag, r, m)]
        L.append(f"3. **Best accuracy per byte and per microsecond?** Per byte {', '.join(per_byte)}"
                 f"{' on every run' if len(per_byte) == 1 else ''}; per microsecond {', '.join(per_us)}{tie}. "
                 f"Among the compressed teachers, {', '.join(sorted(set(best['best_teacher_per_byte'].dropna())))} "
                 f"gives the most accuracy per byte, at {ratio} the size of {', '.join(per_byte)}."
                 + (f" On {', '.join(useless)} the winner answers the majority class for every row: no compressed "
                    f"model is useful there." if useless else ""))
    if verdict is not None:
        L.append(f"4. **Does anything transfer from WDBC to BCD?** {transfer_answer(verdict)} (Majority class: "
                 f"{100 * verdict['majority']:.1f}%.)")
    else:
        L.append("4. **Does anything transfer from WDBC to BCD?** Not answered: the cross-dataset run is missing.")
    return L + [""]


def markdown(prof: Profile, runs, missing, table, comp, diag, cal, infl, eff, best, verdict, ranks,
             pi_reference: pd.DataFrame | None = None) -> str:
    """``summary.md``: the four questions answered with numbers and intervals, the paper's claims beside ours,
    diagnostic accuracy and calibration. Everything is computed from the tables passed in; ``pi_reference`` is
    notebook 07's reading of the authors' Pi latency logs (optional)."""
    rig = [r for r in prof.rigorous if r in runs]
    L = [f"# Summary: knowledge distillation vs pruning and quantization for breast-cancer classification", "",
         f"Generated by `notebooks/08_statistics.ipynb` (profile `{'full' if prof.name == 'summary' else 'fast'}`) "
         f"from `outputs/<run>/results.csv` and `predictions.csv`; do not edit by hand.",
         f"Runs: {', '.join(f'`{r}`' for r in runs)}" + (f"; not available: {', '.join(missing)}" if missing else "") + ".",
         "", "Accuracies are TFLite models run in LiteRT (the deployable format), means over splits "
         "(rigorous runs: repeated stratified 5-fold CV; the paper run: the authors' 85/15 split over 10 seeds) "
         "with the naive 95% t-interval over splits in brackets. Differences are in percentage points with the "
         "**corrected** (Nadeau-Bengio) 95% interval and p-value, which allow for the training rows the splits "
         "share; the naive ones are given beside them.", ""]
    if prof.name != "summary":
        L += ["> **Fast profile**: 2 splits and a few epochs per model. These numbers test the pipeline; they are "
              "not results. The study's answers are in `outputs/summary.md`.", ""]
    L += _glance(prof, runs, comp, diag, best, verdict, eff)

    L += ["## 1. Does the student match the teacher?", ""]
    for r in runs:
        txt, v = _diff(comp, r, "SM", "TM")
        extra = ""
        d = _row(diag, run=r, model="TM")
        if d is not None and d["specificity_pooled"] == 0:
            auc = _row(table, run=r, model="TM", format="tflite", metric="roc_auc")
            extra = (" At the 0.5 threshold the teacher answers 'malignant' for every row here (specificity 0), "
                     f"although its scores still rank the rows (ROC AUC {auc['mean']:.3f}): a threshold and "
                     f"calibration failure on a dataset with {int(d['tn'] + d['fp'])} normal samples." if auc is not None else
                     " The teacher answers 'malignant' for every row here (specificity 0).")
            if _majority_only(diag, r, "SM"):
                extra += " The distilled student copies it."
        L.append(f"- `{r}`: SM {_acc(table, r, 'SM')} vs TM {_acc(table, r, 'TM')}; SM − TM = {txt}: **{v}**.{extra}")
        txt8, v8 = _diff(comp, r, "SM_INT8", "TM")
        L.append(f"  The int8 student SM_INT8 {_acc(table, r, 'SM_INT8')}: SM_INT8 − TM = {txt8}: **{v8}**.")
    L += ["", "## 2. Does knowledge distillation beat training the student from scratch?", ""]
    for r in runs:
        txt, v = _diff(comp, r, "SM", "SM_scratch")
        note = (" (paper protocol: the distilled student trains at Adam 1e-3, the scratch one at 1e-4, the "
                "authors' learning-rate confound)" if r == prof.paper else " (same budget: same learning rate, "
                "epochs, initial weights and batch order)")
        L.append(f"- `{r}`: SM {_acc(table, r, 'SM')} vs SM_scratch {_acc(table, r, 'SM_scratch')}; "
                 f"SM − SM_scratch = {txt}: **{v}**{note}.")
    if "SM_paperloss" in set(table["model"]):
        same = [r for r in runs if _row(table, run=r, model="SM_paperloss", format="tflite", metric="accuracy") is not None]
        L.append(f"- The paper's KD loss (softmax over sigmoid/T, no T², α = 0.1) at the same budget "
                 f"(SM_paperloss): " + "; ".join(f"`{r}` {_acc(table, r, 'SM_paperloss')} vs SM_scratch "
                                                    f"{_acc(table, r, 'SM_scratch')}" for r in same) + ".")

    L += ["", "## 3. Which compressed model gives the best accuracy per byte and per microsecond?", "",
          "Compressed models: magnitude pruning (50% constant, the paper's; 80%, 90% polynomial), post-training "
          "quantization (weights only; full integer), quantization-aware training of the teacher, and the "
          "distilled student (float and int8). Latency: median per-sample `invoke` on this study's x86 host "
          "(notebook 06), not a Raspberry Pi.", ""]
    for _, b in best.iterrows():
        r = b["run"]
        runner = (f", then {b['runner_up_per_us']} ({b['runner_up_us']:.1f} µs)" if isinstance(b["runner_up_per_us"], str) else "")
        warn = (f" Caveat: {b['best_per_byte']} answers the majority class for every row here, as does the teacher: "
                f"no compressed model is useful on this dataset." if _majority_only(diag, r, b["best_per_byte"]) else "")
        L.append(f"- `{r}`: per byte **{b['best_per_byte']}** ({100 * b['accuracy']:.1f}% at {b['size_bytes']:,.0f} B); "
                 f"per microsecond **{b['best_per_us']}** ({b['median_us']:.1f} µs{runner}); among the compressed "
                 f"teachers {b['best_teacher_per_byte']} ({100 * b['teacher_accuracy']:.1f}% at {b['teacher_size_bytes']:,.0f} B); "
                 f"most accurate compressed model {b['most_accurate_compressed']} ({100 * b['its_accuracy']:.1f}% at "
                 f"{b['its_size_bytes']:,.0f} B). For scale: TM_PTQ {_size(eff, r, 'TM_PTQ'):,.0f} B, TM_pruned "
                 f"{_size(eff, r, 'TM_pruned'):,.0f} B raw ({_size(eff, r, 'TM_pruned', 'gzip_bytes'):,.0f} B gzipped).{warn}")

    L += ["", "## 4. Does anything transfer from WDBC to BCD?", ""]
    if verdict is None:
        L.append(f"The cross-dataset run `{prof.transfer}` has not been made (notebook 03b).")
    else:
        L += [f"Run `{prof.transfer}`: trained on WDBC, tested on all 683 complete BCD rows.", ""]
        L += [f"- {line}" for line in verdict["text"].splitlines()]
        L.append(f"- **Answer.** {transfer_answer(verdict)} WDBC (30 nuclear-morphometry measurements) and BCD (9 "
                 "cytology scores) share no feature: whatever transfers goes through an alignment of principal "
                 "components, which is a modelling assumption, not a measurement.")

    L += ["", "## The paper's claims beside ours", "",
          "| claim | paper | ours, paper protocol | ours, rigorous protocol |", "|---|---|---|---|"]
    if infl is not None and len(infl):
        for _, r in infl.iterrows():
            paper_val = "–" if r["paper_reported"] is None or (isinstance(r["paper_reported"], float) and math.isnan(r["paper_reported"])) \
                else f"{100 * r['paper_reported']:.2f}%"
            L.append(f"| {r['model']} {r['format']} {r['metric']} ({r['source']}) | {paper_val} | "
                     f"{fmt_ci(r['paper_protocol_mean'], r['paper_protocol_low'], r['paper_protocol_high'])}, "
                     f"seeds {100 * r['paper_protocol_min']:.1f}–{100 * r['paper_protocol_max']:.1f} | "
                     f"{fmt_ci(r['rigorous_mean'], r['rigorous_low'], r['rigorous_high'])} |")
    w, pr = prof.paper_rigorous, prof.paper
    if w in runs and pr in runs:
        kd_p, _ = _diff(comp, pr, "SM", "SM_scratch")
        kd_r, _ = _diff(comp, w, "SM", "SM_scratch")
        L.append(f"| KD beats scratch (earlier paper: SM .97 vs SM_scratch .86) | +11 points | {kd_p} | {kd_r} |")
        loss = []
        for run_ in (pr, w):
            tm_, sm_ = _row(table, run=run_, model="TM", format="keras", metric="accuracy"), \
                _row(table, run=run_, model="SM", format="tflite", metric="accuracy")
            loss.append("n/a" if tm_ is None or sm_ is None else
                        f"{100 * (tm_['mean'] - sm_['mean']) / tm_['mean']:+.2f}% (TM {100 * tm_['mean']:.1f}%, SM {100 * sm_['mean']:.1f}%)")
        L.append(f"| SM_TFLite relative loss to its teacher | 2.33% (of an implied 100% teacher) | {loss[0]} | {loss[1]} |")
        for model, kb, label in (("SM", 5.21, "SM_TFLite size"), ("TM_pruned", 2924.31, "pruned size"),
                                 ("TM_PTQ", 746.59, "PTQ size"), ("TM_PTQ_INT8", 750.69, "PTQ_INT8 size")):
            L.append(f"| {label} | {kb:,.2f} kB | {_size(eff, pr, model) / 1024:,.2f} KiB | "
                     f"{_size(eff, w, model) / 1024:,.2f} KiB |")
        L.append(f"| smallest deployable model | 5.21 kB (SM_TFLite) | SM_INT8 {_size(eff, pr, 'SM_INT8'):,.0f} B | "
                 f"SM_INT8 {_size(eff, w, 'SM_INT8'):,.0f} B |")
        L.append(f"| SM_TFLite latency | 3.3 ms on the Pi (one un-warmed call plus model loading) | "
                 f"{_size(eff, pr, 'SM', 'median_us'):.1f} µs per warm invoke (x86 host) | "
                 f"{_size(eff, w, 'SM', 'median_us'):.1f} µs (x86 host) |")
        L.append(f"| pruned latency | 13.68 ms on the Pi | {_size(eff, pr, 'TM_pruned', 'median_us'):.1f} µs (x86 host) | "
                 f"{_size(eff, w, 'TM_pruned', 'median_us'):.1f} µs (x86 host) |")
    if pi_reference is not None and len(pi_reference):
        ref = pi_reference.set_index("model")
        for model in ("SM (SM_TFLite)", "TM (KD folder)", "TM_PTQ", "TM_PTQ_INT8"):
            if model in ref.index:
                x = ref.loc[model]
                L.append(f"| {model}: the authors' own Pi log, read by notebook 07 | {x['total_ms']:.2f} ms | of which "
                         f"model load {x['model_load_ms']:.2f} ms and one un-warmed invoke {x['invoke_ms']:.2f} ms | "
                         f"(data loading, {x['data_load_ms']:.2f} ms, excluded from their total) |")
    if verdict is not None and verdict["authors_k6_sm"] is not None:
        a = verdict["authors_k6_sm"]
        L.append(f"| cross-dataset accuracy (PCA 6, SM) | 73.97% [65.04, 82.90] | "
                 f"{fmt_ci(a['mean'], a['ci_low'], a['ci_high'])} (t-interval, {int(a['n'])} seeds) | "
                 f"majority class {100 * verdict['majority']:.1f}% |")

    L += ["", "## Diagnostic accuracy", "",
          "Rigorous runs: pooled over the folds of the first repeat (every row tested once), Wilson 95% intervals. "
          f"Paper protocol (`{prof.paper}`): mean over its seeds with a t-interval (its splits re-draw the same rows, "
          "and its test rows were also its validation rows); the counts are of the first seed's split only. A missed "
          "cancer (false negative) costs more than a false alarm.", "",
          "| run | model | sensitivity | specificity | missed cancers | false alarms |", "|---|---|---|---|---|---|"]
    for _, d in diag[diag["model"].isin(CURVE_MODELS)].iterrows():
        if d["run"] == prof.paper:
            sens = fmt_ci(d["sensitivity_mean"], d["sensitivity_ci_low"], d["sensitivity_ci_high"]) + " (mean over seeds)"
            spec = fmt_ci(d["specificity_mean"], d["specificity_ci_low"], d["specificity_ci_high"]) + " (mean over seeds)"
            where = " (first seed)"
        else:
            sens = fmt_ci(d["sensitivity_pooled"], d["sensitivity_wilson_low"], d["sensitivity_wilson_high"])
            spec = fmt_ci(d["specificity_pooled"], d["specificity_wilson_low"], d["specificity_wilson_high"])
            where = ""
        L.append(f"| {d['run']} | {d['model']} | {sens} | {spec} | {d['fn']} of {d['tp'] + d['fn']}{where} | "
                 f"{d['fp']} of {d['tn'] + d['fp']}{where} |")
    L += ["", "## Calibration", "", "Brier score of the malignancy score (lower is better) and its decomposition, "
          f"first pass (`{prof.paper}`: the first seed's split only, 86-row scale).", "",
          "| run | model | Brier | reliability | resolution | uncertainty |", "|---|---|---|---|---|---|"]
    for _, c in cal.iterrows():
        L.append(f"| {c['run']} | {c['model']} | {c['brier']:.4f} | {c['reliability']:.4f} | {c['resolution']:.4f} | "
                 f"{c['uncertainty']:.4f} |")
    L += ["", "## All models at once", ""]
    for r in runs:
        fr = ranks.get(r)
        if fr is not None:
            top = ", ".join(f"{m} {v:.1f}" for m, v in fr["avg_ranks"].head(4).items())
            L.append(f"- `{r}`: Friedman p {fmt_p(fr['p'])} over {fr['n_blocks']} splits and {fr['k']} models; "
                     f"best average ranks {top} (Nemenyi critical difference {fr['critical_difference']:.2f}).")
    L += ["", "## How to read the intervals", "",
          "- The naive t-interval treats the splits as independent; they share most training rows, so it is too "
          "narrow. The corrected interval inflates the variance by (1/J + n_test/n_train) (Nadeau & Bengio 2003); "
          "`summary.csv` has both for every run, model, format and metric.",
          "- Friedman, repeated-measures ANOVA and the mixed model (notebook 08) share the same optimism; use the "
          "corrected paired tests for specific questions. Holm-adjusted p-values are in `summary/comparisons.csv`.",
          "- Host latencies are measurements of one x86 machine at one moment; sizes and accuracies are exact and "
          "reproducible (same params, same numbers).", "",
          "Details: `summary.csv`, `summary/comparisons.csv`, `summary/diagnostic.csv`, `summary/calibration.csv`, "
          "`summary/inflation.csv`, `summary/efficiency.csv` and the figures in `summary/figures/`."
          if prof.name == "summary" else
          f"Details: `{prof.name}.csv` and `{prof.name}/`.", ""]
    return "\n".join(L)


# ------------------------------------------------------------------------------------------------ model card
def model_card(prof: Profile, table, diag, cal, eff, sizes, verdict=None) -> str:
    """The model card of the deployable model (:data:`DEPLOYABLE` of ``prof.deploy_run``), numbers from the
    tables of notebook 08."""
    run, m = prof.deploy_run, DEPLOYABLE

    def metric(name):
        r = _row(table, run=run, model=m, format="tflite", metric=name)
        if r is None:
            return "n/a", "n/a"
        return fmt_ci(r["mean"], r["ci_low"], r["ci_high"]), \
            f"[{100 * r['corrected_low']:.1f}, {100 * r['corrected_high']:.1f}]" if r["n"] > 1 else "n/a"

    d = _row(diag, run=run, model=m)
    c = _row(cal, run=run, model=m)
    sz = sizes.get(run, {})
    size, gz, us = _size(eff, run, m), _size(eff, run, m, "gzip_bytes"), _size(eff, run, m, "median_us")
    L = [f"# Model card: {m}, the distilled full-integer student (run `{run}`)", "",
         "Generated by `notebooks/08_statistics.ipynb` from the study's outputs; numbers are the rigorous "
         "protocol's (repeated stratified cross-validation, preprocessing fit on training rows only, selection on "
         "inner validation rows only).", ""]
    if prof.name != "summary":
        L += ["> **Fast profile: smoke-test numbers, not results.** The study's card is `outputs/model_card.md`.", ""]
    L += ["## Not a diagnostic device", "",
          "This model is a **research artefact**. It is not a medical device, has not been cleared or approved by "
          "any regulator, has not been validated prospectively or on any population other than the one below, and "
          "must not be used to make, confirm or withhold a diagnosis or a treatment decision. A pathologist's "
          "reading of the sample remains the standard of care.", "",
          "## Model details", "",
          f"- **What**: the authors' 1-D CNN student (518 parameters at 26 inputs) trained by knowledge distillation "
          f"(Hinton loss: T² · KL of softened logits, α = 0.1, T = 10) from their 748,354-parameter teacher, then "
          f"converted to a full-integer TensorFlow Lite model (int8 weights, activations, input and output; calibrated "
          f"on training rows) and stripped of names, metadata and no-op reshapes: **{size:,.0f} bytes** "
          f"({gz:,.0f} gzipped).",
          f"- **Files**: `outputs/{run}/export/sm_int8_model.h` (C array for TensorFlow Lite Micro, split r0f0); the "
          f"`.tflite` of every split under `outputs/{run}/models/` after `make reproduce` (not in git).",
          "- **Output**: two sigmoid units (benign, malignant); the predicted class is the larger one and "
          "P(malignant) = p1 / (p0 + p1).",
          "- **Study**: reproduction and extension of Modu, Prasad & Aliyu, Electronics 14(24) 4842 (2025); code, "
          "parameters and executed notebooks in this repository.", "",
          "## Intended use", "",
          "- Research on small, offline classifiers for low-resource settings: a reproducible, measured baseline "
          "for what a 3 kB model can and cannot do on the WDBC features, on devices such as a Raspberry Pi or a "
          "microcontroller.",
          "- Teaching: the full pipeline (data, distillation, compression, export, measurement, statistics) is "
          "open and re-runnable.",
          "- **Out of scope**: clinical use of any kind; other feature sets or measurement protocols; screening.", "",
          "## Inputs and preprocessing", "",
          "- The 30 WDBC features (mean, standard error and worst value of 10 nuclear measurements computed from a "
          "digitized fine-needle-aspirate image). The model cannot read images or other clinical data.",
          "- Preprocessing, fit on the training rows of each split: median imputation, standardization, PCA to 26 "
          "components, standardization; then int8 quantization with the model's input scale and zero point. **The "
          "preprocessing is not inside the .tflite**: a deployment must ship the fitted transform with the model "
          "(`lib.preprocess`), or the model sees meaningless inputs.", "",
          "## Training and evaluation data", "",
          "- WDBC (Wisconsin Diagnostic Breast Cancer; UCI / scikit-learn): 569 patients, 212 malignant and 357 "
          "benign, one institution (University of Wisconsin hospitals, early 1990s).",
          f"- Repeated stratified 5-fold cross-validation ({sz.get('n_splits', 'n/a')} splits); in each, "
          f"{sz.get('n_train', 'n/a')} rows to fit, an inner validation part for selection, "
          f"{sz.get('n_test', 'n/a')} test rows never seen in fitting or selection.", "",
          "## Metrics (TFLite model in LiteRT, mean over splits)", "",
          "| metric | mean [naive 95% CI] | corrected 95% CI |", "|---|---|---|"]
    for name in ("accuracy", "sensitivity", "specificity", "roc_auc"):
        a, b = metric(name)
        if name == "roc_auc":
            r = _row(table, run=run, model=m, format="tflite", metric=name)
            a = "n/a" if r is None else fmt_ci(r["mean"], r["ci_low"], r["ci_high"], pct=False)
            b = "n/a" if r is None or r["n"] < 2 else f"[{r['corrected_low']:.3f}, {r['corrected_high']:.3f}]"
        L.append(f"| {name.replace('_', ' ')} | {a} | {b} |")
    if c is not None:
        L.append(f"| Brier score (first pass) | {c['brier']:.4f} | – |")
    L.append("")
    if d is not None:
        L += [f"Pooled over the first pass (each of the {int(d['pooled_rows'])} patients tested once): sensitivity "
              f"{fmt_ci(d['sensitivity_pooled'], d['sensitivity_wilson_low'], d['sensitivity_wilson_high'])}, specificity "
              f"{fmt_ci(d['specificity_pooled'], d['specificity_wilson_low'], d['specificity_wilson_high'])} (Wilson). "
              f"**{int(d['fn'])} of {int(d['tp'] + d['fn'])} malignant tumours were missed** and {int(d['fp'])} of "
              f"{int(d['tn'] + d['fp'])} benign ones flagged.", ""]
    L += ["## Size and speed", "",
          f"- {size:,.0f} bytes; the teacher is {_size(eff, run, 'TM'):,.0f} bytes as float TFLite and "
          f"{_size(eff, run, 'TM_PTQ'):,.0f} bytes weight-quantized.",
          f"- Median {us:.1f} µs per warm single-row invoke on the study's x86 host (one thread; notebook 06). A "
          "Raspberry Pi 4B has not been measured by this study: `python -m lib.pi_runner` (docs/pi.md) measures it "
          "and notebook 07 imports the log.", "",
          "## Limitations", "",
          "- One small, single-centre, decades-old dataset; the population, the imaging and the feature extraction of "
          "a deployment site will differ. Performance elsewhere is unknown.",
          ("- It reads the 30 WDBC features and nothing else. " + (
              "The cross-dataset run was not made." if verdict is None else
              "Trained on WDBC and tested on another dataset with other features (BCD, notebook 03b): "
              + transfer_answer(verdict))),
          "- Missed cancers are the costly error; the decision threshold (argmax, i.e. P(malignant) > 0.5) was not "
          "tuned for sensitivity. A deployment would choose it with clinicians, on local validation data.",
          "- The intervals are over resampled splits of the same 569 patients; they do not cover a change of "
          "population.", "",
          "## Ethical considerations", "",
          "A small offline model can reach places without a pathologist, which is the study's motivation, and also "
          "the risk: an unvalidated tool in a setting without a second opinion. Any use beyond research needs local "
          "validation, clinical oversight and regulatory approval.", ""]
    return "\n".join(L)
