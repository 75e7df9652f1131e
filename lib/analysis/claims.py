"""The report's conclusions as computed claims (notebook 08).

Every sentence of ``summary.md`` and ``model_card.md`` that states a conclusion is rendered from a :class:`Claim`
whose ``verdict`` is computed from the tables of :mod:`lib.analysis.tables`; the wording of each verdict lives in the
templates (``templates/*.md.j2``), so a sentence cannot outlive the numbers that support it. The claims are also
written to ``outputs/<profile>/claims.csv`` (one row each: name, run, verdict, value and its corrected interval),
which the re-execution checks compare exactly on the verdict and within tolerance on the numbers.

Decisions made before the results they judge (the margins of the non-inferiority readings, the primary family,
the transfer cell, the latency tie rule) are read from ``params/report/decisions.yaml`` (:mod:`lib.core.decisions`),
so the repository's history shows when they were made.

Each paired claim answers one question (:data:`QUESTIONS`) and belongs to one family (:data:`FAMILIES`):

- ``primary``: the pre-specified non-inferiority hypotheses, one-sided p-values adjusted together by Holm
  (:func:`primary`); shown when the adjusted p is below the family's one-sided level;
- ``exploratory``: every other comparison, read at an unadjusted corrected 95% interval, and worded as such;
- ``descriptive``: a run whose design cannot support a verdict (decisions.yaml ``pbcnt_role``): numbers and
  intervals, no answer.

Its ``answer`` is "shown" / "not_shown" (non-inferiority, equivalence), "detected" / "not_detected" (difference),
"descriptive" or "no_test"; ``verdict`` keeps the reading of the interval (:data:`VERDICTS`) that the answer comes
from ("descriptive" on a descriptive run, which gets no reading). A difference question has no margin (NaN): its
verdict is only which model, if any, the interval shows better. ``fragility`` is the fewest test rows (patients) whose change flips the answer
(:func:`lib.core.stats.fragility`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats as st

from lib.core import stats


# The verdicts of a paired difference A - B, read from its corrected interval [lo, hi] and a margin m.
VERDICTS = {
    "a_better": "lo > 0",
    "b_better": "hi < 0",
    "equivalent": "-m <= lo and hi <= m (no difference larger than the margin either way)",
    "non_inferior": "lo >= -m (A not worse than B by more than the margin; may be better)",
    "not_superior": "hi <= m (A not better than B by more than the margin; may be worse)",
    "inconclusive": "the interval is too wide to rule out a difference of the margin either way",
    "identical": "the same value on every split (no variance, no test)",
    "constant": "the same non-zero difference on every split (no variance, no test)",
    "untested": "fewer than 2 splits or no interval",
    "missing": "a model of the pair was not measured",
    "descriptive": "a descriptive run: no reading of its interval",
}


# What a paired claim asks, and the answers it can get.
QUESTIONS = {
    "non_inferiority": "is A not worse than B by more than the margin? shown when the interval's lower bound is above -margin",
    "equivalence": "do A and B differ by less than the margin either way? shown when the interval lies inside +-margin",
    "difference": "do A and B differ at all? detected when the interval excludes 0",
}
FAMILIES = ("primary", "exploratory", "descriptive")
ANSWERS = ("shown", "not_shown", "detected", "not_detected", "descriptive", "no_test")


class ClaimsError(ValueError):
    """A decisions file or a table the claims need is missing or malformed."""


# ------------------------------------------------------------------------------------------------ claims
@dataclass(frozen=True)
class Claim:
    """One computed conclusion. ``value`` and ``low``/``high`` are the number it rests on and its corrected
    interval (NaN when there is none); ``detail`` holds what the wording needs besides (other numbers, lists)."""
    name: str
    run: str
    verdict: str
    value: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    naive_low: float = float("nan")
    naive_high: float = float("nan")
    p: float = float("nan")
    n: int = 0
    margin: float = float("nan")
    subject: str = ""
    detail: dict = field(default_factory=dict)
    family: str = "exploratory"
    question: str = ""
    answer: str = ""
    p_holm: float = float("nan")
    fragility: float = float("nan")  # test rows whose change flips the answer; NaN: not computable (or > 200)
    seeds: int = 0  # training-seed replicates that state the claim (lib.replicate.stability.label)
    agreeing: int = 0  # ... of which give its answer
    stability: str = ""  # 'firm', 'unstable', 'not replicated', or '' (no verdict, or no training seed in it)
    unstable_because: str = ""  # 'seeds' (too few agree), 'rows' (too few rows flip it) or 'seeds, rows'

    def row(self) -> dict:
        """The claim as a row of ``claims.csv``: ``detail`` as ``key=value; ...``, and ``p`` named for what it is
        (``p_two_sided``: A - B against 0), apart from ``p_holm`` (one-sided, against the margin)."""
        d = asdict(self)
        detail = d.pop("detail")
        d["detail"] = "; ".join(f"{k}={_short(v)}" for k, v in sorted(detail.items()))
        return {("p_two_sided" if k == "p" else k): v for k, v in d.items()}

    @property
    def firm_rows(self) -> bool:
        """Whether the answer needs more than one changed test row to flip (False when unknown)."""
        return not math.isnan(self.fragility) and self.fragility > 1


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_short(x) for x in v)
    return str(v)


def read_interval(lo: float, hi: float, margin: float) -> str:
    """The verdict of a corrected interval [lo, hi] of A - B against 0 and +-margin (:data:`VERDICTS`)."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "untested"
    if lo > 0:
        return "a_better"
    if hi < 0:
        return "b_better"
    if lo >= -margin and hi <= margin:
        return "equivalent"
    if lo >= -margin:
        return "non_inferior"
    if hi <= margin:
        return "not_superior"
    return "inconclusive"


