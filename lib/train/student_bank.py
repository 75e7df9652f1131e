"""The student bank: many students of one split trained side by side as one vectorised model (:func:`train`),
which is how every student of notebooks 03 and 03b is trained.

A 518-parameter student needs well under a millisecond of arithmetic per epoch, but training it through Keras
costs seconds, almost all of it graph tracing (``lib.tools.bench`` has the floor). :func:`train` holds K
students (each a :class:`Member`) of the reference architecture (:func:`lib.train.architectures.build_student`)
as stacked weights (each tensor has a leading axis of size K) and trains them in one step function that is
traced once per (members' losses, features, dropout) and reused for every split and every call: each member
has its own loss (plain BCE, Hinton's KD or the authors' KD, with its own alpha and T), its own learning rate
and its own number of epochs, and all members see the same batches in the same order from the same initial
weights.

The computation of one member is that of the Keras student trained alone (``tests/test_student_bank.py`` checks it step
for step against ``train_on_batch`` of the Keras student and of the Keras ``Distiller`` in
``tests/keras_reference.py``, dropout off):

- layers: Conv1D(4, 2) - BatchNorm - Dropout - Conv1D(8, 2) - BatchNorm - Dropout - Flatten - Dense(2) -
  sigmoid, written as products over the stacked axis (``tf.einsum``); BatchNorm as Keras does it for 3-D
  inputs (batch moments, biased variance, momentum 0.99, epsilon 1e-3);
- losses: :func:`lib.train.fitting.hinton_kd_loss` and :func:`lib.train.fitting.paper_kd_loss` themselves, called per
  member inside the traced step (their hard term is the BCE of a student trained alone); the loss of the bank
  is the sum of its members' losses, whose gradient for each member's weights is that member's own;
- optimiser: Keras' Adam (beta 0.9 / 0.999, epsilon 1e-7, bias-corrected step size), elementwise, so stacking
  changes nothing, with one learning rate per member; a member past its epochs is frozen (weights, moments and
  BatchNorm statistics);
- what differs from Keras by construction: the batch order is a NumPy permutation per epoch from the split's
  seed, and the dropout masks come from stateless random numbers keyed by (seed, step, layer), drawn once per
  step and shared by every member: both are fixed by the seed, independent of what ran before in the process
  and of how many members the bank holds or where a member sits in it (a member trained alone gets the same
  masks), and every member of a split sees the same masks (common random numbers for the paired comparisons).

The teacher is frozen, and its inputs are fixed, so its logits are computed once per split
(:func:`teacher_logits`) rather than at every step of every distillation. Each member comes back as a
:class:`Trained` whose ``model`` is an ordinary Keras student (:func:`to_keras`), ready for saving, evaluation and TFLite conversion, with the history of
its epochs (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and, for distilled members,
``distillation_loss``), and with its weights at the epochs asked for in ``snapshots`` (the alpha x T ablation is
scored at ``ablation_epochs`` while the chosen cell trains on to ``kd_epochs``: that cell *is* SM, the same
loss, initial weights and batches as a fresh student distilled with it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import tensorflow as tf
import tf_keras as keras

from lib.train import architectures, fitting

LOSSES = ("bce", "hinton", "paper")
BN_EPS = 1e-3       # Keras' BatchNormalization epsilon
BN_MOMENTUM = 0.99  # Keras' BatchNormalization momentum
BETA_1, BETA_2, ADAM_EPS = 0.9, 0.999, 1e-7  # Keras' Adam defaults
# The student's weights in Keras' get_weights() order: (name, shape given n_features). Moving statistics last
# within each BatchNorm, as Keras lists them.
_CONV1, _CONV2 = 4, 8


def conv_bn_shapes(conv1: int, conv2: int) -> list[tuple[str, tuple]]:
    """The weights of two kernel-2 Conv1D - BatchNorm blocks (``conv1`` then ``conv2`` filters) in Keras'
    ``get_weights()`` order, moving statistics last within each BatchNorm: the opening of both reference
    architectures (the student's and, in :mod:`lib.train.teacher_bank`, the teacher's)."""
    return [("conv1_kernel", (2, 1, conv1)), ("conv1_bias", (conv1,)),
            ("bn1_gamma", (conv1,)), ("bn1_beta", (conv1,)), ("bn1_mean", (conv1,)), ("bn1_var", (conv1,)),
            ("conv2_kernel", (2, conv1, conv2)), ("conv2_bias", (conv2,)),
            ("bn2_gamma", (conv2,)), ("bn2_beta", (conv2,)), ("bn2_mean", (conv2,)), ("bn2_var", (conv2,))]


def _shapes(n_features: int) -> list[tuple[str, tuple]]:
    flat = (n_features - 2) * _CONV2
    return conv_bn_shapes(_CONV1, _CONV2) + [("logits_kernel", (flat, 2)), ("logits_bias", (2,))]


TRAINABLE = ("conv1_kernel", "conv1_bias", "bn1_gamma", "bn1_beta", "conv2_kernel", "conv2_bias", "bn2_gamma",
             "bn2_beta", "logits_kernel", "logits_bias")


@dataclass(frozen=True)
class Member:
    """One student of a bank: its name, loss ('bce' = hard labels only, 'hinton', 'paper'), alpha and T (KD
    losses only), Adam learning rate, epochs, and the epochs after which its weights are kept (``snapshots``)."""
    name: str
    loss: str
    lr: float
    epochs: int
    alpha: float = 1.0
    temperature: float = 1.0
    snapshots: tuple[int, ...] = ()

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"member {self.name!r}: loss must be one of {LOSSES}, got {self.loss!r}")
        if self.epochs < 1 or self.lr <= 0:
            raise ValueError(f"member {self.name!r}: epochs must be >= 1 and lr > 0 (got {self.epochs}, {self.lr})")
        if self.loss != "bce" and not (0 <= self.alpha <= 1 and self.temperature > 0):
            raise ValueError(f"member {self.name!r}: alpha in [0, 1] and T > 0 (got {self.alpha}, {self.temperature})")
        bad = [e for e in self.snapshots if not 1 <= e <= self.epochs]
        if bad:
            raise ValueError(f"member {self.name!r}: snapshot epoch(s) {bad} outside 1..{self.epochs}")


@dataclass
class Trained:
    """One member after training: its final ``weights`` (Keras' order), its ``history``, its weights at its
    snapshot epochs, and ``model``, the Keras student holding the final weights (:func:`to_keras`), built when
    first asked for: a bank's caller mostly needs weights (grid cells are scored, out-of-fold students predict),
    and building a Keras student for every member of a split would cost more than training them. ``model`` is
    built once: after :func:`lib.train.fitting.finish_bn` recomputes its
    BatchNorm statistics, ``model`` and ``weights`` no longer hold the same values (``weights`` stays what the
    bank trained). ``seconds`` is the whole bank's wall time, shared by all its members (not one member's
    cost)."""
    weights: list
    history: dict
    seconds: float
    n_features: int
    name: str
    dropout: float
    snapshots: dict = field(default_factory=dict)
    best_epoch: int = 0  # as lib.train.fitting.Trained: no early stopping in a bank

    @cached_property
    def model(self) -> keras.Model:
        return to_keras(self.weights, self.n_features, self.name, self.dropout)


def teacher_logits(teacher, X: np.ndarray) -> np.ndarray:
    """The frozen teacher's pre-sigmoid logits of ``X`` (inference mode), once per split."""
    view = architectures.logits_model(teacher)
    return np.asarray(fitting.predict(view, np.asarray(X, dtype=np.float32)), dtype=np.float32)


