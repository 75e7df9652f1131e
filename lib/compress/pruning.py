"""Notebook 04: magnitude pruning of the teacher (tensorflow-model-optimization), one split at a time.

``prune``: ``prune_low_magnitude`` with ``UpdatePruningStep``, then ``strip_pruning``.
- ``constant``: tfmot's default, ConstantSparsity(target, begin_step=0, frequency=100): the paper's setting at 50%
  (the frequency drops to half the fine-tuning steps when there are fewer than 200, as in the fast profile);
- ``polynomial``: PolynomialDecay from 0 to the target over the first ~70% of fine-tuning steps, then held.

:func:`prune_split` is the notebook's per-split worker (run through :func:`lib.core.parallel.map`). The pruned
teachers have no operating point (:mod:`lib.core.operating`): they are compared at 0.5.
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from lib.core import metrics, params, repro, results
from lib.core.results import Outcome
from lib.data import preprocess
from lib.train import fitting
from lib.compress import tflite

sparsity = tfmot.sparsity.keras


def schedule(kind: str, target: float, total_steps: int):
    if not 0 < target < 1:
        raise ValueError(f"pruning target sparsity must be in (0, 1), got {target}")
    if kind == "constant":  # tfmot's default frequency (100 steps), lowered for short runs so masks apply
        return sparsity.ConstantSparsity(target, begin_step=0, frequency=min(100, max(1, total_steps // 2)))
    if kind == "polynomial":
        end = max(1, int(0.7 * total_steps))
        return sparsity.PolynomialDecay(initial_sparsity=0.0, final_sparsity=target, begin_step=0, end_step=end,
                                        frequency=max(1, end // 10))
    raise ValueError(f"pruning schedule must be 'constant' or 'polynomial', got {kind!r}")


def layer_sparsity(model: keras.Model) -> dict:
    """Share of exactly-zero entries in each kernel (Conv1D, Dense)."""
    out = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            w = kernel.numpy()
            out[layer.name] = float(np.mean(w == 0))
    return out


def overall_sparsity(model: keras.Model) -> float:
    """Zero share over all kernel weights (what magnitude pruning targets)."""
    zeros = total = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            w = kernel.numpy()
            zeros += int(np.sum(w == 0))
            total += w.size
    return zeros / total if total else 0.0


def nonzero_params(model: keras.Model) -> int:
    """Parameters that are not exactly zero (what a sparse format would have to store)."""
    return int(sum(np.count_nonzero(w) for w in model.get_weights()))


def prune(P, prep, start: keras.Model, kind: str, target: float, epochs: int, lr: float, seed: int,
          loss: str = "binary_crossentropy") -> fitting.Trained:
    """Magnitude-prune a copy of ``start`` to ``target`` sparsity while fine-tuning ``epochs`` epochs."""
    repro.seed_everything(seed)
    base = keras.models.clone_model(start)
    base.set_weights(start.get_weights())
    base.trainable = True  # fine-tune all of it, even where the caller froze the teacher
    steps = epochs * int(np.ceil(len(prep.y_train) / P.batch_size))
    pruned = sparsity.prune_low_magnitude(base, pruning_schedule=schedule(kind, target, steps))
    if loss == "binary_crossentropy":  # class-weighted where the run asks for it (lib.train.fitting.loss_for)
        loss = fitting.loss_for(P, prep.y_train)
    pruned.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=loss, metrics=["accuracy"])
    t0 = time.perf_counter()
    hist = fitting.ready(pruned).fit(prep.X_train, fitting.onehot(prep.y_train), epochs=epochs, batch_size=P.batch_size,
                      shuffle=True, verbose=0, callbacks=[sparsity.UpdatePruningStep()])
    seconds = time.perf_counter() - t0
    final = sparsity.strip_pruning(pruned)
    fitting.finish_bn(P, final, prep.X_train)  # masks are fixed now: the statistics of the pruned model
    fitting.compiled(final, lr)
    return fitting.Trained(final, {k: [float(v) for v in vs] for k, vs in hist.history.items()}, seconds)


def prune_split(P, ds, s) -> Outcome:
    """Notebook 04: every pruning variant of the split's teacher (or of a 1-epoch model, as the authors), saved,
    evaluated in Keras and as float TFLite (no operating point); plus the per-layer sparsity."""
    prep = preprocess.prepare(P, ds, s)
    if P.prune_from == "trained":
        start = fitting.load_model(P.run, "TM", s.id)
    else:  # the authors: fit() with no epochs argument, i.e. one epoch
        start = fitting.train_teacher(params.load(P.run, teacher_epochs=1), prep, seed=s.seed).model
    out, line = Outcome(extra={"layers": []}), []
    for name, kind, target in P.pruning_variants():
        t = prune(P, prep, start, kind, target, P.prune_epochs, P.prune_lr, s.seed, loss=P.prune_loss)
        fitting.save(t.model, P.run, name, s.id)
        keras_out = fitting.predict(t.model, prep.X_test)
        sp = overall_sparsity(t.model)
        extra = dict(params=t.model.count_params(), sparsity=sp, nonzero_params=nonzero_params(t.model),
                     train_time_s=round(t.seconds, 2))
        mk = metrics.classify(prep.y_test, keras_out)  # = fitting.evaluate, without predicting twice
        out.rows.append(results.row(P, s, name, "keras", mk, **extra))
        content = tflite.convert(t.model, "float")
        tflite.save(content, P.run, name, s.id)
        m = tflite.evaluate(content, prep.X_test, prep.y_test, keras_out)
        out.rows.append(results.row(P, s, name, "tflite", m, **extra))
        out.extra["layers"] += [{"split": s.id, "model": name, "layer": k, "sparsity": v}
                                for k, v in layer_sparsity(t.model).items()]
        line.append(f"{name} {m['accuracy']:.4f} (sparsity {sp:.1%}, gzip {m['size_gzip_bytes'] / 1024:.0f} KiB)")
    out.line = ", ".join(line)
    return out