def difference(comp: pd.DataFrame, run: str, a: str, b: str, metric: str, margin: float,
               name: str | None = None) -> Claim:
    """The claim on A - B of one run and metric from ``comparisons.csv`` (lib.analysis.tables.comparisons)."""
    m = comp[(comp["run"] == run) & (comp["a"] == a) & (comp["b"] == b) & (comp["metric"] == metric)]
    name = name or f"{a}-{b}:{metric}"
    if m.empty:
        return Claim(name, run, "missing", subject=f"{a} - {b}", margin=margin)
    r = m.iloc[0]
    note = "" if pd.isna(r.get("note")) else str(r.get("note"))
    det = r.get("detectable_80", float("nan"))
    holm = r.get("corrected_p_holm", float("nan"))
    detail = {} if pd.isna(det) else {"detectable_80": float(det)}
    if not pd.isna(holm):  # Holm over the run's comparisons: the wording says when a difference does not survive it
        detail["p_holm_within_run"] = float(holm)
    common = dict(value=float(r["mean_diff"]), naive_low=float(r["naive_ci_low"]), naive_high=float(r["naive_ci_high"]),
                  p=float(r["corrected_p"]), n=int(r["n_splits"]), margin=margin, subject=f"{a} - {b}", detail=detail)
    if note == "identical on every split":
        return Claim(name, run, "identical", low=0.0, high=0.0, **common)
    if "constant" in note:
        return Claim(name, run, "constant", **common)
    lo, hi = float(r["corrected_ci_low"]), float(r["corrected_ci_high"])
    return Claim(name, run, read_interval(lo, hi, margin), low=lo, high=hi, **common)


def _gap(question: str, margin: float):
    """``gap(low, high)``: positive when the answer to ``question`` is shown / detected (vectorised)."""
    if question == "non_inferiority":
        return lambda lo, hi: np.asarray(lo) + margin
    if question == "equivalence":
        return lambda lo, hi: np.minimum(np.asarray(lo) + margin, margin - np.asarray(hi))
    if question == "difference":
        return lambda lo, hi: np.maximum(np.asarray(lo), -np.asarray(hi))
    raise ClaimsError(f"unknown question {question!r}; known: {sorted(QUESTIONS)}")


