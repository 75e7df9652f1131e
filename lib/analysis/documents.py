"""The words of notebook 08: ``summary.md`` and ``model_card.md`` rendered from Jinja2 templates (``lib/analysis/templates/``)
filled with the tables of :mod:`lib.analysis.tables`.

No conclusion is fixed text: each is a claim of :mod:`lib.analysis.claims` (a verdict computed from a corrected interval
and a margin fixed in ``params/report/decisions.yaml``), and the templates word each verdict
(``templates/claims.j2``). Settings quoted (alpha and T per split, parameter counts, epochs, learning rates) are
read from the runs' results and params. :func:`markdown` also returns the claims it states, for ``claims.csv``.
"""
from __future__ import annotations

import math
import posixpath
import re
from dataclasses import replace
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.core import formatting, pareto, paths, plots, stats
from lib.core.params import STUDY_DATASETS
from lib.core.decisions import load_decisions
from lib.analysis import claims as cl
from lib.analysis import glossary
from lib.analysis import tables
from lib.replicate import stability as rep_stability
from lib.analysis.tables import COMPRESSED_TEACHERS, DEPLOYABLE, DIAG_MODELS, FRONT_MODELS, SMALL_NETWORKS, Profile, fmt_ci, fmt_p

# ------------------------------------------------------------------------------------------------ the report
# summary.md and model_card.md are rendered from Jinja2 templates (lib/analysis/templates/) filled with computed values;
# every conclusion is a claim of lib.analysis.claims whose wording follows from its verdict (templates/claims.j2).
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _row(df: pd.DataFrame, **match) -> pd.Series | None:
    m = df
    for k, v in match.items():
        m = m[m[k] == v]
    return m.iloc[0] if len(m) else None


def acc_ci(table: pd.DataFrame, run: str, model: str, fmt: str = "tflite", metric: str = "accuracy") -> str:
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
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(pts=_pts, iv=_iv, p=fmt_p, code=lambda s: f"`{s}`",
                       pct=lambda x, d=1: "n/a" if x is None or math.isnan(x) else f"{100 * x:.{d}f}%",
                       trim0=lambda x: f"{x:g}", ci=fmt_ci, bytes=lambda x: "n/a" if math.isnan(x) else f"{x:,.0f} B")
    return env


def render(template: str, **context) -> str:
    """Render ``lib/analysis/templates/<template>``; an undefined name is an error, never an empty string."""
    return _env().get_template(template).render(**context).rstrip() + "\n"


def _group(by_run: dict) -> dict:
    """{value: [runs]} from {run: value}, in first-seen order."""
    out = {}
    for r, v in by_run.items():
        out.setdefault(v, []).append(r)
    return out


def _grid_size(run: str, file: str, columns: tuple) -> int | None:
    """How many distinct ``columns`` cells a run's grid file (notebook 03's outputs) holds, or None."""
    f = paths.outputs_root() / run / file
    if not f.exists():
        return None
    a = pd.read_csv(f)
    return int(a[list(columns)].drop_duplicates().shape[0]) if set(columns) <= set(a) else None


def _kd_grid_size(run: str) -> int | None:
    """How many (alpha, T) cells a run's grid searched for SM (its ablation_03.csv), or None."""
    return _grid_size(run, "ablation_03.csv", ("alpha", "temperature"))


def _scratch_grid_size(run: str) -> int | None:
    """How many (lr, epochs) cells a run's SM_scratch was tuned over (its scratch_grid_03.csv), or None."""
    return _grid_size(run, "scratch_grid_03.csv", ("lr", "epochs"))


def _roles(prof: Profile, runs, decisions, settings: dict) -> tuple[list, list]:
    """(primary runs, descriptive runs) among ``runs``: the primary family's runs (a fast run stands in for its
    full run) under the rigorous protocol, and the runs of PBCNT when decisions.yaml calls it descriptive."""
    fam = decisions.primary_family
    rig = [r for r in prof.rigorous if r in runs]
    primary = [r for r in rig if tables.base_run(r) in fam["runs"]]
    descriptive = [r for r in runs if decisions.pbcnt_role == "descriptive"
                   and getattr(settings.get(r), "dataset", tables.base_run(r)) == "pbcnt"]
    return primary, descriptive


def report_claims(prof: Profile, runs, comp, diag, decisions, uninformative=(), *, res: dict | None = None,
                  sizes: dict | None = None, settings: dict | None = None) -> dict:
    """Every claim of summary.md, computed from the comparisons, each with its question, family, answer and
    fragility: per run SM - TM, SM_INT8 - TM, SM_INT8 - LR / RF (non-inferiority), SM - SM_scratch,
    SM_paperloss - SM_scratch, SM_scratch - TM (difference) on accuracy (margin_accuracy); SM - TM on sensitivity
    (margin_sensitivity); SM_INT8 - LR / RF on balanced accuracy; SM_INT8 - TM / LR on specificity at the
    operating point (difference). SM - TM on the primary metrics and runs is the primary family (Holm); PBCNT's
    claims are descriptive when decisions.yaml says so; the rest exploratory. Then the answers across runs.
    ``res``, ``sizes``: the runs' results and split sizes, for the fragility (without them it is NaN)."""
    m, ms = decisions.margin_accuracy, decisions.margin_sensitivity
    settings = settings or {}
    primary_runs, descriptive = _roles(prof, runs, decisions, settings)
    fam = decisions.primary_family
    margins = {"accuracy": m, "balanced_accuracy": decisions.margin_balanced_accuracy, "sensitivity": ms,
               "op_specificity": float("nan")}

    def split_kw(r, a, b, metric):
        if not res or r not in res or not sizes or r not in sizes:
            return {}
        t = tables.per_split(res[r], metric)
        if a not in t or b not in t:
            return {}
        rows = tables.split_rows(res[r], b, metric).reindex(t.index)
        return {"split_diffs": (t[a] - t[b]).to_numpy(float), "split_rows": rows.to_numpy(float),
                "n_train": sizes[r]["n_train"], "n_test": sizes[r]["n_test"]}

    questions = {("SM", "TM"): "non_inferiority", ("SM_INT8", "TM"): "non_inferiority",
                 ("SM", "SM_scratch"): "difference", ("SM_paperloss", "SM_scratch"): "difference",
                 ("SM_INT8", "LR"): "non_inferiority", ("SM_INT8", "RF"): "non_inferiority",
                 ("SM_scratch", "TM"): "difference"}
    out, primary_claims, primary_kw = {}, [], {}

    def add(key, r, a, b, metric, question):  # a difference question has no margin
        c = cl.difference(comp, r, a, b, metric, float("nan") if question == "difference" else margins[metric])
        is_primary = (r in primary_runs and f"{a} - {b}" == fam["comparison"] and metric in fam["metrics"])
        if is_primary:
            primary_claims.append(c)
            primary_kw[c.name + "@" + r] = split_kw(r, a, b, metric)
            out[key] = c
            return
        family = "descriptive" if r in descriptive else "exploratory"
        out[key] = cl.judge(c, question, family, **split_kw(r, a, b, metric))

    for r in runs:
        for (a, b), q in questions.items():
            add((r, a, b), r, a, b, "accuracy", q)
        for b in ("LR", "RF"):
            add((r, "SM_INT8", b, "balanced_accuracy"), r, "SM_INT8", b, "balanced_accuracy", "non_inferiority")
        add((r, "SM", "TM", "sensitivity"), r, "SM", "TM", "sensitivity", "non_inferiority")
        if r in prof.rigorous and r not in descriptive:
            for b in ("TM", "LR"):
                c = cl.difference(comp, r, "SM_INT8", b, "op_specificity", float("nan"))
                if c.verdict != "missing":
                    out[(r, "SM_INT8", b, "op_specificity")] = cl.judge(c, "difference", "exploratory",
                                                                        **split_kw(r, "SM_INT8", b, "op_specificity"))
    for c in cl.primary(primary_claims, float(fam["alpha"]), **primary_kw):
        key = (c.run, "SM", "TM") if c.name.endswith(":accuracy") else (c.run, "SM", "TM", c.name.split(":")[-1])
        out[key] = c
    rig = [r for r in prof.rigorous if r in runs]
    prim = [out[(r, "SM", "TM")] for r in rig] + [out[(r, "SM", "TM", "sensitivity")] for r in rig]
    out["student_matches_teacher"] = cl.student_matches_teacher(prim, uninformative)
    out["kd_beats_scratch"] = cl.kd_beats_scratch([out[(r, "SM", "SM_scratch")] for r in rig])
    for b in ("LR", "RF"):  # rigorous runs with baselines only
        have = [out[(r, "SM_INT8", b)] for r in rig if out[(r, "SM_INT8", b)].verdict != "missing"]
        out[f"student_vs_{b}"] = cl.as_good_as(have, f"student_as_good_as_{b}", f"SM_INT8 - {b}")
    return out


