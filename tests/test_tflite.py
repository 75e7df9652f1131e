"""Pruning reaches the sparsity asked for; QAT on Conv1D builds and converts; int8 inputs round and clip;
every converted model loads in LiteRT and agrees with its Keras source; stripping keeps outputs identical."""
import numpy as np
import pytest

from lib.core import params, repro
from lib.device import litert
from lib.data import datasets, preprocess, splits
from lib.train import architectures, fitting, student_bank
from lib.compress import pruning, quantization, tflite


def test_quantize_rounds_and_clips():
    q = litert.quantize(np.array([0.26, 0.24, -0.26, 100.0, -100.0]), scale=0.5, zero_point=3)
    # 0.26/0.5+3 = 3.52 -> 4 (rounded, not truncated to 3); 100/0.5+3 = 203 -> 127 (clipped, not wrapped)
    np.testing.assert_array_equal(q, np.array([4, 3, 2, 127, -128], dtype=np.int8))
    assert q.dtype == np.int8
    authors = tflite.quantize_like_authors(np.array([0.26, 100.0]), 0.5, 3, np.int8)
    assert authors[0] == 3 and authors[1] != 127  # truncation and wrap-around


@pytest.fixture(scope="module")
def trained():
    P = params.load("wdbc-fast", teacher_epochs=15, kd_epochs=5, student_lr=1e-2)
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    prep = preprocess.prepare(P, ds, s)
    tm = fitting.train_teacher(P, prep, seed=s.seed).model
    repro.seed_everything(s.seed)
    init = architectures.build_student(prep.n_features).get_weights()
    sm = student_bank.train([student_bank.Member("SM", "hinton", 1e-2, 5, 0.1, 5.0)], init, prep.X_train, prep.y_train, s.seed,
                    P.batch_size, t_logits_train=student_bank.teacher_logits(tm, prep.X_train))["SM"].model
    return P, prep, tm, sm


@pytest.fixture(scope="module")
def compressed(trained):
    """The compressed teachers the study converts and predicts with: pruned (polynomial, 80%), QAT, and the
    authors' QAT model of the paper runs, each after one epoch."""
    P, prep, tm, _ = trained
    return {"pruned": pruning.prune(P, prep, tm, "polynomial", 0.8, epochs=1, lr=1e-4, seed=0).model,
            "QAT": quantization.quantize_aware(P, prep, tm, epochs=1, lr=1e-5, seed=0).model,
            "authors' QAT": quantization.qat_from_scratch(P, prep, seed=0, epochs=1, lr=1e-5).model}


@pytest.mark.parametrize("kind, target", [("constant", 0.5), ("polynomial", 0.8), ("polynomial", 0.9)])
def test_pruned_model_has_requested_sparsity(trained, kind, target):
    P, prep, tm, _ = trained
    t = pruning.prune(P, prep, tm, kind, target, epochs=2, lr=1e-4, seed=0)
    for layer, sp in pruning.layer_sparsity(t.model).items():
        assert sp == pytest.approx(target, abs=0.02), layer
    assert pruning.overall_sparsity(t.model) == pytest.approx(target, abs=0.01)
    assert pruning.nonzero_params(t.model) < t.model.count_params()
    assert not any("prune" in layer.name for layer in t.model.layers)  # stripped
    assert pruning.overall_sparsity(tm) == 0.0  # the teacher itself is untouched


def test_bad_schedule():
    with pytest.raises(ValueError, match="constant' or 'polynomial"):
        pruning.schedule("cubic", 0.5, 10)
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        pruning.schedule("constant", 1.5, 10)


def test_qat_conv1d_builds_and_converts(trained):
    P, prep, tm, _ = trained
    q = quantization.quantize_aware(P, prep, tm, epochs=2, lr=1e-5, seed=0)
    names = [layer.name for layer in q.model.layers]
    assert "quant_conv1" in names and "quant_bn1" in names and "quant_logits" in names
    content = tflite.convert(q.model, "int8", prep.X_train)
    lm = litert.LiteModel(content)
    assert lm.input_dtype == np.int8
    agree = np.mean(lm.predict(prep.X_test).argmax(1) == fitting.predict(q.model, prep.X_test).argmax(1))
    assert agree >= 0.98


