"""Re-executed results against the committed ones: numbers within stated tolerances, text and conclusions exactly.

Two levels of reproducibility (README: *Reproducibility*):

- **same machine, same environment**: bit-identical. :func:`identical` compares two output trees byte for byte,
  apart from recorded times (:data:`TIME_COLUMNS`, the Pi runner's session logs).
- **any other machine**: floats of trained models differ in the last digits across CPUs and training amplifies
  that, so :func:`compare_trees` compares every CSV a notebook wrote with a tolerance per column (per metric) and
  per profile (``tests/tolerances.yaml``), every non-numeric cell (model names, folds, verdicts, Pareto flags)
  exactly, ``splits.json`` exactly, and the generated markdown (``summary*.md``, ``model_card*.md``) word for word
  with its numbers within the profile's text tolerance (:func:`text_equal`, which nbval's comparison of checked
  notebook cells uses too: ``tests/nbval_plugin.py``).

``python -m lib.tools.recheck compare <committed outputs> <fresh outputs> [run ...]`` prints the largest deviation per
column and exits 1 if any is outside its tolerance; ``python -m lib.tools.recheck identical <a> <b> [run ...]`` exits 1
if the trees differ. ``python -m lib.tools.recheck chain <run> <outputs>`` executes a run's notebooks in order with
papermill into another outputs tree (what the bit-identity check of ``make test`` runs twice);
``python -m lib.tools.recheck gather <outputs>`` merges each run's ``results.csv`` there, as make does;
``python -m lib.tools.recheck buckets <n> <notebook ...>`` prints n lines of whole runs for n parallel nbval processes.
"""
from __future__ import annotations

import fnmatch
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lib.core import formatting, paths

TOLERANCES = paths.TESTS / "tolerances.yaml"
PROFILES = ("fast", "full")
# Recorded times and host measurements: never compared (they are measurements of the moment).
TIME_COLUMNS = ("train_time_s", "seconds", "median_us", "p95_us", "load_ms", "first_call_us", "throughput_sps",
                "median_us_min", "median_us_max", "p95_us_min", "p95_us_max", "host", "accuracy_per_us",
                "pareto_median_us", "pareto_latency", "invoke_us", "time_s")
# Files never compared: per-session logs of the Pi runner (timestamps, times) and the report build.
SKIP_PARTS = ("pi_logs", "models", "report", "figures")
# Markdown written by notebook 08: its sentences are the study's conclusions.
IDENTITY_SUFFIXES = (".csv", ".md", ".h")

# A number inside text: optional sign (ASCII or Unicode minus), digits with thousands separators, decimals,
# exponent; not glued to a word (so 'r0f0', '08_statistics' or 'sm_int8' stay text).
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])([-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?)"
                     r"(?![A-Za-z_0-9])")


class RecheckError(ValueError):
    """The tolerance file, or a tree to compare, is missing or malformed; the message names it."""


# ------------------------------------------------------------------------------------------------ tolerances
@dataclass(frozen=True)
class Rule:
    patterns: tuple[str, ...]
    atol: float
    rtol: float = 0.0
    why: str = ""
    rows: float = 0.0  # share of a column's rows that may lie outside atol/rtol (a prediction near 0.5 may flip)
    cap: float = math.inf  # how far those rows may lie: no value may move further than this

    def allows(self, committed: float, fresh: float) -> bool:
        if math.isnan(committed) and math.isnan(fresh):
            return True
        if math.isnan(committed) or math.isnan(fresh):
            return False
        return abs(fresh - committed) <= self.atol + self.rtol * abs(committed) + 1e-12


@dataclass(frozen=True)
class TextRule:
    """Tolerances for numbers inside text, by the form in which they are printed: a whole number (a count, a size,
    a setting), a fraction (|x| <= 1 with decimals: a proportion, a p-value, a Brier score, a setting like 0.1) or
    another decimal (a percentage, points, a ratio). A number printed with its sign and two decimals is a
    difference in points (the study prints paired differences and their bounds as ``%+.2f``: "+2.06 [-0.80,
    +4.92]"), a decimal whatever its size. Each form: |fresh - committed| <= atol + rtol * |committed|."""
    integer: Rule
    fraction: Rule
    decimal: Rule
    why: str = ""

    def for_token(self, token: str, value: float) -> Rule:
        if not re.search(r"[.eE]", token):
            return self.integer
        if re.fullmatch(r"[-+\u2212]\d+\.\d\d", token):
            return self.decimal
        return self.fraction if abs(value) <= 1 else self.decimal

    def allows(self, token: str, committed: float, fresh: float) -> bool:
        return self.for_token(token, committed).allows(committed, fresh)


@dataclass(frozen=True)
class Fragile:
    """A span of report text (a regular expression) whose words may differ between machines, with the reason:
    a ranking by host timing, or a conclusion the fast profile draws from 2 splits of 3-epoch models."""
    span: str
    why: str

    @property
    def regex(self) -> re.Pattern:
        return re.compile(self.span)


@dataclass(frozen=True)
class ByLabel:
    """Verdicts a profile compares by their label only: a row of a listed table whose committed ``label`` column
    says ``unstable`` may differ in the listed columns (the label itself is compared exactly), and a line of
    generated text that holds an unstable label passes when its sequence of labels (``text``, a regular
    expression) is the same. A verdict that is unstable across training seeds is one another CPU may change."""
    label: str
    unstable: str
    tables: dict  # file name -> tuple of columns compared by label on unstable rows
    text: str
    why: str

    @property
    def regex(self) -> re.Pattern:
        return re.compile(self.text)


