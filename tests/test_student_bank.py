"""lib.train.student_bank: a member of a bank trains exactly as the Keras student (or the Keras Distiller of tests/keras_reference.py) trained alone on
the same batches, members do not interact, epochs and snapshots freeze and keep the right weights, the graph is
traced once per shape, and the same seed gives the same numbers. Dropout is off where a step-for-step
comparison needs the same masks (the bank draws its own, keyed by seed and step)."""
import numpy as np
import pytest
import tf_keras as keras

from lib.core import repro
from lib.train import architectures, fitting, student_bank
from tests.keras_reference import Distiller, close as _close

N, F, BATCH, SEED = 70, 9, 16, 7  # 70 rows: four full batches and a remainder of 6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, F)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(N) > 0).astype(int)
    repro.seed_everything(3)
    teacher = architectures.build_teacher(F)
    return X, y, teacher, student_bank.teacher_logits(teacher, X)


def _init(seed=SEED, dropout=0.0):
    repro.seed_everything(seed)
    return architectures.build_student(F, dropout=dropout).get_weights()


def _orders(epochs, seed=SEED):
    rng = np.random.default_rng(seed)
    return [rng.permutation(N) for _ in range(epochs)]


def _keras_alone(model, X, y, epochs):
    """``model`` (compiled) trained with train_on_batch on the bank's batches, in the bank's order; returns the
    per-batch metrics of each epoch."""
    Y = fitting.onehot(y)
    out = []
    for order in _orders(epochs):
        out.append([])
        for b0 in range(0, N, BATCH):
            idx = order[b0:b0 + BATCH]
            out[-1].append((len(idx), model.train_on_batch(X[idx][..., None], Y[idx], return_dict=True)))
    return out


def test_bce_member_equals_the_keras_student(data):
    X, y, _, _ = data
    w0 = _init()
    student = architectures.build_student(F, dropout=0.0)
    student.set_weights(w0)
    student.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
    batches = _keras_alone(student, X, y, epochs=3)
    out = student_bank.train([student_bank.Member("s", "bce", lr=1e-2, epochs=3)], w0, X, y, SEED, BATCH, dropout=0.0)
    # a compiled model's epoch loss is a mean over rows (batches weighted by size)
    epoch_loss = [sum(n * m["loss"] for n, m in e) / N for e in batches]
    np.testing.assert_allclose(out["s"].history["loss"], epoch_loss, rtol=1e-4)
    assert len(out["s"].model.get_weights()) == len(student.get_weights()) == 14
    _close(out["s"].model.get_weights(), student.get_weights(), X=X)
    assert len(out["s"].history["loss"]) == 3 and "distillation_loss" not in out["s"].history


@pytest.mark.parametrize("loss, alpha, T", [("hinton", 0.3, 5.0), ("paper", 0.1, 10.0)])
def test_kd_member_equals_the_distiller(data, loss, alpha, T):
    X, y, teacher, tl = data
    w0 = _init()
    student = architectures.build_student(F, dropout=0.0)
    student.set_weights(w0)
    d = Distiller(student, teacher, loss, alpha, T)
    d.compile(optimizer=keras.optimizers.Adam(1e-2))
    batches = _keras_alone(d, X, y, epochs=2)
    out = student_bank.train([student_bank.Member("kd", loss, lr=1e-2, epochs=2, alpha=alpha, temperature=T)], w0, X, y, SEED,
                     BATCH, t_logits_train=tl, dropout=0.0)
    # the Distiller's loss trackers are means over batches
    for key in ("loss", "distillation_loss"):
        np.testing.assert_allclose(out["kd"].history[key], [np.mean([m[key] for _, m in e]) for e in batches],
                                   rtol=1e-4, atol=1e-9)
    _close(out["kd"].model.get_weights(), student.get_weights(), X=X)
    assert len(out["kd"].history["distillation_loss"]) == 2


def test_members_do_not_interact_and_freeze_after_their_epochs(data):
    X, y, _, tl = data
    w0 = _init()
    members = [student_bank.Member("a", "bce", lr=1e-2, epochs=4, snapshots=(2,)),
               student_bank.Member("b", "hinton", lr=3e-3, epochs=2, alpha=0.5, temperature=2.0),
               student_bank.Member("c", "paper", lr=1e-2, epochs=3, alpha=0.1, temperature=10.0)]
    together = student_bank.train(members, w0, X, y, SEED, BATCH, t_logits_train=tl, dropout=0.0)
    for m in members:
        alone = student_bank.train([m], w0, X, y, SEED, BATCH, t_logits_train=tl, dropout=0.0)
        _close(together[m.name].model.get_weights(), alone[m.name].model.get_weights(), rtol=1e-5, atol=1e-6)
        assert len(together[m.name].history["loss"]) == m.epochs
    # the snapshot after epoch 2 is the member trained for 2 epochs
    two = student_bank.train([student_bank.Member("a", "bce", lr=1e-2, epochs=2)], w0, X, y, SEED, BATCH, dropout=0.0)
    _close(together["a"].snapshots[2], two["a"].model.get_weights(), rtol=1e-5, atol=1e-6)