@pytest.mark.parametrize("which, mode, min_agree", [
    ("tm", "float", 1.0), ("tm", "dynamic", 0.98), ("tm", "int8", 0.98),
    ("sm", "float", 1.0), ("sm", "int8", 0.98),
])
def test_converted_models_agree_with_keras(trained, which, mode, min_agree):
    P, prep, tm, sm = trained
    model = tm if which == "tm" else sm
    content = tflite.convert(model, mode, prep.X_train)
    lm_out = litert.LiteModel(content).predict(prep.X_test)
    k_out = fitting.predict(model, prep.X_test)
    assert np.mean(lm_out.argmax(1) == k_out.argmax(1)) >= min_agree
    if mode == "float":
        # float32 in both, but LiteRT (XNNPACK) and TensorFlow sum the 448-channel convolution in another order:
        # measured up to 1.2e-5 on a probability near 0.59 (one TensorFlow thread); a real conversion error is
        # orders of magnitude larger
        np.testing.assert_allclose(lm_out, k_out, atol=5e-5)
    m = tflite.evaluate(content, prep.X_test, prep.y_test, k_out)
    assert m["size_bytes"] == len(content) and m["agreement"] >= min_agree


def test_conversion_is_byte_identical_to_from_keras_model(trained, compressed, scratch_outputs):
    """lib.compress.tflite.keras_converter saves only the serving signature: the bytes must be exactly those of
    TFLiteConverter.from_keras_model, for each mode and each kind of model the study converts (teacher, student,
    pruned teacher, QAT teacher, the authors' QAT model of the paper runs) and for models loaded back from their
    .keras files, as notebooks 04-06 convert them. One differing byte (the metadata's model type) was the only
    difference before it was set."""
    P, prep, tm, sm = trained
    pruned, qat, authors_qat = compressed["pruned"], compressed["QAT"], compressed["authors' QAT"]
    fitting.save(tm, "bytes", "TM", "r0f0")
    fitting.save(sm, "bytes", "SM", "r0f0")
    tm_file, sm_file = fitting.load_model("bytes", "TM", "r0f0"), fitting.load_model("bytes", "SM", "r0f0")
    cases = [(tm, "dynamic"), (tm, "int8"), (sm, "float"), (sm, "int8"), (pruned, "float"), (qat, "int8"),
             (authors_qat, "int8"), (tm_file, "float"), (sm_file, "int8")]
    for i, (model, mode) in enumerate(cases):
        fast = tflite.convert(model, mode, prep.X_train[:64])
        assert fast == tflite.convert(model, mode, prep.X_train[:64], reference=True), (i, model.name, mode)


def test_int8_student_stripped_under_3000_bytes_identical_outputs(trained):
    P, prep, _, sm = trained
    full = tflite.convert(sm, "int8", prep.X_train)
    small = tflite.strip(full)
    assert len(small) <= 3000 < len(full)
    a = litert.LiteModel(full).predict(prep.X_test)
    b = litert.LiteModel(small).predict(prep.X_test)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(litert.LiteModel(small).predict(prep.X_test, batch=16), b)  # batched too
    bd = tflite.size_breakdown(small)
    assert bd["tensor_names"] == 0 and bd["metadata"] == 0
    assert "RESHAPE" not in tflite.inventory(small) and tflite.inventory(full)["RESHAPE"] == 2


def test_strip_float_teacher_identical(trained):
    P, prep, tm, _ = trained
    full = tflite.convert(tm, "float")
    small = tflite.strip(full)
    np.testing.assert_array_equal(litert.LiteModel(full).predict(prep.X_test[:20]),
                                  litert.LiteModel(small).predict(prep.X_test[:20]))


def test_int8_needs_representative_rows(trained):
    with pytest.raises(ValueError, match="representative rows"):
        tflite.convert(trained[3], "int8", None)
    with pytest.raises(ValueError, match="mode must be"):
        tflite.convert(trained[3], "int4")


def test_corrupt_tflite_is_named(tmp_path):
    p = tmp_path / "bad.tflite"
    p.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="bad.tflite: not a loadable TFLite model"):
        litert.LiteModel.from_path(p)
    with pytest.raises(FileNotFoundError):
        litert.LiteModel.from_path(tmp_path / "none.tflite")


def test_authors_qat_model_matches_reference_parameter_count():
    qat = quantization.quantize_model(architectures.build_teacher(26, dropout1=0.1), authors=True)
    assert qat.count_params() == 748_372  # the reference's QAT model (only the Conv1D layers annotated)
    assert not any(layer.name.startswith("quant_dense") for layer in qat.layers)