def efficiency_claims(eff: pd.DataFrame, latency: dict, diag: pd.DataFrame, comp: pd.DataFrame | None = None,
                      tie_rule: str = "overlapping repeat ranges", sizes: dict | None = None,
                      descriptive=()) -> list[dict]:
    """Per run, among the ways to a small model (:data:`FRONT_MODELS`: the compressed teachers, SM and SM_INT8,
    and the same student trained without Hinton KD): the Pareto set in (accuracy, size); whether any accuracy
    difference between the student and a compressed teacher is detectable (``comp``: corrected intervals), since
    otherwise size alone orders the front; the fastest models with their ties (overlapping ranges of medians over
    repeats, widened by the spread of one network's latencies when ``tie_rule`` says so); and whether the smallest
    model on the front answers the majority class."""
    rows = []
    for run, d in eff.groupby("run", sort=False):
        d = d[d["model"].isin(FRONT_MODELS)].copy()
        if d.empty:
            continue
        lat = cl.latency_ranges(latency.get(run))
        d = d.drop(columns=[c for c in ("median_us_min", "median_us_max") if c in d]).merge(
            lat[["model", "median_us_min", "median_us_max"]], on="model", how="left")
        front = pareto.front(d, "size_bytes")
        front = sorted(front, key=lambda mname: float(d.set_index("model").loc[mname, "size_bytes"]))
        noise = pareto.latency_noise(d, SMALL_NETWORKS)
        fast = pareto.fastest_ties(d, pareto.tie_noise(d, tie_rule, SMALL_NETWORKS))
        di = d.set_index("model")
        same = di[di.index.isin(SMALL_NETWORKS)].dropna(subset=["median_us"])
        detectable = []
        compared = comp is not None and len(comp) > 0 and run not in descriptive  # a descriptive run: no test
        if compared:
            c = comp[(comp["run"] == run) & (comp["metric"] == "accuracy") & (comp["a"] == "SM")
                     & comp["b"].isin(COMPRESSED_TEACHERS)]
            detectable = [f"SM − {r.b} {_pts(r.mean_diff, 1)} [{_pts(r.corrected_ci_low, 1)}, "
                          f"{_pts(r.corrected_ci_high, 1)}]" for r in c.itertuples()
                          if r.corrected_ci_low > 0 or r.corrected_ci_high < 0]
        acc = di.loc[front, "accuracy"] if front else pd.Series(dtype=float)
        sz = (sizes or {}).get(run, {})
        per_unit = sz.get("n_splits", 0) * sz.get("n_test", 0)
        front_fragility = float(pareto.front_fragility(d, "size_bytes", per_unit)) if per_unit else float("nan")
        rows.append({
            "run": run, "front_size": front, "fastest": fast, "smallest": front[0] if front else None,
            "front_fragility": front_fragility,
            "front_size_detail": [f"{x} ({100 * di.loc[x, 'accuracy']:.1f}%, {di.loc[x, 'size_bytes']:,.0f} B)" for x in front],
            "front_spread": float(100 * (acc.max() - acc.min())) if len(acc) else float("nan"),
            "compared": compared, "detectable": detectable, "descriptive": run in descriptive,
            "fastest_detail": [f"{x} ({di.loc[x, 'median_us']:.1f} µs, repeats {di.loc[x, 'median_us_min']:.1f}-"
                               f"{di.loc[x, 'median_us_max']:.1f})" for x in fast],
            "noise": noise, "noise_widened": "widened" in tie_rule,
            "same_network": [f"{x} {di.loc[x, 'median_us']:.1f} µs" for x in same.sort_values("median_us").index],
            "ptq_bytes": f"{_size(eff, run, 'TM_PTQ'):,.0f} B", "pruned_bytes": f"{_size(eff, run, 'TM_pruned'):,.0f} B",
            "pruned_gzip": f"{_size(eff, run, 'TM_pruned', 'gzip_bytes'):,.0f} B",
            "majority_only": bool(front) and _majority_only(diag, run, front[0])})
    return rows


def transfer_claim(verdict: dict, target_only: pd.DataFrame | None, paired: pd.DataFrame | None,
                   confounds: list[str] | None, cell: dict | None = None) -> dict:
    """Question 4 from the transfer verdict, the target-only rules and their paired comparison with the
    pre-specified WDBC-trained cell (``lib.transfer.target_only.paired``). The rule, fixed in ``decisions.yaml``
    (``transfer_rule``): WDBC helps only if the cell beats every target-only rule by McNemar's exact test on the
    target rows as they are, on every seed of the cell. Returns the answer's sentences, the glance, the verdict
    and, apart, what SM − SM_scratch mixes besides KD in notebook 03b (``confound``, from ``confounds``: the
    sentences of ``lib.transfer.verdict.confounds`` for the run's params)."""
    pre = verdict["prespecified"]
    maj = verdict["majority"]
    parts, glance, gdiff = [], "", "–"
    bf = verdict["by_features"]
    a_above, a_n = bf.get("authors", (0, 0))
    a6 = verdict.get("authors_k6_sm")
    if a_n:
        parts.append(f"The authors' method (separate PCA per dataset): {a_above} of its {a_n} cells (k x model) have an "
                     f"accuracy interval over seeds above the majority class ({100 * maj:.1f}%) and a balanced-accuracy "
                     f"interval above 50%"
                     + (f"; their reported cell (SM, k = 6) reaches {fmt_ci(a6['mean'], a6['ci_low'], a6['ci_high'])}, "
                        + ("above" if a6["ci_low"] > maj else "not clearly above") + " the majority class" if a6 is not None else "")
                     + ".")
    verdict_word, gain, fragility = "not_tested", float("nan"), float("nan")
    if pre is not None and paired is not None and len(paired):
        asis = paired[paired["prevalence_target"] == "as is"]
        per_rule = asis.groupby("rule").agg(diff=("difference", "mean"), beats=("cell_better", "all"),
                                           loses=("rule_better", "any"), b=("b", "median"), c=("c", "median"),
                                           p_min=("p_exact", "min"), p_max=("p_exact", "max"),
                                           rule_acc=("rule_accuracy", "first"))
        best_rule = per_rule["rule_acc"].idxmax()
        gain = float(per_rule.loc[best_rule, "diff"])
        verdict_word = "beats_target_only" if bool(per_rule["beats"].all()) else "no_more_than_target_only"
        # rows that decide it: undoing one (rule, seed) pair undoes "beats"; "no more" needs every failing pair
        # to turn, at least as many rows as its hardest pair (row changes may be shared between pairs)
        flips = [stats.mcnemar_flip(int(b), int(c)) for b, c, ok in zip(asis["b"], asis["c"], asis["cell_better"])
                 if ok == (verdict_word == "beats_target_only")]
        fragility = float(min(flips) if verdict_word == "beats_target_only" else max(flips)) if flips else float("nan")
        where = f" ({cell['features']} features, k = {cell['k']}, {cell['model']})" if cell else ""
        rules = "; ".join(f"{r}: {100 * x['rule_acc']:.1f}%, cell − rule {100 * x['diff']:+.1f} points, "
                          f"b/c {x['b']:.0f}/{x['c']:.0f} rows, McNemar p {_p_range(x['p_min'], x['p_max'])}"
                          for r, x in per_rule.iterrows())
        parts.append(f"The cell fixed before any cross-dataset result{where} reaches "
                     f"{fmt_ci(pre['mean'], pre['ci_low'], pre['ci_high'])} on BCD (interval over seeds). Rules that "
                     f"use no WDBC data, on the same {int(asis['n_rows'].iloc[0])} rows: {rules}. "
                     + ("The WDBC-trained cell beats every one of them on every seed." if verdict_word == "beats_target_only"
                        else "The cell does not beat every one of them (McNemar, on every seed). So nothing is shown to "
                             "transfer beyond what BCD's own feature distribution gives."))
        glance = ("Exploratory: beats every BCD-only rule" if verdict_word == "beats_target_only" else
                  "Not shown (exploratory): not better than every BCD-only rule")
        gdiff = (f"cell − best BCD-only rule ({best_rule}) {100 * gain:+.1f} points, McNemar p "
                 f"{_p_range(per_rule.loc[best_rule, 'p_min'], per_rule.loc[best_rule, 'p_max'])} over its WDBC seeds")
        low = paired[paired["prevalence_target"] != "as is"]
        if len(low):
            g = low.groupby(["prevalence_target", "rule"]).agg(cell=("cell_accuracy", "mean"), rule_acc=("rule_accuracy", "mean"),
                                                              better=("cell_better", "mean"), worse=("rule_better", "mean"))
            realised = ({str(k): float(v) for k, v in target_only.groupby("prevalence_target")["prevalence"].mean().items()}
                        if target_only is not None and {"prevalence_target", "prevalence"} <= set(target_only.columns) else {})
            parts.append("On BCD resampled to fewer malignant rows, the rules refitted on each resample and the cell "
                         "unchanged (in brackets: how often McNemar finds the cell better, over resamples x seeds).")
            for prev, sub in g.sort_index(ascending=[False, True]).groupby(level=0, sort=False):
                parts.append(f"At {100 * realised.get(str(prev), float(prev)):.1f}% malignant: " + ", ".join(
                    f"{rule} {100 * x['rule_acc']:.1f}% vs cell {100 * x['cell']:.1f}% ({100 * x['better']:.0f}%)"
                    for (_, rule), x in sub.iterrows()) + ".")
    elif pre is None:
        parts.append("The pre-specified cell was not run.")
    confound = " ".join(f"Notebook 03b's {c}." for c in (confounds or []))
    return {"answer": " ".join(parts), "gain": gain, "confound": confound,
            "glance": glance or f"{verdict['n_above']} of {verdict['n_cells']} cells above the majority class",
            "glance_diff": gdiff, "verdict": verdict_word, "fragility": fragility}