@dataclass(frozen=True)
class Tolerances:
    columns: dict  # profile -> list[Rule] (first match wins; the last rule of each profile is '*')
    text: dict  # profile -> TextRule (numbers inside notebook cells and markdown)
    source: Path
    fragile: dict = None  # profile -> list[Fragile]: spans of text whose words may differ (declared, with a reason)
    by_label: dict = None  # profile -> ByLabel or None: unstable verdicts compared by their label

    def rule(self, profile: str, name: str) -> Rule:
        for r in self.columns[profile]:
            if any(fnmatch.fnmatchcase(name, p) for p in r.patterns):
                return r
        raise RecheckError(f"{self.source}: no tolerance for column {name!r} in profile {profile!r} "
                           f"(the last rule of each profile must be '*')")


def load_tolerances(path: Path | str = TOLERANCES) -> Tolerances:
    """Read and validate ``tests/tolerances.yaml`` (see the file for its layout and the reasons)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RecheckError(f"tolerance file not found: {path}") from None
    except yaml.YAMLError as e:
        raise RecheckError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(raw, dict) or set(raw) - {"fragile", "by_label"} != {"columns", "text"}:
        raise RecheckError(f"{path}: expected the keys 'columns', 'text' and optionally 'fragile', 'by_label'")
    columns, text = {}, {}
    for prof in PROFILES:
        rules = raw["columns"].get(prof) if isinstance(raw["columns"], dict) else None
        if not isinstance(rules, list) or not rules:
            raise RecheckError(f"{path}: columns.{prof} must be a non-empty list of rules")
        parsed = []
        for i, r in enumerate(rules):
            if not isinstance(r, dict) or "match" not in r or "atol" not in r:
                raise RecheckError(f"{path}: columns.{prof}[{i}] needs 'match' (list of column patterns) and 'atol'")
            unknown = set(r) - {"match", "atol", "rtol", "rows", "cap", "why"}
            if unknown:
                raise RecheckError(f"{path}: columns.{prof}[{i}]: unknown key(s) {sorted(unknown)}")
            pats = r["match"] if isinstance(r["match"], list) else [r["match"]]
            atol, rtol, rows = r["atol"], r.get("rtol", 0.0), r.get("rows", 0.0)
            if not all(isinstance(v, (int, float)) and v >= 0 for v in (atol, rtol, rows)) or rows >= 1:
                raise RecheckError(f"{path}: columns.{prof}[{i}]: atol and rtol must be numbers >= 0, "
                                   f"rows a share in [0, 1)")
            cap = r.get("cap", math.inf)
            if "cap" in r and (not isinstance(cap, (int, float)) or cap < atol or not rows):
                raise RecheckError(f"{path}: columns.{prof}[{i}]: 'cap' must be a number >= atol, on a rule with 'rows'")
            if not str(r.get("why", "")).strip():
                raise RecheckError(f"{path}: columns.{prof}[{i}] ({pats}) needs a 'why'")
            parsed.append(Rule(tuple(str(p) for p in pats), float(atol), float(rtol), str(r["why"]), float(rows),
                               float(cap)))
        if "*" not in parsed[-1].patterns:
            raise RecheckError(f"{path}: the last rule of columns.{prof} must match '*' (the default)")
        columns[prof] = parsed
        t = raw["text"].get(prof) if isinstance(raw["text"], dict) else None
        forms = ("integer", "fraction", "decimal")
        if not isinstance(t, dict) or set(t) != {*forms, "why"}:
            raise RecheckError(f"{path}: text.{prof} needs exactly {', '.join(forms)} (each {{atol, rtol}}) and why")
        parsed_t = {}
        for form in forms:
            f = t[form]
            if not isinstance(f, dict) or "atol" not in f or set(f) - {"atol", "rtol"}:
                raise RecheckError(f"{path}: text.{prof}.{form} needs 'atol' and optionally 'rtol'")
            if not all(isinstance(v, (int, float)) and v >= 0 for v in (f["atol"], f.get("rtol", 0.0))):
                raise RecheckError(f"{path}: text.{prof}.{form}: atol and rtol must be numbers >= 0")
            parsed_t[form] = Rule((form,), float(f["atol"]), float(f.get("rtol", 0.0)), str(t["why"]))
        text[prof] = TextRule(**parsed_t, why=str(t["why"]))
    fragile = {}
    for prof in PROFILES:
        spans = (raw.get("fragile") or {}).get(prof) or []
        parsed_f = []
        for i, f in enumerate(spans):
            if not isinstance(f, dict) or set(f) != {"span", "why"} or not str(f["why"]).strip():
                raise RecheckError(f"{path}: fragile.{prof}[{i}] needs exactly 'span' (a regular expression) "
                                   f"and 'why'")
            try:
                re.compile(f["span"])
            except re.error as e:
                raise RecheckError(f"{path}: fragile.{prof}[{i}]: not a regular expression: {e}") from e
            parsed_f.append(Fragile(str(f["span"]), str(f["why"])))
        fragile[prof] = parsed_f
    by_label = {}
    for prof in PROFILES:
        b = (raw.get("by_label") or {}).get(prof)
        if b is None:
            by_label[prof] = None
            continue
        keys = {"label", "unstable", "tables", "text", "why"}
        if not isinstance(b, dict) or set(b) != keys or not str(b["why"]).strip():
            raise RecheckError(f"{path}: by_label.{prof} needs exactly {', '.join(sorted(keys))}")
        if not isinstance(b["tables"], dict) or not all(isinstance(v, list) and v for v in b["tables"].values()):
            raise RecheckError(f"{path}: by_label.{prof}.tables maps a file name to a list of columns")
        try:
            re.compile(b["text"])
        except re.error as e:
            raise RecheckError(f"{path}: by_label.{prof}.text: not a regular expression: {e}") from e
        by_label[prof] = ByLabel(str(b["label"]), str(b["unstable"]),
                                 {str(k): tuple(map(str, v)) for k, v in b["tables"].items()}, str(b["text"]),
                                 str(b["why"]))
    return Tolerances(columns, text, path, fragile, by_label)


def profile_of(name: str) -> str:
    """'fast' for the smoke-test runs (``*-fast``, ``summary-fast``), 'full' for the study's runs."""
    return "fast" if str(name).endswith("-fast") else "full"


