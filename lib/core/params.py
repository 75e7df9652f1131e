"""Parameter files: ``params/<run>.yaml`` -> one validated, typed :class:`Params`.

A params file holds literal settings. ``extends: <other run>`` starts from another file and overrides some keys
(the fast profile extends the full runs). Anything wrong is a :class:`ParamsError` that names the file and key:
an unknown key, a wrong type, an impossible value (PCA components > features, folds < 2, ...).

In a notebook, the papermill ``parameters`` cell holds ``run = "<name>"``; papermill (``-f params/<run>.yaml``)
injects the file's keys as variables. :func:`for_notebook` loads the file named by ``run`` and applies any injected
value that differs, so ``papermill -p teacher_epochs 3`` works too, and validates the result.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from lib.core import paths
from lib.core.results import MODELS

# The study's three datasets (each with its own loader and provenance checks) and 'table': any tabular dataset a
# user names by path, target column and positive value (lib.data.datasets.load_table; README: Use your own data).
STUDY_DATASETS = ("wdbc", "bcd", "pbcnt")
DATASETS = STUDY_DATASETS + ("table",)
# The keys that describe a 'table' dataset; the study's datasets have their schema built in.
TABLE_KEYS = ("target", "positive", "id_column", "features", "exclude", "units")
# What the two classes are called in reports and in an exported model's contract: (label 0, label 1).
LABELS = {"wdbc": ("benign", "malignant"), "bcd": ("benign", "malignant"), "pbcnt": ("normal", "tumour")}
PROTOCOLS = ("paper", "rigorous")
KD_LOSSES = ("paper", "hinton")
# Number of raw features of each dataset (for the PCA check).
N_FEATURES = {"wdbc": 30, "bcd": 9, "pbcnt": 1926}
# Environment variable that, when set, overrides ``data_path`` (README: where PBCNT lives on this machine).
DATA_ENV = {"pbcnt": "PBCNT_CSV"}


class ParamsError(ValueError):
    """A params file or value is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Params:
    """All settings of one run. Defaults are the reference study's values (see shared/reference/README.md)."""

    run: str
    dataset: str
    protocol: str
    description: str = ""
    seed: int = 42
    # --- data -------------------------------------------------------------------------------------------
    data_path: Optional[str] = None  # CSV; required for pbcnt and table, optional for wdbc/bcd (default: package copy)
    # --- a 'table' dataset (README: Use your own data; params/templates/own-data.yaml explains each) ---------
    target: Optional[str] = None  # the label column
    positive: Optional[str | int | float | bool] = None  # its value that means the positive class (label 1; YAML yes = true)
    id_column: Optional[str] = None  # sample IDs: rows of one sample stay on one side of every split
    features: list = field(default_factory=list)  # feature columns; empty: every numeric column but target and ID
    exclude: list = field(default_factory=list)  # columns never used as features (e.g. follow-up times)
    units: Optional[str] = None  # what a row's features are, for the exported model's contract
    positive_label: Optional[str] = None  # the classes' names in reports and contracts (default per dataset;
    negative_label: Optional[str] = None  # 'positive' / 'negative' for a table)
    pca_components: Optional[int] = None  # None: no PCA
    # --- splits -----------------------------------------------------------------------------------------
    folds: int = 5  # rigorous: stratified k-fold ...
    repeats: int = 3  # ... repeated this many times
    inner_val_size: float = 0.15  # rigorous: stratified validation part of each training part (selection)
    paper_seeds: int = 10  # paper: the authors' single 85/15 split, repeated over this many seeds
    test_size: float = 0.15  # paper: test fraction
    # --- training (reference: Adam, BCE on one-hot labels, batch 32) -------------------------------------
    batch_size: int = 32
    teacher_epochs: int = 50
    teacher_lr: float = 1e-4
    student_epochs: int = 50
    student_lr: float = 1e-4  # SM_scratch
    # --- distillation -----------------------------------------------------------------------------------
    kd_loss: str = "hinton"  # 'paper' or 'hinton'
    kd_lr: float = 1e-4  # paper: 1e-3 (Adam default) while SM_scratch uses 1e-4
    kd_epochs: int = 50
    kd_alpha: float = 0.1
    kd_temperature: float = 10.0
    ablation_alphas: list = field(default_factory=lambda: [0.1, 0.3, 0.5])
    ablation_temperatures: list = field(default_factory=lambda: [2.0, 3.0, 5.0, 7.0, 10.0])
    ablation_epochs: int = 20
    # --- pruning (04): "constant:0.5" is tfmot's default and the paper's setting (model TM_pruned) -------
    prune_schedules: list = field(default_factory=lambda: ["constant:0.5", "polynomial:0.8", "polynomial:0.9"])
    prune_from: str = "trained"  # 'trained': the split's teacher; 'one_epoch': a 1-epoch teacher (the authors)
    prune_loss: str = "binary_crossentropy"  # the authors fine-tuned with categorical_crossentropy
    prune_epochs: int = 20
    prune_lr: float = 1e-4
    # --- quantization (05) --------------------------------------------------------------------------------
    qat_from: str = "trained"  # 'trained': fine-tune the split's teacher; 'scratch': new model (the authors)
    qat_epochs: int = 10
    qat_lr: float = 1e-5
    calibration_rows: Optional[int] = None  # int8 representative rows from the training part; None: all
    # --- training protocol (the defaults are the authors' settings, the rigorous runs set them) --------------
    bn_recompute: bool = False  # BatchNorm moving statistics recomputed from the training rows after fitting
    bn_gap_limit: float = 0.05  # 02 flags a model whose eval-mode training accuracy is this far below fit-time
    teacher_patience: Optional[int] = None  # early stopping on the inner validation loss (best weights kept)
    class_weight: Optional[str] = None  # 'balanced': each class weighs n / (2 n_class) in every training loss
    scratch_lrs: list = field(default_factory=list)  # SM_scratch tuned on inner validation over lrs x epochs;
    scratch_epochs: list = field(default_factory=list)  # empty: the fixed (student_lr, student_epochs)
    baselines: bool = False  # LR and RF on the same splits and preprocessing, tuned on inner validation
    target_sensitivity: Optional[float] = None  # operating point: threshold for this sensitivity (None: 0.5 only)
    oof_folds: int = 5  # out-of-fold predictions of the training part that set every operating point
    training_seeds: int = 1  # rigorous: the networks re-trained with this many seeds per split (notebook 06b)

    # ------------------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        _check_types(self)
        where = f"run '{self.run}'"

        def bad(key: str, why: str) -> ParamsError:
            return ParamsError(f"{where}: '{key}' = {getattr(self, key)!r}: {why}")

        if self.dataset not in DATASETS:
            raise bad("dataset", f"must be one of {', '.join(DATASETS)}")
        if self.protocol not in PROTOCOLS:
            raise bad("protocol", f"must be one of {', '.join(PROTOCOLS)}")
        if self.kd_loss not in KD_LOSSES:
            raise bad("kd_loss", f"must be one of {', '.join(KD_LOSSES)}")
        nf = N_FEATURES.get(self.dataset)
        if self.pca_components is not None and nf is not None and not 1 <= self.pca_components <= nf:
            raise bad("pca_components", f"must be between 1 and the {nf} features of {self.dataset} (or null)")
        if self.pca_components is not None and self.pca_components < 1:
            raise bad("pca_components", "must be at least 1 (or null: no PCA)")
        self._check_table(bad)
        if self.folds < 2:
            raise bad("folds", "k-fold needs at least 2 folds")
        for key in ("repeats", "paper_seeds", "batch_size", "teacher_epochs", "student_epochs", "kd_epochs",
                    "ablation_epochs"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        for key in ("inner_val_size", "test_size"):
            if not 0.0 < getattr(self, key) < 0.5:
                raise bad(key, "must be a fraction in (0, 0.5)")
        for key in ("teacher_lr", "student_lr", "kd_lr"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise bad(key, "learning rate must be in (0, 1)")
        if not 0.0 <= self.kd_alpha <= 1.0:
            raise bad("kd_alpha", "must be in [0, 1]")
        if self.kd_temperature <= 0:
            raise bad("kd_temperature", "must be > 0")
        for key in ("ablation_alphas", "ablation_temperatures"):
            vals = getattr(self, key)
            if not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                raise bad(key, "must be a non-empty list of numbers")
        if not all(0 <= a <= 1 for a in self.ablation_alphas):
            raise bad("ablation_alphas", "each alpha must be in [0, 1]")
        if not all(t > 0 for t in self.ablation_temperatures):
            raise bad("ablation_temperatures", "each temperature must be > 0")
        for key in ("prune_epochs", "qat_epochs"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        for key in ("prune_lr", "qat_lr"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise bad(key, "learning rate must be in (0, 1)")
        if self.prune_from not in ("trained", "one_epoch"):
            raise bad("prune_from", "must be 'trained' or 'one_epoch'")
        if self.qat_from not in ("trained", "scratch"):
            raise bad("qat_from", "must be 'trained' or 'scratch'")
        if self.prune_loss not in ("binary_crossentropy", "categorical_crossentropy"):
            raise bad("prune_loss", "must be 'binary_crossentropy' or 'categorical_crossentropy'")
        if self.calibration_rows is not None and self.calibration_rows < 1:
            raise bad("calibration_rows", "must be at least 1 (or null for all training rows)")
        if not self.prune_schedules:
            raise bad("prune_schedules", "must list at least one 'kind:sparsity'")
        for item in self.prune_schedules:
            kind, _, target = str(item).partition(":")
            try:
                ok = kind in ("constant", "polynomial") and 0 < float(target) < 1
            except ValueError:
                ok = False
            if not ok:
                raise bad("prune_schedules", f"entry {item!r} is not 'constant:<s>' or 'polynomial:<s>' with "
                                             f"0 < s < 1")
        variants = self.pruning_variants()
        names = [name for name, _, _ in variants]
        known = ", ".join(m for m in MODELS if m.startswith("TM_pruned"))
        for item, (name, kind, target) in zip(self.prune_schedules, variants):
            if kind == "constant" and name != "TM_pruned":  # would be named like polynomial:<s>
                raise bad("prune_schedules", f"{item!r}: only the paper's constant:0.5 has a model name "
                                             f"(TM_pruned); TM_pruned<pct> are polynomial schedules")
            if abs(100 * target - round(100 * target)) > 1e-9:
                raise bad("prune_schedules", f"{item!r}: the sparsity must be a whole percentage (the model is "
                                             f"named {name})")
            if name not in MODELS:
                raise bad("prune_schedules", f"{item!r} -> {name} is not a model of the results contract (known: "
                                             f"{known}: constant:0.5, polynomial:0.8, polynomial:0.9); add the name "
                                             f"to lib/core/results.py MODELS and docs/results.md first")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise bad("prune_schedules", f"two entries make the same model {', '.join(repeated)}")
        if self.teacher_patience is not None:
            if self.teacher_patience < 1:
                raise bad("teacher_patience", "must be at least 1 (or null: no early stopping)")
            if self.is_paper:
                raise bad("teacher_patience", "the paper protocol's validation part is its test part: early "
                                              "stopping on it would select on test rows")
        if self.class_weight not in (None, "balanced"):
            raise bad("class_weight", "must be 'balanced' or null")
        if bool(self.scratch_lrs) != bool(self.scratch_epochs):
            raise bad("scratch_lrs", "scratch_lrs and scratch_epochs are a grid: give both or neither")
        if self.scratch_lrs and not all(isinstance(v, (int, float)) and 0 < v < 1 for v in self.scratch_lrs):
            raise bad("scratch_lrs", "each learning rate must be in (0, 1)")
        if self.scratch_epochs and not all(isinstance(v, int) and v >= 1 for v in self.scratch_epochs):
            raise bad("scratch_epochs", "each entry must be a whole number of epochs >= 1")
        if self.scratch_epochs and len(set(self.scratch_epochs)) != len(self.scratch_epochs):
            raise bad("scratch_epochs", "epochs must be distinct")
        if self.target_sensitivity is not None:
            if not 0 < self.target_sensitivity < 1:
                raise bad("target_sensitivity", "must be a fraction in (0, 1) (or null)")
            if self.is_paper:
                raise bad("target_sensitivity", "the paper protocol has no training-only rows to set a threshold "
                                                "on apart from its test part; the authors used argmax")
        if self.oof_folds < 2:
            raise bad("oof_folds", "out-of-fold predictions need at least 2 folds")
        if self.training_seeds < 1:
            raise bad("training_seeds", "must be at least 1 (1: the run's seed alone)")
        if self.training_seeds > 1 and self.is_paper:
            raise bad("training_seeds", "the paper protocol already varies the seed with its split (one seed per "
                                        "split, as the authors); replicates are for the rigorous protocol")
        if not 0 < self.bn_gap_limit < 1:
            raise bad("bn_gap_limit", "must be a fraction in (0, 1)")
        if self.dataset == "pbcnt" and not self.data_path:
            raise bad("data_path", "pbcnt is read from a CSV: give its path (README: 'Data')")

    def _check_table(self, bad) -> None:
        """The 'table' keys: required for a table, absent for the study's datasets (their schema is built in)."""
        given = [k for k in TABLE_KEYS if getattr(self, k) not in (None, [])]
        if self.dataset != "table":
            if given:
                raise bad(given[0], f"only a 'dataset: table' run names its columns; {self.dataset}'s schema is built in")
            return
        for key in ("data_path", "target", "positive"):
            if getattr(self, key) in (None, ""):
                raise bad(key, "a 'dataset: table' run needs data_path, target and positive "
                               "(params/templates/own-data.yaml explains each)")
        for key in ("features", "exclude"):
            if not all(isinstance(c, str) and c for c in getattr(self, key)):
                raise bad(key, "must be a list of column names")
        if self.target in self.features or self.target in self.exclude:
            raise bad("target", "the target column cannot also be a feature or excluded")
        if self.id_column is not None and (self.id_column == self.target or self.id_column in self.features):
            raise bad("id_column", "the sample-ID column cannot be the target or a feature")
        if self.features and self.exclude:
            raise bad("exclude", "give either features (the columns to use) or exclude (the columns to leave out)")
        if not str(self.data_path).lower().endswith((".csv", ".parquet", ".pq")):
            raise bad("data_path", "a table is read from a .csv or .parquet file")
        if self.id_column is not None and self.is_paper:
            raise bad("id_column", "the paper protocol splits rows, not samples (one sample's rows would land on both "
                                   "sides): use the rigorous protocol, or drop id_column")

    # ------------------------------------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, str]:
        """(name of class 0, name of class 1) in reports and in an exported model's contract."""
        neg, pos = LABELS.get(self.dataset, ("negative", "positive"))
        return (self.negative_label or neg, self.positive_label or pos)

    @property
    def is_paper(self) -> bool:
        return self.protocol == "paper"

    def resolved_data_path(self) -> Optional[Path]:
        """``data_path`` anchored at the repo root; the dataset's environment variable (e.g. PBCNT_CSV) wins."""
        env = DATA_ENV.get(self.dataset)
        if env and os.environ.get(env):
            return paths.resolve(os.environ[env])
        return paths.resolve(self.data_path) if self.data_path else None

    def pruning_variants(self) -> list[tuple[str, str, float]]:
        """(model name, schedule kind, target sparsity): constant 50% is 'TM_pruned', others 'TM_pruned<pct>'."""
        out = []
        for item in self.prune_schedules:
            kind, _, target = item.partition(":")
            t = float(target)
            name = "TM_pruned" if (kind, t) == ("constant", 0.5) else f"TM_pruned{round(100 * t)}"
            out.append((name, kind, t))
        return out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(Params))


def _check_types(p: Params) -> None:
    hints = typing.get_type_hints(Params)
    for f in dataclasses.fields(p):
        value = getattr(p, f.name)
        expected = hints[f.name]
        allowed = typing.get_args(expected) if typing.get_origin(expected) in (typing.Union, types.UnionType) \
            else (expected,)
        ok = False
        for t in allowed:
            t = typing.get_origin(t) or t
            if t is type(None) and value is None:
                ok = True
            elif t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                ok = True
            elif t is int and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            elif t not in (int, float, type(None)) and isinstance(value, t):
                ok = True
        if not ok:
            names = " or ".join("null" if t is type(None) else getattr(t, "__name__", str(t)) for t in allowed)
            raise ParamsError(f"run '{p.run}': '{f.name}' = {value!r} has type {type(value).__name__}, "
                              f"expected {names}")


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        known = ", ".join(sorted(q.stem for q in paths.PARAMS.glob("*.yaml")))
        raise ParamsError(f"no params file {path} (known runs: {known})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def _merge_file(run: str, seen: tuple = ()) -> dict:
    path = paths.PARAMS / f"{run}.yaml"
    if run in seen:
        raise ParamsError(f"{path}: 'extends' loops: {' -> '.join(seen + (run,))}")
    data = _read_yaml(path)
    unknown = sorted(set(data) - set(FIELDS) - {"extends"})
    if unknown:
        raise ParamsError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"known keys: {', '.join(f for f in FIELDS if f != 'run')}")
    if "run" in data:
        raise ParamsError(f"{path}: 'run' is the file's name, do not set it inside the file")
    base = data.pop("extends", None)
    merged = _merge_file(base, seen + (run,)) if base else {}
    merged.update(data)
    return merged


# Names that outputs/ uses for something else than a run (the summaries, the report, the benchmark).
RESERVED_RUNS = ("full", "fast", "summary", "report", "bench")


def from_dict(run: str, values: dict) -> Params:
    if run in RESERVED_RUNS or run.startswith("summary-") or not run or run.startswith((".", "-")):
        raise ParamsError(f"run '{run}': the name is reserved or invalid (outputs/{run}/ is not a run's folder); "
                          "rename params/<name>.yaml")
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ParamsError(f"run '{run}': unknown key(s) {', '.join(map(repr, unknown))}")
    missing = [k for k in ("dataset", "protocol") if k not in values]
    if missing:
        raise ParamsError(f"run '{run}': missing required key(s) {', '.join(missing)}")
    return Params(run=run, **{k: v for k, v in values.items() if k != "run"})


def load(run: str, **overrides: Any) -> Params:
    """Load and validate ``params/<run>.yaml`` (following ``extends``), then apply ``overrides``."""
    values = _merge_file(run)
    values.update(overrides)
    return from_dict(run, values)


def extends_chain(run: str) -> list[str]:
    """The params files a run reads: itself, then what it extends (the Makefile's dependencies)."""
    chain = [run]
    while True:
        base = _read_yaml(paths.PARAMS / f"{chain[-1]}.yaml").get("extends")
        if not base:
            return chain
        chain.append(base)


def for_notebook(namespace: dict) -> Params:
    """Params of a notebook: the file named by ``run`` in ``namespace``, plus any injected value that differs."""
    if "run" not in namespace:
        raise ParamsError("the notebook's parameters cell must define 'run' (the name of a params/<run>.yaml)")
    run = namespace["run"]
    overrides = {k: namespace[k] for k in FIELDS if k != "run" and k in namespace}
    return load(run, **overrides)


def all_runs() -> list[str]:
    return sorted(p.stem for p in paths.PARAMS.glob("*.yaml"))