# ------------------------------------------------------------------------------------------------ the graph
class _Graph:
    """Stacked variables and the traced step / predict functions for one (members' losses, n_features,
    dropout): ``losses`` holds each member's loss ('bce', 'hinton' or 'paper'), so the step computes only the
    loss each member trains with (their alpha, T and learning rates are inputs: one graph serves every grid of
    the same shape)."""

    def __init__(self, losses: tuple[str, ...], n_features: int, dropout: float):
        self.losses = tuple(losses)
        self.k, self.n_features, self.dropout = len(self.losses), n_features, float(dropout)
        k = self.k
        self.shapes = _shapes(n_features)
        self.vars = {n: tf.Variable(tf.zeros((k, *s)), name=n, trainable=False) for n, s in self.shapes}
        self.m = {n: tf.Variable(tf.zeros((k, *dict(self.shapes)[n])), trainable=False) for n in TRAINABLE}
        self.v = {n: tf.Variable(tf.zeros((k, *dict(self.shapes)[n])), trainable=False) for n in TRAINABLE}
        self.step_count = tf.Variable(0.0, trainable=False)
        spec_x = tf.TensorSpec((None, n_features, 1), tf.float32)
        spec_y = tf.TensorSpec((None, 2), tf.float32)
        spec_k = tf.TensorSpec((k,), tf.float32)
        self.step = tf.function(self._step, input_signature=[
            spec_x, spec_y, tf.TensorSpec((None, 2), tf.float32), spec_k, spec_k, spec_k, spec_k,
            tf.TensorSpec((2,), tf.int32), tf.TensorSpec((k, None), tf.float32)])
        self.predict = tf.function(self._predict, input_signature=[spec_x])
        self.val_loss = tf.function(self._val_loss, input_signature=[spec_x, spec_y])

    # -- layers ------------------------------------------------------------------------------------------
    def _conv(self, x, kernel, bias):
        """Conv1D with kernel 2, 'valid', on x [K, B, T, C_in] (or [B, T, C_in] shared): [K, B, T-1, C_out]."""
        if x.shape.rank == 3:
            pair = tf.stack([x[:, :-1, :], x[:, 1:, :]], axis=2)  # [B, T-1, 2, C_in]
            out = tf.einsum("btji,kjio->kbto", pair, kernel)
        else:
            pair = tf.stack([x[:, :, :-1, :], x[:, :, 1:, :]], axis=3)  # [K, B, T-1, 2, C_in]
            out = tf.einsum("kbtji,kjio->kbto", pair, kernel)
        return out + bias[:, None, None, :]

    def _bn(self, x, name, training):
        gamma, beta = self.vars[f"{name}_gamma"], self.vars[f"{name}_beta"]
        if training:
            mean, var = tf.nn.moments(x, axes=[1, 2])  # per member and channel; biased, as Keras for 3-D inputs
        else:
            mean, var = self.vars[f"{name}_mean"], self.vars[f"{name}_var"]
        inv = tf.math.rsqrt(var + BN_EPS) * gamma
        out = x * inv[:, None, None, :] + (beta - mean * inv)[:, None, None, :]
        return out, mean, var

    def _drop(self, x, seed, layer: int):
        """Keras' Dropout (keep where u >= rate, scale by 1 / (1 - rate)) with one mask [B, T, C] per step and
        layer, shared by every member (broadcast over the stacked axis)."""
        if self.dropout <= 0:
            return x
        u = tf.random.stateless_uniform(tf.shape(x)[1:], seed=seed + tf.constant([0, layer], tf.int32) * 1_000_003)
        keep = tf.cast(u >= self.dropout, x.dtype)
        return x * keep[None] / (1.0 - self.dropout)

    def _forward(self, x, training: bool, seed=None):
        """Logits [K, B, 2] of every member, and the batch moments of both BatchNorms when training."""
        V = self.vars
        h = self._conv(x, V["conv1_kernel"], V["conv1_bias"])
        h, m1, v1 = self._bn(h, "bn1", training)
        if training:
            h = self._drop(h, seed, 1)
        h = self._conv(h, V["conv2_kernel"], V["conv2_bias"])
        h, m2, v2 = self._bn(h, "bn2", training)
        if training:
            h = self._drop(h, seed, 2)
        flat = tf.reshape(h, (self.k, tf.shape(h)[1], -1))
        logits = tf.einsum("kbf,kfo->kbo", flat, V["logits_kernel"]) + V["logits_bias"][:, None, :]
        return logits, (m1, v1, m2, v2)

    def _predict(self, x):
        logits, _ = self._forward(x, training=False)
        return logits

    # -- losses: lib.train.fitting's, per member ---------------------------------------------------------------
    def _losses(self, y, logits, t_logits, alpha, temperature, w):
        """Per-member (total, soft, probs) with :func:`lib.train.fitting.hinton_kd_loss` ('bce': its hard term, the
        BCE of a student trained alone; 'hinton') and :func:`lib.train.fitting.paper_kd_loss` ('paper'), each member
        only its own; ``w`` [K, B]: each member's weight of each row of the batch (class weights; 0 for a row the
        member must not learn from). Only the member's own loss is computed (computing every loss for every
        member and picking one with ``tf.where`` gives the same values and gradients, ``tests/test_student_bank.py``, in
        about twice the operations)."""
        totals, softs = [], []
        for k, loss in enumerate(self.losses):
            if loss == "paper":
                total, _, soft = fitting.paper_kd_loss(y, tf.sigmoid(logits[k]), tf.sigmoid(t_logits), alpha[k],
                                                        temperature[k], w[k])
            elif loss in ("hinton", "bce"):
                total, hard, soft = fitting.hinton_kd_loss(y, logits[k], t_logits, alpha[k], temperature[k], w[k])
                if loss == "bce":
                    total, soft = hard, tf.constant(0.0)
            else:  # Member validates its loss; a graph built by hand must not train a member on the wrong one
                raise ValueError(f"member {k}: loss must be one of {LOSSES}, got {loss!r}")
            totals.append(total)
            softs.append(soft)
        return tf.stack(totals), tf.stack(softs), tf.sigmoid(logits)

    def _val_loss(self, x, y):
        """Per member: Keras' BinaryCrossentropy of its sigmoid outputs (what ``evaluate`` reports)."""
        logits, _ = self._forward(x, training=False)
        bce = keras.losses.BinaryCrossentropy()
        return tf.stack([bce(y, tf.sigmoid(logits[k])) for k in range(self.k)])

    # -- one training step ---------------------------------------------------------------------------------
    def _step(self, x, y, t_logits, alpha, temperature, lr, active, seed, w):
        trainable = [self.vars[n] for n in TRAINABLE]
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            logits, (m1, v1, m2, v2) = self._forward(x, training=True, seed=seed)
            total, soft, probs = self._losses(y, logits, t_logits, alpha, temperature, w)
            objective = tf.reduce_sum(total * active)
        grads = tape.gradient(objective, trainable)
        self.step_count.assign_add(1.0)
        t = self.step_count
        step_size = lr * tf.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)  # [K]
        for name, var, g in zip(TRAINABLE, trainable, grads):
            on = tf.reshape(active, (-1,) + (1,) * (var.shape.rank - 1))
            m, v = self.m[name], self.v[name]
            m.assign_add(on * (g - m) * (1 - BETA_1))
            v.assign_add(on * (tf.square(g) - v) * (1 - BETA_2))
            size = tf.reshape(step_size, on.shape)
            var.assign_sub(on * (m * size) / (tf.sqrt(v) + ADAM_EPS))
        for name, value in (("bn1_mean", m1), ("bn1_var", v1), ("bn2_mean", m2), ("bn2_var", v2)):
            var = self.vars[name]
            var.assign_sub(active[:, None] * (var - value) * (1 - BN_MOMENTUM))
        correct = tf.cast(tf.equal(tf.argmax(probs, -1), tf.argmax(y, -1)[None]), tf.float32)
        return total, soft, tf.reduce_sum(correct, axis=1)