# ------------------------------------------------------------------------------------------------ text
def _to_float(token: str) -> float:
    return float(token.replace(",", "").replace("\u2212", "-"))


def split_numbers(text: str, tokens: list | None = None) -> tuple[list[str], list[float]]:
    """(the text with every number replaced by a placeholder and whitespace collapsed, the numbers); the printed
    tokens are appended to ``tokens`` when given."""
    nums: list[float] = []

    def repl(m: re.Match) -> str:
        tok = m.group(1)
        if not any(ch.isdigit() for ch in tok):
            return tok
        nums.append(_to_float(tok))
        if tokens is not None:
            tokens.append(tok)
        return "\x00"

    skeleton = _NUMBER.sub(repl, text)
    return " ".join(skeleton.split()).split("\x00"), nums


# A host timing inside text ('2.8 µs'): a measurement of the moment, like the TIME_COLUMNS of a table.
_HOST_TIME = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?\s?\u00b5s")


def text_equal(committed: str, fresh: str, rule, fragile=()) -> tuple[bool, str]:
    """Same words (whitespace runs collapsed) and every number within ``rule``; numbers of microseconds (host
    timings) are not compared. Where the texts still differ, spans matching a :class:`Fragile` pattern are
    removed from both and the rest compared again: a pass then says which declared fragile span differed.
    Returns (ok, why): ``why`` is empty on a plain pass, the reason on a failure, 'fragile: ...' on such a pass."""
    if committed == fresh:
        return True, ""
    ok, why = _text_equal(_HOST_TIME.sub("(host time)", committed), _HOST_TIME.sub("(host time)", fresh), rule)
    if ok or not fragile:
        return ok, why
    a, b = committed, fresh
    hit = []
    for f in fragile:
        if [m.group(0) for m in f.regex.finditer(a)] != [m.group(0) for m in f.regex.finditer(b)]:  # it differs
            hit.append(f.why.split(";")[0].split(",")[0][:70])
        a, b = f.regex.sub("(fragile)", a), f.regex.sub("(fragile)", b)
    ok2, _ = _text_equal(_HOST_TIME.sub("(host time)", a), _HOST_TIME.sub("(host time)", b), rule)
    if ok2 and hit:
        return True, "fragile: " + "; ".join(dict.fromkeys(hit))
    return False, why


def _text_equal(committed: str, fresh: str, rule) -> tuple[bool, str]:
    if committed == fresh:
        return True, ""
    toks: list[str] = []
    words_a, nums_a = split_numbers(committed, toks)
    words_b, nums_b = split_numbers(fresh)
    if words_a != words_b:
        for wa, wb in zip(words_a, words_b):
            if wa != wb:
                return False, f"text differs: {wa.strip()[:80]!r} vs {wb.strip()[:80]!r}"
        return False, f"text differs: {len(words_a)} vs {len(words_b)} text runs"
    for tok, a, b in zip(toks, nums_a, nums_b):
        r = rule.for_token(tok, a) if isinstance(rule, TextRule) else rule
        if not r.allows(a, b):
            return False, (f"number {tok} became {b:g} (tolerance for a{'n' if r.patterns[0][0] in 'ai' else ''} "
                           f"{r.patterns[0]}: {r.atol:g} + {r.rtol:g} x |value|)")
    return True, ""


# ------------------------------------------------------------------------------------------------ tables
@dataclass
class Deviation:
    file: str
    column: str
    max_abs: float
    tolerance: str
    ok: bool
    where: str = ""


def _numeric(s: pd.Series) -> pd.Series | None:
    if s.dtype == bool or s.dtype == object and s.dropna().isin([True, False, "True", "False"]).all() and len(s.dropna()):
        return None
    v = pd.to_numeric(s, errors="coerce")
    if v.notna().sum() < s.notna().sum():
        return None  # text (a name, a verdict, a note): compared exactly
    return v.astype(float)


