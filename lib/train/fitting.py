"""Training and evaluation, written once for every notebook: the teacher (Keras ``fit``), the distillation losses,
evaluation and model files. The students (SM_scratch, SM, SM_paperloss, the alpha x T grid) train in
:mod:`lib.train.student_bank`, which calls the losses below; ``tests/keras_reference.py`` holds the plain-Keras ``Distiller``
the bank is checked against step for step.

The reference setting (shared/reference/README.md, section 2): Adam, binary cross-entropy on one-hot labels,
batch 32, a fixed number of epochs, no callbacks. ``validation_data`` is the split's ``val`` part (in the paper
protocol that *is* the test set, as in the authors' code).

The rigorous runs change three things of that protocol (params ``bn_recompute``, ``teacher_patience``,
``class_weight``; the paper runs keep the authors' settings):

- **BatchNorm statistics recomputed** (:func:`recompute_bn`): after fitting, each BatchNorm's moving mean and
  variance are set to the mean and (biased) variance of its inputs over the training rows in inference mode,
  layer by layer. At Keras' momentum 0.99, a PBCNT fold (~90 rows, 3 steps per epoch) ends 50 epochs with 22%
  of the initial statistics still in the moving estimates; the teacher then scores its own training rows at the
  majority rate. Notebook 02 shows the evaluation-mode training accuracy before and after, and flags any model
  whose evaluation-mode training accuracy is more than ``bn_gap_limit`` below its fit-time accuracy;
- **early stopping of the teacher** (:class:`BestOnValidation`) on the class-weighted BCE of the inner
  validation part, computed after the BatchNorm recompute, best weights restored, at most ``teacher_epochs``;
- **class weights** (:func:`class_weights`, :class:`WeightedBCE`): each training row weighs n / (2 n_class) in every loss, so a
  majority of 122 tumours against 11 normals (PBCNT) does not make "always tumour" the cheapest answer.

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

from lib.core import metrics, paths, repro
from lib.data import preprocess
from lib.train import architectures

tf.get_logger().setLevel("ERROR")  # retracing notices for the many small models are expected, not news


# Batches run per tf.function call: the same batches and updates as one step per call, without Python overhead
# between steps (the models are tiny, so that overhead dominated their training time).
STEPS_PER_EXECUTION = 32

# ------------------------------------------------------------------------------------------------- losses
def paper_kd_loss(y_onehot, student_probs, teacher_probs, alpha: float, temperature: float, sample_weight=None):
    """The authors' loss. Returns (total, hard, soft). ``sample_weight``: one weight per row (class weights, or
    0 for rows a member must not learn from), Keras' weighted mean over the batch."""
    hard = keras.losses.BinaryCrossentropy()(y_onehot, student_probs, sample_weight=sample_weight)
    soft = keras.losses.KLDivergence()(tf.nn.softmax(teacher_probs / temperature, axis=1),
                                       tf.nn.softmax(student_probs / temperature, axis=1), sample_weight=sample_weight)
    return alpha * hard + (1.0 - alpha) * soft, hard, soft


def hinton_kd_loss(y_onehot, student_logits, teacher_logits, alpha: float, temperature: float,
                   sample_weight=None):
    """Hinton's loss on logits with the T^2 factor. Returns (total, hard, soft); ``sample_weight`` as in
    :func:`paper_kd_loss`."""
    hard = keras.losses.BinaryCrossentropy()(y_onehot, tf.sigmoid(student_logits), sample_weight=sample_weight)
    soft = keras.losses.KLDivergence()(tf.nn.softmax(teacher_logits / temperature, axis=1),
                                       tf.nn.softmax(student_logits / temperature, axis=1),
                                       sample_weight=sample_weight)
    soft = soft * temperature ** 2
    return alpha * hard + (1.0 - alpha) * soft, hard, soft


# ------------------------------------------------------------------------------------------------- training
@dataclass
class Trained:
    model: keras.Model
    history: dict = field(default_factory=dict)  # per-epoch loss / accuracy / val_loss / val_accuracy
    seconds: float = 0.0
    best_epoch: int = 0  # early stopping: the epoch whose weights were kept (0: the last one, no early stopping)


def class_weights(P, y) -> np.ndarray | None:
    """(w_benign, w_malignant) = n / (2 n_class) of the training labels with ``class_weight: balanced``, else
    None."""
    if P.class_weight is None:
        return None
    counts = np.bincount(np.asarray(y, dtype=int), minlength=2).astype(float)
    if (counts == 0).any():
        raise ValueError("class_weight 'balanced' needs both classes in the training rows")
    return counts.sum() / (2 * counts)