def test_compression_fine_tunes_a_frozen_teacher(trained):
    P, prep, tm, _ = trained  # the fixture distilled from tm, which leaves it as it was (trainable)
    assert tm.trainable
    tm.trainable = False  # a caller may have frozen it: pruning and QAT fine-tune it all the same
    try:
        q = quantization.quantize_model(tm)
        assert len(q.trainable_weights) > 10
        t = pruning.prune(P, prep, tm, "constant", 0.5, epochs=1, lr=1e-3, seed=0)
    finally:
        tm.trainable = True
    moved = [not np.array_equal(a, b) for a, b in zip(tm.get_weights(), t.model.get_weights())]
    assert sum(moved) > len(moved) // 2


def test_paper_length_pruning_uses_tfmot_default_frequency():
    s = pruning.schedule("constant", 0.5, total_steps=800)  # the paper: 50 epochs x 16 steps
    assert s.get_config()["config"] == {"target_sparsity": 0.5, "begin_step": 0, "end_step": -1, "frequency": 100}


def test_calibration_rows_random_subset_of_training_rows():
    X = np.arange(50, dtype="float32").reshape(50, 1, 1)
    a, b = tflite.calibration_rows(X, 10, seed=3), tflite.calibration_rows(X, 10, seed=3)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 10 and len(np.unique(a)) == 10 and set(a.ravel()) <= set(X.ravel())
    assert not np.array_equal(a.ravel(), np.arange(10))  # not simply the first rows
    np.testing.assert_array_equal(tflite.calibration_rows(X, None, 0), X)  # None: every training row, in order
    assert tflite.calibration_index(50, None, 0).tolist() == list(range(50))
    assert tflite.calibration_index(50, 10, 3).tolist() == sorted(tflite.calibration_index(50, 10, 3).tolist())


def test_a_converter_without_the_metadata_field_is_named(monkeypatch):
    """keras_converter sets a private field of TensorFlow's converter; a TensorFlow without it must stop with an
    error naming the pin, not write other bytes (assigning a renamed field of that plain object would not fail)."""
    import types

    import tensorflow as tf

    repro.seed_everything(0)
    student = architectures.build_student(5)
    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model",
                        classmethod(lambda cls, path: types.SimpleNamespace(_metadata=types.SimpleNamespace(
                            environment=types.SimpleNamespace()))))
    with pytest.raises(RuntimeError, match="pinned in requirements.txt"):
        tflite.convert(student, "float")


def test_the_frozen_heap_changes_no_byte_and_is_always_released(trained, monkeypatch):
    """Conversions run with the process's objects frozen (the converter's full garbage collection then skips
    them); the bytes are those of a conversion with the heap as usual, and the objects are collected as usual
    again after the block, also when it fails."""
    import contextlib
    import gc

    P, prep, tm, sm = trained
    frozen = [tflite.convert(sm, "int8", prep.X_train[:64]), tflite.convert(tm, "dynamic")]
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(tflite, "frozen_heap", contextlib.nullcontext)
    assert frozen == [tflite.convert(sm, "int8", prep.X_train[:64]), tflite.convert(tm, "dynamic")]
    monkeypatch.undo()
    with pytest.raises(ZeroDivisionError):
        with tflite.frozen_heap():
            assert gc.get_freeze_count() > 0
            1 / 0
    assert gc.get_freeze_count() == 0


def test_predict_gives_what_keras_predict_gives_bit_for_bit(trained, compressed, scratch_outputs):
    """lib.train.fitting.predict calls the model on predict's own batches instead of running Keras' predict:
    every kind of model the study predicts with gives the same outputs, bit for bit, on more rows than one batch
    (a last batch shorter than the others) and on fewer, from float64 and float32 rows."""
    P, prep, tm, sm = trained
    fitting.save(sm, "predict", "SM", "r0f0")
    models = {"TM": tm, "TM's logits": architectures.logits_model(tm), "SM": sm, **compressed,
              "SM from its file": fitting.load_model("predict", "SM", "r0f0")}
    X = np.concatenate([prep.X_train] * 5)  # more than two batches of 512
    assert len(X) > 2 * 512 and len(X) % 512 and len(X) % fitting.PREDICT_BATCH
    for name, model in models.items():
        for rows in (X.astype(np.float64), X.astype(np.float32), prep.X_test[:7]):
            for batch in (fitting.PREDICT_BATCH, 512):  # 512: the validation of early stopping
                expected = model.predict(rows, batch_size=batch, verbose=0)
                got = fitting.predict(model, rows, batch_size=batch)
                assert got.dtype == expected.dtype and np.array_equal(got, expected), (name, rows.shape, rows.dtype)
