"""The report's decisions made in advance (``params/report/decisions.yaml``): the margins, the transfer cell and
rule, the latency tie rule, the interval, the primary family, PBCNT's role, the operating-point rule and its
pooling, the calibration method, the prevalences of PPV and NPV, the sample-size settings, the training seeds
per split and the verdict stability rule, each with its
rationale, when it was stated and (where written) its date. Notebooks 06 and 08 read them here; changing one is a
visible commit, so the history shows when each was made.

A ``pending:`` block holds decisions written down before the results they will judge exist and not applied yet
(each with a value, a rationale, ``stated`` and a ``date``); :attr:`Decisions.pending` carries them, checked but
unused, until the analysis that applies them lands and moves them into ``decisions:``."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from lib.core import paths

DECISIONS_FILE = Path("params") / "report" / "decisions.yaml"
# Every decision the report needs, and the type of its value.
DECISION_KEYS = {"margin_accuracy": float, "margin_sensitivity": float, "margin_balanced_accuracy": float,
                 "transfer_cell": dict,
                 "transfer_rule": str, "latency_tie": str, "interval": str, "primary_family": dict,
                 "pbcnt_role": str, "operating_point": dict, "operating_point_pooling": str, "calibration": str,
                 "prevalences": dict, "sample_size": dict, "training_seeds": int, "verdict_stability": dict}
# How the report names each decision in words ("How to read": which were set before, which after the results).
WORDS = {"margin_accuracy": "the accuracy margin", "margin_sensitivity": "the sensitivity margin",
         "margin_balanced_accuracy": "the balanced-accuracy margin",
         "transfer_cell": "the cross-dataset cell", "transfer_rule": "the cross-dataset rule",
         "latency_tie": "the latency tie rule", "interval": "the corrected interval",
         "primary_family": "the primary family and its Holm adjustment", "pbcnt_role": "PBCNT as descriptive",
         "operating_point": "the operating-point rule", "operating_point_pooling": "its pooling over the first pass",
         "calibration": "the calibration method", "prevalences": "the prevalences of PPV and NPV",
         "sample_size": "the sample-size settings", "training_seeds": "the training seeds",
         "verdict_stability": "the verdict stability rule"}
PRIMARY_KEYS = {"comparison", "metrics", "runs", "test", "adjustment", "alpha"}
OPERATING_KEYS = {"source", "rule", "target_sensitivity", "models", "none"}
CALIBRATIONS = ("platt",)
PBCNT_ROLES = ("descriptive", "confirmatory")
# When each decision was written down, relative to the results it judges (the history shows the date).
STATED = ("before any result", "after earlier results")
LATENCY_TIE_RULES = ("overlapping repeat ranges", "overlapping repeat ranges, widened by the spread of one network")
INTERVALS = ("corrected",)


class DecisionsError(ValueError):
    """The decisions file is missing or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Decisions:
    margin_accuracy: float
    margin_sensitivity: float
    margin_balanced_accuracy: float
    transfer_cell: dict
    transfer_rule: str
    latency_tie: str
    interval: str
    primary_family: dict
    pbcnt_role: str
    operating_point: dict
    operating_point_pooling: str
    calibration: str
    prevalences: dict
    sample_size: dict
    training_seeds: int
    verdict_stability: dict
    rationale: dict = field(default_factory=dict)
    stated: dict = field(default_factory=dict)
    source: str = str(DECISIONS_FILE)
    pending: dict = field(default_factory=dict)  # name -> {value, rationale, stated, date}: decided, not applied yet
    dates: dict = field(default_factory=dict)  # name -> ISO date, where the file gives one

    def in_words(self, when: str) -> list[str]:
        """The applied decisions stated ``when`` (one of :data:`STATED`), in the report's words."""
        return [WORDS.get(k, k) for k in DECISION_KEYS if self.stated.get(k) == when]


def load_decisions(path: str | Path | None = None) -> Decisions:
    """The pre-specified decisions, each ``{value, rationale}``; a clear error names a missing, unknown or
    malformed entry."""
    p = Path(path) if path is not None else paths.ROOT / DECISIONS_FILE
    if not p.exists():
        raise DecisionsError(f"{p}: the report's pre-specified decisions are missing")
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise DecisionsError(f"{p}: not valid YAML ({e})") from None
    block = doc.get("decisions") if isinstance(doc, dict) else None
    if not isinstance(block, dict):
        raise DecisionsError(f"{p}: needs a 'decisions:' mapping")
    extra = sorted(set(doc) - {"decisions", "pending"})
    if extra:
        raise DecisionsError(f"{p}: unknown top-level key(s) {extra}; known: decisions, pending")
    pending = _pending(p, doc.get("pending") or {}, block)
    unknown = sorted(set(block) - set(DECISION_KEYS))
    if unknown:
        raise DecisionsError(f"{p}: unknown decision(s) {unknown}; known: {sorted(DECISION_KEYS)}")
    values, why, when, dates = {}, {}, {}, {}
    for key, kind in DECISION_KEYS.items():
        entry = block.get(key)
        if not isinstance(entry, dict) or "value" not in entry or not str(entry.get("rationale", "")).strip():
            raise DecisionsError(f"{p}: decision '{key}' needs a value and a one-line rationale")
        v = entry["value"]
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise DecisionsError(f"{p}: decision '{key}' must be a number in (0, 1), got {v!r}")
            v = float(v)
        elif not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            raise DecisionsError(f"{p}: decision '{key}' must be a {kind.__name__}, got {v!r}")
        if entry.get("stated") not in STATED:
            raise DecisionsError(f"{p}: decision '{key}' needs 'stated:' one of {STATED}")
        values[key], why[key], when[key] = v, str(entry["rationale"]).strip(), entry["stated"]
        if "date" in entry:
            dates[key] = _date(p, key, entry["date"])
    cell = values["transfer_cell"]
    if set(cell) != {"features", "k", "model"}:
        raise DecisionsError(f"{p}: transfer_cell needs exactly features, k and model, got {sorted(cell)}")
    if values["latency_tie"] not in LATENCY_TIE_RULES:
        raise DecisionsError(f"{p}: latency_tie must be one of {LATENCY_TIE_RULES}")
    if values["interval"] not in INTERVALS:
        raise DecisionsError(f"{p}: interval must be one of {INTERVALS}")
    _check_structured(p, values)
    return Decisions(**values, rationale=why, stated=when, pending=pending, dates=dates, source=str(p.relative_to(paths.ROOT) if p.is_relative_to(paths.ROOT) else p))


