"""Training and evaluation, written once for every notebook: the teacher, the scratch student and distillation.

The reference setting (shared/reference/README.md, section 2): Adam, binary cross-entropy on one-hot labels,
batch 32, a fixed number of epochs, no callbacks. ``validation_data`` is the split's ``val`` part (in the paper
protocol that *is* the test set, as in the authors' code).

Two distillation losses (``kd_loss`` in params), both ``alpha * hard + (1 - alpha) * soft``:

- ``paper``: exactly the authors' ``Distiller``: hard = BCE(y, student sigmoid outputs); soft =
  KLDivergence(softmax(teacher_probs / T), softmax(student_probs / T)), the softmax taken over *sigmoid
  probabilities* divided by T, and no T^2 factor (so the soft term is ~1e-4 and barely acts);
- ``hinton``: hard = the same BCE; soft = T^2 * KL(softmax(teacher_logits / T) || softmax(student_logits / T)),
  the temperature applied to the pre-sigmoid logits (Hinton et al., 2015).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import tensorflow as tf
import tf_keras as keras

from . import metrics, models, paths, preprocess, repro

tf.get_logger().setLevel("ERROR")  # retracing notices for the many small models are expected, not news


# Batches run per tf.function call: the same batches and updates as one step per call, without Python overhead
# between steps (the models are tiny, so that overhead dominated: ~3x faster here).
STEPS_PER_EXECUTION = 32

# ------------------------------------------------------------------------------------------------- losses
def paper_kd_loss(y_onehot, student_probs, teacher_probs, alpha: float, temperature: float):
    """The authors' loss. Returns (total, hard, soft)."""
    hard = keras.losses.BinaryCrossentropy()(y_onehot, student_probs)
    soft = keras.losses.KLDivergence()(tf.nn.softmax(teacher_probs / temperature, axis=1),
                                       tf.nn.softmax(student_probs / temperature, axis=1))
    return alpha * hard + (1.0 - alpha) * soft, hard, soft


def hinton_kd_loss(y_onehot, student_logits, teacher_logits, alpha: float, temperature: float):
    """Hinton's loss on logits with the T^2 factor. Returns (total, hard, soft)."""
    hard = keras.losses.BinaryCrossentropy()(y_onehot, tf.sigmoid(student_logits))
    soft = keras.losses.KLDivergence()(tf.nn.softmax(teacher_logits / temperature, axis=1),
                                       tf.nn.softmax(student_logits / temperature, axis=1))
    soft = soft * temperature ** 2
    return alpha * hard + (1.0 - alpha) * soft, hard, soft


class Distiller(keras.Model):
    """Trains students against hard labels and a frozen ``teacher``; only the students' weights change.

    ``students`` is one model or a list; ``alpha`` and ``temperature`` are one value or one per student. Several
    students train side by side in one graph, each on its own loss (the summed loss has the same gradient for
    each student's weights as its own loss, and Adam is elementwise), which is how the alpha x T ablation
    trains its 15 cells at the cost of one. ``fit`` batches and shuffles exactly like ``fit`` on a student
    alone, so SM and SM_scratch see the same data order at the same budget. Metrics, ``evaluate`` and
    validation report the first student. The caller's teacher is not modified (its ``trainable`` flag included).
    """

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
        self.student_logits = [models.logits_model(s) for s in self.students]
        self.teacher_logits = models.logits_model(teacher)
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


# ------------------------------------------------------------------------------------------------- training
@dataclass
class Trained:
    model: keras.Model
    history: dict = field(default_factory=dict)  # per-epoch loss / accuracy / val_loss / val_accuracy
    seconds: float = 0.0


def onehot(y) -> np.ndarray:
    return keras.utils.to_categorical(np.asarray(y), 2).astype("float32")


def _fit(model, prep, epochs, batch_size, validate: bool = True) -> tuple[dict, float]:
    start = time.perf_counter()
    validation = (prep.X_val, onehot(prep.y_val)) if validate and len(prep.y_val) else None
    hist = model.fit(prep.X_train, onehot(prep.y_train), epochs=epochs, batch_size=batch_size,
                     validation_data=validation, shuffle=True, verbose=0)
    keep = ("loss", "accuracy", "val_loss", "val_accuracy", "distillation_loss")
    return {k: [float(v) for v in hist.history[k]] for k in keep if k in hist.history}, \
        time.perf_counter() - start


def compiled(model: keras.Model, lr: float) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="binary_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    return model


def train_teacher(P, prep, seed: int) -> Trained:
    """The reference teacher: Adam(teacher_lr), BCE, teacher_epochs, batch_size."""
    repro.seed_everything(seed)
    model = compiled(models.build_teacher(prep.n_features), P.teacher_lr)
    hist, secs = _fit(model, prep, P.teacher_epochs, P.batch_size)
    return Trained(model, hist, secs)


