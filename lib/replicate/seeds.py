"""Notebook 06b: the networks of one split re-trained with another training seed, the split unchanged.

A rigorous run trains each network of a split with one seed (the split's, :class:`lib.data.splits.Split`), so
the spread over splits mixes the data's variation with the seed's. With ``training_seeds`` S > 1, replicate
r = 1 .. S-1 of split ``s`` trains, with seed ``s.seed + SEED_STRIDE * r`` (replicate 0 is notebooks 02-06,
the split's own seed):

- **TM**: :func:`lib.train.teacher.teacher_split` with that seed, without its out-of-fold teachers: five more
  teachers per split and seed would cost more than the rest of the study, so a replicate teacher has no
  operating point (nor have TM_PTQ and TM_PTQ_INT8, which are not replicated);
- **SM_scratch, SM, SM_paperloss**: :func:`lib.train.distillation.students_of_split` from that teacher, with
  their own grids, selections on the inner validation part and out-of-fold copies (operating points);
- **SM_INT8**: SM converted as notebook 05 does (:data:`lib.compress.quantization.CONVERSIONS`), its operating
  point from its own out-of-fold students (:func:`lib.compress.quantization.oof_point`);
- the float TFLite form of each network, as notebook 06 converts it (its Keras source's operating point).

Everything else of the split is the same for every replicate: rows, preprocessing, inner validation part,
out-of-fold parts, int8 calibration rows. The baselines (LR, RF) and the pruned and QAT teachers are not
replicated (the baselines' fit does not depend on the networks' seed; pruning and QAT start from replicate 0's
teacher). Models are saved with the suffix ``@<r>`` (``TM@1``, ``SM_oof0@1``, ...) beside replicate 0's.
Rows carry ``replicate`` and ``training_seed`` and go to ``outputs/<run>/replicates.csv``; the test scores of
the TFLite forms to ``predictions_06b.csv``.
"""
from __future__ import annotations

import pandas as pd

from lib.compress import quantization, tflite
from lib.core import metrics, paths, results
from lib.core.formatting import write_csv
from lib.core.operating import point_of
from lib.core.results import Outcome
from lib.data import preprocess
from lib.device import litert
from lib.replicate.stability import MODELS  # the models a replicate re-trains
from lib.train import distillation, fitting, teacher

SEED_STRIDE = 1000  # replicate r of a split trains with the split's seed + 1000 r (split seeds are seed + k)
FILE = "replicates.csv"
KEYS = results.KEY_COLUMNS + ["replicate"]
PREDICTIONS_STAGE = "06b"


def training_seed(split, replicate: int) -> int:
    """The seed replicate ``replicate`` of ``split`` trains with (replicate 0: the split's own)."""
    return int(split.seed) + SEED_STRIDE * int(replicate)


def tag(replicate: int) -> str:
    """The suffix of a replicate's saved models (none for replicate 0)."""
    return "" if replicate == 0 else f"@{replicate}"


def replicate_split(P, ds, s, replicate: int) -> Outcome:
    """Replicate ``replicate`` (>= 1) of split ``s``: TM, SM_scratch, SM, SM_paperloss (Keras and float TFLite) and
    SM_INT8 trained, converted and evaluated as notebooks 02-06 do, with :func:`training_seed`. ``extra``:
    ``predictions`` (the TFLite forms' test scores) and ``chosen`` (the split's selected cells)."""
    if replicate < 1:
        raise ValueError("replicate 0 is the run itself (notebooks 02-06); replicates start at 1")
    seed, t = training_seed(s, replicate), tag(replicate)
    tm = teacher.teacher_split(P, ds, s, seed=seed, tag=t, oof=False)
    students = distillation.students_of_split(P, ds, s, "val", seed=seed, tag=t)
    prep = preprocess.prepare(P, ds, s)
    rows, scores = tm.rows + students.rows, {}
    for row in list(rows):  # float TFLite forms, as notebook 06: each keeps its Keras source's operating point
        model = fitting.load_model(P.run, row["model"] + t, s.id)
        content = tflite.convert(model, "float")
        m = tflite.evaluate(content, prep.X_test, prep.y_test, fitting.predict(model, prep.X_test), point_of(row))
        rows.append(results.row(P, s, row["model"], "tflite", m, params=model.count_params()))
        scores[row["model"]] = litert.LiteModel(content).predict(prep.X_test)
    sm = fitting.load_model(P.run, "SM" + t, s.id)  # SM_INT8, as notebook 05
    rep = prep.X_train[tflite.calibration_index(len(prep.X_train), P.calibration_rows, s.seed)]
    source, convert = quantization.CONVERSIONS["SM_INT8"]
    content = convert(sm, rep)
    point = quantization.oof_point(P, ds, s, prep, "SM_INT8", t)
    m = tflite.evaluate(content, prep.X_test, prep.y_test, fitting.predict(sm, prep.X_test), point)
    rows.append(results.row(P, s, "SM_INT8", "tflite", m, params=sm.count_params(),
                            **quantization.int8_rule(content, point)))
    scores["SM_INT8"] = litert.LiteModel(content).predict(prep.X_test)
    for row in rows:
        row.update(replicate=replicate, training_seed=seed)
    pred = pd.concat([results.prediction_rows(P.run, s, prep.y_test, name, metrics.malignancy_score(out))
                      .assign(replicate=replicate, training_seed=seed) for name, out in scores.items()],
                     ignore_index=True)
    acc = {r["model"]: r["accuracy"] for r in rows if r["format"] == "tflite"}
    line = (f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in acc.items())
            + f"; alpha {students.chosen['alpha']}, T {students.chosen['temperature']}")
    return Outcome(rows, {"predictions": pred, "chosen": {**students.chosen, "replicate": replicate,
                                                          "training_seed": seed}}, line)


def write(run: str, rows: list[dict]) -> None:
    """``outputs/<run>/replicates.csv``: the replicates' results rows (the results contract plus ``replicate``
    and ``training_seed``), validated; written with its header alone for a run with one training seed."""
    cols = results.COLUMNS + ["replicate", "training_seed"]
    df = pd.DataFrame(rows, columns=None if rows else cols)
    write_csv(results.validate(df, FILE, KEYS), paths.run_dir(run) / FILE)


def load(run: str) -> pd.DataFrame | None:
    """``outputs/<run>/replicates.csv`` checked against the results contract (:data:`KEYS`), or None when the
    run has no replicate (no file, or a header alone)."""
    path = paths.run_dir(run) / FILE
    if not path.exists():
        return None
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise results.ContractError(f"{path}: unreadable CSV: {e}") from e
    for c in ("replicate", "training_seed"):
        if c not in df:
            raise results.ContractError(f"{path}: missing column {c!r}")
    return None if df.empty else results.validate(df, str(path), KEYS)
