"""Training and evaluation, written once for every notebook: the teacher (Keras ``fit``), the distillation losses,
evaluation and model files. The students (SM_scratch, SM, SM_paperloss, the alpha x T grid) train in
:mod:`lib.bank`, which calls the losses below; ``tests/keras_reference.py`` holds the plain-Keras ``Distiller``
the bank is checked against step for step.

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

from . import metrics, models, paths, preprocess, repro, results

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


# ------------------------------------------------------------------------------------------------- evaluation
def predict(model: keras.Model, X: np.ndarray) -> np.ndarray:
    return model.predict(X, batch_size=256, verbose=0)


def evaluate(model: keras.Model, X: np.ndarray, y: np.ndarray) -> dict:
    """Every contract metric of ``model`` on (X, y)."""
    return metrics.classify(y, predict(model, X))


def choose(grid_rows: list[dict]) -> dict:
    """Best cell of the alpha x T grid (:mod:`lib.distillation`): highest accuracy, then lowest BCE, then the
    first in grid order."""
    return sorted(grid_rows, key=lambda r: (-r["accuracy"], r["bce"]))[0]


# ------------------------------------------------------------------------------------------------- per split
@dataclass
class Outcome:
    """What a notebook keeps of one split's work (:func:`lib.parallel.map` returns one per split)."""
    rows: list[dict] = field(default_factory=list)    # results contract rows
    extra: dict = field(default_factory=dict)         # notebook-specific tables of the split
    line: str = ""                                    # the progress line


def teacher_split(P, ds, s) -> Outcome:
    """Notebook 02: train the split's teacher (TM), save it, evaluate it on the test and training rows."""
    prep = preprocess.prepare(P, ds, s)
    t = train_teacher(P, prep, seed=s.seed)
    save(t.model, P.run, "TM", s.id)
    m = evaluate(t.model, prep.X_test, prep.y_test)
    train_acc = evaluate(t.model, prep.X_train, prep.y_train)["accuracy"]
    row = results.row(P, s, "TM", "keras", m, params=t.model.count_params(), train_accuracy=train_acc,
                      train_time_s=round(t.seconds, 2))
    return Outcome([row], {"curves": history_rows(t.history, s.id, "TM")},
                   f"test accuracy {m['accuracy']:.4f}, train accuracy {train_acc:.4f} ({t.seconds:.1f} s)")


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
