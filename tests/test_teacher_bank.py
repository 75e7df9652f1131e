"""lib.train.teacher_bank: a member of a bank trains as the Keras teacher trained alone on the same batches
(tests/keras_reference.py: ``train_on_batch`` and the run's BestOnValidation callback), on all rows or on an
out-of-fold subset with a partial last batch, while other members with other seeds and rows train beside it;
early stopping stops at the callback's epoch and restores its weights; a frozen member does not move; the same
seeds give the same bits; a member's result does not depend on the other members, dropout on or off.

Dropout is off where a step-for-step comparison with Keras needs the same masks (the bank draws its own, keyed
by the member's seed and step). Tolerance of those comparisons, float32: weights within 1e-5 absolute + 1e-4
relative (measured up to 1.6e-6 after 15 Adam steps at lr 1e-3, and 7.6e-6 on the recomputed moving variances),
epoch losses within 1e-5 relative (measured 1e-7), predictions within 1e-5 (measured 1.2e-7)."""
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from lib.train import teacher_bank
from tests.keras_reference import teacher_alone

N, F, BATCH = 70, 9, 16  # 70 rows: four full batches of 16 and a remainder of 6
OOF = np.setdiff1d(np.arange(N), np.arange(0, N, 5))  # 56 rows: three full batches and a remainder of 8
RTOL, ATOL = 1e-4, 1e-5


def _P(**kw):
    base = dict(teacher_lr=1e-3, teacher_epochs=3, teacher_patience=None, batch_size=BATCH,
                class_weight="balanced", bn_recompute=False)
    return SimpleNamespace(**{**base, **kw})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, F)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(N) > 0).astype(int)
    Xv = rng.standard_normal((24, F)).astype(np.float32)
    yv = (Xv[:, 0] + 0.5 * Xv[:, 1] + rng.standard_normal(24) > 0).astype(int)
    return X, y, Xv, yv


MEMBERS = [teacher_bank.Member("all", 7), teacher_bank.Member("oof", 11, rows=OOF),
           teacher_bank.Member("head", 13, rows=np.arange(30))]


def _close_weights(a, b, rtol=RTOL, atol=ATOL):
    assert len(a) == len(b) == 16
    for i, (wa, wb) in enumerate(zip(a, b)):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol, err_msg=f"weight {i}")


def _same_bits(a, b):
    for i, (wa, wb) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(wa, wb, err_msg=f"weight {i}")


@pytest.fixture(scope="module")
def plain_bank(data):
    X, y, _, _ = data
    return teacher_bank.train(_P(), MEMBERS, X, y, dropout=0.0)


@pytest.mark.parametrize("name", ["all", "oof"])
def test_member_equals_the_keras_teacher_alone(data, plain_bank, name):
    """Class weights of the member's own rows, 3 epochs; 'oof' has its own rows and a partial last batch of 8."""
    X, y, _, _ = data
    member = next(m for m in MEMBERS if m.name == name)
    model, hist, _, _ = teacher_alone(_P(), X, y, X[:0], y[:0], member.seed, member.rows)
    out = plain_bank[name]
    np.testing.assert_allclose(out.history["loss"], hist["loss"], rtol=1e-5)
    np.testing.assert_allclose(out.history["accuracy"], hist["accuracy"])
    _close_weights(out.weights, model.get_weights())
    np.testing.assert_allclose(out.model.predict(X[..., None], verbose=0), model.predict(X[..., None], verbose=0),
                               atol=1e-5)
    assert out.epochs == 3 and out.best_epoch == 0 and set(out.history) == {"loss", "accuracy"}


def test_after_one_epoch_too(data):
    """The same member stopped after one epoch (5 steps) equals Keras after those steps: the comparison holds
    step by step, not only after errors that happen to cancel."""
    X, y, _, _ = data
    member = teacher_bank.Member("oof", 11, rows=OOF, epochs=1)
    out = teacher_bank.train(_P(), [member, MEMBERS[0]], X, y, dropout=0.0)["oof"]
    model, hist, _, _ = teacher_alone(_P(), X, y, X[:0], y[:0], 11, OOF, epochs=1)
    np.testing.assert_allclose(out.history["loss"], hist["loss"], rtol=1e-5)
    _close_weights(out.weights, model.get_weights())