def _bounds_at(c: Claim, level: float) -> tuple[float, float]:
    """The claim's corrected interval at another level (the same standard error and t distribution)."""
    t95 = st.t.ppf(0.975, c.n - 1)
    se = (c.high - c.low) / (2 * t95)
    half = st.t.ppf(0.5 + level / 2, c.n - 1) * se
    return c.value - half, c.value + half


def ni_p(c: Claim) -> float:
    """One-sided p-value of non-inferiority (H0: A - B <= -margin) from the claim's corrected interval."""
    if c.verdict in ("missing", "untested") or math.isnan(c.low):
        return 1.0 if c.verdict == "identical" and c.margin > 0 else float("nan")
    se = (c.high - c.low) / (2 * st.t.ppf(0.975, c.n - 1))
    return float(st.t.sf((c.value + c.margin) / se, c.n - 1)) if se > 0 else float("nan")


def judge(c: Claim, question: str, family: str, level: float = 0.95, split_diffs=None, split_rows=None,
          n_train: int | None = None, n_test: int | None = None) -> Claim:
    """The claim with its question, family, answer and fragility. ``level``: the two-sided level of the interval
    the answer reads (0.95 for exploratory claims; the Holm step's level for a primary one). ``split_diffs`` and
    ``split_rows``: the per-split differences and the test rows behind each (for the fragility)."""
    if family not in FAMILIES:
        raise ClaimsError(f"unknown family {family!r}; known: {FAMILIES}")
    gap = _gap(question, c.margin)
    out = replace(c, question=question, family=family)
    if family == "descriptive":  # no verdict: the interval's reading is not kept either
        return replace(out, verdict="descriptive", answer="descriptive")
    if question == "non_inferiority" and not math.isnan(ni_p(c)):
        out = replace(out, detail={**out.detail, "p_one_sided": ni_p(c)})
    yes = {"non_inferiority": "shown", "equivalence": "shown", "difference": "detected"}[question]
    no = "not_" + yes
    if c.verdict in ("missing", "untested"):
        return replace(out, answer="no_test")
    if c.verdict in ("identical", "constant"):  # no variance: the value itself decides, no row count
        v = 0.0 if c.verdict == "identical" else c.value
        return replace(out, answer=yes if float(gap(v, v)) > 0 else no)
    lo, hi = (c.low, c.high) if level == 0.95 else _bounds_at(c, level)
    answer = yes if float(gap(lo, hi)) > 0 else no
    frag = float("nan")
    if split_diffs is not None and split_rows is not None and n_train and n_test:
        f = stats.fragility(split_diffs, split_rows, n_train, n_test, gap, level=level)
        frag = float("nan") if f is None else float(f)
        if question == "non_inferiority":  # rows that make B detectably better (or no longer), read at 95%
            fb = stats.fragility(split_diffs, split_rows, n_train, n_test, lambda lo, hi: -np.asarray(hi))
            out = replace(out, detail={**out.detail, "rows_to_b_better": float("nan") if fb is None else float(fb)})
    return replace(out, answer=answer, fragility=frag)


def primary(claims: list[Claim], alpha: float, **per_claim) -> list[Claim]:
    """The primary family: non-inferiority of each claim, one-sided p-values adjusted together by Holm at the
    family-wise one-sided level ``alpha / 2`` (a two-sided ``alpha``). A claim is shown when its adjusted p is
    below that level; its ``low`` stays the 95% bound, and the fragility reads the interval at its own Holm step
    (the others held fixed). ``per_claim``: {claim name: kwargs of :func:`judge`} (split differences and rows)."""
    level = alpha / 2
    p = np.array([ni_p(c) for c in claims], dtype=float)
    adj = stats.holm(p)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    rank = {int(i): r for r, i in enumerate(order)}
    out = []
    for i, c in enumerate(claims):
        kw = per_claim.get(c.name + "@" + c.run, {})
        if i in rank:
            step = level / (len(ok) - rank[i])  # Holm's level for this claim's place in the order
            j = judge(c, "non_inferiority", "primary", level=1 - 2 * step, **kw)
            low_adj = _bounds_at(c, 1 - 2 * step)[0]
            j = replace(j, p_holm=float(adj[i]), answer="shown" if adj[i] < level else "not_shown",
                        detail={**j.detail, "p_one_sided": float(p[i]), "holm_level": float(step),
                                "low_adjusted": float(low_adj)})
        else:
            j = judge(c, "non_inferiority", "primary", **kw)
        out.append(j)
    return out