class _BothLossesPerMember(student_bank._Graph):
    """The bank's step with both KD losses computed for every member, one picked with tf.where: the reference that
    the step computing each member's own loss only must equal. The kinds are a variable here, so that
    TensorFlow's graph optimiser cannot fold the tf.where away (with a constant it would, and the reference
    would become the bank's own step)."""

    def __init__(self, losses, n_features, dropout):
        import tensorflow as tf

        super().__init__(losses, n_features, dropout)
        self.kind = tf.Variable([float(student_bank.LOSSES.index(loss)) for loss in self.losses], trainable=False)

    def _losses(self, y, logits, t_logits, alpha, temperature, w):
        import tensorflow as tf

        kind = self.kind.read_value()
        totals, softs = [], []
        for k in range(self.k):
            h_total, hard, h_soft = fitting.hinton_kd_loss(y, logits[k], t_logits, alpha[k], temperature[k], w[k])
            p_total, _, p_soft = fitting.paper_kd_loss(y, tf.sigmoid(logits[k]), tf.sigmoid(t_logits), alpha[k],
                                                        temperature[k], w[k])
            totals.append(tf.where(kind[k] == 0.0, hard, tf.where(kind[k] == 1.0, h_total, p_total)))
            softs.append(tf.where(kind[k] == 0.0, 0.0, tf.where(kind[k] == 1.0, h_soft, p_soft)))
        return tf.stack(totals), tf.stack(softs), tf.sigmoid(logits)


def test_each_member_computing_only_its_loss_changes_no_bit(data, monkeypatch):
    """A bank of every loss kind (dropout on, class weights, a member kept off some rows, validation) gives
    identical weights, histories and snapshots whether each member computes only its own loss or
    both KD losses with one picked by tf.where (the reference step): computing one loss changes no number."""
    X, y, _, tl = data
    w0 = _init(dropout=0.2)
    members = [student_bank.Member("a", "bce", lr=1e-2, epochs=3, snapshots=(2,)),
               student_bank.Member("b", "hinton", lr=3e-3, epochs=2, alpha=0.5, temperature=2.0),
               student_bank.Member("c", "paper", lr=1e-2, epochs=3, alpha=0.1, temperature=10.0),
               student_bank.Member("d", "hinton", lr=1e-3, epochs=3, alpha=0.1, temperature=7.0)]
    rw = np.where(y == 1, 1.4, 0.7).astype(np.float32)
    rw = np.stack([rw, rw, rw, np.where(np.arange(N) % 3 == 0, 0.0, rw)])
    kw = dict(t_logits_train=tl, X_val=X[:20], y_val=y[:20], dropout=0.2, row_weights=rw)
    now = student_bank.train(members, w0, X, y, SEED, BATCH, **kw)
    monkeypatch.setattr(student_bank, "_GRAPHS", {})
    monkeypatch.setattr(student_bank, "_Graph", _BothLossesPerMember)
    before = student_bank.train(members, w0, X, y, SEED, BATCH, **kw)
    assert isinstance(student_bank._GRAPHS[(tuple(m.loss for m in members), F, 0.2)], _BothLossesPerMember)
    for m in members:
        a, b = now[m.name], before[m.name]
        for wa, wb in zip(a.weights, b.weights):
            np.testing.assert_array_equal(wa, wb)
        assert a.history == b.history
        assert a.snapshots.keys() == b.snapshots.keys()
        for e in a.snapshots:
            for wa, wb in zip(a.snapshots[e], b.snapshots[e]):
                np.testing.assert_array_equal(wa, wb)


def test_dropout_masks_do_not_depend_on_the_bank(data):
    """With dropout on, a member trained alone equals the same member at any position of a larger bank: the masks
    are drawn per step and layer and shared by all members, so a grid cell continued is a fresh SM."""
    X, y, _, tl = data
    w0 = _init(dropout=0.2)
    sm = student_bank.Member("SM", "hinton", lr=1e-2, epochs=3, alpha=0.3, temperature=5.0)
    alone = student_bank.train([sm], w0, X, y, SEED, BATCH, t_logits_train=tl)["SM"]
    others = [student_bank.Member(f"c{i}", "hinton", lr=1e-2, epochs=2, alpha=0.1, temperature=2.0 + i) for i in range(3)]
    for members in (others + [sm], [others[0], sm, student_bank.Member("scratch", "bce", lr=1e-3, epochs=3)]):
        inside = student_bank.train(members, w0, X, y, SEED, BATCH, t_logits_train=tl)["SM"]
        _close(inside.model.get_weights(), alone.model.get_weights(), rtol=1e-5, atol=1e-6, X=X)
        np.testing.assert_allclose(inside.history["loss"], alone.history["loss"], rtol=1e-5)