def train_student(P, prep, seed: int, epochs: int | None = None, lr: float | None = None) -> Trained:
    """SM_scratch: the student on hard labels only (Adam(student_lr), BCE, student_epochs)."""
    repro.seed_everything(seed)
    model = compiled(models.build_student(prep.n_features, name="SM_scratch"), lr or P.student_lr)
    hist, secs = _fit(model, prep, epochs or P.student_epochs, P.batch_size)
    return Trained(model, hist, secs)


def distill(P, prep, teacher: keras.Model, seed: int, loss: str, alpha: float, temperature: float,
            epochs: int | None = None, lr: float | None = None, name: str = "SM") -> Trained:
    """SM: a fresh student (same seed, hence same initial weights, as SM_scratch) distilled from ``teacher``."""
    repro.seed_everything(seed)
    student = models.build_student(prep.n_features, name=name)
    d = Distiller(student, teacher, loss, alpha, temperature)
    d.compile(optimizer=keras.optimizers.Adam(learning_rate=lr or P.kd_lr), steps_per_execution=STEPS_PER_EXECUTION)
    hist, secs = _fit(d, prep, epochs or P.kd_epochs, P.batch_size)
    compiled(student, lr or P.kd_lr)  # a plain compiled student for saving / evaluation / conversion
    return Trained(student, hist, secs)


# ------------------------------------------------------------------------------------------------- evaluation
def predict(model: keras.Model, X: np.ndarray) -> np.ndarray:
    return model.predict(X, batch_size=256, verbose=0)


def evaluate(model: keras.Model, X: np.ndarray, y: np.ndarray) -> dict:
    """Every contract metric of ``model`` on (X, y)."""
    return metrics.classify(y, predict(model, X))


def ablation(P, prep, teacher: keras.Model, seed: int, score_on: str) -> list[dict]:
    """The paper's grid: alpha x T, one student per cell, all starting from the same initial weights (those of
    SM and SM_scratch: same seed), ``ablation_epochs`` each with the run's KD loss, trained side by side in one
    :class:`Distiller`; scored on ``score_on`` ('val' in rigorous, 'test' in paper, as the authors did)."""
    X, y = (prep.X_val, prep.y_val) if score_on == "val" else (prep.X_test, prep.y_test)
    cells = [(float(a), float(t)) for a in P.ablation_alphas for t in P.ablation_temperatures]
    repro.seed_everything(seed)
    first = models.build_student(prep.n_features, name="cell0")
    students = [first]
    for k in range(1, len(cells)):
        clone = keras.models.clone_model(first)
        clone.set_weights(first.get_weights())
        students.append(clone)
    d = Distiller(students, teacher, P.kd_loss, [a for a, _ in cells], [t for _, t in cells])
    d.compile(optimizer=keras.optimizers.Adam(learning_rate=P.kd_lr), steps_per_execution=STEPS_PER_EXECUTION)
    _fit(d, prep, P.ablation_epochs, P.batch_size, validate=False)
    rows = []
    for (alpha, T), student in zip(cells, students):
        out = predict(student, X)
        rows.append({"alpha": alpha, "temperature": T, "scored_on": score_on,
                     "accuracy": metrics.classify(y, out)["accuracy"],
                     "bce": float(keras.losses.BinaryCrossentropy()(onehot(y), out).numpy())})
    return rows


def choose(grid_rows: list[dict]) -> dict:
    """Best cell: highest accuracy, then lowest BCE, then the first in grid order."""
    return sorted(grid_rows, key=lambda r: (-r["accuracy"], r["bce"]))[0]


# ------------------------------------------------------------------------------------------------- per split
def splits_with_data(P, ds, splits) -> Iterator[tuple]:
    """(i, split, prepared data) for every split, printing one progress line per split."""
    for i, s in enumerate(splits):
        print(f"[{i + 1}/{len(splits)}] split {s.id}", flush=True)
        yield i, s, preprocess.prepare(P, ds, s)


def model_path(run: str, model: str, split_id: str) -> Path:
    return paths.models_dir(run) / f"{model}_{split_id}.keras"


def save(model: keras.Model, run: str, name: str, split_id: str) -> Path:
    path = model_path(run, name, split_id)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    return path


def load_model(run: str, name: str, split_id: str) -> keras.Model:
    path = model_path(run, name, split_id)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the notebook that trains {name} for run '{run}' first "
                                f"(make reproduce runs them in order)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable Keras model ({type(e).__name__}: {e}); delete it and re-run "
                         f"the notebook that trains {name}") from e


def history_rows(history: dict, split_id: str, model: str) -> list[dict]:
    n = len(next(iter(history.values()))) if history else 0
    return [{"split": split_id, "model": model, "epoch": e + 1, **{k: v[e] for k, v in history.items()}}
            for e in range(n)]
