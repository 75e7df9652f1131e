"""Notebook 05: post-training quantization and quantization-aware training of the teacher, the full-integer
student (SM_INT8) and the deployable model (SM_DEPLOY), one split at a time.

QAT (``quantize_aware``): tfmot's default 8-bit scheme knows Dense and Activation layers but neither Conv1D nor a
BatchNormalization that follows a Conv1D (it only folds BN after Conv2D). :class:`Conv1DQuantizeConfig`
(per-tensor symmetric int8 kernel, like the authors', and a moving-average activation quantizer) and
:class:`OutputOnlyQuantizeConfig` (BN: quantize the output only) fill the gap.

:func:`quantize_split` is the notebook's per-split worker (run through :func:`lib.core.parallel.map`). TM_PTQ,
TM_PTQ_INT8 and SM_INT8 get their operating points from their out-of-fold copies converted alike
(:func:`oof_point`); TM_QAT has none (:mod:`lib.core.operating`).
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from lib.core import metrics, operating, repro, results
from lib.core.results import Outcome
from lib.device import litert
from lib.data import preprocess
from lib.train import architectures, fitting
from lib.compress import deploy, tflite

quant = tfmot.quantization.keras
LastValueQuantizer = quant.quantizers.LastValueQuantizer
MovingAverageQuantizer = quant.quantizers.MovingAverageQuantizer


class Conv1DQuantizeConfig(quant.QuantizeConfig):
    """Conv1D: int8 per-tensor symmetric kernel (LastValue), moving-average int8 activation and output."""

    def get_weights_and_quantizers(self, layer):
        return [(layer.kernel, LastValueQuantizer(num_bits=8, symmetric=True, narrow_range=False, per_axis=False))]

    def get_activations_and_quantizers(self, layer):
        return [(layer.activation, MovingAverageQuantizer(num_bits=8, symmetric=False, narrow_range=False,
                                                          per_axis=False))]

    def set_quantize_weights(self, layer, quantize_weights):
        layer.kernel = quantize_weights[0]

    def set_quantize_activations(self, layer, quantize_activations):
        layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


class OutputOnlyQuantizeConfig(quant.QuantizeConfig):
    """A layer whose output is quantized but whose weights are not (BatchNormalization after a Conv1D)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [MovingAverageQuantizer(num_bits=8, symmetric=False, narrow_range=False, per_axis=False)]

    def get_config(self):
        return {}


class AuthorsConv1DQuantizeConfig(Conv1DQuantizeConfig):
    """The authors' Conv1D config (reference section 7): as ours, plus a moving-average quantizer on the output."""

    def get_output_quantizers(self, layer):
        return [MovingAverageQuantizer(num_bits=8, symmetric=False, narrow_range=False, per_axis=False)]


SCOPE = {"Conv1DQuantizeConfig": Conv1DQuantizeConfig, "OutputOnlyQuantizeConfig": OutputOnlyQuantizeConfig,
         "AuthorsConv1DQuantizeConfig": AuthorsConv1DQuantizeConfig}


def _annotate_authors(layer):
    """The authors annotated only the two Conv1D layers; the rest of their QAT model stayed float."""
    if isinstance(layer, keras.layers.Conv1D):
        return quant.quantize_annotate_layer(layer, quantize_config=AuthorsConv1DQuantizeConfig())
    return layer


def _annotate(layer):
    L = keras.layers
    if isinstance(layer, L.Conv1D):
        return quant.quantize_annotate_layer(layer, quantize_config=Conv1DQuantizeConfig())
    if isinstance(layer, L.BatchNormalization):
        return quant.quantize_annotate_layer(layer, quantize_config=OutputOnlyQuantizeConfig())
    if isinstance(layer, (L.Dense, L.Activation, L.Dropout, L.Flatten)):
        return quant.quantize_annotate_layer(layer)
    return layer


def quantize_model(model: keras.Model, authors: bool = False) -> keras.Model:
    """A QAT copy of ``model`` (weights kept, all trainable): every layer annotated, Conv1D and BN with our
    configs; ``authors=True``: only the Conv1D layers, as the authors (748,372 parameters at 26 inputs)."""
    annotated = keras.models.clone_model(model, clone_function=_annotate_authors if authors else _annotate)
    annotated.set_weights(model.get_weights())
    annotated.trainable = True
    with quant.quantize_scope(SCOPE):
        return quant.quantize_apply(annotated)


