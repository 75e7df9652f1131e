"""Cross-dataset transfer runs' params: a ``transfer:`` block beside the ordinary :class:`lib.core.params.Params`.

A transfer params file (e.g. ``params/wdbc-to-bcd.yaml``) holds ordinary Params keys (the source dataset and the
training settings, validated by ``Params`` itself) plus one ``transfer:`` mapping::

    transfer:
      target: bcd             # only WDBC -> BCD is implemented
      seeds: 10               # seeds seed .. seed+9: each its own stratified WDBC split and initial weights
      holdout_size: 0.4       # the authors' train_test_split(test_size=0.4): 341 / 228 rows
      k_values: [3, 4, 5, 6, 7, 8, 9]
      features: [authors, signed]
      sign_convention: v      # the PCA solver's arbitrary sign: 'v' scikit-learn >= 1.5, 'u' < 1.5

``extends:`` works as for ordinary runs; the nested ``transfer`` block merges key by key over the parent's.
:func:`load` and :func:`for_notebook` give a :class:`TransferParams` (``.params`` is the ordinary Params the
training functions take); :func:`lib.analysis.runs.load_any` loads either kind of run.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from lib.core import params, paths
from lib.core.params import Params, ParamsError
from lib.transfer import alignment

SOURCES = ("wdbc",)  # only WDBC -> BCD is implemented
TARGETS = ("bcd",)
FEATURES = ("authors", "signed")
SIGN_CONVENTIONS = ("u", "v")
MIN_K = 3  # the reference CNNs need >= 3 inputs: two valid Conv1D kernels of 2
MAX_K = {"bcd": 9}  # BCD has 9 features
TRANSFER_DEFAULTS = {"seeds": 10, "holdout_size": alignment.AUTHORS_TEST_SIZE,
                     "k_values": list(alignment.AUTHORS_K_RANGE), "features": list(FEATURES),
                     "sign_convention": "v"}
TRANSFER_KEYS = ("target", *TRANSFER_DEFAULTS)

@dataclass(frozen=True)
class TransferParams:
    """A transfer run: the ordinary :class:`Params` (source dataset, training settings) and the transfer keys."""

    params: Params
    target: str
    seeds: int = TRANSFER_DEFAULTS["seeds"]
    holdout_size: float = TRANSFER_DEFAULTS["holdout_size"]
    k_values: tuple = tuple(TRANSFER_DEFAULTS["k_values"])
    features: tuple = tuple(TRANSFER_DEFAULTS["features"])
    sign_convention: str = TRANSFER_DEFAULTS["sign_convention"]

    @property
    def run(self) -> str:
        return self.params.run

    @property
    def source(self) -> str:
        return self.params.dataset

    @property
    def seed_list(self) -> list[int]:
        return [self.params.seed + i for i in range(self.seeds)]

    def transfer_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in ((k, getattr(self, k)) for k in TRANSFER_KEYS)}

    def to_dict(self) -> dict:
        return {**self.params.to_dict(), "transfer": self.transfer_dict()}


def _file(run: str) -> Path:
    return paths.PARAMS / f"{run}.yaml"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _merge_file(run: str, seen: tuple = ()) -> tuple[dict, dict | None]:
    """(ordinary keys, transfer block or None) of ``params/<run>.yaml`` after following ``extends``; the transfer
    block merges key by key over the parent's."""
    path = _file(run)
    if run in seen:
        raise ParamsError(f"{path}: 'extends' loops: {' -> '.join(seen + (run,))}")
    data = params._read_yaml(path)
    if "run" in data:
        raise ParamsError(f"{path}: 'run' is the file's name, do not set it inside the file")
    block = data.pop("transfer", None)
    if block is not None and not isinstance(block, dict):
        raise ParamsError(f"{path}: 'transfer' = {block!r}: must be a mapping of the transfer keys "
                          f"({', '.join(TRANSFER_KEYS)})")
    unknown = sorted(set(data) - set(params.FIELDS) - {"extends"})
    if unknown:
        raise ParamsError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"known keys: {', '.join(f for f in params.FIELDS if f != 'run')}, transfer")
    _check_block_keys(block or {}, str(path))
    base = data.pop("extends", None)
    merged, merged_block = _merge_file(base, seen + (run,)) if base else ({}, None)
    merged.update(data)
    if block is not None:
        merged_block = {**(merged_block or {}), **block}
    return merged, merged_block


def _check_block_keys(block: dict, where: str) -> None:
    unknown = sorted(set(block) - set(TRANSFER_KEYS))
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {', '.join(repr(f'transfer.{k}') for k in unknown)}; "
                          f"known transfer keys: {', '.join(TRANSFER_KEYS)}")


def is_transfer(run: str) -> bool:
    """Does ``params/<run>.yaml`` (or a file it extends) hold a ``transfer:`` block?"""
    return _merge_file(run)[1] is not None


