"""The per-split work of notebooks 04 and 05 (compression), one function per notebook, run through
:func:`lib.parallel.map`; notebook 02's is :func:`lib.training.teacher_split` (so that editing compression code
never re-trains the teacher) and 03's :func:`lib.distillation.students_of_split`. Each trains and evaluates one
split, saves its models under the run's outputs, and returns what the notebook tabulates plus a progress
``line``; it computes exactly what the notebook's loop computed before (same seeds, same calls, same order)."""
from __future__ import annotations

import numpy as np

from . import compress, distillation, metrics, operating, params, preprocess, results, tflite, training


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
        thr = operating.choose(P, prep.y_val, training.predict(t.model, prep.X_val))  # inner validation part
        mk = metrics.classify(prep.y_test, keras_out)  # = training.evaluate, without predicting twice
        mk.update(operating.fields(prep.y_test, keras_out, thr, "val"))
        out.rows.append(results.row(P, s, name, "keras", mk, **extra))
        content = tflite.convert(t.model, "float")
        tflite.save(content, P.run, name, s.id)
        m = tflite.evaluate(content, prep.X_test, prep.y_test, keras_out, thr, "inherited")
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
    rep_index = tflite.calibration_index(len(prep.X_train), P.calibration_rows, s.seed)
    rep = prep.X_train[rep_index]
    tm = training.load_model(P.run, "TM", s.id)
    sm = training.load_model(P.run, "SM", s.id)
    tm_out, sm_out = training.predict(tm, prep.X_test), training.predict(sm, prep.X_test)
    if P.qat_from == "trained":
        qat = compress.quantize_aware(P, prep, tm, P.qat_epochs, P.qat_lr, s.seed)
    else:  # the authors: a new model, quantization-aware from scratch, validated on the test set
        qat = compress.qat_from_scratch(P, prep, s.seed, P.qat_epochs, P.qat_lr)
    qat_out = training.predict(qat.model, prep.X_test)
    out = Outcome(extra={"breakdown": [], "inventories": {}})
    mq = metrics.classify(prep.y_test, qat_out)
    mq.update(operating.fields(prep.y_test, qat_out,
                               operating.choose(P, prep.y_val, training.predict(qat.model, prep.X_val)), "val"))
    out.rows.append(results.row(P, s, "TM_QAT", "keras", mq, params=qat.model.count_params(),
                                train_time_s=round(qat.seconds, 2)))
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
        extra = {}
        if P.target_sensitivity is None:
            thr, src = None, "val"
        elif name == "SM_INT8":
            thr, src = sm_int8_oof_threshold(P, ds, s, prep), "oof"
            zp = int(tflite.LiteModel(content).output["quantization"][1])
            extra = {"op_int8_rule": operating.int8_rule(thr, zp)}
        else:  # the teacher's compressed variants: their own outputs on the inner validation part
            thr, src = operating.choose(P, prep.y_val, tflite.LiteModel(content).predict(prep.X_val)), "val"
        m = tflite.evaluate(content, prep.X_test, prep.y_test, keras_out, thr, src)
        out.rows.append(results.row(P, s, name, "tflite", m, params=n_params, **extra))
        if inventory:
            out.extra["inventories"][name] = tflite.inventory(content)
            out.extra["breakdown"].append({"model": name, **tflite.size_breakdown(content)})
        line.append(f"{name} {m['accuracy']:.4f} ({len(content):,} B)")
    if not P.is_paper:  # the deployable model: raw measurements in (lib.deploy), SM_INT8's threshold
        sm_int8_row = next(r for r in out.rows if r["model"] == "SM_INT8")
        content, row = deploy_split(P, ds, s, prep, sm, rep_index, sm_int8, sm_int8_row.get("op_threshold"))
        tflite.save(content, P.run, "SM_DEPLOY", s.id)
        out.rows.append(row)
        line.append(f"SM_DEPLOY {row['accuracy']:.4f} ({len(content):,} B)")
    if inventory:
        out.extra["breakdown"].append({"model": "SM_INT8 before stripping", **tflite.size_breakdown(sm_int8_full)})
    out.line = ", ".join(line)
    return out


def sm_int8_oof_threshold(P, ds, s, prep) -> float:
    """SM_INT8's threshold from out-of-fold predictions of the training rows: each out-of-fold SM of notebook 03
    (``SM_oof<j>``) converted to full integer exactly as SM_INT8 (calibrated on its own training rows) and run
    in LiteRT on the rows it did not learn from."""
    fold = distillation.oof_fold(P, ds, s, prep.y_train)
    pred = np.zeros((len(prep.y_train), 2), np.float32)
    for j in range(int(fold.max()) + 1):
        model = training.load_model(P.run, f"SM_oof{j}", s.id)
        rep = tflite.calibration_rows(prep.X_train[fold != j], P.calibration_rows, s.seed)
        content = tflite.strip(tflite.convert(model, "int8", rep))
        pred[fold == j] = tflite.LiteModel(content).predict(prep.X_train[fold == j])
    return operating.choose(P, prep.y_train, pred)


def deploy_split(P, ds, s, prep, sm, rep_index, sm_int8: bytes, threshold):
    """SM_DEPLOY of split ``s`` (:mod:`lib.deploy`): the split's fitted preprocessing as one float affine map in
    front of the full-integer SM, calibrated on the same training rows as SM_INT8 (raw), evaluated in LiteRT on
    the complete raw test rows (the model needs complete rows: BCD's incomplete ones, imputed inside the split's
    pipeline for every other model, are counted in ``rows_incomplete`` and left out), with SM_INT8's threshold.
    ``agreement``: the share of those rows where it decides as SM_INT8 with separate preprocessing."""
    from . import deploy

    X_raw = ds.X.to_numpy(dtype=float)
    train_raw, test_raw = X_raw[s.train], X_raw[s.test]
    complete_train = ~np.isnan(train_raw).any(axis=1)
    A, b = deploy.affine_of(prep.transform, X_raw.shape[1], train_raw[complete_train][:16])
    cal = train_raw[rep_index]
    full = deploy.convert(deploy.build(sm, A, b), cal[~np.isnan(cal).any(axis=1)])
    keep = ~np.isnan(test_raw).any(axis=1)
    content = tflite.strip(full)  # names and metadata out, as SM_INT8; checked to change no output
    X_keep = test_raw[keep].astype(np.float32)
    if not np.array_equal(tflite.LiteModel(content).predict(X_keep), tflite.LiteModel(full).predict(X_keep)):
        raise AssertionError(f"stripping changed SM_DEPLOY's outputs on split {s.id}")
    int8_out = tflite.LiteModel(sm_int8).predict(prep.X_test[keep])
    m = tflite.evaluate(content, test_raw[keep].astype(np.float32), prep.y_test[keep], int8_out, threshold,
                        "inherited")
    row = results.row(P, s, "SM_DEPLOY", "tflite", m, params=sm.count_params(),
                      rows_incomplete=int((~keep).sum()),
                      max_output_difference=float(np.abs(tflite.LiteModel(content).predict(
                          test_raw[keep].astype(np.float32)) - int8_out).max()))
    return content, row