def _latency_range(latency: pd.DataFrame | None, model: str) -> str | None:
    """'1.9-3.4' µs: the range of a model's median latencies over repeats (notebook 06), or None."""
    if latency is None or not len(latency) or not {"median_us_min", "median_us_max"} <= set(latency.columns):
        return None
    r = latency[(latency["model"] == model) & (latency["batch"] == 1)]
    return None if r.empty else f"{float(r['median_us_min'].iloc[0]):.1f}-{float(r['median_us_max'].iloc[0]):.1f}"


def _paperloss_budget(P) -> str:
    """SM_paperloss's training as its params set it: SM's untuned settings (lib.train.distillation.members)."""
    if P is None:
        return "SM's fixed settings"
    return (f"SM's learning rate and epochs (Adam {P.kd_lr:g}, {P.kd_epochs} epochs) with (α, T) fixed at "
            f"({P.kd_alpha:g}, {P.kd_temperature:g}), not chosen on inner validation as SM's are, against the tuned SM_scratch")


def _paper_design(P) -> str:
    """The paper protocol's preprocessing and split as its params set them (notebook 08, section 5)."""
    if P is None:
        return "the authors' protocol"
    pca = f"PCA({P.pca_components}) of unscaled features fit on every row" if P.pca_components else "no PCA"
    split = f"one {100 * (1 - P.test_size):.0f}/{100 * P.test_size:.0f} split per seed" if getattr(P, "test_size", None) else "its splits"
    return f"{pca}; its test rows passed to training as validation data (monitored, nothing chosen on them); {split}"


def majority_rates(diag: pd.DataFrame, runs) -> dict:
    """Per run, the accuracy of answering the larger class for every row (first pass, from the diagnostic counts)."""
    out = {}
    for r in runs:
        d = _row(diag, run=r, model="TM")
        if d is not None:
            pos, neg = float(d["tp"] + d["fn"]), float(d["tn"] + d["fp"])
            if pos + neg:
                out[r] = max(pos, neg) / (pos + neg)
    return out


def inflation_verdict(rows: list[dict]) -> str:
    """The verdict of section 5 (claim ``protocol_inflation`` in claims.csv): ``not_answered`` (no rows),
    ``not_answerable`` (every headline's model trained differently by the two runs), ``inflated`` (some
    unconfounded headline inflated beyond its corrected interval), else ``none_detectable``."""
    if not rows:
        return "not_answered"
    clean = [r for r in rows if not r.get("confounds")]
    if not clean:
        return "not_answerable"
    return "inflated" if any(r.get("inflation_verdict") == "inflated" for r in clean) else "none_detectable"


def shared_confounds(rows: list[dict]) -> list[str]:
    """The differences of training (``confounds``, '; '-separated) that every row of section 5 shares, in the first
    row's order: stated once above its table, each row then lists only its own."""
    lists = [[c for c in (r.get("confounds") or "").split("; ") if c] for r in rows]
    if not lists or not all(lists):
        return []
    return [c for c in lists[0] if all(c in other for other in lists[1:])]


def inflation_answer(rows: list[dict]) -> str:
    """Section 5's answer from the inflation rows (lib.analysis.tables.inflation_table): a row counts as protocol
    inflation only when the two runs train its model alike (no ``confounds``); when every row is confounded the
    question is not answerable from these runs, and the detectable differences are reported as protocol and
    training together. Leakage and training-set size are named as mixed when the runs fit on different row counts."""
    if not rows:
        return "Not answered: no headline is in both runs."
    clean = [r for r in rows if not r.get("confounds")]
    mixed = any(r.get("n_train_paper") != r.get("n_train_rigorous") for r in rows)
    confounded_detectable = [f"{_label(r)} {100 * r['protocol_inflation']:+.1f} points "
                             f"[{100 * r['corrected_inflation_low']:+.1f}, {100 * r['corrected_inflation_high']:+.1f}]"
                             for r in rows if r.get("confounds") and r.get("inflation_verdict") in ("inflated", "deflated")]
    if not clean:
        out = ("Not answerable from these two runs: every headline's model is trained differently under the two "
               "protocols (listed below)" + (", and leakage is mixed with training-set size" if mixed else "")
               + ", so no difference here is protocol inflation alone")
        return out + (". Detectable differences of protocol and training together: " + "; ".join(confounded_detectable) + "."
                      if confounded_detectable else "; none of the differences is detectable either.")
    by = {v: [_label(r) for r in clean if r.get("inflation_verdict") == v]
          for v in ("inflated", "no_detectable_difference", "deflated")}
    parts = [("Inflated beyond the intervals: " + ", ".join(by["inflated"])) if by["inflated"] else
             "No headline is detectably inflated"]
    if by["no_detectable_difference"]:
        parts.append("no detectable difference: " + ", ".join(by["no_detectable_difference"]))
    if by["deflated"]:
        parts.append("lower under the paper protocol: " + ", ".join(by["deflated"]))
    confounded = [_label(r) for r in rows if r.get("confounds")]
    if confounded:
        parts.append("not counted, because the two runs train them differently: " + ", ".join(confounded))
    return "; ".join(parts) + (" (leakage and training-set size mixed: see above)." if mixed else ".")


def _p_range(lo: float, hi: float) -> str:
    return f"{fmt_p(lo)}" if lo == hi else f"{fmt_p(lo).replace('= ', '')}-{fmt_p(hi).replace('= ', '')}"


