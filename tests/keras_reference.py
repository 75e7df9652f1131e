"""A plain-Keras distiller: the reference implementation that tests/test_student_bank.py checks lib.train.student_bank against step for
step (the study itself trains its students in lib.train.student_bank). Students train against hard labels and a frozen teacher
with lib.train.fitting's losses; only the students' weights change, and the caller's teacher is left alone."""
import numpy as np
import tensorflow as tf
import tf_keras as keras

from lib.train import architectures, student_bank
from lib.train.fitting import hinton_kd_loss, paper_kd_loss


class Distiller(keras.Model):
    """Trains ``students`` (one model or a list, one alpha and T each or shared) against hard labels and a frozen
    ``teacher``, each on its own loss; metrics report the first student. The teacher is never modified."""

    def __init__(self, students, teacher: keras.Model, loss: str, alpha, temperature):
        super().__init__(name=f"distill_{loss}")
        if loss not in ("paper", "hinton"):
            raise ValueError(f"kd loss must be 'paper' or 'hinton', got {loss!r}")
        self.students = list(students) if isinstance(students, (list, tuple)) else [students]
        n = len(self.students)
        self.alphas = [float(a) for a in (alpha if isinstance(alpha, (list, tuple)) else [alpha] * n)]
        self.temperatures = [float(t) for t in (temperature if isinstance(temperature, (list, tuple)) else [temperature] * n)]
        if not len(self.alphas) == len(self.temperatures) == n:
            raise ValueError("one alpha and one temperature per student")
        self.teacher = teacher  # frozen by construction: called with training=False, never in ``variables`` below
        self.student_logits = [architectures.logits_model(s) for s in self.students]
        self.teacher_logits = architectures.logits_model(teacher)
        self.kind = loss
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss", "hard_loss", "distillation_loss")}
        self.acc = keras.metrics.CategoricalAccuracy(name="accuracy")
        self.bce = keras.losses.BinaryCrossentropy()

    @property
    def student(self) -> keras.Model:
        return self.students[0]

    @property
    def metrics(self):
        return [*self.trackers.values(), self.acc]

    def call(self, x, training=False):
        return self.student(x, training=training)

    def train_step(self, data):
        x, y = data
        t_logits = self.teacher_logits(x, training=False)
        variables = [v for s in self.students for v in s.trainable_variables]
        with tf.GradientTape() as tape:
            parts = []
            for view, alpha, T in zip(self.student_logits, self.alphas, self.temperatures):
                s_logits = view(x, training=True)
                if self.kind == "paper":
                    parts.append((paper_kd_loss(y, tf.sigmoid(s_logits), tf.sigmoid(t_logits), alpha, T), s_logits))
                else:
                    parts.append((hinton_kd_loss(y, s_logits, t_logits, alpha, T), s_logits))
            total = tf.add_n([p[0][0] for p in parts])
        grads = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        (first, hard, soft), first_logits = parts[0]
        for k, v in zip(("loss", "hard_loss", "distillation_loss"), (first, hard, soft)):
            self.trackers[k].update_state(v)
        self.acc.update_state(y, tf.sigmoid(first_logits))
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        probs = self.student(x, training=False)
        self.trackers["loss"].update_state(self.bce(y, probs))
        self.acc.update_state(y, probs)
        return {"loss": self.trackers["loss"].result(), "accuracy": self.acc.result()}


# The student's convolutions are linear, so conv1's bias and conv2's bias (and, with dropout off, bn1's beta)
# only shift what a later BatchNorm subtracts again: their true gradient is 0 and their computed one rounding
# noise, which Adam scales up to full-size steps, so they drift apart between any two summation orders without
# changing what the model computes. The moving means of both BatchNorms average those drifting shifts with a lag,
# so they drift too (even bias - moving mean moved 1.5e-3 apart here). Those weights are compared through the
# predictions, which use them; the moving variances, compared directly, check the BatchNorm momentum.
NULL_DIRECTIONS = (1, 3, 4, 7, 10)  # conv1 bias, bn1 beta, bn1 moving mean, conv2 bias, bn2 moving mean


