"""Train / validation / test splits, computed once per run and saved to ``outputs/<run>/splits.json``.

- ``rigorous``: repeated stratified k-fold (``folds`` x ``repeats``, ``seed``). Each fold's training part is split
  again, stratified, into ``train`` (fitting) and ``val`` (``inner_val_size``: learning curves and every
  selection, e.g. the KD ablation). ``test`` is touched once, for the final metrics.
  Where a dataset has sample IDs (BCD: 46 samples occur on 2-6 rows), both levels are grouped: scikit-learn's
  StratifiedGroupKFold (shuffled, one seed per repeat) for the folds and for the inner validation part, so no
  sample is on two sides of any split (``tests/test_splits_preprocess.py``).
- ``paper``: the authors' single stratified 85/15 split (``test_size``), repeated over ``paper_seeds`` seeds
  (seed, seed+1, ...). As in their code, the validation set *is* the test set.

Every notebook of a run reads the same file, so all models of a fold see the same rows.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedGroupKFold, train_test_split

from lib.core import paths
from lib.core.formatting import write_text

SPLIT_KEYS = ("protocol", "seed", "folds", "repeats", "inner_val_size", "paper_seeds", "test_size")


@dataclass(frozen=True)
class Split:
    id: str  # 'r0f0' (rigorous: repeat, fold) or 's42' (paper: seed)
    repeat: int
    fold: int
    seed: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def to_json(self) -> dict:
        return {"id": self.id, "repeat": self.repeat, "fold": self.fold, "seed": self.seed,
                "train": self.train.tolist(), "val": self.val.tolist(), "test": self.test.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "Split":
        return cls(d["id"], d["repeat"], d["fold"], d["seed"],
                   *(np.asarray(d[k], dtype=int) for k in ("train", "val", "test")))


def _labels_hash(y: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(y, dtype=np.int64).tobytes()).hexdigest()[:16]


def _grouped_val(part: np.ndarray, y: np.ndarray, groups: np.ndarray, size: float, seed: int):
    """(fit, val) of a training part with whole groups on each side: the first fold of a stratified group k-fold
    with k = round(1 / size)."""
    k = max(2, int(round(1 / size)))
    fit, val = next(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(part, y[part],
                                                                                                 groups[part]))
    return part[fit], part[val]


def make_splits(params, y: np.ndarray, groups: np.ndarray | None = None) -> list[Split]:
    """Compute the splits of a run (pure function of the params' split keys, the labels and the sample IDs).
    ``groups`` (one ID per row) keeps every sample's rows on one side of every rigorous split."""
    y = np.asarray(y)
    idx = np.arange(len(y))
    out: list[Split] = []
    if params.is_paper:
        for i in range(params.paper_seeds):
            seed = params.seed + i
            train, test = train_test_split(idx, test_size=params.test_size, stratify=y, random_state=seed)
            train, test = np.sort(train), np.sort(test)
            out.append(Split(f"s{seed}", 0, i, seed, train, test.copy(), test))  # val = test, as the authors
        return out
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(y):
            raise ValueError(f"{len(groups)} sample IDs for {len(y)} rows")
        for repeat in range(params.repeats):
            sgkf = StratifiedGroupKFold(n_splits=params.folds, shuffle=True, random_state=params.seed + repeat)
            for fold, (train_part, test) in enumerate(sgkf.split(idx, y, groups)):
                seed = params.seed + repeat * params.folds + fold
                fit, val = _grouped_val(train_part, y, groups, params.inner_val_size, seed)
                out.append(Split(f"r{repeat}f{fold}", repeat, fold, seed, np.sort(fit), np.sort(val), np.sort(test)))
        return out
    rskf = RepeatedStratifiedKFold(n_splits=params.folds, n_repeats=params.repeats, random_state=params.seed)
    for k, (train_part, test) in enumerate(rskf.split(idx, y)):
        repeat, fold = divmod(k, params.folds)
        seed = params.seed + k
        fit, val = train_test_split(train_part, test_size=params.inner_val_size, stratify=y[train_part],
                                    random_state=seed)
        out.append(Split(f"r{repeat}f{fold}", repeat, fold, seed, np.sort(fit), np.sort(val), np.sort(test)))
    return out


def _header(params, y, groups) -> dict:
    out = {"run": params.run, "dataset": params.dataset, "n": int(len(y)), "labels_sha": _labels_hash(y),
           **{k: getattr(params, k) for k in SPLIT_KEYS}}
    if groups is not None and not params.is_paper:
        out["groups_sha"] = hashlib.sha256("\n".join(map(str, groups)).encode()).hexdigest()[:16]
    return out


def ensure(params, y: np.ndarray, groups: np.ndarray | None = None) -> list[Split]:
    """The run's splits: read ``splits.json`` if it matches these params, labels and sample IDs, else compute
    and save it. Pass the dataset's ``groups`` (``ds.groups``; None where rows are independent samples)."""
    path = paths.run_dir(params.run) / "splits.json"
    header = _header(params, y, groups)
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is corrupt ({e}); delete it to recompute the splits") from e
        if saved.get("header") == header:
            return [Split.from_json(d) for d in saved["splits"]]
    splits = make_splits(params, y, None if params.is_paper else groups)
    write_text(json.dumps({"header": header, "splits": [s.to_json() for s in splits]}), path)
    return splits


def summary(splits: list[Split], y: np.ndarray):
    """One row per split: sizes and positive rate of each part (for display)."""
    rows = []
    for s in splits:
        row = {"split": s.id, "repeat": s.repeat, "fold": s.fold, "seed": s.seed}
        for part in ("train", "val", "test"):
            ix = getattr(s, part)
            row[f"n_{part}"] = len(ix)
            row[f"pos_{part}"] = round(float(np.mean(y[ix])), 3) if len(ix) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