def markdown(prof: Profile, runs, missing, table, comp, diag, cal, infl, eff, best, verdict, ranks,
             pi_reference: pd.DataFrame | None = None, *, decisions=None, latency: dict | None = None,
             target_only: pd.DataFrame | None = None, transfer_confounds: list | None = None, paper_lr: dict | None = None,
             sizes: dict | None = None, forest_path=None, paired: pd.DataFrame | None = None,
             settings: dict | None = None, res: dict | None = None,
             operating: pd.DataFrame | None = None, ppv: pd.DataFrame | None = None,
             sample_size: pd.DataFrame | None = None, descriptive_facts: dict | None = None,
             stability: tuple | None = None, selection: pd.DataFrame | None = None) -> tuple[str, list]:
    """``summary.md`` rendered from ``templates/summary.md.j2``, and the list of claims it states (for
    ``claims.csv``). Everything is computed from the tables passed in; ``pi_reference`` is notebook 07's reading
    of the authors' Pi latency logs (optional); ``forest_path``: where to draw the figure of the answers at a
    glance (:func:`answers_forest`), which the markdown shows beside its table; ``paired``: the pre-specified
    cell against the target-only rules (``lib.transfer.target_only.paired``); ``settings``: {run: params}, for the settings
    the text quotes; ``res``: {run: results rows}, for the (alpha, T) the students used; ``operating``:
    :func:`lib.analysis.tables.operating_point` of the rigorous runs; ``ppv``, ``sample_size``,
    ``descriptive_facts``: :func:`lib.analysis.tables.predictive_values`, :func:`~lib.analysis.tables.sample_sizes`
    and {run: :func:`~lib.analysis.tables.descriptive_facts`}; ``stability``: (the replicates' claims indexed by
    :func:`lib.replicate.stability.index`, the ``verdict_stability`` rule, {run: its replicates}): each claim
    is labelled firm, unstable or not replicated (:func:`stable`); ``selection``:
    :func:`lib.replicate.stability.selection_agreement` of the runs (how alike their seeds choose the cells)."""
    # how the text names the classes: the study's words, or a user's table run's own labels when it is alone
    P1 = (settings or {}).get(runs[0]) if prof.single and runs else None
    neg, pos = P1.labels if P1 is not None and P1.dataset not in STUDY_DATASETS else ("benign", "malignant")
    words = ({"case": "cancer", "cases": "cancers", "score": "malignancy score"} if (neg, pos) == ("benign", "malignant")
             else {"case": f"{pos} case", "cases": f"{pos} cases", "score": f"P({pos})"})
    decisions = decisions or load_decisions()
    rig = [r for r in prof.rigorous if r in runs]

    def majority_runs(a, b):
        return [r for r in rig if _majority_only(diag, r, a) and _majority_only(diag, r, b)]

    settings = settings or {}
    C = report_claims(prof, runs, comp, diag, decisions, uninformative=majority_runs("SM", "TM"), res=res,
                      sizes=sizes, settings=settings)
    C = {k: stable(c, stability) for k, c in C.items()}
    primary_runs, descriptive_runs = _roles(prof, runs, decisions, settings)

    glance = [{"question": "Student matches teacher? (SM − TM)", "a": "SM", "b": "TM",
               "claims": [C[(r, "SM", "TM")] for r in rig], "majority_runs": majority_runs("SM", "TM"),
               "sensitivity": [C[(r, "SM", "TM", "sensitivity")] for r in rig]},
              {"question": "KD beats scratch? (SM − SM_scratch)", "a": "SM", "b": "SM_scratch",
               "claims": [C[(r, "SM", "SM_scratch")] for r in rig], "majority_runs": majority_runs("SM", "SM_scratch")}]
    teacher = []
    for r in runs:
        d = _row(diag, run=r, model="TM")
        spec0 = None
        if d is not None and d["specificity_pooled"] == 0:
            auc = _row(table, run=r, model="TM", format="tflite", metric="roc_auc")
            spec0 = {"n_normal": int(d["tn"] + d["fp"]), "auc": None if auc is None else float(auc["mean"])}
        teacher.append({"run": r, "sm": acc_ci(table, r, "SM"), "tm": acc_ci(table, r, "TM"), "sm_int8": acc_ci(table, r, "SM_INT8"),
                        "c": C[(r, "SM", "TM")], "c8": C[(r, "SM_INT8", "TM")], "cs": C[(r, "SM", "TM", "sensitivity")], "spec0": spec0,
                        "sm_copies": _majority_only(diag, r, "SM")})
    kd = [{"run": r, "sm": acc_ci(table, r, "SM"), "scratch": acc_ci(table, r, "SM_scratch"), "c": C[(r, "SM", "SM_scratch")],
           "paper": r == prof.paper, "n_cells": _kd_grid_size(r) or "n/a", "scratch_cells": _scratch_grid_size(r),
           "budget": _budget(settings.get(r)),
           "copies_majority": _majority_only(diag, r, "SM") and not _majority_only(diag, r, "SM_scratch"),
           "scratch_spec": _spec(diag, r, "SM_scratch"), "teacher_c": C[(r, "SM_scratch", "TM")],
           "edges": _grid_edges(res.get(r) if res else None, settings.get(r))} for r in runs]
    def teacher_runs(sign):  # the rigorous runs where SM_scratch - TM detects a difference of this sign
        return [k["run"] + (" (not after Holm)" if k["teacher_c"].detail.get("p_holm_within_run", 0) >= 0.05 else "")
                for k in kd if k["run"] in rig and k["teacher_c"].answer == "detected"
                and k["teacher_c"].value * sign > 0]
    weaker_teacher, stronger_teacher = teacher_runs(1), teacher_runs(-1)
    paperloss = [{"run": r, "sm": acc_ci(table, r, "SM_paperloss"), "scratch": acc_ci(table, r, "SM_scratch"),
                  "c": C[(r, "SM_paperloss", "SM_scratch")], "budget": _paperloss_budget(settings.get(r))} for r in runs
                 if C[(r, "SM_paperloss", "SM_scratch")].verdict != "missing"]
    effc = efficiency_claims(eff, latency or {}, diag, comp, decisions.latency_tie, sizes, descriptive_runs)
    for e in effc:
        e["claim"] = stable(cl.Claim("pareto_size", e["run"], "front", detail={"models": e["front_size"]},
                                     question="front", fragility=e["front_fragility"]), stability)
    labels = {"LR": "a logistic regression", "RF": "a random forest"}
    baselines = []
    for b in ("LR", "RF"):
        cs = [C[(r, "SM_INT8", b)] for r in rig if C[(r, "SM_INT8", b)].verdict != "missing"]
        if cs:
            baselines.append({"name": b, "label": labels[b], "claims": cs, "answer": C[f"student_vs_{b}"],
                              "balanced": {c.run: C[(c.run, "SM_INT8", b, "balanced_accuracy")] for c in cs},
                              "acc": {c.run: {"a": acc_ci(table, c.run, "SM_INT8"),
                                              "b": acc_ci(table, c.run, b, "sklearn")} for c in cs}})
    op_rows, op_missed = [], []
    if operating is not None and len(operating):
        for o in operating.to_dict("records"):
            target = getattr(settings.get(o["run"]), "target_sensitivity", None)
            o["target"] = target
            o["descriptive"] = o["run"] in descriptive_runs
            o["sens"] = f"{fmt_ci(o['sensitivity_05'], o['sensitivity_05_low'], o['sensitivity_05_high'])} → " \
                        f"{fmt_ci(o['sensitivity_op'], o['sensitivity_op_low'], o['sensitivity_op_high'])}"
            o["spec"] = f"{fmt_ci(o['specificity_05'], o['specificity_05_low'], o['specificity_05_high'])} → " \
                        f"{fmt_ci(o['specificity_op'], o['specificity_op_low'], o['specificity_op_high'])}"
            if target is not None:
                o["target_verdict"] = stats.against_target(o["sensitivity_op_low"], o["sensitivity_op_high"], target)
                # how many patients decide it: a bound near the target is a verdict one patient can change
                d, v = stats.wilson_flip(int(o["cancers"]) - int(o["missed_op"]), int(o["cancers"]), target)
                o["flip_rows"] = d
                more = "detected" if v == "above" or o["target_verdict"] == "below" else "missed"
                o["flip"] = (f"{d} more {more} {words['case']}{'' if d == 1 else 's'} would make it "
                             f"{'consistent with' if v == 'consistent' else v} the target")
            op_rows.append(o)
            if o["model"] in ("TM", DEPLOYABLE, "LR") and target is not None:
                o["claim"] = stable(cl.Claim(
                    f"operating_point_sensitivity:{o['model']}", o["run"], o["target_verdict"], value=o["sensitivity_op"],
                    low=o["sensitivity_op_low"], high=o["sensitivity_op_high"], margin=o["target"],
                    subject=f"{o['model']} pooled sensitivity at its threshold vs the target",
                    question="target", family="descriptive" if o["descriptive"] else "exploratory",
                    answer="descriptive" if o["descriptive"] else o["target_verdict"],
                    fragility=float("nan") if o["descriptive"] else float(o["flip_rows"])), stability)
                op_missed.append(o)
    targets = sorted({o["target"] for o in op_rows if o["target"] is not None})
    tr = None if verdict is None else {**transfer_claim(verdict, target_only, paired, transfer_confounds, decisions.transfer_cell),
                                       "lines": verdict["text"].splitlines(),
                                       "n_rows": (verdict.get("prespecified_wilson") or (0, 0, 0, "all"))[3],
                                       "target_only": [] if target_only is None else target_only.to_dict("records")}
    tr_claim = None if tr is None else stable(cl.Claim(
        "wdbc_helps_on_bcd", prof.transfer, tr["verdict"], value=tr["gain"],
        subject=f"pre-specified cell ({decisions.transfer_cell['model']}) - best target-only rule", question="transfer",
        fragility=tr["fragility"]), stability)
    if forest_path is not None:
        rest = ([{"a": "SM_scratch", "b": "TM", "claims": [k["teacher_c"] for k in kd if k["run"] in rig
                                                          and k["teacher_c"].verdict != "missing"]}]
                + [{"a": "SM_INT8", "b": b["name"], "claims": b["claims"]} for b in baselines])
        fig = answers_forest(forest_panels(glance))
        fig.savefig(forest_path, metadata={"Software": None})
        plt.close(fig)
        rest = [q for q in rest if q["claims"]]
        if rest:  # what the answers rest on: a second figure, beside the second table
            fig = answers_forest(forest_panels(rest))
            fig.savefig(Path(forest_path).with_name("08_answers_basis.png"), metadata={"Software": None})
            plt.close(fig)
    infl_rows = ([] if infl is None or not len(infl) or "inflation_verdict" not in infl else
                 infl.assign(confounds=infl["confounds"].fillna("") if "confounds" in infl else "").to_dict("records"))
    paper_kd = C.get((prof.paper, "SM", "SM_scratch")) if prof.paper in runs else None
    paper_kd_fixed = None
    if res is not None and prof.paper in res:
        ks = cl.kd_settings(res[prof.paper])
        paper_kd_fixed = ks["first"] if ks.get("fixed") else None
    over = [f"{r['model']} {r['format']} {r['metric']} {100 * r['reported_minus_rigorous']:+.1f}"
            for r in infl_rows if r.get("reported_minus_rigorous") == r.get("reported_minus_rigorous")
            and r.get("reported_minus_rigorous") is not None and r["paper_reported"] == r["paper_reported"]
            and r["paper_reported"] is not None]
    details = "." if prof.single else prof.name  # links relative to the summary (a run alone: its own folder)
    infl_claim = None if not infl_rows else stable(cl.Claim("protocol_inflation", prof.paper, inflation_verdict(infl_rows),
                                                            subject=f"{prof.paper} - {prof.paper_rigorous}"), stability)
    n_paper = (sizes or {}).get(prof.paper, {}).get("n_splits", "n/a")
    folds = {r: (sizes or {}).get(r, {}).get("n_splits") for r in rig}
    text = render("summary.md.j2", words=words, profile="full" if prof.name == "summary" else ("fast" if not prof.single else prof.runs[0]),
                  fast=prof.fast, single=prof.single and prof.runs[0], neg=neg, pos=pos,
                  runs=runs, missing=missing, d=decisions, glance=glance, primary_runs=primary_runs,
                  holm_ticks=any(not math.isnan(_holm_bound(c)) for q in forest_panels(glance) for c in q["claims"]),
                  primary_n=sum(c.family == "primary" for c in C.values() if c.run != "all"),
                  primary_alpha=float(decisions.primary_family["alpha"]), descriptive_runs=descriptive_runs,
                  ppv=[] if ppv is None or not len(ppv) else ppv.to_dict("records"),
                  sample_size=[] if sample_size is None or not len(sample_size) else sample_size.to_dict("records"),
                  facts=descriptive_facts or {}, op_rule=decisions.operating_point,
                  op_spec=[c for k, c in C.items() if isinstance(k, tuple) and k[-1] == "op_specificity"],
                  slopes=_slope_ranges(cal),
                  smallest=sorted({e["smallest"] for e in effc if e["smallest"]}), q1=C["student_matches_teacher"],
                  q2=C["kd_beats_scratch"], kd_budget=_group({r: _kd_grid_size(r) or "n/a" for r in rig}), paper_kd=paper_kd,
                  scratch_equal=bool(rig) and all(_scratch_grid_size(r) and _scratch_grid_size(r) == _kd_grid_size(r) for r in rig),
                  scratch_budget=_group({r: _scratch_grid_size(r) for r in rig if _scratch_grid_size(r)}),
                  baselines=baselines, operating=op_rows, operating_missed=op_missed, weaker_teacher=weaker_teacher,
                  stronger_teacher=stronger_teacher,
                  teacher_glance=[k["teacher_c"] for k in kd if k["run"] in rig],
                  protocol_text=_protocol_text({r: settings.get(r) for r in rig}),
                  target_text=" / ".join(f"{100 * t:.0f}%" for t in targets) or "n/a",
                  paper_lr=paper_lr or {"kd": "n/a", "scratch": "n/a"}, efficiency=effc, transfer=tr,
                  transfer_run=prof.transfer, transfer_claim=tr_claim, teacher=teacher, kd=kd, paperloss=paperloss,
                  forest=f"{details}/figures/08_answers.png", forest_basis=f"{details}/figures/08_answers_basis.png", paper=prof.paper, paper_splits=n_paper,
                  folds_text="cross-validation (" + ", ".join(f"{r}: {n} splits" for r, n in folds.items()) + ")",
                  claims_file=f"`{details}/claims.csv`", details=details, profile_name="summary" if prof.single else prof.name,
                  paper_claims=_paper_claims(prof, runs, table, comp, eff, infl, verdict, pi_reference, C),
                  inflation_claim=infl_claim,
                  paper_rigorous=prof.paper_rigorous, inflation=infl_rows, reported_over=over,
                  paper_kd_fixed=paper_kd_fixed, kd_budgets=_group({k["run"]: k["budget"] for k in kd if not k["paper"] and k["run"] in rig}), test_size=getattr(settings.get(prof.paper), "test_size", None),
                  inflation_answer=inflation_answer(infl_rows), inflation_shared=shared_confounds(infl_rows),
                  replication={r: int(res[r]["seeds"].max()) for r in runs if res and r in res and "seeds" in res[r]
                               and res[r]["seeds"].max() > 1},
                  replicated_models=list(rep_stability.MODELS),
                  selection=[] if selection is None or not len(selection) else selection.to_dict("records"),
                  paper_design=_paper_design(settings.get(prof.paper)),
                  majority=majority_rates(diag, runs),
                  fast_splits=" / ".join(sorted({str(n) for n in folds.values() if n})) or "a few",
                  diagnostic=_diagnostic_rows(prof, diag),
                  calibration=[{**c, "brier_splits": _ci_plain(table, c["run"], c["model"], "brier")} for c in cal.to_dict("records")],
                  ranks=[{"run": r, "p": ranks[r]["p"], "n_blocks": ranks[r]["n_blocks"], "k": ranks[r]["k"],
                          "descriptive": r in descriptive_runs,
                          "cd": ranks[r]["critical_difference"],
                          "top": ", ".join(f"{m_} {v:.1f}" for m_, v in ranks[r]["avg_ranks"].head(4).items())}
                         for r in runs if ranks.get(r) is not None])
    stated = [c for c in C.values()]
    if infl_claim is not None:
        stated.append(infl_claim)
    if tr_claim is not None:
        stated.append(tr_claim)
    stated += [o["claim"] for o in op_missed]
    stated += [e["claim"] for e in effc]
    # (the fastest models and their ties are a measurement of host latency at one moment: in the text, not here)
    return text, stated