def compare_table(committed: Path, fresh: Path, tol: Tolerances, profile: str, label: str) -> list[Deviation]:
    """Compare two CSVs cell by cell: same columns and rows, text cells equal, numbers within their rule.

    Long tables with a ``metric`` column (one row per metric) use the rule of ``<metric>.<column>`` first, then of
    ``<column>``, so an interval of a Brier score can have another tolerance than one of an accuracy."""
    a, b = pd.read_csv(committed), pd.read_csv(fresh)
    out: list[Deviation] = []
    if list(a.columns) != list(b.columns):
        return [Deviation(label, "(columns)", math.inf, "exact", False,
                          f"columns {list(a.columns)} vs {list(b.columns)}")]
    if len(a) != len(b):
        return [Deviation(label, "(rows)", math.inf, "exact", False, f"{len(a)} rows vs {len(b)}")]
    metric = a["metric"].astype(str) if "metric" in a.columns else None
    models = a["model"].astype(str).to_numpy() if "model" in a.columns else None
    bl = (tol.by_label or {}).get(profile)
    by_label = bl.tables.get(Path(committed).name, ()) if bl and bl.label in a.columns else ()
    if by_label:  # unstable verdicts: the listed columns of their rows are compared by the label alone
        unstable = (a[bl.label].astype(str) == bl.unstable).to_numpy()
        if unstable.any():
            keep = ~unstable
            out.append(Deviation(label, "(unstable verdicts)", 0.0, "compared by label", True,
                                 f"{int(unstable.sum())} rows labelled {bl.unstable!r}: "
                                 f"{', '.join(by_label)} compared by the label '{bl.label}'"))
            a, b = a.copy(), b.copy()
            for col in by_label:
                if col in a.columns:
                    b.loc[unstable, col] = a.loc[unstable, col]
    for col in a.columns:
        if col in TIME_COLUMNS:
            continue
        va, vb = _numeric(a[col]), _numeric(b[col])
        if va is None or vb is None:
            # Text, flags: exact, unless a rule naming this column allows a share of rows to differ
            share = _share(_rule_for(tol, profile, col, col, Path(committed).name))
            sa, sb = a[col].astype(str).where(a[col].notna(), ""), b[col].astype(str).where(b[col].notna(), "")
            bad = np.flatnonzero((sa != sb).to_numpy())
            pairs = _key_values(sa, sb) if len(bad) and not share else None
            if pairs is not None:  # 'k=v; k=v' cells: each number by the rule of its key, words exactly
                numbers, differ = pairs
                for key, (ka, kb) in numbers.items():
                    out += _numeric_deviations(label, f"{col}.{key}", ka, kb, [key] * len(a), key,
                                               Path(committed).name, tol, profile, models, text=True)
                if not differ:
                    out.append(Deviation(label, col, 0.0, "keys and words exact", True, ""))
                for key, rows in differ.items():  # text values: exact, unless the key's rule allows a share
                    rule = _rule_for(tol, profile, key, key, Path(committed).name) if key else None
                    has_key = sa.str.contains(rf"(?:^|;)\s*{re.escape(key)}=").to_numpy() if key else None
                    out.append(_text_deviation(label, f"{col}.{key}" if key else f"{col} (keys)", sa, sb,
                                               np.array(rows), _share(rule), has_key, None))
                continue
            out.append(_text_deviation(label, col, sa, sb, bad, share, None, models))
            continue
        names = [f"{m}.{col}" for m in metric] if metric is not None else [col] * len(a)
        out += _numeric_deviations(label, col, va, vb, names, col, Path(committed).name, tol, profile, models,
                                   by_metric=metric is not None)
    return out


def _share(rule: Rule | None) -> float:
    """The share of a text column's rows a rule lets differ: only a rule that names the column ('*' does not)."""
    return rule.rows if rule is not None and "*" not in rule.patterns else 0.0


def _text_deviation(label: str, name: str, sa: pd.Series, sb: pd.Series, bad: np.ndarray, share: float,
                    has_value: np.ndarray | None, models) -> Deviation:
    """Text cells compared exactly: ``bad`` rows differ, at most ``share`` of the rows that have a value may."""
    ok = _within_share(bad, np.ones(len(sa), bool) if has_value is None else has_value, share, models)
    where = ""
    if len(bad):
        r = int(bad[0])
        where = f"row {r + 1}: {sa.iloc[r]!r} vs {sb.iloc[r]!r} ({len(bad)} of {len(sa)} rows differ)"
    return Deviation(label, name, math.inf if not ok else len(bad) / max(len(sa), 1),
                     "exact" if not share else f"exact, {share:g} of rows may differ", ok, where)


_PAIR = re.compile(r"^\s*(\w+)=([^;]*)$")


