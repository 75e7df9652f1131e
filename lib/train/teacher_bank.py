"""The teacher bank: many teachers of one split trained side by side as one vectorised model (:func:`train`).

Trained one by one through Keras, each reference teacher (:func:`lib.train.architectures.build_teacher`) pays its
own model build, compilation, graph tracing and per-epoch callback; the bank pays them once for all its members
(``python -m lib.tools.bench --teacher-bank`` measures both against the arithmetic floor: the per-step arithmetic
of the 10,752 x 64 dense layer on batches of 32 remains, so the gain is about twofold). :func:`train` holds K teachers (each a :class:`Member`) as stacked weights (every tensor has a
leading axis of size K) and trains them with one step function, traced once per (K, features, batch size,
dropout) and reused for every split and call. Each member has

- its own training rows (indices into the split's training part: all of them, or all but one out-of-fold
  fold), its own seed and its own class weights (:func:`lib.train.fitting.class_weights` of its own rows);
- the initial weights of ``build_teacher`` built after ``repro.seed_everything(seed)`` (what a Keras teacher
  of that seed starts from);
- its own batches: one NumPy permutation of its rows per epoch from a generator seeded by its seed, cut into
  batches of ``P.batch_size`` (the last one partial);
- its own dropout masks, from stateless random numbers keyed by (its seed, its own step count, layer): they
  do not depend on the other members of the bank nor on what ran before in the process;
- the training protocol of :func:`lib.train.fitting.train_teacher`: Adam(``P.teacher_lr``), at most
  ``P.teacher_epochs``, and, when the run has inner-validation rows and asks for ``teacher_patience`` or
  ``bn_recompute``, what :class:`lib.train.fitting.BestOnValidation` does after every epoch: the BatchNorm
  statistics recomputed on the member's own training rows (``bn_recompute``), the class-weighted BCE of the
  validation rows (:func:`lib.train.fitting._weighted_bce`, the callback's own function), early stopping after
  ``teacher_patience`` epochs without improvement and the best epoch's weights restored. Without that callback,
  the validation loss is what Keras' ``fit(validation_data=...)`` reports, and the BatchNorm statistics are
  recomputed once after training when ``bn_recompute`` (:func:`lib.train.fitting.finish_bn`).

Members with different numbers of rows have different numbers of steps per epoch: every step of the bank
takes one batch of each member, as row indices padded to ``P.batch_size`` with a mask. A padded row
contributes nothing (its loss weight is 0 and the BatchNorm batch moments are masked moments over the real
rows); a member with no real row in a step, past its epochs or stopped early, makes no update (weights, Adam
moments, its step counter and BatchNorm moving statistics unchanged).

The computation of one member is that of the Keras teacher trained alone (``tests/test_teacher_bank.py`` checks
it step for step against ``train_on_batch``, dropout off):

- layers: Conv1D(64, 2, relu) - BatchNorm - Dropout - Conv1D(448, 2, relu) - BatchNorm - Dropout - Flatten -
  Dense(64, relu) - Dropout - Dense(2) - sigmoid, as batched matrix products over the stacked axis; a
  convolution of kernel 2 is one product of the pairs of neighbouring positions with the kernel reshaped to
  (2 C_in, C_out); BatchNorm as Keras computes it for 3-D inputs (moments over rows and positions, biased
  variance, momentum 0.99, epsilon 1e-3);
- loss: the compiled loss of the Keras teacher (:func:`lib.train.fitting.loss_for`): Keras' binary
  cross-entropy of the two outputs, averaged over them, each row times its class weight (1 without class
  weights), summed and divided by the number of (real) rows of the batch. Keras' sigmoid output carries its
  logits, so its compiled loss is ``sigmoid_cross_entropy_with_logits`` (no clipping), as here;
- optimiser: Keras' Adam (beta 0.9 / 0.999, epsilon 1e-7, bias-corrected step size with the member's own step
  count), elementwise, so stacking changes nothing;
- history: ``loss`` (Keras' epoch loss, the batches' losses weighted by their sizes), ``accuracy`` (Keras'
  categorical accuracy of the training batches, dropout on), and with validation rows ``val_loss`` and
  ``val_accuracy``.

Each member comes back as a :class:`Trained` whose ``model`` is an ordinary Keras teacher (:func:`to_keras`).
``python -m lib.tools.bench --teacher-bank`` times the bank against the Keras teacher trained alone.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import tensorflow as tf
import tf_keras as keras

from lib.core import repro
from lib.train import architectures, fitting
from lib.train.student_bank import ADAM_EPS, BETA_1, BETA_2, BN_EPS, BN_MOMENTUM, conv_bn_shapes

_CONV1, _CONV2, _DENSE = 64, 448, 64
_SEED_STRIDE = 1_000_003  # separates the layers' counters in a dropout seed


def _shapes(n_features: int) -> list[tuple[str, tuple]]:
    """The teacher's weights in Keras' ``get_weights()`` order: (name, shape given ``n_features``)."""
    flat = (n_features - 2) * _CONV2
    return conv_bn_shapes(_CONV1, _CONV2) + [("dense_kernel", (flat, _DENSE)), ("dense_bias", (_DENSE,)),
                                             ("logits_kernel", (_DENSE, 2)), ("logits_bias", (2,))]


TRAINABLE = ("conv1_kernel", "conv1_bias", "bn1_gamma", "bn1_beta", "conv2_kernel", "conv2_bias", "bn2_gamma",
             "bn2_beta", "dense_kernel", "dense_bias", "logits_kernel", "logits_bias")


@dataclass(frozen=True)
class Member:
    """One teacher of a bank: its name, seed (initial weights, batch order, dropout masks), training rows
    (indices into the split's training part, kept sorted; None: all of them) and, optionally, fewer epochs than
    the run's ``teacher_epochs``."""
    name: str
    seed: int
    rows: tuple[int, ...] | None = None
    epochs: int | None = None

    def __post_init__(self):
        if self.rows is not None:
            rows = np.asarray(self.rows, dtype=int).ravel()
            if len(rows) == 0 or len(np.unique(rows)) != len(rows) or rows.min() < 0:
                raise ValueError(f"member {self.name!r}: rows must be distinct non-negative indices, at least one")
            object.__setattr__(self, "rows", tuple(int(r) for r in np.sort(rows)))
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"member {self.name!r}: epochs must be >= 1, got {self.epochs}")