def stable(c: cl.Claim, stability: tuple | None) -> cl.Claim:
    """The claim with its stability over training-seed replicates (:func:`lib.replicate.stability.label`):
    ``stability`` is (the replicates' claims by :func:`lib.replicate.stability.index`, the rule, {run: its
    replicates}); None leaves the claim as it is."""
    if stability is None:
        return c
    index, rule, seeds_of = stability
    replicated_runs = [r for r, ks in seeds_of.items() if len(ks) > 1]
    lab = rep_stability.label(c.row(), index.get((c.name, c.run), []), rule, replicated_runs)
    return replace(c, **lab)


def frame_claims(prof: Profile, runs, missing, res: dict, sizes: dict, latency: dict, decisions, settings: dict,
                 **fixed) -> pd.DataFrame:
    """Every claim of :func:`markdown`, computed on one replicate's results (``res``: {run: results rows},
    :func:`lib.replicate.stability.frames`): the tables that depend on the results (the summary table, the
    comparisons, the operating points, efficiency) recomputed from them, the rest (``fixed``: diag, cal, infl,
    verdict, ranks and the other keyword arguments of :func:`markdown`) as given. The text is not kept."""
    table = pd.concat([tables.summary_table(res[r], sizes[r]["n_train"], sizes[r]["n_test"]) for r in runs],
                      ignore_index=True)
    comp = pd.concat([tables.comparisons(res[r], sizes[r]["n_train"], sizes[r]["n_test"]) for r in runs],
                     ignore_index=True)
    opt = pd.concat([tables.operating_point(res[r], sizes[r]["protocol"]) for r in runs], ignore_index=True)
    eff = pd.concat([tables.efficiency(res[r], latency.get(r)) for r in runs], ignore_index=True)
    pos = {k: fixed.pop(k) for k in ("diag", "cal", "infl", "verdict", "ranks", "pi_reference")}
    _, stated = markdown(prof, runs, missing, table, comp, pos["diag"], pos["cal"], pos["infl"], eff,
                         tables.best_compressed(eff), pos["verdict"], pos["ranks"], pos["pi_reference"],
                         decisions=decisions, latency=latency, sizes=sizes, settings=settings, res=res,
                         operating=opt, **fixed)
    return cl.claims_table(stated)