def _number(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _key_values(sa: pd.Series, sb: pd.Series) -> tuple[dict, dict] | None:
    """Cells of ``k=v; k=v`` pairs (claims.csv's ``detail``): ``({key: (committed, fresh)}, {key: rows})`` with one
    numeric Series pair per key whose values are numbers, and per key the rows whose text values differ (key
    ``""``: rows whose keys differ); None when a cell is not such a list (then the cells are compared as text)."""
    def parse(cell: str) -> dict | None:
        out = {}
        for part in (cell.split(";") if cell else []):
            m = _PAIR.match(part)
            if not m:
                return None
            out[m.group(1)] = m.group(2).strip()
        return out
    rows_a, rows_b = [parse(c) for c in sa], [parse(c) for c in sb]
    if any(r is None for r in rows_a + rows_b):
        return None
    numeric: dict[str, tuple[list, list]] = {}
    differ: dict[str, list] = {}
    for i, (x, y) in enumerate(zip(rows_a, rows_b)):
        if set(x) != set(y):
            differ.setdefault("", []).append(i)
            continue
        for k in x:
            nx, ny = _number(x[k]), _number(y[k])
            if nx is None or ny is None:
                if x[k] != y[k]:
                    differ.setdefault(k, []).append(i)
                continue
            col = numeric.setdefault(k, ([np.nan] * len(rows_a), [np.nan] * len(rows_a)))
            col[0][i], col[1][i] = nx, ny
    return ({k: (pd.Series(v[0], dtype=float), pd.Series(v[1], dtype=float)) for k, v in numeric.items()}, differ)


def _numeric_deviations(label: str, col: str, va: pd.Series, vb: pd.Series, names: list, rule_col: str, fname: str,
                        tol: Tolerances, profile: str, models, by_metric: bool = False,
                        text: bool = False) -> list[Deviation]:
    """One column of numbers: its rows grouped by their rule (``names``: the dotted name of each row), each group
    within its atol/rtol, with the rule's share of rows allowed outside."""
    out = []
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(_rule_key(_rule_for(tol, profile, n, rule_col, fname)), []).append(i)
    for key, rows in groups.items():
        rule = _rule_for(tol, profile, names[rows[0]], rule_col, fname)
        x, y = va.iloc[rows].to_numpy(), vb.iloc[rows].to_numpy()
        both_nan = np.isnan(x) & np.isnan(y)
        one_nan = np.isnan(x) ^ np.isnan(y)
        diff = np.where(both_nan, 0.0, np.abs(y - x))
        diff = np.where(one_nan, np.inf, diff)
        allowed = rule.atol + rule.rtol * np.abs(np.nan_to_num(x)) + 1e-12
        bad = np.flatnonzero(diff > allowed)
        worst = float(np.nanmax(diff)) if len(diff) else 0.0
        n_values = max(int((~np.isnan(x)).sum()), 1)
        beyond_cap = int((diff > rule.cap + 1e-12).sum())
        ok = beyond_cap == 0 and _within_share(bad, ~np.isnan(x), rule.rows,
                                               models[rows] if models is not None else None)
        where = ""
        if len(bad):
            r = rows[int(bad[np.argmax(diff[bad])])]
            where = f"row {r + 1}: {va.iloc[r]:g} vs {vb.iloc[r]:g} ({len(bad)} of {n_values} values outside" + \
                (f", {beyond_cap} beyond the cap {rule.cap:g})" if beyond_cap else ")")
        name = col if not by_metric else f"{col} [{'/'.join(sorted({names[i].split('.')[0] for i in rows}))}]"
        out.append(Deviation(label, name, worst, _rule_key(rule) + (", key by key" if text else ""), ok, where))
    return out


def _within_share(bad: np.ndarray, has_value: np.ndarray, share: float, models: np.ndarray | None) -> bool:
    """At most ``share`` of the rows that have a value lie outside, counted per model where the table has one
    (so one model's rows cannot all change while the others hold the share down); models with fewer than 10 rows
    (a Pareto table: one row each) are counted together."""
    if not len(bad):
        return True
    if models is None:
        return len(bad) <= share * max(int(has_value.sum()), 1)
    models = np.asarray(models, dtype=object).copy()
    names, counts = np.unique(models, return_counts=True)
    models[np.isin(models, names[counts < 10])] = "\x00few"  # models with a row or a few each: pooled
    for m in np.unique(models):
        mine = models == m
        if np.isin(np.flatnonzero(mine), bad).sum() > share * max(int((mine & has_value).sum()), 1):
            return False
    return True


def _rule_for(tol: Tolerances, profile: str, dotted: str, col: str, file: str = "") -> Rule:
    """The rule of '<file name>:<column>' where a pattern names it (one with a colon), else of '<metric>.<column>'
    (a pattern with a dot), else the column's rule."""
    for r in tol.columns[profile]:
        if file and any(":" in p and fnmatch.fnmatchcase(f"{file}:{col}", p) for p in r.patterns):
            return r
    for r in tol.columns[profile]:
        if any("." in p and ":" not in p and fnmatch.fnmatchcase(dotted, p) for p in r.patterns):
            return r
    for r in tol.columns[profile]:
        if any(":" not in p and fnmatch.fnmatchcase(col, p) for p in r.patterns):
            return r
    return tol.rule(profile, col)


def _rule_key(rule: Rule) -> str:
    return (f"atol {rule.atol:g}" + (f" + rtol {rule.rtol:g}" if rule.rtol else "")
            + (f", {rule.rows:g} of rows may exceed" if rule.rows else "")
            + (f" up to {rule.cap:g}" if rule.cap != math.inf else ""))


def compare_json(committed: Path, fresh: Path, label: str) -> list[Deviation]:
    same = json.loads(committed.read_text()) == json.loads(fresh.read_text())
    return [Deviation(label, "(all)", 0.0 if same else math.inf, "exact", same,
                      "" if same else "the splits differ")]


def compare_markdown(committed: Path, fresh: Path, tol: Tolerances, profile: str, label: str) -> list[Deviation]:
    a, b = committed.read_text().splitlines(), fresh.read_text().splitlines()
    if len(a) != len(b):
        return [Deviation(label, "(lines)", math.inf, "exact", False, f"{len(a)} lines vs {len(b)}")]
    out = []
    bl = (tol.by_label or {}).get(profile)
    for i, (la, lb) in enumerate(zip(a, b)):
        ok, why = text_equal(la, lb, tol.text[profile], tol.fragile[profile])
        if not ok and bl is not None and bl.unstable in bl.regex.findall(la):
            by_label = _segments_by_label(la, lb, bl, tol.text[profile], tol.fragile[profile])
            if by_label:
                out.append(Deviation(label, "(unstable verdicts)", 0.0, "compared by label", True,
                                     f"line {i + 1}: {by_label}"))
                continue
        if not ok:
            return out + [Deviation(label, "(text)", math.inf, "text rule", False,
                                    f"line {i + 1}: {why}")]
        if why:  # a declared fragile span differed: allowed, and said
            out.append(Deviation(label, "(fragile text)", 0.0, "declared fragile", True, f"line {i + 1}: {why}"))
    return out + [Deviation(label, "(text)", 0.0, "text rule", True)]


# Where a line of generated text holds several verdicts: table cells, <br>-separated runs, sentences.
_SEGMENT = re.compile(r"<br>|(?<=\S) \| (?=\S)|(?<=[.:]) (?=[A-Z])")


def _segments_by_label(committed: str, fresh: str, bl: ByLabel, rule, fragile) -> str:
    """Compare a line that holds an unstable verdict segment by segment (table cells, runs, sentences): a
    segment with an unstable label passes when its labels are the same, every other segment by the text rule.
    Returns what was compared by label, or '' when the line fails."""
    a, b = _SEGMENT.split(committed), _SEGMENT.split(fresh)
    if len(a) != len(b):
        return ""
    labelled = []
    for sa, sb in zip(a, b):
        if text_equal(sa, sb, rule, fragile)[0]:
            continue
        labels = bl.regex.findall(sa)
        if bl.unstable not in labels or labels != bl.regex.findall(sb):
            return ""
        labelled.append(sa.split(":")[0][:40])
    return "unstable verdicts compared by their labels: " + "; ".join(labelled)


def _files(root: Path, run: str, suffixes=(".csv", ".md")) -> list[Path]:
    """Files of a run compared across machines: CSVs, markdown and the splits (the exported C array holds the
    model's bytes, which differ across machines: only the bit-identity check reads it)."""
    d = root / run
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d)
        if not p.is_file() or any(part in SKIP_PARTS for part in rel.parts[:-1]):
            continue
        if p.suffix in suffixes or p.name == "splits.json":
            out.append(rel)
    return out