@dataclass
class Trained:
    """One member after training: its final ``weights`` (Keras' order: the best epoch's when early stopping
    restored them, with recomputed BatchNorm statistics when the run asks for them), its ``history``,
    ``best_epoch`` (the epoch whose weights were kept; 0 without early stopping, as
    :class:`lib.train.fitting.Trained`), ``epochs`` trained, and ``model``, the Keras teacher holding the weights
    (built when first asked for). ``seconds`` is the whole bank's wall time, shared by all its members."""
    weights: list
    history: dict
    seconds: float
    n_features: int
    name: str
    best_epoch: int = 0
    epochs: int = 0
    rows: tuple | None = field(default=None, repr=False)

    @cached_property
    def model(self) -> keras.Model:
        return to_keras(self.weights, self.n_features, self.name)


def initial_weights(n_features: int, seed: int) -> list[np.ndarray]:
    """The weights of ``build_teacher(n_features)`` built after ``repro.seed_everything(seed)``."""
    repro.seed_everything(seed)
    return architectures.build_teacher(n_features).get_weights()


def _rates(dropout) -> tuple[float, float, float]:
    rates = (dropout,) * 3 if np.isscalar(dropout) else tuple(dropout)
    if len(rates) != 3 or not all(0 <= r < 1 for r in rates):
        raise ValueError(f"dropout: one rate or three (drop1, drop2, drop3), each in [0, 1); got {dropout!r}")
    return tuple(float(r) for r in rates)