def _slope_ranges(cal: pd.DataFrame | None) -> list[dict]:
    """Per run, the range of the first pass's calibration slopes over its models before and after Platt scaling
    (what the calibration section says in one line; NaN slopes, where the scores separate the rows, left out)."""
    out = []
    if cal is None or not len(cal) or "calibration_slope_platt" not in cal:
        return out
    for run, g in cal.groupby("run", sort=False):
        b, a = g["calibration_slope"].dropna(), g["calibration_slope_platt"].dropna()
        if len(b) and len(a):
            out.append({"run": run, "before": (float(b.min()), float(b.max())), "after": (float(a.min()), float(a.max()))})
    return out


def _grid_edges(res: pd.DataFrame | None, P) -> list[str]:
    """Where a run's chosen cells sit at the edge of their grid on most splits (the search may have stopped
    short): SM's alpha / T and SM_scratch's learning rate / epochs, and the teacher's best epoch at its cap (it
    may be under-trained), read from its results rows."""
    if res is None or P is None or P.is_paper:
        return []
    out = []
    for model, col, grid, label in (("SM", "kd_alpha", P.ablation_alphas, "SM's alpha"),
                                    ("SM", "kd_temperature", P.ablation_temperatures, "SM's T"),
                                    ("SM_scratch", "student_lr", P.scratch_lrs, "SM_scratch's learning rate"),
                                    ("SM_scratch", "student_epochs", P.scratch_epochs, "SM_scratch's epochs")):
        if col not in res or len(grid) < 2:
            continue
        v = res[(res["model"] == model) & (res["format"] == "keras")][col].dropna()
        for edge, word in ((max(grid), "largest"), (min(grid), "smallest")):
            n = int((v == edge).sum())
            if len(v) and n > len(v) / 2:
                out.append(f"{label} {edge:g} (the {word} of its grid) on {n} of {len(v)} splits")
    if "best_epoch" in res and P.teacher_patience:  # the teacher's early stopping, capped at teacher_epochs
        v = res[(res["model"] == "TM") & (res["format"] == "keras")]["best_epoch"].dropna()
        n = int((v >= P.teacher_epochs).sum())
        if len(v) and n > len(v) / 2:
            out.append(f"TM's best epoch {P.teacher_epochs} (its cap: early stopping did not end it) on {n} of {len(v)} splits")
    return out


def _protocol_text(settings: dict) -> str:
    """The rigorous runs' training protocol as their params state it (for 'How to read'): what every run shares,
    then what only some runs add."""
    bits = {}
    for r, P in settings.items():
        if P is None:
            continue
        b = []
        if P.class_weight:
            b.append(f"{P.class_weight} class weights")
        if P.bn_recompute:
            b.append("BatchNorm statistics recomputed on the training rows")
        if P.teacher_patience:
            b.append(f"teacher early stopping (patience {P.teacher_patience}, at most {P.teacher_epochs} epochs)")
        if P.dataset == "bcd":
            b.append("folds grouped by sample ID")
        bits[r] = b
    if not bits:
        return ""
    common = [x for x in next(iter(bits.values())) if all(x in b for b in bits.values())]
    extra = {}
    for r, b in bits.items():
        for x in b:
            if x not in common:
                extra.setdefault(x, []).append(r)
    text = "; ".join(common) or "the authors' training"
    text += f" ({'every rigorous run' if len(bits) > 1 else next(iter(bits))})"
    return text + "".join(f"; {x} ({', '.join(rs)})" for x, rs in extra.items())


def _budget(P) -> str:
    """'the same learning rate (0.001) and epochs (50)' when a run's KD and scratch students share them, read from
    its params; otherwise which settings differ."""
    if P is None:
        return "the budget of its params"
    if getattr(P, "scratch_lrs", None):
        return (f"SM at learning rate {P.kd_lr:g} for {P.kd_epochs} epochs, SM_scratch tuned over learning rates "
                f"{', '.join(f'{v:g}' for v in P.scratch_lrs)} x epochs {', '.join(map(str, P.scratch_epochs))}")
    same_lr, same_ep = P.kd_lr == P.student_lr, P.kd_epochs == P.student_epochs
    if same_lr and same_ep:
        return f"the same learning rate ({P.kd_lr:g}) and epochs ({P.kd_epochs})"
    return (f"learning rate {P.kd_lr:g} (KD) vs {P.student_lr:g} (scratch), epochs {P.kd_epochs} vs "
            f"{P.student_epochs}")


def _spec(diag, run, model) -> str:
    d = _row(diag, run=run, model=model)
    return "n/a" if d is None else f"{int(d['tn'])} of {int(d['tn'] + d['fp'])}"


def _ci_plain(table, run, model, metric, fmt="tflite") -> str:
    """'0.031 [0.022, 0.040]' with the corrected interval (fractions, not percentages)."""
    r = _row(table, run=run, model=model, format=fmt, metric=metric)
    if r is None:
        return "n/a"
    return fmt_ci(r["mean"], r["corrected_low"], r["corrected_high"], pct=False) if r["n"] > 1 else fmt_ci(r["mean"], None, None, pct=False)


def _label(r: dict) -> str:
    return f"{r['model']} {r['format']} {r['metric']}"