def test_early_stopping_and_bn_recompute_match_the_keras_callback(data):
    """patience 2 and the BatchNorm recompute after every epoch, as train_teacher's BestOnValidation does them:
    the bank's members stop at the callback's epoch, keep its best epoch, and end with its restored weights."""
    X, y, Xv, yv = data
    P = _P(teacher_lr=3e-3, teacher_epochs=15, teacher_patience=2, bn_recompute=True)
    out = teacher_bank.train(P, MEMBERS, X, y, Xv, yv, dropout=0.0)
    stopped = []
    for m in MEMBERS:
        model, hist, best, _ = teacher_alone(P, X, y, Xv, yv, m.seed, m.rows)
        o = out[m.name]
        assert (o.epochs, o.best_epoch) == (len(hist["loss"]), best)
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(o.history[key], hist[key], rtol=1e-5)
        np.testing.assert_allclose(o.history["val_accuracy"], hist["val_accuracy"])
        _close_weights(o.weights, model.get_weights())
        stopped.append(o.epochs < P.teacher_epochs and o.best_epoch < o.epochs)
    assert all(stopped)  # the case is one where early stopping acts and restores an earlier epoch


def test_bn_recompute_without_validation_is_finish_bn(data):
    """Without validation rows train_teacher has no callback and recomputes the statistics once at the end."""
    X, y, _, _ = data
    P = _P(bn_recompute=True, teacher_epochs=2)
    out = teacher_bank.train(P, MEMBERS[1:2], X, y, dropout=0.0)["oof"]
    model, _, _, _ = teacher_alone(P, X, y, X[:0], y[:0], 11, OOF)
    _close_weights(out.weights, model.get_weights())


def test_a_frozen_member_does_not_move(data):
    """A member inactive in a step keeps its weights, Adam moments, step count and moving statistics, bit for bit,
    while the others move; a member past its epochs ends where it would alone."""
    X, y, _, _ = data
    g = teacher_bank._graph(2, F, BATCH, (0.2, 0.2, 0.2))
    for name, var in g.vars.items():
        var.assign(tf.random.stateless_normal(var.shape, seed=[1, len(name)]) * 0.1 + (1.0 if "var" in name else 0))
    before = {n: v.numpy().copy() for n, v in {**g.vars, **{f"m_{k}": v for k, v in g.m.items()},
                                                **{f"v_{k}": v for k, v in g.v.items()}, "t": g.t}.items()}
    idx = np.arange(BATCH)[None].repeat(2, 0)
    mask = np.ones((2, BATCH), np.float32)
    g.step(tf.constant(X[idx][..., None]), tf.constant(np.eye(2, dtype=np.float32)[y[idx]]), tf.constant(mask),
           tf.constant(mask), tf.constant([1e-3, 1e-3]), tf.constant([1.0, 0.0]), tf.constant([1, 2], tf.int32),
           tf.constant([0, 0], tf.int32))
    after = {n: v.numpy() for n, v in {**g.vars, **{f"m_{k}": v for k, v in g.m.items()},
                                       **{f"v_{k}": v for k, v in g.v.items()}, "t": g.t}.items()}
    for n in before:
        np.testing.assert_array_equal(after[n][1], before[n][1], err_msg=n)
    assert all(not np.array_equal(after[n][0], before[n][0]) for n in before)

    short = teacher_bank.Member("oof", 11, rows=OOF, epochs=2)
    together = teacher_bank.train(_P(teacher_epochs=4), [MEMBERS[0], short], X, y, dropout=0.0)["oof"]
    two = teacher_bank.train(_P(teacher_epochs=4), [short, MEMBERS[2]], X, y, dropout=0.0)["oof"]
    assert together.epochs == len(together.history["loss"]) == 2
    _same_bits(together.weights, two.weights)