def _min_fragility(claims: list[Claim]) -> float:
    f = [c.fragility for c in claims if not math.isnan(c.fragility)]
    return float(min(f)) if f and len(f) == len(claims) else float("nan")


def _sum_fragility(claims: list[Claim]) -> float:
    f = [c.fragility for c in claims]
    return float(sum(f)) if claims and not any(math.isnan(x) for x in f) else float("nan")


def student_matches_teacher(claims: list[Claim], uninformative=()) -> Claim:
    """The primary answer, from the primary claims SM - TM (accuracy and sensitivity on the primary runs): 'yes'
    when non-inferiority is shown for every one after Holm, 'no' when any shows the teacher better, 'not_shown'
    otherwise. ``uninformative``: runs where both models answer the majority class for every row (listed apart,
    never a match)."""
    return as_good_as(claims, "student_matches_teacher", "SM - TM", uninformative)


def as_good_as(claims: list[Claim], name: str, subject: str, uninformative=()) -> Claim:
    """Across runs (and metrics), from per-run non-inferiority claims A - B: 'yes' when non-inferiority is shown
    on every informative one, 'no' when any shows B better, 'not_shown' otherwise. Descriptive claims and
    ``uninformative`` runs are listed apart and do not count. The family is 'primary' when every counted claim
    is; the fragility is the fewest rows that change the answer, in either direction: a 'yes' flips with its most
    fragile claim, a 'not_shown' when every unshown claim is shown (their sum), and either when one claim turns to
    'B better'; a 'no' when every claim that shows B better stops showing it (their sum)."""
    skipped = [c.run for c in claims if c.run in uninformative]
    descriptive = [c.run for c in claims if c.family == "descriptive"]
    claims_all = claims
    claims = [c for c in claims if c.run not in uninformative and c.family != "descriptive"]
    lows = [c.low for c in claims if not math.isnan(c.low)]
    unshown = [c for c in claims if c.answer != "shown"]
    to_worse = [c.detail.get("rows_to_b_better", float("nan")) for c in claims]
    worse = [c for c in claims if c.verdict == "b_better" or (c.verdict == "constant" and c.value < 0)]
    if worse:  # every claim that shows B better must stop showing it
        v = "no"
        f = [c.detail.get("rows_to_b_better", float("nan")) for c in worse]
        frag = float(sum(f)) if not any(math.isnan(x) for x in f) else float("nan")
    elif claims and not unshown:
        v, frag = "yes", _min_fragility(claims)
    else:
        v, frag = "not_shown", _sum_fragility(unshown)
    if v != "no" and not math.isnan(frag):  # or one claim turns to 'B better', which also changes the answer
        frag = min([frag] + [x for x in to_worse if not math.isnan(x)])
    label = lambda c: c.run + ("" if c.name.endswith(":accuracy") or ":" not in c.name else f" {c.name.split(':')[-1]}")
    return Claim(name, "all", v, low=min(lows) if lows else float("nan"),
                 margin=claims[0].margin if claims else float("nan"), subject=subject,
                 family="primary" if claims and all(c.family == "primary" for c in claims) else "exploratory",
                 question="non_inferiority", answer={"yes": "shown", "no": "not_shown"}.get(v, "not_shown"),
                 fragility=frag,
                 detail={"runs": sorted({c.run for c in claims_all}), "uninformative_runs": skipped,
                         "descriptive_runs": sorted(set(descriptive)),
                         "by_answer": [f"{label(c)} ({c.answer.replace('_', ' ')})" for c in claims],
                         "shown_runs": [label(c) for c in claims if c.answer == "shown"],
                         "worse_runs": [label(c) for c in claims if c.verdict == "b_better"],
                         "unresolved_runs": [label(c) for c in unshown if c.verdict != "b_better"]})


