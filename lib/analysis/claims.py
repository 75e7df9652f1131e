"""The report's conclusions as computed claims (notebook 08).

Every sentence of ``summary.md`` and ``model_card.md`` that states a conclusion is rendered from a :class:`Claim`
whose ``verdict`` is computed from the tables of :mod:`lib.analysis.tables`; the wording of each verdict lives in the
templates (``templates/*.md.j2``), so a sentence cannot outlive the numbers that support it. The claims are also
written to ``outputs/<profile>/claims.csv`` (one row each: name, run, verdict, value and its corrected interval),
which the re-execution checks compare exactly on the verdict and within tolerance on the numbers.

Decisions made before the results they judge (the margins of the non-inferiority readings, the transfer cell,
the latency tie rule) are read from ``params/report/decisions.yaml`` (:mod:`lib.core.decisions`), so the
repository's history shows when they were made.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd


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
}


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

    def row(self) -> dict:
        d = asdict(self)
        detail = d.pop("detail")
        d["detail"] = "; ".join(f"{k}={_short(v)}" for k, v in sorted(detail.items()))
        return d


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
    if not pd.isna(holm):  # Holm over the run's comparisons: the wording says when a verdict does not survive it
        detail["p_holm"] = float(holm)
    common = dict(value=float(r["mean_diff"]), naive_low=float(r["naive_ci_low"]), naive_high=float(r["naive_ci_high"]),
                  p=float(r["corrected_p"]), n=int(r["n_splits"]), margin=margin, subject=f"{a} - {b}", detail=detail)
    if note == "identical on every split":
        return Claim(name, run, "identical", low=0.0, high=0.0, **common)
    if "constant" in note:
        return Claim(name, run, "constant", **common)
    lo, hi = float(r["corrected_ci_low"]), float(r["corrected_ci_high"])
    return Claim(name, run, read_interval(lo, hi, margin), low=lo, high=hi, **common)


def student_matches_teacher(claims: list[Claim], uninformative=()) -> Claim:
    """Across runs, from the per-run claims SM - TM: 'yes' when every informative run shows the student
    non-inferior (or better, or identical), 'no' when any run shows the teacher better, 'not_shown' otherwise.
    ``uninformative``: runs where both models answer the majority class for every row; they are listed apart and
    do not count as a match."""
    return as_good_as(claims, "student_matches_teacher", "SM - TM", uninformative)


def as_good_as(claims: list[Claim], name: str, subject: str, uninformative=()) -> Claim:
    """Across runs, from per-run claims A - B: 'yes' when every informative run shows A non-inferior (or
    better, or identical), 'no' when any run shows B better, 'not_shown' otherwise (:func:`student_matches_teacher`;
    also the deployable student against each baseline)."""
    ok = {"a_better", "equivalent", "non_inferior", "identical"}
    skipped = [c.run for c in claims if c.run in uninformative]
    claims_all, claims = claims, [c for c in claims if c.run not in uninformative]
    lows = [c.low for c in claims if not math.isnan(c.low)]
    if any(c.verdict == "b_better" or (c.verdict == "constant" and c.value < 0) for c in claims):
        v = "no"
    elif claims and all(c.verdict in ok or (c.verdict == "constant" and c.value >= 0) for c in claims):
        v = "yes"
    else:
        v = "not_shown"
    return Claim(name, "all", v, low=min(lows) if lows else float("nan"),
                 margin=claims[0].margin if claims else float("nan"), subject=subject,
                 detail={"runs": [c.run for c in claims_all], "uninformative_runs": skipped,
                         "by_verdict": [f"{c.run} ({c.verdict.replace('_', '-')})" for c in claims],
                         "worse_runs": [c.run for c in claims if c.verdict == "b_better"],
                         "unresolved_runs": [c.run for c in claims if c.verdict in ("inconclusive", "not_superior", "untested")]})


def kd_beats_scratch(claims: list[Claim]) -> Claim:
    """Across runs, from SM - SM_scratch: 'yes' on the runs whose interval lies above 0, 'no' when no run shows a
    gain (with the largest gain the intervals allow), 'scratch_better' when a run shows the scratch student better
    and none the reverse."""
    gains = [c.run for c in claims if c.verdict == "a_better" or (c.verdict == "constant" and c.value > 0)]
    losses = [c.run for c in claims if c.verdict == "b_better" or (c.verdict == "constant" and c.value < 0)]
    highs = [c.high for c in claims if not math.isnan(c.high)]
    v = "yes" if gains else ("scratch_better" if losses else "no")
    return Claim("kd_beats_scratch", "all", v, high=max(highs) if highs else float("nan"), subject="SM - SM_scratch",
                 detail={"runs": [c.run for c in claims], "gain_runs": gains, "loss_runs": losses})


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
    cols = list(Claim.__dataclass_fields__)
    return pd.DataFrame([c.row() for c in claims], columns=cols)
