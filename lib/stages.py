"""The per-split work of notebooks 04 and 05 (compression), one function per notebook, run through
:func:`lib.parallel.map`; notebook 02's is :func:`lib.training.teacher_split` (so that editing compression code
never re-trains the teacher) and 03's :func:`lib.distillation.students_of_split`. Each trains and evaluates one
split, saves its models under the run's outputs, and returns what the notebook tabulates plus a progress
``line``; it computes exactly what the notebook's loop computed before (same seeds, same calls, same order)."""
from __future__ import annotations

import numpy as np

from . import compress, params, preprocess, results, tflite, training


from .training import Outcome


def prune_split(P, ds, s) -> Outcome:
    """Notebook 04: every pruning variant of the split's teacher (or of a 1-epoch model, as the authors), saved,
    evaluated in Keras and as float TFLite; plus the per-layer sparsity."""
    prep = preprocess.prepare(P, ds, s)
    if P.prune_from == "trained":
        start = training.load_model(P.run, "TM", s.id)
    else:  # the authors: fit() with no epochs argument, i.e. one epoch
        start = training.train_teacher(params.load(P.run, teacher_epochs=1), prep, seed=s.seed).model
    out, line = Outcome(extra={"layers": []}), []
    for name, kind, target in P.pruning_variants():
        t = compress.prune(P, prep, start, kind, target, P.prune_epochs, P.prune_lr, s.seed, loss=P.prune_loss)
        training.save(t.model, P.run, name, s.id)
        keras_out = training.predict(t.model, prep.X_test)
        sp = compress.overall_sparsity(t.model)
        extra = dict(params=t.model.count_params(), sparsity=sp, nonzero_params=compress.nonzero_params(t.model),
                     train_time_s=round(t.seconds, 2))
        out.rows.append(results.row(P, s, name, "keras", training.evaluate(t.model, prep.X_test, prep.y_test),
                                    **extra))
        content = tflite.convert(t.model, "float")
        tflite.save(content, P.run, name, s.id)
        m = tflite.evaluate(content, prep.X_test, prep.y_test, keras_out)
        out.rows.append(results.row(P, s, name, "tflite", m, **extra))
        out.extra["layers"] += [{"split": s.id, "model": name, "layer": k, "sparsity": v}
                                for k, v in compress.layer_sparsity(t.model).items()]
        line.append(f"{name} {m['accuracy']:.4f} (sparsity {sp:.1%}, gzip {m['size_gzip_bytes'] / 1024:.0f} KiB)")
    out.line = ", ".join(line)
    return out


def quantize_split(P, ds, s, inventory: bool = False) -> Outcome:
    """Notebook 05: weight-only and full-integer PTQ of the teacher, its QAT model, and the full-integer student
    (stripped of its names, checked to give identical outputs), saved and evaluated. With ``inventory`` (the
    first split) also each model's tensor inventory and size breakdown."""
    prep = preprocess.prepare(P, ds, s)
    rep = tflite.calibration_rows(prep.X_train, P.calibration_rows, s.seed)
    tm = training.load_model(P.run, "TM", s.id)
    sm = training.load_model(P.run, "SM", s.id)
    tm_out, sm_out = training.predict(tm, prep.X_test), training.predict(sm, prep.X_test)
    if P.qat_from == "trained":
        qat = compress.quantize_aware(P, prep, tm, P.qat_epochs, P.qat_lr, s.seed)
    else:  # the authors: a new model, quantization-aware from scratch, validated on the test set
        qat = compress.qat_from_scratch(P, prep, s.seed, P.qat_epochs, P.qat_lr)
    qat_out = training.predict(qat.model, prep.X_test)
    out = Outcome(extra={"breakdown": [], "inventories": {}})
    out.rows.append(results.row(P, s, "TM_QAT", "keras", training.evaluate(qat.model, prep.X_test, prep.y_test),
                                params=qat.model.count_params(), train_time_s=round(qat.seconds, 2)))
    sm_int8_full = tflite.convert(sm, "int8", rep)
    sm_int8 = tflite.strip(sm_int8_full)
    same = np.array_equal(tflite.LiteModel(sm_int8).predict(prep.X_test),
                          tflite.LiteModel(sm_int8_full).predict(prep.X_test))
    if not same:
        raise AssertionError(f"stripping changed SM_INT8's outputs on split {s.id}")
    out.extra["strip_check"] = {"split": s.id, "before": len(sm_int8_full), "after": len(sm_int8),
                                "identical_outputs": same}
    converted = {
        "TM_PTQ": (tflite.convert(tm, "dynamic"), tm_out, tm.count_params()),
        "TM_PTQ_INT8": (tflite.convert(tm, "int8", rep), tm_out, tm.count_params()),
        "TM_QAT": (tflite.convert(qat.model, "int8", rep), qat_out, tm.count_params()),
        "SM_INT8": (sm_int8, sm_out, sm.count_params()),
    }
    line = []
    for name, (content, keras_out, n_params) in converted.items():
        tflite.save(content, P.run, name, s.id)
        m = tflite.evaluate(content, prep.X_test, prep.y_test, keras_out)
        out.rows.append(results.row(P, s, name, "tflite", m, params=n_params))
        if inventory:
            out.extra["inventories"][name] = tflite.inventory(content)
            out.extra["breakdown"].append({"model": name, **tflite.size_breakdown(content)})
        line.append(f"{name} {m['accuracy']:.4f} ({len(content):,} B)")
    if inventory:
        out.extra["breakdown"].append({"model": "SM_INT8 before stripping", **tflite.size_breakdown(sm_int8_full)})
    out.line = ", ".join(line)
    return out