MANIFEST = ".reexecuted"  # tests/nbval_plugin.py writes <MANIFEST>.<pid>.json into the scratch tree: what it ran


def _manifest_entries(root: Path) -> set[str] | None:
    """Every nbval process's record in ``root`` (None when there is none)."""
    files = sorted(Path(root).glob(f"{MANIFEST}.*.json"))
    if not files:
        return None
    return {entry for f in files for entry in json.loads(f.read_text())}


def executed_notebooks(root: Path, run: str) -> set[str]:
    """Notebooks of ``run`` executed into ``root``: nbval's manifests of a scratch tree, else the ``.ipynb`` files
    papermill wrote (a committed tree, or one made by :func:`chain`)."""
    listed = _manifest_entries(root)
    if listed is not None:
        return {Path(p).name for p in listed if Path(p).parent.name == run}
    d = Path(root) / run
    return {p.name for p in d.glob("*.ipynb") if p.name.count(".") == 1} if d.is_dir() else set()


def write_manifest(root: Path, notebooks) -> Path:
    """Record the executed notebooks (``outputs/<run>/<nb>.ipynb`` paths) of a scratch tree, one file per process
    (``make test`` runs nbval in parallel processes and then once more for notebook 08; readers take the union)."""
    path = Path(root) / f"{MANIFEST}.{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    listed = set(json.loads(path.read_text())) if path.exists() else set()
    listed |= {f"{Path(p).parent.name}/{Path(p).name}" for p in notebooks}
    return formatting.write_text(json.dumps(sorted(listed), indent=1), path)


def _top_level_text(root: Path, run: str) -> list[Path]:
    """Notebook 08 writes outputs/<profile summary>.{csv,md} and model_card*.md beside the run folders."""
    extra = [root / "model_card.md"] if run == "summary" else []  # the fast card lives in summary-fast/
    return [p for p in (root / f"{run}.csv", root / f"{run}.md", *extra) if p.exists()]


def _writer_ran(rel: Path, made: set[str], ran: set[str]) -> bool:
    """Whether the notebook that writes ``rel`` ran: ``<name>_NN.csv`` is written by notebook ``NN_*``; other
    files (splits, predictions, latency, data summaries) by the chain, expected when every committed notebook ran
    but 07, which writes only its own ``_07`` files (and is left out without the authors' Pi logs)."""
    m = re.search(r"_(\d\d[a-z]?)$", Path(rel).stem)
    if m:
        return any(nb.startswith(m.group(1) + "_") for nb in ran)
    return {nb for nb in made - ran if not nb.startswith("07_")} == set() and bool(ran)


