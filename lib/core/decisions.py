"""The report's decisions made in advance (``params/report/decisions.yaml``): the margins, the transfer cell and
rule, the latency tie rule and the interval, each with its rationale and when it was stated. Notebooks 06 and 08
read them here; changing one is a visible commit, so the history shows when each was made.

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
DECISION_KEYS = {"margin_accuracy": float, "margin_sensitivity": float, "transfer_cell": dict,
                 "transfer_rule": str, "latency_tie": str, "interval": str}
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
    transfer_cell: dict
    transfer_rule: str
    latency_tie: str
    interval: str
    rationale: dict = field(default_factory=dict)
    stated: dict = field(default_factory=dict)
    source: str = str(DECISIONS_FILE)
    pending: dict = field(default_factory=dict)  # name -> {value, rationale, stated, date}: decided, not applied yet


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
    values, why, when = {}, {}, {}
    for key, kind in DECISION_KEYS.items():
        entry = block.get(key)
        if not isinstance(entry, dict) or "value" not in entry or not str(entry.get("rationale", "")).strip():
            raise DecisionsError(f"{p}: decision '{key}' needs a value and a one-line rationale")
        v = entry["value"]
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise DecisionsError(f"{p}: decision '{key}' must be a number in (0, 1), got {v!r}")
            v = float(v)
        elif not isinstance(v, kind):
            raise DecisionsError(f"{p}: decision '{key}' must be a {kind.__name__}, got {v!r}")
        if entry.get("stated") not in STATED:
            raise DecisionsError(f"{p}: decision '{key}' needs 'stated:' one of {STATED}")
        values[key], why[key], when[key] = v, str(entry["rationale"]).strip(), entry["stated"]
    cell = values["transfer_cell"]
    if set(cell) != {"features", "k", "model"}:
        raise DecisionsError(f"{p}: transfer_cell needs exactly features, k and model, got {sorted(cell)}")
    if values["latency_tie"] not in LATENCY_TIE_RULES:
        raise DecisionsError(f"{p}: latency_tie must be one of {LATENCY_TIE_RULES}")
    if values["interval"] not in INTERVALS:
        raise DecisionsError(f"{p}: interval must be one of {INTERVALS}")
    return Decisions(**values, rationale=why, stated=when, pending=pending, source=str(p.relative_to(paths.ROOT) if p.is_relative_to(paths.ROOT) else p))


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
        try:
            day = date.fromisoformat(str(entry.get("date")))
        except ValueError:
            raise DecisionsError(f"{p}: pending decision '{key}' needs 'date:' as YYYY-MM-DD, got "
                                 f"{entry.get('date')!r}") from None
        out[key] = {"value": entry["value"], "rationale": str(entry["rationale"]).strip(),
                    "stated": entry["stated"], "date": day.isoformat()}
    return out