def _paper_claims(prof, runs, table, comp, eff, infl, verdict, pi_reference, claims: dict | None = None) -> list[list[str]]:
    """The rows of 'The paper's claims beside ours' (numbers only; the paper's column is its reported value);
    ``claims``: the report's claims by key, whose stability label is printed beside a difference that has one."""
    rows = []
    if infl is not None and len(infl):
        for _, r in infl.iterrows():
            paper_val = "–" if r["paper_reported"] is None or (isinstance(r["paper_reported"], float) and math.isnan(r["paper_reported"])) \
                else f"{100 * r['paper_reported']:.2f}%"
            rows.append([f"{r['model']} {r['format']} {r['metric']} ({r['source']})", paper_val,
                         f"{acc_ci(table, prof.paper, r['model'], r['format'], r['metric'])}, "
                         f"seeds {100 * r['paper_protocol_min']:.1f}–{100 * r['paper_protocol_max']:.1f}",
                         acc_ci(table, prof.paper_rigorous, r["model"], r["format"], r["metric"])])
    w, pr = prof.paper_rigorous, prof.paper
    if w in runs and pr in runs:
        def d(run):
            r = _row(comp, run=run, a="SM", b="SM_scratch", metric="accuracy")
            lab = getattr((claims or {}).get((run, "SM", "SM_scratch")), "stability", None)
            return "n/a" if r is None else (f"{_pts(r['mean_diff'], 2)} {_iv(r['corrected_ci_low'], r['corrected_ci_high'])}"
                                            + (f" ({lab})" if isinstance(lab, str) and lab else ""))
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
                     "–" if verdict.get("prespecified") is None else
                     f"signed features, k = 1, LR: {fmt_ci(verdict['prespecified']['mean'], verdict['prespecified']['ci_low'], verdict['prespecified']['ci_high'])}"
                     f" (majority class {100 * verdict['majority']:.1f}%; section 4 for the BCD-only rules)"])
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
               transfer_text: str | None = None, split_ranges: dict | None = None, operating=None,
               runtimes_table: pd.DataFrame | None = None, contract: dict | None = None,
               latency: pd.DataFrame | None = None, ppv: pd.DataFrame | None = None, decisions=None,
               sample_size: pd.DataFrame | None = None, descriptive_facts: dict | None = None,
               seed_mean: tuple | None = None) -> str:
    """The model card of the deployable model (:data:`DEPLOYABLE` of ``prof.deploy_run``) rendered from
    ``templates/model_card.md.j2``: settings from the run's results (``res``: its results rows, for the (alpha,
    T) each split used and the parameter counts) and params (``run_params``: preprocessing), numbers from the
    tables of notebook 08; ``operating``: :func:`lib.analysis.tables.operating_point` rows; ``runtimes_table``: notebook
    06's ``runtimes.csv`` of the run; ``contract``: the exported SM_DEPLOY's input contract (its JSON); ``ppv``:
    :func:`lib.analysis.tables.predictive_values` rows; ``decisions``: for the sources of the prevalences;
    ``sample_size``: :func:`lib.analysis.tables.sample_sizes` rows (the run's primary comparisons);
    ``descriptive_facts``: {run: facts} of the descriptive runs; ``seed_mean``: (training seeds per split, the
    summary table of the seed means), when the card's numbers (the exported model's seed) have replicates. The
    card ends with the glossary the summary uses
    (:mod:`lib.analysis.glossary`)."""
    run, m = prof.deploy_run, DEPLOYABLE
    op = None
    if operating is not None and len(operating):
        o = operating[(operating["run"] == run) & (operating["model"] == m)]
        if len(o):
            op = {**o.iloc[0].to_dict(), "target": getattr(run_params, "target_sensitivity", None)}
            op = op if op["target"] is not None else None
    deploy = None
    if contract is not None and res is not None:
        dep = res[(res["model"] == "SM_DEPLOY") & (res["format"] == "tflite")]
        if len(dep):
            deploy = {"contract": contract, "size": float(dep["size_bytes"].mean()),
                      "agreement": float(dep["agreement"].mean()),
                      "acc": acc_ci(table, run, "SM_DEPLOY"), "acc_int8": acc_ci(table, run, m)}
    rts = []
    if runtimes_table is not None and len(runtimes_table):
        names = {"litert": "LiteRT (default kernels)", "litert_ref": "LiteRT's reference kernels",
                 "tflm": "TensorFlow Lite Micro"}
        g = runtimes_table.groupby(["model", "runtime"], sort=False).agg(
            rows=("n_rows", "sum"), rows_decision_differs=("rows_decision_differs", "sum"),
            rows_output_differs=("rows_output_differs", "sum")).reset_index()
        rts = [{**r, "runtime_label": names.get(r["runtime"], r["runtime"])} for r in g.to_dict("records")
               if r["runtime"] != "litert"]
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
    first = None
    if res is not None and kd.get("first_split"):
        f = res[(res["model"] == m) & (res["fold"] == kd["first_split"]) & (res["format"] == "tflite")]
        first = None if f.empty else {"size": float(f["size_bytes"].iloc[0]), "gz": float(f["size_gzip_bytes"].iloc[0])}
    alphas = list(getattr(P, "ablation_alphas", []) or [])
    chosen = {a for a, _, _ in kd.get("counts", [])}
    edge = bool(alphas) and chosen == {max(alphas)} and len(alphas) > 1
    seeds_line = None
    if seed_mean is not None and seed_mean[0] > 1:
        seeds_line = {"n": int(seed_mean[0]), "acc": acc_ci(seed_mean[1], run, m)}
    return render("model_card.md.j2", run=run, model=m, fast=prof.fast, metrics=metrics, seeds_line=seeds_line,
                  size=_size(eff, run, m), gz=_size(eff, run, m, "gzip_bytes"), us=_size(eff, run, m, "median_us"),
                  tm_bytes=_size(eff, run, "TM"), ptq_bytes=_size(eff, run, "TM_PTQ"), sz=sizes.get(run, {}),
                  kd=kd, sm_params=n_params("SM"), tm_params=n_params("TM"), n_cells=_kd_grid_size(run), first=first,
                  alpha_edge=edge, alpha_max=max(alphas) if alphas else None,
                  ablation_epochs=getattr(P, "ablation_epochs", None), split_ranges=split_ranges,
                  kd_loss=getattr(P, "kd_loss", "n/a"), pca=getattr(P, "pca_components", "n/a"),
                  epochs=getattr(P, "kd_epochs", "n/a"),
                  diag=None if d is None else d.to_dict(), brier=None if c is None else float(c["brier"]),
                  brier_splits=_ci_plain(table, run, m, "brier"),
                  us_range=_latency_range(latency, m),
                  us_noise=None if latency is None or not len(latency) else
                  pareto.latency_noise(latency[latency["batch"] == 1], SMALL_NETWORKS),
                  cal_line=None if c is None or c["calibration_slope"] != c["calibration_slope"] else
                  (float(c["calibration_intercept"]), float(c["calibration_slope"])),
                  counts={"rows": "n/a", "pos": "n/a", "neg": "n/a"} if d is None else
                  {"rows": f"{int(d['tp'] + d['fn'] + d['tn'] + d['fp']):,}", "pos": f"{int(d['tp'] + d['fn']):,}",
                   "neg": f"{int(d['tn'] + d['fp']):,}"},
                  transfer=transfer_text, op=op, deploy=deploy, runtimes=rts,
                  cal_platt=None if c is None or "calibration_slope_platt" not in c
                  or c["calibration_slope_platt"] != c["calibration_slope_platt"] else
                  (float(c["calibration_intercept_platt"]), float(c["calibration_slope_platt"])),
                  ppv=[] if ppv is None or not len(ppv) else
                  ppv[(ppv["run"] == run) & (ppv["model"] == m)].to_dict("records"),
                  prevalence_why=(decisions.rationale.get("prevalences", "") if decisions is not None else ""),
                  sample_size=[] if sample_size is None or not len(sample_size) else
                  sample_size[sample_size["run"] == run].to_dict("records"),
                  descriptive=descriptive_facts or {},
                  glossary=glossary.render_markdown("Glossary", level=2, labels=None if P is None
                                                    or P.dataset in STUDY_DATASETS else P.labels),
                  class_weight=getattr(P, "class_weight", None), **_data_words(P, contract))


def write_summary(text: str, md_path: Path, details: str) -> list[Path]:
    """Write the summary as :func:`split_summary` cuts it: the key page at ``md_path``, the pages in the folder
    ``pages/`` beside ``md_path`` under ``details`` (emptied of earlier pages first). Returns the files written."""
    key, pages = split_summary(text, f"{details}/pages")
    folder = Path(md_path).parent / details / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.md"):
        old.unlink()
    out = [formatting.write_text(key, md_path)]
    out += [formatting.write_text(page, folder / name) for name, page in pages.items()]
    return out


ANSWERS_PAGE = "What the answers rest on, and each answer in words"  # the glance section's rest, a page