def kd_beats_scratch(claims: list[Claim]) -> Claim:
    """Across runs, from SM - SM_scratch (exploratory differences): 'yes' on the runs where a gain is detected,
    'scratch_better' when a run shows the scratch student better and none the reverse, 'no' otherwise (with the
    largest gain the intervals allow). Descriptive runs do not count."""
    claims = [c for c in claims if c.family != "descriptive"]
    gain = [c for c in claims if c.answer == "detected" and c.value > 0]
    loss = [c for c in claims if c.answer == "detected" and c.value < 0]
    highs = [c.high for c in claims if not math.isnan(c.high)]
    v = "yes" if gain else ("scratch_better" if loss else "no")
    frag = _sum_fragility(gain) if gain else (_sum_fragility(loss) if loss else _min_fragility(claims))
    return Claim("kd_beats_scratch", "all", v, high=max(highs) if highs else float("nan"), subject="SM - SM_scratch",
                 family="exploratory", question="difference",
                 answer="detected" if gain or loss else "not_detected", fragility=frag,
                 detail={"runs": [c.run for c in claims], "gain_runs": [c.run for c in gain],
                         "loss_runs": [c.run for c in loss]})


# ------------------------------------------------------------------------------------------------ efficiency
def latency_ranges(latency: pd.DataFrame | None) -> pd.DataFrame:
    """Per model, batch 1: the median per-invoke latency and the range of the medians over repeats
    (``median_us_min``/``median_us_max``, notebook 06)."""
    cols = ["model", "median_us", "median_us_min", "median_us_max"]
    if latency is None or not len(latency):
        return pd.DataFrame(columns=cols)
    d = latency[latency["batch"] == 1]
    missing = [c for c in cols if c not in d.columns]
    if missing:
        raise ClaimsError(f"latency.csv: missing column(s) {missing} (re-run notebook 06)")
    return d[cols].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ settings
def kd_settings(res: pd.DataFrame, model: str = "SM") -> dict:
    """The distillation settings a run's student actually used, read from its results rows: per split
    ``(alpha, T)``, how often each cell was chosen, and the first split's (the exported model's)."""
    d = res[(res["model"] == model) & (res["format"] == "keras")] if "format" in res else res[res["model"] == model]
    if d.empty or "kd_alpha" not in d or d["kd_alpha"].isna().all():
        return {"per_split": {}, "counts": [], "first": None, "n_splits": 0}
    d = d.dropna(subset=["kd_alpha", "kd_temperature"])
    per = {f: (float(a), float(t)) for f, a, t in zip(d["fold"], d["kd_alpha"], d["kd_temperature"])}
    counts = pd.Series(list(per.values())).value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    first = next(iter(per.values()))
    return {"per_split": per, "counts": [(a, t, int(n)) for (a, t), n in ordered], "first": first,
            "first_split": next(iter(per)), "n_splits": len(per), "fixed": len(counts) == 1}


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """Every claim as one row (``claims.csv``)."""
    cols = [("p_two_sided" if k == "p" else k) for k in Claim.__dataclass_fields__]
    return pd.DataFrame([c.row() for c in claims], columns=cols)


def per_seed_table(per_seed: dict, claims: pd.DataFrame) -> pd.DataFrame:
    """Every claim computed on each training seed's results alone (``{replicate: claims_table}``) as one table
    (``claims_per_seed.csv``), each row carrying its replicate and the firm / unstable / not replicated label of
    its claim in ``claims`` (the label is the claim's, over all seeds, not the seed's own)."""
    rows = pd.concat([t.assign(replicate=k) for k, t in per_seed.items()], ignore_index=True)
    label = claims.drop_duplicates(["name", "run"]).set_index(["name", "run"])["stability"]
    rows["stability"] = [label.get((n, r), np.nan) for n, r in zip(rows["name"], rows["run"])]
    return rows