def compare_trees(committed: Path, fresh: Path, runs: list[str], tol: Tolerances | None = None) -> list[Deviation]:
    """Every file the notebooks of ``runs`` wrote in ``fresh`` against the same file in ``committed``.

    A committed file missing from the fresh tree, or the other way round, is a deviation (a notebook stopped
    writing it, or writes something new)."""
    tol = tol or load_tolerances()
    committed, fresh = Path(committed), Path(fresh)
    out: list[Deviation] = []
    for run in runs:
        prof = profile_of(run)
        a, b = set(_files(committed, run)), set(_files(fresh, run))
        pairs = [(committed / run / rel, fresh / run / rel, f"{run}/{rel}") for rel in sorted(a & b)]
        # A committed file must be written again when the notebook that writes it was re-executed (where only
        # some notebooks ran, e.g. the full runs' 01 in make test, the others' files are not expected); a file
        # the committed tree lacks is always a deviation (the committed outputs are out of date).
        ran, made = executed_notebooks(fresh, run), executed_notebooks(committed, run)
        for rel in sorted(a - b):
            if _writer_ran(rel, made, ran):
                out.append(Deviation(f"{run}/{rel}", "(file)", math.inf, "exact", False, "only committed"))
        for rel in sorted(b - a):
            out.append(Deviation(f"{run}/{rel}", "(file)", math.inf, "exact", False, "only re-executed"))
        if run.startswith("summary"):
            for p in _top_level_text(committed, run):
                q = fresh / p.name
                if q.exists():
                    pairs.append((p, q, p.name))
                else:
                    out.append(Deviation(p.name, "(file)", math.inf, "exact", False, "only committed"))
        for pa, pb, label in pairs:
            if pa.suffix == ".csv":
                out += compare_table(pa, pb, tol, prof, label)
            elif pa.suffix == ".json":
                out += compare_json(pa, pb, label)
            else:
                out += compare_markdown(pa, pb, tol, prof, label)
    return out


def report(devs: list[Deviation]) -> pd.DataFrame:
    """One row per file x column: the largest deviation, its tolerance and whether it held."""
    return pd.DataFrame([d.__dict__ for d in devs], columns=["file", "column", "max_abs", "tolerance", "ok", "where"])


def largest_by_column(devs: list[Deviation]) -> pd.DataFrame:
    """The largest deviation per column name over all files (what the README and the notes quote)."""
    df = report([d for d in devs if math.isfinite(d.max_abs)])
    if df.empty:
        return df
    df["column"] = df["column"].str.replace(r" \[.*\]$", "", regex=True)
    idx = df.groupby("column")["max_abs"].idxmax()
    return df.loc[idx, ["column", "max_abs", "tolerance", "file"]].sort_values("max_abs", ascending=False)


# ------------------------------------------------------------------------------------------------ identity
def _strip_times(path: Path) -> bytes:
    if path.suffix != ".csv":
        return path.read_bytes()
    df = pd.read_csv(path)
    keep = [c for c in df.columns if c not in TIME_COLUMNS]
    return df[keep].to_csv(index=False).encode() if len(keep) < len(df.columns) else path.read_bytes()


def identical(a: Path, b: Path, runs: list[str]) -> list[str]:
    """Files of ``runs`` that are not byte-identical between two trees (time columns removed first)."""
    bad = []
    for run in runs:
        fa, fb = set(_files(Path(a), run, IDENTITY_SUFFIXES)), set(_files(Path(b), run, IDENTITY_SUFFIXES))
        bad += [f"{run}/{rel}: only in one tree" for rel in sorted(fa ^ fb)]
        for rel in sorted(fa & fb):
            if _strip_times(Path(a) / run / rel) != _strip_times(Path(b) / run / rel):
                bad.append(f"{run}/{rel}")
    return bad


# ------------------------------------------------------------------------------------------------ execution
def _recorded_seconds(nb: Path) -> float:
    """papermill's recorded duration of an executed notebook (60 s when it has none)."""
    try:
        return float(json.loads(Path(nb).read_text())["metadata"]["papermill"]["duration"] or 60.0)
    except (OSError, ValueError, KeyError, TypeError):
        return 60.0


def buckets(notebooks: list[str], n: int) -> list[list[str]]:
    """Split executed notebooks into ``n`` lists for ``n`` nbval processes: whole runs (a run's notebooks read what
    its earlier ones wrote), each list in the order given, runs assigned longest first to the least loaded list
    by their recorded papermill time. Empty lists are dropped."""
    if n < 1:
        raise ValueError(f"need at least one bucket, got {n}")
    runs: dict[str, list[str]] = {}
    for nb in notebooks:
        runs.setdefault(Path(nb).parent.name, []).append(nb)
    load, out = [0.0] * n, [[] for _ in range(n)]
    for run in sorted(runs, key=lambda r: -sum(_recorded_seconds(Path(nb)) for nb in runs[r])):
        i = load.index(min(load))
        out[i] += runs[run]
        load[i] += sum(_recorded_seconds(Path(nb)) for nb in runs[run])
    order = {nb: k for k, nb in enumerate(notebooks)}
    return [sorted(b, key=order.get) for b in out if b]


CHAIN = ("01_data_exploration", "02_teacher", "03_distillation", "04_pruning", "05_quantization",
         "06_tflite_export", "06b_seed_replicates", "07_pi_measurements")