# The traced graphs of this process, one per (losses, n_features, dropout). Not thread-safe: one task at a time
# per process, as every engine of lib.core.parallel runs them (Dask workers with --nthreads 1, README).
_GRAPHS: dict[tuple, _Graph] = {}


def _graph(losses: tuple[str, ...], n_features: int, dropout: float) -> _Graph:
    key = (tuple(losses), n_features, float(dropout))
    if key not in _GRAPHS:
        _GRAPHS[key] = _Graph(tuple(losses), n_features, dropout)
    return _GRAPHS[key]


# ------------------------------------------------------------------------------------------------ training
def train(members: list[Member], init_weights: list[np.ndarray], X_train, y_train, seed: int, batch_size: int,
          t_logits_train: np.ndarray | None = None, X_val=None, y_val=None, dropout: float = 0.2,
          row_weights: np.ndarray | None = None) -> dict[str, Trained]:
    """Train every member from ``init_weights`` (one student's ``get_weights()``: all members start alike) on
    (``X_train``, ``y_train``) in batches of ``batch_size``, one NumPy permutation of the rows per epoch from
    ``seed``; KD members need the teacher's logits of the training rows. ``row_weights``: the loss weight of
    each training row, [n] for every member (class weights) or [K, n] per member (0 keeps a row out of a
    member's loss: the out-of-fold students of :mod:`lib.train.distillation`; the row still joins the batch's
    BatchNorm moments, which use no labels). Returns ``{name: Trained}``."""
    if not members:
        raise ValueError("a bank needs at least one member")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique, got {names}")
    X = np.asarray(X_train, dtype=np.float32)
    if X.ndim == 2:
        X = X[..., None]
    y = np.asarray(y_train).astype(int)
    n, n_features = X.shape[0], X.shape[1]
    Y = np.eye(2, dtype=np.float32)[y]
    needs_teacher = any(m.loss != "bce" for m in members)
    if needs_teacher and (t_logits_train is None or np.shape(t_logits_train) != (n, 2)):
        raise ValueError(f"KD members need the teacher's logits of the {n} training rows, shape ({n}, 2)")
    TL = np.zeros((n, 2), np.float32) if t_logits_train is None else np.asarray(t_logits_train, np.float32)
    W = np.ones((len(members), n), np.float32) if row_weights is None else np.asarray(row_weights, np.float32)
    if W.ndim == 1:
        W = np.broadcast_to(W, (len(members), n))
    if W.shape != (len(members), n) or not np.isfinite(W).all() or (W < 0).any():
        raise ValueError(f"row_weights must be finite, >= 0 and of shape ({n},) or ({len(members)}, {n}); "
                         f"got {np.shape(row_weights)}")
    g = _graph(tuple(m.loss for m in members), n_features, dropout)
    shapes = dict(g.shapes)
    if [tuple(w.shape) for w in init_weights] != [shapes[k] for k, _ in g.shapes]:
        raise ValueError(f"init_weights do not match the student at {n_features} features")
    for (name, _), w in zip(g.shapes, init_weights):
        g.vars[name].assign(np.broadcast_to(np.asarray(w, np.float32), (len(members), *w.shape)).copy())
    for d in (g.m, g.v):
        for var in d.values():
            var.assign(tf.zeros_like(var))
    g.step_count.assign(0.0)
    f32 = lambda v: tf.constant(np.asarray(v, np.float32))  # noqa: E731
    alpha, temp = f32([m.alpha for m in members]), f32([m.temperature for m in members])
    lr = f32([m.lr for m in members])
    epochs = np.array([m.epochs for m in members])
    Xv = None if X_val is None or len(X_val) == 0 else np.asarray(X_val, np.float32).reshape(len(X_val), n_features, 1)
    Yv = None if Xv is None else np.eye(2, dtype=np.float32)[np.asarray(y_val).astype(int)]
    hist = {m.name: {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "distillation_loss")
                     if not (k == "distillation_loss" and m.loss == "bce") and not (k.startswith("val") and Xv is None)}
            for m in members}
    snaps: dict[str, dict] = {m.name: {} for m in members}
    # Keras' per-epoch training numbers: a compiled student's loss is a mean over rows (batches weighted by their
    # size); the Distiller's loss trackers are means over batches; accuracy is over rows for both.
    per_batch = np.array([m.loss != "bce" for m in members])
    rng = np.random.default_rng(seed)
    start, step = time.perf_counter(), 0
    for epoch in range(1, int(epochs.max()) + 1):
        active = f32(epochs >= epoch)
        order = rng.permutation(n)
        totals, softs, sizes, correct = [], [], [], np.zeros(len(members))
        for b0 in range(0, n, batch_size):
            idx = order[b0:b0 + batch_size]
            total, soft, corr = g.step(tf.constant(X[idx]), tf.constant(Y[idx]), tf.constant(TL[idx]), alpha,
                                       temp, lr, active, tf.constant([seed, step], tf.int32),
                                       tf.constant(W[:, idx]))
            step += 1
            totals.append(total.numpy())
            softs.append(soft.numpy())
            sizes.append(len(idx))
            correct += corr.numpy()
        w = np.asarray(sizes, float)
        totals, softs = np.asarray(totals), np.asarray(softs)
        loss = np.where(per_batch, totals.mean(axis=0), (totals * w[:, None]).sum(axis=0) / w.sum())
        soft = softs.mean(axis=0)
        val = None
        if Xv is not None:
            zv = g.predict(tf.constant(Xv)).numpy()
            val = (g.val_loss(tf.constant(Xv), tf.constant(Yv)).numpy(),
                   (zv.argmax(-1) == Yv.argmax(-1)[None]).mean(axis=1))
        for i, m in enumerate(members):
            if epoch > m.epochs:
                continue
            h = hist[m.name]
            h["loss"].append(float(loss[i]))
            h["accuracy"].append(float(correct[i] / n))
            if "distillation_loss" in h:
                h["distillation_loss"].append(float(soft[i]))
            if val is not None:
                h["val_loss"].append(float(val[0][i]))
                h["val_accuracy"].append(float(val[1][i]))
            if epoch in m.snapshots:
                snaps[m.name][epoch] = _member_weights(g, i)
    seconds = time.perf_counter() - start
    return {m.name: Trained(_member_weights(g, i), hist[m.name], seconds, n_features, m.name, dropout,
                            snapshots=snaps[m.name]) for i, m in enumerate(members)}


def _member_weights(g: _Graph, i: int) -> list[np.ndarray]:
    return [g.vars[name][i].numpy().copy() for name, _ in g.shapes]


def to_keras(weights: list[np.ndarray], n_features: int, name: str = "SM", dropout: float = 0.2):
    """An ordinary Keras student (:func:`lib.train.architectures.build_student`) holding ``weights`` (Keras' order)."""
    model = architectures.build_student(n_features, name=name, dropout=dropout)
    model.set_weights(weights)
    return model