def close(a, b, rtol=2e-4, atol=2e-5, X=None):
    """Two trainings of one student agree: every weight but the null directions, and the predictions on X."""
    for i, (wa, wb) in enumerate(zip(a, b)):
        if i not in NULL_DIRECTIONS:
            np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol, err_msg=f"weight {i}")
    if X is not None:
        pa, pb = (student_bank.to_keras(w, X.shape[1]).predict(X[..., None], verbose=0) for w in (a, b))
        np.testing.assert_allclose(pa, pb, atol=1e-3)  # measured 3.4e-4: the moving means lag behind the shifts


# ------------------------------------------------------------------------------------------------ the teacher
def teacher_alone(P, X, y, X_val, y_val, seed: int, rows=None, epochs: int | None = None, dropout_off: bool = True):
    """The Keras teacher of ``seed`` (``build_teacher`` after ``seed_everything(seed)``; dropout rates set to 0
    when ``dropout_off``) trained alone as :func:`lib.train.fitting.train_teacher` trains it, on the batches of a
    :mod:`lib.train.teacher_bank` member: its rows (sorted; None: all), one permutation per epoch from
    ``np.random.default_rng(seed)``, batches of ``P.batch_size`` with ``train_on_batch``, and the run's
    :class:`lib.train.fitting.BestOnValidation` callback driven epoch by epoch when ``train_teacher`` would
    use it (else ``finish_bn`` at the end). Returns (model, history, best_epoch, per-step losses)."""
    from lib.train import fitting, teacher_bank

    n_features = X.shape[1]
    X, X_val = np.asarray(X, np.float32).reshape(len(X), n_features, 1), np.asarray(X_val, np.float32).reshape(
        len(X_val), n_features, 1)  # the model's input, as lib.data.preprocess prepares it
    rows = np.arange(len(y)) if rows is None else np.sort(np.asarray(rows))
    model = architectures.build_teacher(n_features)
    if dropout_off:
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
    model.set_weights(teacher_bank.initial_weights(n_features, seed))
    # fitting.compiled without its steps_per_execution, which train_on_batch cannot use (the same updates)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=P.teacher_lr), loss=fitting.loss_for(P, y[rows]),
                  metrics=["accuracy"])
    cb = None
    if (P.teacher_patience is not None or P.bn_recompute) and len(y_val):
        cb = fitting.BestOnValidation(X[rows], X_val, y_val, P.teacher_patience, P.bn_recompute,
                                      fitting.class_weights(P, y[rows]))
        cb.set_model(model)
        cb.on_train_begin()
    Y = fitting.onehot(y)
    rng = np.random.default_rng(seed)
    hist, step_losses = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}, []
    for epoch in range(epochs or P.teacher_epochs):
        order = rows[rng.permutation(len(rows))]
        total, correct = 0.0, 0.0
        for b0 in range(0, len(order), P.batch_size):
            idx = order[b0:b0 + P.batch_size]
            m = model.train_on_batch(X[idx], Y[idx], return_dict=True)
            step_losses.append(m["loss"])
            total += len(idx) * m["loss"]
            correct += len(idx) * m["accuracy"]
        hist["loss"].append(total / len(rows))
        hist["accuracy"].append(correct / len(rows))
        if cb is not None:
            logs = {}
            cb.on_epoch_end(epoch, logs)
            hist["val_loss"].append(logs["val_loss"])
            hist["val_accuracy"].append(logs["val_accuracy"])
            if model.stop_training:
                break
    if cb is not None:
        cb.on_train_end()
    else:
        fitting.finish_bn(P, model, X[rows])
    best = cb.best_epoch if cb is not None and P.teacher_patience is not None else 0
    return model, {k: v for k, v in hist.items() if v}, best, step_losses