def from_values(run: str, values: dict, block: dict, where: str | None = None) -> TransferParams:
    """Validate ordinary keys (through :class:`Params`) and the transfer block into a :class:`TransferParams`."""
    where = where or str(_file(run))
    _check_block_keys(block, where)
    P = params.from_dict(run, values)  # every ordinary key validated as in any run

    def bad(key: str, value, why: str) -> ParamsError:
        return ParamsError(f"{where}: '{key}' = {value!r}: {why}")

    if P.dataset not in SOURCES:
        raise bad("dataset", P.dataset, f"the source of a transfer run must be one of {', '.join(SOURCES)} "
                                        f"(only WDBC -> BCD is implemented)")
    if P.pca_components is not None:
        raise bad("pca_components", P.pca_components, "a transfer run sets its PCA sizes in 'transfer.k_values'; "
                                                      "leave pca_components out")
    if "target" not in block:
        raise ParamsError(f"{where}: missing key 'transfer.target' (one of {', '.join(TARGETS)})")
    b = {**TRANSFER_DEFAULTS, **block}
    target = b["target"]
    if not isinstance(target, str):
        raise bad("transfer.target", target, f"must be one of {', '.join(TARGETS)}")
    if target == P.dataset:
        raise bad("transfer.target", target, f"the target must differ from the source dataset '{P.dataset}'")
    if target not in TARGETS:
        raise bad("transfer.target", target, f"must be one of {', '.join(TARGETS)} (only WDBC -> BCD is "
                                             f"implemented)")
    if not _is_int(b["seeds"]) or b["seeds"] < 1:
        raise bad("transfer.seeds", b["seeds"], "must be an integer >= 1 (seeds seed .. seed + seeds - 1)")
    if not _is_number(b["holdout_size"]) or not 0.0 < b["holdout_size"] <= 0.5:
        raise bad("transfer.holdout_size", b["holdout_size"], "must be a fraction in (0, 0.5]")
    ks = b["k_values"]
    if not isinstance(ks, list) or not ks or not all(_is_int(k) for k in ks):
        raise bad("transfer.k_values", ks, "must be a non-empty list of integers")
    if len(set(ks)) != len(ks):
        raise bad("transfer.k_values", ks, "lists a PCA size twice")
    if min(ks) < MIN_K:
        raise bad("transfer.k_values", ks, f"k = {min(ks)} < {MIN_K}: the reference CNNs need >= {MIN_K} "
                                           f"inputs: two valid Conv1D kernels of 2")
    if max(ks) > MAX_K[target]:
        raise bad("transfer.k_values", ks, f"k = {max(ks)} > {MAX_K[target]}: {target.upper()} has "
                                           f"{MAX_K[target]} features")
    feats = b["features"]
    if not isinstance(feats, list) or not feats or not all(isinstance(f, str) for f in feats) \
            or not set(feats) <= set(FEATURES):
        raise bad("transfer.features", feats, f"must be a non-empty list drawn from {', '.join(FEATURES)}")
    if len(set(feats)) != len(feats):
        raise bad("transfer.features", feats, "lists a feature method twice")
    if b["sign_convention"] not in SIGN_CONVENTIONS:
        raise bad("transfer.sign_convention", b["sign_convention"],
                  "must be 'v' (scikit-learn >= 1.5: largest-|loading| positive) or 'u' (< 1.5: largest-|score| "
                  "row positive)")
    return TransferParams(P, target=target, seeds=b["seeds"], holdout_size=float(b["holdout_size"]),
                          k_values=tuple(sorted(ks)), features=tuple(feats), sign_convention=b["sign_convention"])


def load(run: str, **overrides: Any) -> TransferParams:
    """Load and validate a transfer run (following ``extends``); ``overrides`` may hold ordinary keys and a
    ``transfer`` mapping, which merges key by key over the file's block."""
    values, block = _merge_file(run)
    if block is None:
        raise ParamsError(f"{_file(run)}: run '{run}' is not a transfer run (no 'transfer:' block); "
                          f"transfer runs: {', '.join(r for r in params.all_runs() if is_transfer(r)) or 'none'}")
    extra = overrides.pop("transfer", None)
    if extra is not None:
        if not isinstance(extra, dict):
            raise ParamsError(f"run '{run}': injected 'transfer' = {extra!r} must be a mapping")
        block = {**block, **extra}
    values.update(overrides)
    return from_values(run, values, block)


def for_notebook(namespace: dict) -> TransferParams:
    """Params of notebook 03b: the file named by ``run``, plus injected values (papermill ``-f`` injects the
    file's own keys, including its partial ``transfer`` block; ``-p seed 7`` works too). A module found under the
    name ``transfer`` (``import lib.transfer`` in a notebook) is not a block and is ignored."""
    if "run" not in namespace:
        raise ParamsError("the notebook's parameters cell must define 'run' (the name of a params/<run>.yaml)")
    overrides = {k: namespace[k] for k in params.FIELDS if k != "run" and k in namespace}
    injected = namespace.get("transfer")
    if injected is not None and not isinstance(injected, types.ModuleType):
        overrides["transfer"] = injected
    return load(namespace["run"], **overrides)