def chain(run: str, outputs: Path | str, notebooks=CHAIN, env: dict | None = None) -> list[Path]:
    """Execute ``notebooks`` of ``run`` in order with papermill into ``outputs/<run>/`` (``KDSTUDY_OUTPUTS`` set
    to ``outputs``) and merge its ``results.csv``, as ``make`` would; returns the executed notebooks. Stops at the
    first failure."""
    # papermill and lib.core.results (scikit-learn) on use: compare, identical and buckets start without them
    from lib.core import results
    from lib.tools.execute import execute

    outputs = Path(outputs).resolve()
    old = {k: os.environ.get(k) for k in ["KDSTUDY_OUTPUTS", *(env or {})]}
    os.environ["KDSTUDY_OUTPUTS"] = str(outputs)
    os.environ.update(env or {})
    done = []
    try:
        for nb in notebooks:
            out = outputs / run / f"{nb}.ipynb"
            out.parent.mkdir(parents=True, exist_ok=True)
            print(f">> {nb} for run {run} -> {out}", flush=True)
            execute(str(paths.NOTEBOOKS / f"{nb}.ipynb"), str(out), kernel_name="kdstudy",
                    parameters={"run": run}, cwd=str(paths.ROOT), progress_bar=False)
            done.append(out)
        if any((outputs / run).glob("results_*.csv")):  # as make does after a run's notebooks
            results.gather(run)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return done


def gather_tree(root: Path | str) -> list[Path]:
    """Merge ``results.csv`` of every run in ``root`` that has ``results_*.csv``, as make does after a run's
    notebooks (nbval executes notebooks, not make's rules)."""
    from lib.core import results  # on use: see chain

    root = Path(root).resolve()
    old = os.environ.get("KDSTUDY_OUTPUTS")
    os.environ["KDSTUDY_OUTPUTS"] = str(root)
    try:
        return [results.gather(d.name) for d in sorted(root.iterdir())
                if d.is_dir() and any(d.glob("results_*.csv"))]
    finally:
        if old is None:
            os.environ.pop("KDSTUDY_OUTPUTS", None)
        else:
            os.environ["KDSTUDY_OUTPUTS"] = old


# ------------------------------------------------------------------------------------------------ command line
def _runs_in(root: Path) -> list[str]:
    listed = _manifest_entries(root)
    if listed is not None:
        return sorted({Path(p).parent.name for p in listed})
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir() and p.name not in ("report",))


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "compare":
        committed, fresh = Path(argv[1]), Path(argv[2])
        for root in (committed, fresh):
            if not root.is_dir():
                print(f"recheck: no outputs tree at {root}", file=sys.stderr)
                return 2
        missing = [r for r in argv[3:] if not (committed / r).is_dir() or not (fresh / r).is_dir()]
        if missing:
            print(f"recheck: run(s) {', '.join(missing)} not in both {committed} and {fresh}", file=sys.stderr)
            return 2
        runs = argv[3:] or [r for r in _runs_in(fresh) if (committed / r).is_dir()]
        if not runs:
            print(f"recheck: nothing to compare: no run of {fresh} is in {committed}", file=sys.stderr)
            return 2
        devs = compare_trees(committed, fresh, runs)
        df = report(devs)
        bad = df[~df.ok]
        with pd.option_context("display.width", 200, "display.max_colwidth", 90, "display.max_rows", 400):
            print(f"re-executed outputs of {len(runs)} run(s) against the committed ones "
                  f"({TOLERANCES.relative_to(paths.ROOT)}): largest deviation per column")
            print(largest_by_column(devs).to_string(index=False))
            allowed = df[df.ok & (df["where"].fillna("") != "")]
            if len(allowed):
                print(f"\n{len(allowed)} allowed difference(s): rows beyond atol within a column's share, "
                      f"declared fragile text:")
                for r in allowed.itertuples():
                    print(f"  {r.file} {r.column} [{r.tolerance}]: {r.where}")
            if len(bad):
                print(f"\n{len(bad)} deviation(s) outside their tolerance:")
                for r in bad.itertuples():
                    print(f"  {r.file} {r.column} [{r.tolerance}]: {r.where or f'largest deviation {r.max_abs:g}'}")
        n_ok, n_bad = int(df.ok.sum()), int((~df.ok).sum())
        print(f"recheck: {n_ok} passed, {n_bad} failed")
        return 1 if n_bad else 0
    if len(argv) >= 3 and argv[0] == "identical":
        a, b = Path(argv[1]), Path(argv[2])
        runs = argv[3:] or [r for r in _runs_in(b) if (a / r).is_dir()]
        absent = [r for r in runs if not (a / r).is_dir() or not (b / r).is_dir()]
        if absent or not runs or not sum(len(_files(a, r, IDENTITY_SUFFIXES)) for r in runs):
            print(f"identity: nothing to compare for run(s) {', '.join(runs) or '(none)'} in {a} and {b}",
                  file=sys.stderr)
            return 2
        bad = identical(a, b, runs)
        for line in bad:
            print(f"differs: {line}")
        n = sum(len(_files(a, r, IDENTITY_SUFFIXES)) for r in runs)
        print(f"identity: {n - len(bad)} passed, {len(bad)} failed")
        return 1 if bad else 0
    if len(argv) >= 2 and argv[0] == "buckets":  # one line of notebooks per nbval process
        for b in buckets(argv[2:], int(argv[1])):
            print(" ".join(b))
        return 0
    if len(argv) == 2 and argv[0] == "gather":
        for p in gather_tree(Path(argv[1])):
            print(f"gathered {p}")
        return 0
    if len(argv) >= 3 and argv[0] == "chain":
        run, out = argv[1], Path(argv[2])
        like = Path(argv[3]) if len(argv) > 3 else None  # execute the notebooks another tree executed
        notebooks = [nb for nb in CHAIN if like is None or f"{nb}.ipynb" in executed_notebooks(like, run)]
        chain(run, out, notebooks)
        return 0
    print(__doc__.split("\n\n")[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