def _pending(p: Path, block, applied: dict) -> dict:
    """The ``pending:`` block checked: each entry a value, a one-line rationale, ``stated`` and an ISO ``date``."""
    if not isinstance(block, dict):
        raise DecisionsError(f"{p}: 'pending:' must be a mapping of decision name -> entry")
    out = {}
    for key, entry in block.items():
        if key in applied:
            raise DecisionsError(f"{p}: decision '{key}' is both applied and pending")
        if not isinstance(entry, dict) or "value" not in entry or not str(entry.get("rationale", "")).strip():
            raise DecisionsError(f"{p}: pending decision '{key}' needs a value and a one-line rationale")
        if entry.get("stated") not in STATED:
            raise DecisionsError(f"{p}: pending decision '{key}' needs 'stated:' one of {STATED}")
        out[key] = {"value": entry["value"], "rationale": str(entry["rationale"]).strip(),
                    "stated": entry["stated"], "date": _date(p, key, entry.get("date"), "pending decision")}
    return out


def _date(p: Path, key: str, value, what: str = "decision") -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise DecisionsError(f"{p}: {what} '{key}' needs 'date:' as YYYY-MM-DD, got {value!r}") from None


def _check_structured(p: Path, v: dict):
    """The structured decisions: their keys and the values the report can apply."""
    fam = v["primary_family"]
    if set(fam) != PRIMARY_KEYS:
        raise DecisionsError(f"{p}: primary_family needs exactly {sorted(PRIMARY_KEYS)}, got {sorted(fam)}")
    if fam["test"] != "non-inferiority" or fam["adjustment"] != "holm" or not 0 < float(fam["alpha"]) < 1:
        raise DecisionsError(f"{p}: primary_family: the report applies test 'non-inferiority', adjustment 'holm' "
                             f"and an alpha in (0, 1), got {fam['test']!r}, {fam['adjustment']!r}, {fam['alpha']!r}")
    if " - " not in str(fam["comparison"]) or not fam["metrics"] or not fam["runs"]:
        raise DecisionsError(f"{p}: primary_family needs a comparison 'A - B', metrics and runs")
    op = v["operating_point"]
    if not set(op) <= OPERATING_KEYS or op.get("source") != "oof" or op.get("rule") != "conformal":
        raise DecisionsError(f"{p}: operating_point: the study applies source 'oof' and rule 'conformal' "
                             f"(keys {sorted(OPERATING_KEYS)}), got {op!r}")
    if v["calibration"] not in CALIBRATIONS:
        raise DecisionsError(f"{p}: calibration must be one of {CALIBRATIONS}, got {v['calibration']!r}")
    if v["pbcnt_role"] not in PBCNT_ROLES:
        raise DecisionsError(f"{p}: pbcnt_role must be one of {PBCNT_ROLES}, got {v['pbcnt_role']!r}")
    prev = v["prevalences"]
    if not prev or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x < 1 for x in prev.values()):
        raise DecisionsError(f"{p}: prevalences must map each setting to a number in (0, 1), got {prev!r}")
    if v["training_seeds"] < 2:
        raise DecisionsError(f"{p}: training_seeds must be at least 2 (replicates), got {v['training_seeds']!r}")
    vs = v["verdict_stability"]
    if set(vs) != {"agreement", "min_fragility"} or not 0 < float(vs["agreement"]) <= 1 \
            or not float(vs["min_fragility"]) >= 0:
        raise DecisionsError(f"{p}: verdict_stability needs agreement in (0, 1] and min_fragility >= 0, got {vs!r}")
    ss = v["sample_size"]
    if set(ss) != {"power", "alpha_one_sided", "discordance"} or not 0 < ss["power"] < 1 \
            or not 0 < ss["alpha_one_sided"] < 0.5:
        raise DecisionsError(f"{p}: sample_size needs power in (0, 1), alpha_one_sided in (0, 0.5) and "
                             f"discordance, got {ss!r}")