def test_validation_history_matches_keras_evaluate(data):
    X, y, _, _ = data
    w0 = _init()
    out = student_bank.train([student_bank.Member("s", "bce", lr=1e-2, epochs=2)], w0, X[:50], y[:50], SEED, BATCH,
                     X_val=X[50:], y_val=y[50:], dropout=0.0)
    m = out["s"].model
    m.compile(loss="binary_crossentropy", metrics=["accuracy"])
    loss, acc = m.evaluate(X[50:][..., None], fitting.onehot(y[50:]), verbose=0)
    assert out["s"].history["val_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert out["s"].history["val_accuracy"][-1] == pytest.approx(acc)


def test_same_seed_same_numbers_and_dropout_acts(data):
    X, y, _, tl = data
    w0 = _init(dropout=0.2)
    members = [student_bank.Member("s", "bce", lr=1e-2, epochs=2), student_bank.Member("k", "hinton", lr=1e-2, epochs=2,
                                                                        alpha=0.1, temperature=3.0)]
    a = student_bank.train(members, w0, X, y, SEED, BATCH, t_logits_train=tl)
    b = student_bank.train(members, w0, X, y, SEED, BATCH, t_logits_train=tl)
    c = student_bank.train(members, w0, X, y, SEED + 1, BATCH, t_logits_train=tl)
    off = student_bank.train(members, w0, X, y, SEED, BATCH, t_logits_train=tl, dropout=0.0)
    for name in ("s", "k"):
        for wa, wb in zip(a[name].model.get_weights(), b[name].model.get_weights()):
            np.testing.assert_array_equal(wa, wb)
        assert any(not np.allclose(wa, wc) for wa, wc in zip(a[name].model.get_weights(), c[name].model.get_weights()))
        assert any(not np.allclose(wa, wo) for wa, wo in zip(a[name].model.get_weights(), off[name].model.get_weights()))


def test_graph_traced_once_per_shape(data):
    X, y, _, _ = data
    w0 = _init()
    m = [student_bank.Member("s", "bce", lr=1e-2, epochs=1)]
    student_bank.train(m, w0, X, y, SEED, BATCH, dropout=0.0)
    g = student_bank._graph(("bce",), F, 0.0)
    traces = g.step.experimental_get_tracing_count()
    student_bank.train(m, w0, X[:40], y[:40], SEED + 1, BATCH, dropout=0.0)  # another split: other rows, same shape
    assert g.step.experimental_get_tracing_count() == traces == 1


def test_bad_members_and_inputs_are_named(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="loss must be one of"):
        student_bank.Member("x", "mse", lr=1e-3, epochs=1)
    with pytest.raises(ValueError, match="snapshot epoch"):
        student_bank.Member("x", "bce", lr=1e-3, epochs=2, snapshots=(3,))
    with pytest.raises(ValueError, match="teacher's logits"):
        student_bank.train([student_bank.Member("k", "hinton", lr=1e-3, epochs=1, alpha=0.1, temperature=2.0)], _init(), X, y,
                   SEED, BATCH)
    with pytest.raises(ValueError, match="unique"):
        student_bank.train([student_bank.Member("a", "bce", lr=1e-3, epochs=1)] * 2, _init(), X, y, SEED, BATCH)
    with pytest.raises(ValueError, match="do not match the student"):
        student_bank.train([student_bank.Member("a", "bce", lr=1e-3, epochs=1)], architectures.build_student(F + 1).get_weights(), X, y,
                   SEED, BATCH)


def test_a_graph_with_an_unknown_loss_refuses_to_compute_it():
    """Member validates its loss; the graph's loss dispatch also names 'hinton' and 'bce' explicitly, so a graph
    built by hand with another loss raises instead of silently training with Hinton's."""
    import tensorflow as tf

    g = student_bank._Graph(("mse",), F, 0.0)
    y = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    logits = tf.zeros((1, 2, 2))
    one = tf.ones((1,))
    with pytest.raises(ValueError, match="loss must be one of"):
        g._losses(y, logits, tf.zeros((2, 2)), one, one, tf.ones((1, 2)))