def test_same_seeds_same_bits_and_dropout_acts(data):
    X, y, Xv, yv = data
    P = _P(teacher_patience=2, bn_recompute=True, teacher_epochs=3)
    a = teacher_bank.train(P, MEMBERS, X, y, Xv, yv)
    b = teacher_bank.train(P, MEMBERS, X, y, Xv, yv)
    off = teacher_bank.train(P, MEMBERS, X, y, Xv, yv, dropout=0.0)
    for m in MEMBERS:
        _same_bits(a[m.name].weights, b[m.name].weights)
        assert a[m.name].history == b[m.name].history
        assert any(not np.allclose(wa, wo) for wa, wo in zip(a[m.name].weights, off[m.name].weights))
    other = teacher_bank.train(P, [teacher_bank.Member("all", 8)], X, y, Xv, yv)["all"]
    assert any(not np.allclose(wa, wo) for wa, wo in zip(a["all"].weights, other.weights))


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_a_member_does_not_depend_on_the_other_members(data, dropout):
    """The member first or last in banks of other members (other seeds, rows and numbers of steps, 2 or 4
    members): the same bits, dropout on as well (its masks are keyed by its own seed and step count). Alone
    (a bank of one), TensorFlow's batched products of a single member take another CPU kernel path, which
    rounds differently: the same within float tolerance, not the same bits."""
    X, y, Xv, yv = data
    P = _P(teacher_patience=2, bn_recompute=True, teacher_epochs=3)
    oof = MEMBERS[1]
    first = teacher_bank.train(P, [oof, MEMBERS[0]], X, y, Xv, yv, dropout=dropout)["oof"]
    last = teacher_bank.train(P, [MEMBERS[2], MEMBERS[0], teacher_bank.Member("x", 11), oof], X, y, Xv, yv,
                              dropout=dropout)["oof"]
    _same_bits(first.weights, last.weights)
    assert first.history == last.history
    alone = teacher_bank.train(P, [oof], X, y, Xv, yv, dropout=dropout)["oof"]
    _close_weights(alone.weights, first.weights)
    np.testing.assert_allclose(alone.history["loss"], first.history["loss"], rtol=1e-5)


def test_graph_traced_once_per_shape(data):
    X, y, Xv, yv = data
    P = _P(teacher_epochs=1, teacher_patience=1, bn_recompute=True)
    teacher_bank.train(P, MEMBERS, X, y, Xv, yv, dropout=0.0)
    g = teacher_bank._graph(3, F, BATCH, (0.0, 0.0, 0.0))
    counts = [f.experimental_get_tracing_count() for f in (g.step, g.logits, g.moments1, g.moments2)]
    other = [teacher_bank.Member("a", 1, rows=np.arange(40)), teacher_bank.Member("b", 2, rows=np.arange(10, 50)),
             teacher_bank.Member("c", 3)]
    teacher_bank.train(P, other, X[:60], y[:60], Xv[:10], yv[:10], dropout=0.0)
    assert [f.experimental_get_tracing_count() for f in (g.step, g.logits, g.moments1, g.moments2)] == counts
    assert counts[0] == 1


def test_to_keras_and_bad_inputs(data):
    X, y, _, _ = data
    w = teacher_bank.initial_weights(F, 5)
    model = teacher_bank.to_keras(w, F)
    assert model.count_params() == sum(a.size for a in w)
    with pytest.raises(ValueError, match="unique"):
        teacher_bank.train(_P(), [MEMBERS[0]] * 2, X, y)
    with pytest.raises(ValueError, match="beyond"):
        teacher_bank.train(_P(), [teacher_bank.Member("a", 1, rows=[3, N])], X, y)
    with pytest.raises(ValueError, match="distinct"):
        teacher_bank.Member("a", 1, rows=[3, 3])
    with pytest.raises(ValueError, match="dropout"):
        teacher_bank.train(_P(), [MEMBERS[0]], X, y, dropout=(0.2, 0.2))
    with pytest.raises(ValueError, match="both classes"):
        teacher_bank.train(_P(), [teacher_bank.Member("a", 1, rows=np.flatnonzero(y == 1))], X, y)