def quantize_aware(P, prep, start: keras.Model, epochs: int, lr: float, seed: int,
                   authors: bool = False) -> fitting.Trained:
    """Quantization-aware fine-tuning of ``start`` (the trained teacher in rigorous runs)."""
    repro.seed_everything(seed)
    qat = quantize_model(start, authors=authors)
    # Class-weighted where the run asks for it. The BatchNorm statistics are not recomputed here: tfmot wraps
    # the layers with fake-quant ranges of their own; QAT starts from the teacher's recomputed statistics, and
    # its few small steps (10 epochs at lr 1e-5) barely move them.
    fitting.compiled(qat, lr, fitting.loss_for(P, prep.y_train))
    validation = (prep.X_val, fitting.onehot(prep.y_val)) if len(prep.y_val) else None
    t0 = time.perf_counter()
    hist = fitting.ready(qat).fit(prep.X_train, fitting.onehot(prep.y_train), epochs=epochs, batch_size=P.batch_size,
                   validation_data=validation, shuffle=True, verbose=0)
    return fitting.Trained(qat, {k: [float(v) for v in vs] for k, vs in hist.history.items()},
                            time.perf_counter() - t0)


def qat_from_scratch(P, prep, seed: int, epochs: int, lr: float) -> fitting.Trained:
    """The authors' QAT: a new teacher (conv1 dropout 0.1), only its Conv1D layers annotated, trained
    quantization-aware from scratch."""
    repro.seed_everything(seed)
    return quantize_aware(P, prep, architectures.build_teacher(prep.n_features, dropout1=0.1), epochs, lr, seed,
                          authors=True)


def _dynamic(model: keras.Model, rep: np.ndarray) -> bytes:
    return tflite.convert(model, "dynamic")


def _int8(model: keras.Model, rep: np.ndarray) -> bytes:
    return tflite.convert(model, "int8", rep)


def _int8_stripped(model: keras.Model, rep: np.ndarray) -> bytes:
    return tflite.strip(_int8(model, rep))


# The converted models that have an operating point: their Keras source and how they are made from it, given
# representative rows of the source's training rows. The same function converts the split's model and the
# out-of-fold copies that set its operating point (:func:`oof_point`).
CONVERSIONS = {"TM_PTQ": ("TM", _dynamic), "TM_PTQ_INT8": ("TM", _int8), "SM_INT8": ("SM", _int8_stripped)}


def quantize_split(P, ds, s, inventory: bool = False) -> Outcome:
    """Notebook 05: weight-only and full-integer PTQ of the teacher, its QAT model, and the full-integer student
    (stripped of its names, checked to give identical outputs), saved and evaluated; TM_PTQ, TM_PTQ_INT8 and
    SM_INT8 with their operating points (:func:`oof_point`; an int8 output adds ``op_int8_rule``), TM_QAT
    without one. With ``inventory`` (the first split) also each model's tensor inventory and size breakdown."""
    prep = preprocess.prepare(P, ds, s)
    rep_index = tflite.calibration_index(len(prep.X_train), P.calibration_rows, s.seed)
    rep = prep.X_train[rep_index]
    tm = fitting.load_model(P.run, "TM", s.id)
    sm = fitting.load_model(P.run, "SM", s.id)
    tm_out, sm_out = fitting.predict(tm, prep.X_test), fitting.predict(sm, prep.X_test)
    if P.qat_from == "trained":
        qat = quantize_aware(P, prep, tm, P.qat_epochs, P.qat_lr, s.seed)
    else:  # the authors: a new model, quantization-aware from scratch, validated on the test set
        qat = qat_from_scratch(P, prep, s.seed, P.qat_epochs, P.qat_lr)
    qat_out = fitting.predict(qat.model, prep.X_test)
    out = Outcome(extra={"breakdown": [], "inventories": {}})
    mq = metrics.classify(prep.y_test, qat_out)  # no operating point (lib.core.operating)
    out.rows.append(results.row(P, s, "TM_QAT", "keras", mq, params=qat.model.count_params(),
                                train_time_s=round(qat.seconds, 2)))
    sm_int8_full = _int8(sm, rep)
    sm_int8 = tflite.strip(sm_int8_full)  # = CONVERSIONS["SM_INT8"], in two steps for the check below
    same = np.array_equal(litert.LiteModel(sm_int8).predict(prep.X_test),
                          litert.LiteModel(sm_int8_full).predict(prep.X_test))
    if not same:
        raise AssertionError(f"stripping changed SM_INT8's outputs on split {s.id}")
    out.extra["strip_check"] = {"split": s.id, "before": len(sm_int8_full), "after": len(sm_int8),
                                "identical_outputs": same}
    converted = {
        "TM_PTQ": (_dynamic(tm, rep), tm_out, tm.count_params()),
        "TM_PTQ_INT8": (_int8(tm, rep), tm_out, tm.count_params()),
        "TM_QAT": (tflite.convert(qat.model, "int8", rep), qat_out, tm.count_params()),
        "SM_INT8": (sm_int8, sm_out, sm.count_params()),
    }
    line = []
    for name, (content, keras_out, n_params) in converted.items():
        tflite.save(content, P.run, name, s.id)
        point = oof_point(P, ds, s, prep, name) if name in CONVERSIONS else None
        extra = int8_rule(content, point)
        m = tflite.evaluate(content, prep.X_test, prep.y_test, keras_out, point)
        out.rows.append(results.row(P, s, name, "tflite", m, params=n_params, **extra))
        if inventory:
            out.extra["inventories"][name] = tflite.inventory(content)
            out.extra["breakdown"].append({"model": name, **tflite.size_breakdown(content)})
        line.append(f"{name} {m['accuracy']:.4f} ({len(content):,} B)")
    if not P.is_paper:  # the deployable model: raw measurements in (lib.compress.deploy), SM_INT8's operating point
        sm_int8_row = next(r for r in out.rows if r["model"] == "SM_INT8")
        content, row = deploy_split(P, ds, s, prep, sm, rep_index, sm_int8, operating.point_of(sm_int8_row))
        tflite.save(content, P.run, "SM_DEPLOY", s.id)
        out.rows.append(row)
        line.append(f"SM_DEPLOY {row['accuracy']:.4f} ({len(content):,} B)")
    if inventory:
        out.extra["breakdown"].append({"model": "SM_INT8 before stripping", **tflite.size_breakdown(sm_int8_full)})
    out.line = ", ".join(line)
    return out


