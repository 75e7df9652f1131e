"""Distillation losses by hand, the grid choice, the same seed gives the same teacher, model files."""
import numpy as np
import pytest

from lib.core import params
from lib.data import datasets, preprocess, splits
from lib.train import fitting


def softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def bce(y, p, eps=1e-7):
    p = np.clip(p, eps, 1 - eps)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def kl(p, q, eps=1e-7):
    p, q = np.clip(p, eps, 1), np.clip(q, eps, 1)
    return float(np.mean(np.sum(p * np.log(p / q), axis=1)))


Y = np.array([[1, 0], [0, 1], [0, 1]], dtype="float32")
S_LOGITS = np.array([[1.2, -0.3], [-0.5, 0.8], [0.1, 0.2]], dtype="float32")
T_LOGITS = np.array([[3.0, -2.0], [-1.0, 2.5], [-0.4, 1.9]], dtype="float32")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("alpha, T", [(0.1, 10.0), (0.5, 2.0)])
def test_paper_loss_matches_hand_computation(alpha, T):
    s, t = sigmoid(S_LOGITS), sigmoid(T_LOGITS)
    total, hard, soft = fitting.paper_kd_loss(Y, s, t, alpha, T)
    exp_hard = bce(Y, s)
    exp_soft = kl(softmax(t / T), softmax(s / T))  # softmax over sigmoid probabilities / T, no T^2
    assert float(hard) == pytest.approx(exp_hard, rel=1e-5)
    assert float(soft) == pytest.approx(exp_soft, rel=1e-4)
    assert float(total) == pytest.approx(alpha * exp_hard + (1 - alpha) * exp_soft, rel=1e-5)
    assert float(soft) < 1e-2  # the reference's observation: the paper's soft term barely acts


@pytest.mark.parametrize("alpha, T", [(0.1, 10.0), (0.3, 3.0)])
def test_hinton_loss_is_t2_kl_of_softened_logits(alpha, T):
    total, hard, soft = fitting.hinton_kd_loss(Y, S_LOGITS, T_LOGITS, alpha, T)
    exp_soft = T ** 2 * kl(softmax(T_LOGITS / T), softmax(S_LOGITS / T))
    exp_hard = bce(Y, sigmoid(S_LOGITS))
    assert float(soft) == pytest.approx(exp_soft, rel=1e-4)
    assert float(total) == pytest.approx(alpha * exp_hard + (1 - alpha) * exp_soft, rel=1e-4)


def test_unknown_kd_loss_is_rejected():
    from tests.keras_reference import Distiller
    from lib.train import architectures

    with pytest.raises(ValueError, match="kd loss must be"):
        Distiller(architectures.build_student(5), architectures.build_teacher(5), "fancy", 0.1, 2.0)


@pytest.fixture(scope="module")
def fast_prep():
    P = params.load("wdbc-fast", teacher_epochs=2, kd_epochs=2, student_epochs=2)
    ds = datasets.load(P)
    s = splits.make_splits(P, ds.y)[0]
    return P, s, preprocess.prepare(P, ds, s)


def test_same_seed_same_teacher(fast_prep):
    P, s, prep = fast_prep
    runs = []
    for _ in range(2):
        tm = fitting.train_teacher(P, prep, seed=s.seed)
        runs.append([fitting.predict(tm.model, prep.X_test), tm.history["loss"]])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_choice_is_best_accuracy_then_lowest_bce_then_first():
    grid = [{"alpha": 0.1, "accuracy": 0.9, "bce": 0.3}, {"alpha": 0.3, "accuracy": 0.95, "bce": 0.4},
            {"alpha": 0.5, "accuracy": 0.95, "bce": 0.2}, {"alpha": 0.7, "accuracy": 0.95, "bce": 0.2}]
    assert fitting.choose(grid)["alpha"] == 0.5


def test_saved_model_roundtrip_and_corrupt_file(fast_prep, scratch_outputs):
    P, s, prep = fast_prep
    tm = fitting.train_teacher(P, prep, seed=s.seed).model
    fitting.save(tm, P.run, "TM", s.id)
    back = fitting.load_model(P.run, "TM", s.id)
    np.testing.assert_allclose(fitting.predict(back, prep.X_test), fitting.predict(tm, prep.X_test), rtol=1e-6)
    fitting.model_path(P.run, "TM", "bad").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable Keras model"):
        fitting.load_model(P.run, "TM", "bad")
    with pytest.raises(FileNotFoundError, match="run the notebook that trains SM"):
        fitting.load_model(P.run, "SM", s.id)


def test_ready_traces_the_train_step_once_and_changes_no_number(fast_prep):
    """lib.train.fitting.ready: the variables of Adam and of the compiled loss/metrics exist before fit, so fit
    traces its step once (not twice); the trained weights and the history are bit-identical to a plain fit."""
    from lib.core import repro
    from lib.train import architectures

    P, s, prep = fast_prep
    out = {}
    for pre in (False, True):
        repro.seed_everything(s.seed)
        m = fitting.compiled(architectures.build_student(prep.n_features), 1e-3, fitting.loss_for(P, prep.y_train))
        if pre:
            fitting.ready(m)
        h = m.fit(prep.X_train, fitting.onehot(prep.y_train), epochs=2, batch_size=P.batch_size, shuffle=True,
                  verbose=0)
        out[pre] = (m.get_weights(), h.history["loss"], m.train_function.experimental_get_tracing_count())
    assert out[False][2] == 2 and out[True][2] == 1
    for a, b in zip(out[False][0], out[True][0]):
        np.testing.assert_array_equal(a, b)
    assert out[False][1] == out[True][1]