# ------------------------------------------------------------------------------------------------ the graph
class _Graph:
    """Stacked variables of K teachers, their Adam moments and step counters, and the traced functions for one
    (K, n_features, batch size, dropout rates)."""

    def __init__(self, k: int, n_features: int, batch_size: int, dropout: tuple[float, float, float]):
        self.k, self.n_features, self.batch_size, self.dropout = k, n_features, batch_size, dropout
        self.shapes = _shapes(n_features)
        shape = dict(self.shapes)
        self.vars = {n: tf.Variable(tf.zeros((k, *s)), name=n, trainable=False) for n, s in self.shapes}
        self.best = {n: tf.Variable(tf.zeros((k, *s)), trainable=False) for n, s in self.shapes}
        self.m = {n: tf.Variable(tf.zeros((k, *shape[n])), trainable=False) for n in TRAINABLE}
        self.v = {n: tf.Variable(tf.zeros((k, *shape[n])), trainable=False) for n in TRAINABLE}
        self.t = tf.Variable(tf.zeros((k,)), trainable=False)  # each member's Adam step count
        f32, i32 = tf.float32, tf.int32
        xk = tf.TensorSpec((k, batch_size, n_features, 1), f32)
        kb = tf.TensorSpec((k, batch_size), f32)
        vk = tf.TensorSpec((k,), f32)
        ik = tf.TensorSpec((k,), i32)
        self.step = tf.function(self._step, input_signature=[
            xk, tf.TensorSpec((k, batch_size, 2), f32), kb, kb, vk, vk, ik, ik])
        self.logits = tf.function(self._logits_shared, input_signature=[tf.TensorSpec((None, n_features, 1), f32)])
        rows = [tf.TensorSpec((k, None, n_features, 1), f32), tf.TensorSpec((k, None), f32)]
        self.moments1 = tf.function(lambda x, mask: self._bn_input_moments(x, mask, 1), input_signature=rows)
        self.moments2 = tf.function(lambda x, mask: self._bn_input_moments(x, mask, 2), input_signature=rows)
        self.keep = tf.function(self._keep, input_signature=[tf.TensorSpec((k,), tf.bool)])

    # -- layers ------------------------------------------------------------------------------------------
    @staticmethod
    def _conv(x, kernel, bias):
        """Conv1D(kernel 2, 'valid', relu) of x [K, B, T, C_in] (or [B, T, C_in], shared by the members):
        [K, B, T-1, C_out], as one product of neighbouring pairs [x_t, x_t+1] with the kernel as (2 C_in, C_out)."""
        c_in, c_out = kernel.shape[2], kernel.shape[3]
        w = tf.reshape(kernel, (-1, 2 * c_in, c_out))
        if x.shape.rank == 3:
            pair = tf.concat([x[:, :-1, :], x[:, 1:, :]], axis=-1)  # [B, T-1, 2 C_in]
            out = tf.einsum("btj,kjo->kbto", pair, w)
        else:
            pair = tf.concat([x[:, :, :-1, :], x[:, :, 1:, :]], axis=-1)  # [K, B, T-1, 2 C_in]
            s = tf.shape(pair)
            out = tf.reshape(tf.linalg.matmul(tf.reshape(pair, (s[0], -1, 2 * c_in)), w),
                             (s[0], s[1], s[2], c_out))
        return tf.nn.relu(out + bias[:, None, None, :])

    @staticmethod
    def _masked_moments(x, mask):
        """Per member and channel, the mean and biased variance of x [K, B, T, C] over its real rows (``mask``
        [K, B]) and all positions, as ``tf.nn.moments`` computes them on those rows alone; zeros for a member
        without rows."""
        m = mask[:, :, None, None]
        count = tf.reduce_sum(mask, axis=1) * tf.cast(tf.shape(x)[2], x.dtype)  # [K]
        denom = tf.maximum(count, 1.0)[:, None]
        mean = tf.reduce_sum(x * m, axis=[1, 2]) / denom
        dev = tf.math.squared_difference(x, tf.stop_gradient(mean)[:, None, None, :])
        var = tf.reduce_sum(dev * m, axis=[1, 2]) / denom
        return mean, var, count

    def _bn(self, x, name, mean, var):
        gamma, beta = self.vars[f"{name}_gamma"], self.vars[f"{name}_beta"]
        inv = tf.math.rsqrt(var + BN_EPS) * gamma
        return x * inv[:, None, None, :] + (beta - mean * inv)[:, None, None, :]

    def _bn_moving(self, x, name):
        return self._bn(x, name, self.vars[f"{name}_mean"], self.vars[f"{name}_var"])

    def _drop(self, x, seeds, steps, layer: int):
        """Keras' Dropout (keep where u >= rate, scale by 1 / (1 - rate)); member k's mask [B, ...] drawn from
        the stateless seed (seeds[k], layer * 1_000_003 + steps[k])."""
        rate = self.dropout[layer - 1]
        if rate <= 0:
            return x
        masks = []
        for k in range(self.k):
            seed = tf.stack([seeds[k], steps[k] + layer * _SEED_STRIDE])
            masks.append(tf.random.stateless_uniform(tf.shape(x)[1:], seed=seed))
        keep = tf.cast(tf.stack(masks) >= rate, x.dtype)
        return x * keep / (1.0 - rate)

    def _head(self, h):
        """Flatten - Dense(64, relu) - [dropout outside] - logits, from [K, B, T, C]."""
        V = self.vars
        flat = tf.reshape(h, (self.k, tf.shape(h)[1], -1))
        return tf.nn.relu(tf.linalg.matmul(flat, V["dense_kernel"]) + V["dense_bias"][:, None, :])

    def _logits_out(self, h):
        return tf.linalg.matmul(h, self.vars["logits_kernel"]) + self.vars["logits_bias"][:, None, :]

    def _forward_train(self, x, mask, seeds, steps):
        V = self.vars
        h = self._conv(x, V["conv1_kernel"], V["conv1_bias"])
        m1, v1, _ = self._masked_moments(h, mask)
        h = self._drop(self._bn(h, "bn1", m1, v1), seeds, steps, 1)
        h = self._conv(h, V["conv2_kernel"], V["conv2_bias"])
        m2, v2, _ = self._masked_moments(h, mask)
        h = self._drop(self._bn(h, "bn2", m2, v2), seeds, steps, 2)
        h = self._drop(self._head(h), seeds, steps, 3)
        return self._logits_out(h), (m1, v1, m2, v2)

    def _logits_shared(self, x):
        """Inference (moving statistics, no dropout) of every member on the same rows x [B, F, 1]: [K, B, 2]."""
        V = self.vars
        h = self._bn_moving(self._conv(x, V["conv1_kernel"], V["conv1_bias"]), "bn1")
        h = self._bn_moving(self._conv(h, V["conv2_kernel"], V["conv2_bias"]), "bn2")
        return self._logits_out(self._head(h))

    def _bn_input_moments(self, x, mask, layer: int):
        """The input of BatchNorm ``layer`` in inference mode on each member's rows x [K, B, F, 1] (``mask``:
        its real rows): per member, (row count, mean, sum of squared deviations from that mean)."""
        V = self.vars
        h = self._conv(x, V["conv1_kernel"], V["conv1_bias"])
        if layer == 2:
            h = self._conv(self._bn_moving(h, "bn1"), V["conv2_kernel"], V["conv2_bias"])
        mean, var, count = self._masked_moments(h, mask)
        return count, mean, var * tf.maximum(count, 1.0)[:, None]

    def _keep(self, improved):
        """Copy the weights of the members marked in ``improved`` [K] into ``best``."""
        for name, var in self.vars.items():
            on = tf.reshape(improved, (-1,) + (1,) * (var.shape.rank - 1))
            self.best[name].assign(tf.where(on, var, self.best[name]))
        return tf.constant(0)

    # -- one training step ---------------------------------------------------------------------------------
    def _step(self, x, y, w, mask, lr, active, seeds, steps):
        """One batch of every member: x [K, B, F, 1], one-hot y [K, B, 2], w [K, B] the rows' loss weights (class
        weight, 0 for padding), mask [K, B] the real rows, lr [K], active [K] (1: the member updates), seeds and
        steps [K] (dropout). Returns each member's batch loss and correct predictions."""
        trainable = [self.vars[n] for n in TRAINABLE]
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            logits, moments = self._forward_train(x, mask, seeds, steps)
            per_row = keras.losses.binary_crossentropy(y, logits, from_logits=True)  # [K, B], mean of 2 outputs
            loss = tf.reduce_sum(per_row * w, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            objective = tf.reduce_sum(loss * active)
        grads = tape.gradient(objective, trainable)
        on_k = active > 0
        t = self.t.assign_add(active)
        t1 = tf.maximum(t, 1.0)
        step_size = lr * tf.sqrt(1 - tf.pow(BETA_2, t1)) / (1 - tf.pow(BETA_1, t1))  # [K]
        for name, var, g in zip(TRAINABLE, trainable, grads):
            shape = (-1,) + (1,) * (var.shape.rank - 1)
            on = tf.reshape(on_k, shape)
            m, v = self.m[name], self.v[name]
            m_new = m + (g - m) * (1 - BETA_1)
            v_new = v + (tf.square(g) - v) * (1 - BETA_2)
            m.assign(tf.where(on, m_new, m))
            v.assign(tf.where(on, v_new, v))
            update = (m_new * tf.reshape(step_size, shape)) / (tf.sqrt(v_new) + ADAM_EPS)
            var.assign(tf.where(on, var - update, var))
        for name, value in zip(("bn1_mean", "bn1_var", "bn2_mean", "bn2_var"), moments):
            var = self.vars[name]
            var.assign(tf.where(on_k[:, None], var - (var - value) * (1 - BN_MOMENTUM), var))
        correct = tf.cast(tf.equal(tf.argmax(logits, -1), tf.argmax(y, -1)), tf.float32) * mask
        return loss, tf.reduce_sum(correct, axis=1)


# The traced graphs of this process, one per (K, n_features, batch size, dropout). Not thread-safe: one task at a
# time per process, as lib.train.student_bank.
_GRAPHS: dict[tuple, _Graph] = {}


def _graph(k: int, n_features: int, batch_size: int, dropout: tuple) -> _Graph:
    key = (k, n_features, batch_size, dropout)
    if key not in _GRAPHS:
        _GRAPHS[key] = _Graph(k, n_features, batch_size, dropout)
    return _GRAPHS[key]


# ------------------------------------------------------------------------------------------------ training
def _chunks(rows: list[np.ndarray], size: int):
    """Index and mask arrays [K, size] covering every member's rows, chunk by chunk (padding: row 0, mask 0)."""
    longest = max(len(r) for r in rows)
    for c0 in range(0, longest, size):
        idx = np.zeros((len(rows), size), dtype=int)
        mask = np.zeros((len(rows), size), dtype=np.float32)
        for k, r in enumerate(rows):
            part = r[c0:c0 + size]
            idx[k, :len(part)], mask[k, :len(part)] = part, 1.0
        yield idx, mask


def _recompute_bn(g: _Graph, X: np.ndarray, rows: list[np.ndarray], which: np.ndarray) -> None:
    """:func:`lib.train.fitting.recompute_bn` for the members marked in ``which``: each BatchNorm's moving mean
    and biased variance set to those of its input on the member's own training rows in inference mode, bn1
    first. The moments are gathered chunk by chunk and merged in float64 (Chan et al.)."""
    for layer, fn in ((1, g.moments1), (2, g.moments2)):
        n = mean = m2 = 0.0
        for idx, mask in _chunks(rows, g.batch_size):
            c, mu, s = (a.numpy().astype(np.float64) for a in fn(tf.constant(X[idx]), tf.constant(mask)))
            c = c[:, None]
            total = n + c
            delta = mu - mean
            safe = np.maximum(total, 1.0)
            mean = mean + delta * c / safe
            m2 = m2 + s + delta ** 2 * n * c / safe
            n = total
        var = m2 / np.maximum(n, 1.0)
        sel = tf.constant(which[:, None])
        for name, value in ((f"bn{layer}_mean", mean), (f"bn{layer}_var", var)):
            v = g.vars[name]
            v.assign(tf.where(sel, tf.constant(value.astype(np.float32)), v))


def _logits(g: _Graph, X: np.ndarray) -> np.ndarray:
    """Every member's inference logits on the same rows, [K, n, 2]."""
    return np.concatenate([g.logits(tf.constant(X[c0:c0 + g.batch_size])).numpy()
                           for c0 in range(0, len(X), g.batch_size)], axis=1)


def _keras_val_loss(y: np.ndarray, logits: np.ndarray, weights) -> float:
    """What Keras' ``fit(validation_data=...)`` reports as ``val_loss``: the compiled loss on the validation rows
    in inference mode (from the logits, as Keras' sigmoid output carries them), class-weighted when ``weights``."""
    Y = fitting.onehot(y)
    z = logits.astype(np.float64)
    per_row = (np.maximum(z, 0) - z * Y + np.log1p(np.exp(-np.abs(z)))).mean(axis=1)
    w = np.ones(len(y)) if weights is None else np.asarray(weights)[y]
    return float((per_row * w).mean())


def train(P, members: list[Member], X_train, y_train, X_val=None, y_val=None, dropout=0.2) -> dict[str, Trained]:
    """Train every member on its rows of (``X_train``, ``y_train``) with the teacher settings of params ``P``
    (``teacher_lr``, ``teacher_epochs``, ``teacher_patience``, ``batch_size``, ``class_weight``,
    ``bn_recompute``), validated on (``X_val``, ``y_val``), the split's inner validation part, shared by all
    members. ``dropout``: the three dropout rates (one number: all three). Returns ``{name: Trained}``."""
    start = time.perf_counter()
    if not members:
        raise ValueError("a bank needs at least one member")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique, got {names}")
    rates = _rates(dropout)
    X = np.asarray(X_train, dtype=np.float32)
    X = X[..., None] if X.ndim == 2 else X
    y = np.asarray(y_train).astype(int)
    n, n_features = X.shape[0], X.shape[1]
    Y = np.eye(2, dtype=np.float32)[y]
    rows = [np.arange(n) if m.rows is None else np.asarray(m.rows) for m in members]
    bad = [m.name for m, r in zip(members, rows) if r.max() >= n]
    if bad:
        raise ValueError(f"member(s) {bad}: rows beyond the {n} training rows")
    K, B = len(members), int(P.batch_size)
    cw = [fitting.class_weights(P, y[r]) for r in rows]
    CW = np.stack([np.ones(2) if w is None else w for w in cw]).astype(np.float32)
    epochs = np.array([m.epochs or P.teacher_epochs for m in members])
    has_val = X_val is not None and len(y_val) > 0
    patience, recompute = P.teacher_patience, bool(P.bn_recompute)
    callback = has_val and (patience is not None or recompute)  # BestOnValidation, as train_teacher
    if has_val:
        Xv = np.asarray(X_val, dtype=np.float32).reshape(len(y_val), n_features, 1)
        yv = np.asarray(y_val).astype(int)

    g = _graph(K, n_features, B, rates)
    inits: dict[int, list] = {}
    for m in members:
        if m.seed not in inits:
            inits[m.seed] = initial_weights(n_features, m.seed)
    for i, (name, _) in enumerate(g.shapes):
        g.vars[name].assign(np.stack([inits[m.seed][i] for m in members]).astype(np.float32))
    for d in (g.m, g.v):
        for var in d.values():
            var.assign(tf.zeros_like(var))
    for name, var in g.vars.items():
        g.best[name].assign(var)
    g.t.assign(tf.zeros_like(g.t))

    lr = tf.constant(np.full(K, P.teacher_lr, np.float32))
    seeds = tf.constant(np.array([m.seed for m in members], np.int32))
    rngs = [np.random.default_rng(m.seed) for m in members]
    steps = np.zeros(K, np.int32)
    hist = [{k: [] for k in ("loss", "accuracy") + (("val_loss", "val_accuracy") if has_val else ())}
            for _ in members]
    done = np.zeros(K, bool)
    best = np.full(K, np.inf)
    best_epoch = np.zeros(K, int)
    wait = np.zeros(K, int)
    trained = np.zeros(K, int)
    for epoch in range(1, int(epochs.max()) + 1):
        training = ~done & (epochs >= epoch)
        if not training.any():
            break
        orders = [r[rng.permutation(len(r))] if on else r[:0] for r, rng, on in zip(rows, rngs, training)]
        loss_sum, correct = np.zeros(K), np.zeros(K)
        for idx, mask in _chunks(orders, B):
            act = (mask.sum(axis=1) > 0) & training
            w = CW[np.arange(K)[:, None], y[idx]] * mask  # each row's class weight, 0 for padding
            loss, corr = g.step(tf.constant(X[idx]), tf.constant(Y[idx]), tf.constant(w), tf.constant(mask), lr,
                                tf.constant(act.astype(np.float32)), seeds, tf.constant(steps))
            loss_sum += np.where(act, loss.numpy() * mask.sum(axis=1), 0.0)
            correct += np.where(act, corr.numpy(), 0.0)
            steps += act.astype(np.int32)
        trained += training
        for k in np.flatnonzero(training):
            hist[k]["loss"].append(float(loss_sum[k] / len(rows[k])))
            hist[k]["accuracy"].append(float(correct[k] / len(rows[k])))
        if callback:
            if recompute:
                _recompute_bn(g, X, rows, training)
            probs = tf.sigmoid(_logits(g, Xv)).numpy()
            improved = np.zeros(K, bool)
            for k in np.flatnonzero(training):
                vl = fitting._weighted_bce(yv, probs[k], cw[k])
                hist[k]["val_loss"].append(vl)
                hist[k]["val_accuracy"].append(float(np.mean(np.argmax(probs[k], 1) == yv)))
                if vl < best[k]:
                    best[k], best_epoch[k], wait[k], improved[k] = vl, epoch, 0, True
                else:
                    wait[k] += 1
                    if patience is not None and wait[k] >= patience:
                        done[k] = True
            if improved.any():
                g.keep(tf.constant(improved))
        elif has_val:
            z = _logits(g, Xv)
            for k in np.flatnonzero(training):
                hist[k]["val_loss"].append(_keras_val_loss(yv, z[k], cw[k]))
                hist[k]["val_accuracy"].append(float(np.mean(np.argmax(z[k], 1) == yv)))
        done |= epochs <= epoch
    if recompute and not callback:
        _recompute_bn(g, X, rows, np.ones(K, bool))
    restore = callback and patience is not None
    seconds = time.perf_counter() - start
    out = {}
    for k, m in enumerate(members):
        src = g.best if restore and best_epoch[k] > 0 else g.vars
        weights = [src[name][k].numpy().copy() for name, _ in g.shapes]
        out[m.name] = Trained(weights, hist[k], seconds, n_features, m.name,
                              best_epoch=int(best_epoch[k]) if restore else 0, epochs=int(trained[k]),
                              rows=m.rows)
    return out


def to_keras(weights: list[np.ndarray], n_features: int, name: str = "TM") -> keras.Model:
    """An ordinary Keras teacher (:func:`lib.train.architectures.build_teacher`) holding ``weights`` (Keras'
    order)."""
    model = architectures.build_teacher(n_features, name=name)
    model.set_weights(weights)
    return model