# ------------------------------------------------------------------------------------------------- BatchNorm
def _chain(model: keras.Model) -> list:
    """The layers of a single-path model after its input, in order (the study's teacher and student are chains;
    so are their pruned copies, whose layers Keras lists with several inbound nodes, which is why the layers are
    applied one after the other rather than through ``layer.input``)."""
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"recompute_bn: {model.name} is not a single-input, single-output chain")
    return layers


def recompute_bn(model: keras.Model, X: np.ndarray) -> keras.Model:
    """Set every BatchNorm's moving statistics to the mean and biased variance of its inputs on ``X`` (inference
    mode), first layer first, so each later layer sees the corrected earlier ones. In place; returns ``model``."""
    h = tf.constant(np.asarray(X, dtype=np.float32))
    for layer in _chain(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            v = h.numpy().astype(np.float64)
            axes = tuple(range(v.ndim - 1))
            layer.moving_mean.assign(v.mean(axis=axes).astype("float32"))
            layer.moving_variance.assign(v.var(axis=axes).astype("float32"))
        h = layer(h, training=False)
    out = model(tf.constant(np.asarray(X[:4], dtype=np.float32)), training=False).numpy()
    if not np.allclose(out, h.numpy()[:4], atol=1e-5):
        raise ValueError(f"recompute_bn: {model.name} is not a chain of its layers (outputs differ)")
    return model


def finish_bn(P, model: keras.Model, X_train: np.ndarray) -> keras.Model:
    """:func:`recompute_bn` on the training rows when the run asks for it (``bn_recompute``)."""
    return recompute_bn(model, X_train) if P.bn_recompute else model


def _weighted_bce(y, out, weights=None) -> float:
    sw = None if weights is None else weights[np.asarray(y, dtype=int)]
    return float(keras.losses.BinaryCrossentropy()(onehot(y), out, sample_weight=sw).numpy())


class BestOnValidation(keras.callbacks.Callback):
    """Early stopping on the inner validation part, with the BatchNorm statistics recomputed on the training rows
    before every validation (``recompute``): the class-weighted BCE of (X_val, y_val) after each epoch, the
    best epoch's weights restored at the end, training stopped after ``patience`` epochs without improvement
    (None: never; the callback then only recomputes). Writes ``val_loss`` / ``val_accuracy`` into the epoch's
    logs (the history shows what was monitored) and keeps ``best_epoch``."""

    def __init__(self, X_train, X_val, y_val, patience: int | None, recompute: bool, weights=None):
        super().__init__()
        self.X_train, self.X_val, self.y_val = X_train, X_val, np.asarray(y_val, dtype=int)
        self.patience, self.recompute, self.weights = patience, recompute, weights

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.best_weights, self.wait = np.inf, 0, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.recompute:
            recompute_bn(self.model, self.X_train)
        out = predict(self.model, self.X_val, batch_size=512)
        loss = _weighted_bce(self.y_val, out, self.weights)
        if logs is not None:
            logs["val_loss"] = loss
            logs["val_accuracy"] = float(np.mean(np.argmax(out, 1) == self.y_val))
        if loss < self.best:
            self.best, self.best_epoch, self.best_weights, self.wait = loss, epoch + 1, self.model.get_weights(), 0
        else:
            self.wait += 1
            if self.patience is not None and self.wait >= self.patience:
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.patience is not None and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def onehot(y) -> np.ndarray:
    return keras.utils.to_categorical(np.asarray(y), 2).astype("float32")


def ready(model: keras.Model) -> keras.Model:
    """Create the variables of a compiled model's optimiser (Adam's moments) and of its compiled loss and metrics
    before ``fit``. Keras creates them inside the first trace of its train step, and a ``tf.function`` whose first
    trace creates variables is traced a second time; built here, the step is traced once (a pruning fit of the
    teacher starts faster). The numbers do not change: the variables start at zero either way and
    the traced step is the same graph (a pruned teacher's weights bit-identical, ``tests/test_fitting.py``)."""
    shape = [1, *model.output_shape[1:]]
    model.compiled_loss.build(tf.zeros(shape))
    model.compiled_metrics.build(tf.zeros(shape), tf.zeros(shape))
    model.optimizer.build(model.trainable_variables)
    return model


def _fit(model, prep, epochs, batch_size, callbacks=None) -> tuple[dict, float]:
    """Keras ``fit`` on the training rows, validated on ``prep``'s val part by Keras unless a
    :class:`BestOnValidation` callback does it."""
    start = time.perf_counter()
    validation = (prep.X_val, onehot(prep.y_val)) if len(prep.y_val) and not callbacks else None
    hist = ready(model).fit(prep.X_train, onehot(prep.y_train), epochs=epochs, batch_size=batch_size,
                     validation_data=validation, shuffle=True, verbose=0, callbacks=callbacks)
    keep = ("loss", "accuracy", "val_loss", "val_accuracy", "distillation_loss")
    return {k: [float(v) for v in hist.history[k]] for k in keep if k in hist.history}, \
        time.perf_counter() - start


@keras.saving.register_keras_serializable("study")
class WeightedBCE(keras.losses.Loss):
    """Keras' binary cross-entropy of one-hot labels with each row weighted by its class (``weights`` =
    (w_benign, w_malignant), :func:`class_weights`): what ``fit(sample_weight=...)`` computes, without the
    sample-weight input pipeline (whose map op this TensorFlow build warns about at every fit)."""

    def __init__(self, weights, name: str = "weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weights = [float(w) for w in weights]

    def call(self, y_true, y_pred):
        w = tf.gather(tf.constant(self.weights, tf.float32), tf.argmax(y_true, axis=-1))
        return keras.losses.binary_crossentropy(y_true, y_pred) * w

    def get_config(self):
        return {**super().get_config(), "weights": self.weights}


def loss_for(P, y_train):
    """The training loss of a run: BCE, class-weighted with ``class_weight: balanced``."""
    w = class_weights(P, y_train)
    return "binary_crossentropy" if w is None else WeightedBCE(w)


def compiled(model: keras.Model, lr: float, loss="binary_crossentropy") -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=loss,
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    return model


def train_teacher(P, prep, seed: int) -> Trained:
    """The reference teacher: Adam(teacher_lr), BCE, teacher_epochs, batch_size; in rigorous runs with class
    weights, BatchNorm statistics recomputed and early stopping on the inner validation part (module text)."""
    repro.seed_everything(seed)
    model = compiled(architectures.build_teacher(prep.n_features), P.teacher_lr, loss_for(P, prep.y_train))
    callbacks = None
    if (P.teacher_patience is not None or P.bn_recompute) and len(prep.y_val):
        callbacks = [BestOnValidation(prep.X_train, prep.X_val, prep.y_val, P.teacher_patience, P.bn_recompute,
                                      class_weights(P, prep.y_train))]
    hist, secs = _fit(model, prep, P.teacher_epochs, P.batch_size, callbacks)
    if callbacks is None:
        finish_bn(P, model, prep.X_train)
    best = callbacks[0].best_epoch if callbacks and P.teacher_patience is not None else 0
    return Trained(model, hist, secs, best)


# ------------------------------------------------------------------------------------------------- evaluation
PREDICT_BATCH = 256  # rows per batch of :func:`predict`


def predict(model: keras.Model, X: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """The model's outputs on ``X``: ``model.predict(X, batch_size=batch_size)``, computed by calling the model in
    inference mode on the same batches, floats as float32 as Keras feeds them. Keras' ``predict`` builds a
    tf.data pipeline and traces a predict function for every model it meets: 0.1-0.5 s a call, in a study that
    predicts thousands of times. The outputs are the same bit for bit (``tests/test_tflite.py`` checks every kind
    of model the study predicts with: teacher, student, pruned, quantization-aware, loaded from its file)."""
    X = np.asarray(X)
    if len(X) == 0:
        return model.predict(X, batch_size=batch_size, verbose=0)
    dtype = tf.float32 if np.issubdtype(X.dtype, np.floating) else None
    return np.concatenate([model(tf.constant(X[i:i + batch_size], dtype=dtype), training=False).numpy()
                           for i in range(0, len(X), batch_size)])


def evaluate(model: keras.Model, X: np.ndarray, y: np.ndarray) -> dict:
    """Every contract metric of ``model`` on (X, y)."""
    return metrics.classify(y, predict(model, X))


def choose(grid_rows: list[dict]) -> dict:
    """Best cell of a grid (:mod:`lib.train.distillation`): highest ``selection`` score (accuracy, or balanced accuracy
    in class-weighted runs; ``accuracy`` when the rows have no ``selection``), then lowest BCE, then the first in
    grid order."""
    return sorted(grid_rows, key=lambda r: (-r.get("selection", r["accuracy"]), r["bce"]))[0]


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