def int8_rule(content: bytes, point: operating.Point | None) -> dict:
    """``{"op_int8_rule": ...}`` for a model with an operating point and an int8 output
    (:func:`lib.core.operating.int8_rule`: the threshold on the raw int8 outputs), else ``{}``."""
    output = litert.LiteModel(content).output
    if point is None or not np.issubdtype(output["dtype"], np.integer):
        return {}
    return {"op_int8_rule": operating.int8_rule(point.threshold, int(output["quantization"][1]))}


def oof_point(P, ds, s, prep, name: str, tag: str = "") -> operating.Point | None:
    """The operating point of ``name`` (a key of :data:`CONVERSIONS`) from out-of-fold predictions of the
    training rows: each out-of-fold copy of its Keras source (``TM_oof<j>`` of notebook 02, ``SM_oof<j>`` of
    notebook 03) converted exactly as ``name`` is (int8: calibrated on that copy's own training rows, as the
    split's model on the split's) and run in LiteRT on the rows it did not learn from. None in a run without a
    target sensitivity. ``tag``: the suffix of a training-seed replicate's out-of-fold copies
    (:mod:`lib.replicate.seeds`)."""
    if P.target_sensitivity is None:
        return None
    source, convert = CONVERSIONS[name]
    fold = operating.oof_fold(P, ds, s, prep.y_train)
    pred = np.zeros((len(prep.y_train), 2), np.float32)
    for j in range(int(fold.max()) + 1):
        model = fitting.load_model(P.run, f"{source}_oof{j}{tag}", s.id)
        rep = tflite.calibration_rows(prep.X_train[fold != j], P.calibration_rows, s.seed)
        pred[fold == j] = litert.LiteModel(convert(model, rep)).predict(prep.X_train[fold == j])
    return operating.fit(P, prep.y_train, pred)


def deploy_split(P, ds, s, prep, sm, rep_index, sm_int8: bytes, point: operating.Point | None):
    """SM_DEPLOY of split ``s`` (:mod:`lib.compress.deploy`): the split's fitted preprocessing as one float affine map in
    front of the full-integer SM, calibrated on the same training rows as SM_INT8 (raw), evaluated in LiteRT on
    the complete raw test rows (the model needs complete rows: BCD's incomplete ones, imputed inside the split's
    pipeline for every other model, are counted in ``rows_incomplete`` and left out), with SM_INT8's operating
    point (``point``, inherited: threshold and calibration).
    ``agreement``: the share of those rows where it decides as SM_INT8 with separate preprocessing."""
    X_raw = ds.X.to_numpy(dtype=float)
    train_raw, test_raw = X_raw[s.train], X_raw[s.test]
    complete_train = ~np.isnan(train_raw).any(axis=1)
    A, b = deploy.affine_of(prep.transform, X_raw.shape[1], train_raw[complete_train][:16])
    cal = train_raw[rep_index]
    full = deploy.convert(deploy.build(sm, A, b), cal[~np.isnan(cal).any(axis=1)])
    keep = ~np.isnan(test_raw).any(axis=1)
    content = tflite.strip(full)  # names and metadata out, as SM_INT8; checked to change no output
    X_keep = test_raw[keep].astype(np.float32)
    if not np.array_equal(litert.LiteModel(content).predict(X_keep), litert.LiteModel(full).predict(X_keep)):
        raise AssertionError(f"stripping changed SM_DEPLOY's outputs on split {s.id}")
    int8_out = litert.LiteModel(sm_int8).predict(prep.X_test[keep])
    m = tflite.evaluate(content, test_raw[keep].astype(np.float32), prep.y_test[keep], int8_out, point)
    row = results.row(P, s, "SM_DEPLOY", "tflite", m, params=sm.count_params(),
                      rows_incomplete=int((~keep).sum()),
                      max_output_difference=float(np.abs(litert.LiteModel(content).predict(
                          test_raw[keep].astype(np.float32)) - int8_out).max()))
    return content, row