def split_summary(text: str, details: str) -> tuple[str, dict[str, str]]:
    """The summary as a key-findings page and one page per question: ``(key page, {file name: page})``. The key
    page keeps the title, the answers-at-a-glance table and its figure, where it comes from (below the table, so
    that the answers fit the first screen), and links to the pages (``details``: the
    pages' folder relative to the key page); the rest of the glance section (what the answers rest on, the answers
    in words) and every other ``## `` section become pages of their own, each opening with its heading as title."""
    head, _, rest = text.partition("\n## Answers at a glance\n")
    if not rest:
        return text, {}
    sections = re.split(r"\n(?=## )", "## Answers at a glance\n" + rest)
    glance, others = sections[0], sections[1:]
    cut = min((i for i in (glance.find("\nWhat these answers rest on"), glance.find("\n1. **")) if i >= 0),
              default=len(glance))
    pages = {}
    if glance[cut:].strip():
        pages["answers.md"] = f"# {ANSWERS_PAGE}\n\n" + glance[cut:].strip() + "\n"
    for sec in others:
        title, _, body = sec.partition("\n")
        title = title[3:].strip()
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].rstrip("-")
        pages[f"{slug}.md"] = f"# {title}\n" + body.rstrip() + "\n"
    titles = [(ANSWERS_PAGE, "answers.md")] if "answers.md" in pages else []
    titles += [(p.splitlines()[0][2:], f) for f, p in pages.items() if f != "answers.md"]
    pages["glossary.md"] = glossary.render_markdown()
    titles.append(("Glossary: every model name and term", "glossary.md"))
    index = "\n".join(f"- [{t}]({details}/{f})" for t, f in titles)
    table = glance[:cut].rstrip()
    names = glossary.names_in(table)
    named = ("**Names.** " + "; ".join(f"{n}: {glossary.short(n)}" for n in names)
             + f" ([glossary]({details}/glossary.md)).\n\n") if names else ""
    heading, _, table_body = table.partition("\n")  # the names come before the table that uses them
    # the answers first: where the page comes from and which runs it covers go below the table
    lines = head.rstrip().splitlines()
    source = [ln for ln in lines if ln.startswith(("Generated by ", "Runs: "))]
    top = "\n".join(ln for ln in lines if ln not in source).rstrip()
    key = (top + "\n\n" + heading + "\n\n" + named + table_body.strip() + "\n\n" + " ".join(source)
           + "\n\n## The detail, one page each\n\n" + index + "\n")
    pages = {name: _relink(page, details) for name, page in pages.items()}
    return key, pages


def _relink(page: str, folder: str) -> str:
    """Links of a page moved into ``folder`` (relative to where its text was written), made relative to it."""
    def fix(m):
        target = m.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
            return m.group(0)
        return f"{m.group(1)}({posixpath.relpath(target, folder)})"
    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", fix, page)


def _data_words(P, contract: dict | None) -> dict:
    """How the model card names the run's data and classes: the study's WDBC wording for WDBC, the params'
    labels, source and units for a user's table."""
    neg, pos = P.labels if P is not None else ("benign", "malignant")
    wdbc = P is None or P.dataset == "wdbc"
    study = P is None or P.dataset in STUDY_DATASETS
    features = (contract or {}).get("features") or []
    return {"neg": neg, "pos": pos, "data": {
        "wdbc": wdbc, "short": "WDBC" if wdbc else (P.dataset.upper() if study else f"`{P.run}`"),
        "n_features": len(features) or "its", "units": (contract or {}).get("units", "see its params file"),
        "source": f"`{P.data_path}` (run `{P.run}`)" if P is not None else "",
        "missed": "Missed cancers" if study else f"Missed {pos} cases",
        "pos_cases": "malignant tumours" if study else f"{pos} cases",
        "neg_cases": "benign ones" if study else f"{neg} cases"}}


# ------------------------------------------------------------------------------------------------ figures
def _holm_bound(c) -> float:
    """A primary claim's lower bound at its Holm step (NaN for any other claim)."""
    return float((getattr(c, "detail", None) or {}).get("low_adjusted", math.nan))


def forest_panels(questions: list[dict]) -> list[dict]:
    """The panels of :func:`answers_forest` for questions of the glance table: each question's claims on
    accuracy, then (when it has them) its claims on sensitivity, a panel of their own (``metric``)."""
    out = []
    for q in questions:
        out.append(q)
        if q.get("sensitivity"):
            out.append({"a": q["a"], "b": q["b"], "metric": "sensitivity", "claims": q["sensitivity"]})
    return out


def _margin(c) -> float:
    """A claim's non-inferiority margin in points (NaN for a difference question, which has none)."""
    m = getattr(c, "margin", math.nan)
    return math.nan if m is None else 100 * float(m)


@plots.report_style
def answers_forest(panels: list[dict]):
    """The figure of the answers at a glance: one panel per question and metric (``panels``: ``a``, ``b``, an
    optional ``metric``, default accuracy, and its ``claims``; :func:`forest_panels`), two panels a row, one line
    per run, the corrected 95% interval of A - B (thick) and the naive one (thin), each panel on its own scale.
    A panel whose claims have a non-inferiority margin shades it (a difference question has none); a
    descriptive run is named so; a black tick marks a primary claim's lower bound at its Holm step
    (``detail['low_adjusted']``), the bound its answer is read from, with its value printed above it, on the
    side away from zero. A key below the panels names each mark."""
    ncols = min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    height = 0.4 * max(len(q["claims"]) for q in panels) + 1.3
    fig, axes = plots.report_figure(nrows, ncols, height=height * nrows + 0.9, squeeze=False)  # + the key
    fig.get_layout_engine().set(h_pad=0.12, w_pad=0.1)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    any_holm, margins = False, {}
    for ax, q in zip(axes.flat, panels):
        cs = q["claims"][::-1]
        metric = q.get("metric", "accuracy")
        y = np.arange(len(cs))
        ms = {m for c in cs if not math.isnan(m := _margin(c))}
        if len(ms) > 1:
            raise ValueError(f"panel {q['a']} − {q['b']} ({metric}): its claims have different margins {sorted(ms)}")
        ends = []
        if ms:
            m = ms.pop()
            ax.axvspan(-m, m, color="0.92", zorder=0)
            ends += [m, -m]
            margins[metric] = m
        ax.axvline(0, color="C3", lw=1)
        for yi, c in zip(y, cs):
            if not math.isnan(c.naive_low):
                ax.hlines(yi + 0.15, 100 * c.naive_low, 100 * c.naive_high, color="0.65", lw=1.5)
            if not math.isnan(c.low):
                ax.hlines(yi, 100 * c.low, 100 * c.high, color="C0", lw=4)
                ends += [100 * c.low, 100 * c.high]
            if not math.isnan(c.value):
                ax.plot(100 * c.value, yi, "ko", ms=4)
                ends.append(100 * c.value)
            holm = _holm_bound(c)
            if not math.isnan(holm):
                ax.plot(100 * holm, yi, "k|", ms=14, mew=2)
                # above the tick, clear of the naive interval's line, on the side away from zero
                ax.annotate(f"{100 * holm:+.2f}".replace("-", "−"), (100 * holm, yi), xytext=(0, 8), textcoords="offset points",
                            ha="right" if holm <= 0 else "left", va="bottom")
                ends.append(100 * holm)
                any_holm = True
        ends = ends or [-1.0, 1.0]
        lo, hi = min(ends), max(ends)
        holms = [100 * _holm_bound(c) for c in cs if not math.isnan(_holm_bound(c))]
        left = min([lo - 0.1 * (hi - lo)] + [h - 0.35 * (hi - lo) for h in holms if h <= 0])  # room for a printed bound
        ax.set_xlim(left, hi + 0.1 * (hi - lo))
        ax.set_yticks(y, [c.run + ("\n(descriptive)" if getattr(c, "family", None) == "descriptive" else "") for c in cs])
        ax.set_ylim(-0.6, len(cs) - 0.4)
        ax.set_title(f"{q['a']} − {q['b']}" + ("" if metric == "accuracy" else f", {metric}"))
        ax.set_xlabel(f"{metric} points")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    key = [(Line2D([], [], color="C0", lw=4), "corrected 95% CI"), (Line2D([], [], color="0.65", lw=1.5), "naive 95% CI"),
           (Line2D([], [], color="k", marker="o", ms=4, lw=0), "mean A − B"), (Line2D([], [], color="C3", lw=1), "no difference")]
    if margins:
        key.append((Patch(color="0.92"), "margin " + ", ".join(f"±{m:g} {k}" for k, m in margins.items())))
    if any_holm:
        key.append((Line2D([], [], color="k", marker="|", ms=14, mew=2, lw=0), "lower bound at its Holm step"))
    fig.legend(*zip(*key), loc="outside lower center", ncols=2, frameon=False)
    return fig
