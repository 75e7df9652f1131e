"""Compression of the teacher: magnitude pruning and quantization-aware training (tensorflow-model-optimization).

Pruning (``prune``): ``prune_low_magnitude`` with ``UpdatePruningStep``, then ``strip_pruning``.
- ``constant``: tfmot's default, ConstantSparsity(target, begin_step=0, frequency=100): the paper's setting at 50%
  (the frequency drops to half the fine-tuning steps when there are fewer than 200, as in the fast profile);
- ``polynomial``: PolynomialDecay from 0 to the target over the first ~70% of fine-tuning steps, then held.

QAT (``quantize_aware``): tfmot's default 8-bit scheme knows Dense and Activation layers but neither Conv1D nor a
BatchNormalization that follows a Conv1D (it only folds BN after Conv2D). :class:`Conv1DQuantizeConfig`
(per-tensor symmetric int8 kernel, like the authors', and a moving-average activation quantizer) and
:class:`OutputOnlyQuantizeConfig` (BN: quantize the output only) fill the gap.
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from . import models, repro, training

sparsity = tfmot.sparsity.keras
quant = tfmot.quantization.keras
LastValueQuantizer = quant.quantizers.LastValueQuantizer
MovingAverageQuantizer = quant.quantizers.MovingAverageQuantizer


# ------------------------------------------------------------------------------------------------ pruning
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
          loss: str = "binary_crossentropy") -> training.Trained:
    """Magnitude-prune a copy of ``start`` to ``target`` sparsity while fine-tuning ``epochs`` epochs."""
    repro.seed_everything(seed)
    base = keras.models.clone_model(start)
    base.set_weights(start.get_weights())
    base.trainable = True  # fine-tune all of it, even where the caller froze the teacher
    steps = epochs * int(np.ceil(len(prep.y_train) / P.batch_size))
    pruned = sparsity.prune_low_magnitude(base, pruning_schedule=schedule(kind, target, steps))
    if loss == "binary_crossentropy":  # class-weighted where the run asks for it (lib.training.loss_for)
        loss = training.loss_for(P, prep.y_train)
    pruned.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=loss, metrics=["accuracy"])
    t0 = time.perf_counter()
    hist = training.ready(pruned).fit(prep.X_train, training.onehot(prep.y_train), epochs=epochs, batch_size=P.batch_size,
                      shuffle=True, verbose=0, callbacks=[sparsity.UpdatePruningStep()])
    seconds = time.perf_counter() - t0
    final = sparsity.strip_pruning(pruned)
    training.finish_bn(P, final, prep.X_train)  # masks are fixed now: the statistics of the pruned model
    training.compiled(final, lr)
    return training.Trained(final, {k: [float(v) for v in vs] for k, vs in hist.history.items()}, seconds)


# ------------------------------------------------------------------------------------------------ QAT
class Conv1DQuantizeConfig(quant.QuantizeConfig):
    """Conv1D: int8 per-tensor symmetric kernel (LastValue), moving-average int8 activation and output."""

    def get_weights_and_quantizers(self, layer):
        return [(layer.kernel, LastValueQuantizer(num_bits=8, symmetric=True, narrow_range=False, per_axis=False))]

    def get_activations_and_quantizers(self, layer):
        return [(layer.activation, MovingAverageQuantizer(num_bits=8, symmetric=False, narrow_range=False,
                                                          per_axis=False))]

    def set_quantize_weights(self, layer, quantize_weights):
        layer.kernel = quantize_weights[0]

    def set_quantize_activations(self, layer, quantize_activations):
        layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


class OutputOnlyQuantizeConfig(quant.QuantizeConfig):
    """A layer whose output is quantized but whose weights are not (BatchNormalization after a Conv1D)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [MovingAverageQuantizer(num_bits=8, symmetric=False, narrow_range=False, per_axis=False)]

    def get_config(self):
        return {}


class AuthorsConv1DQuantizeConfig(Conv1DQuantizeConfig):
    """The authors' Conv1D config (reference section 7): as ours, plus a moving-average quantizer on the output."""

    def get_output_quantizers(self, layer):
        return [MovingAverageQuantizer(num_bits=8, symmetric=False, narrow_range=False, per_axis=False)]


SCOPE = {"Conv1DQuantizeConfig": Conv1DQuantizeConfig, "OutputOnlyQuantizeConfig": OutputOnlyQuantizeConfig,
         "AuthorsConv1DQuantizeConfig": AuthorsConv1DQuantizeConfig}


def _annotate_authors(layer):
    """The authors annotated only the two Conv1D layers; the rest of their QAT model stayed float."""
    if isinstance(layer, keras.layers.Conv1D):
        return quant.quantize_annotate_layer(layer, quantize_config=AuthorsConv1DQuantizeConfig())
    return layer


def _annotate(layer):
    L = keras.layers
    if isinstance(layer, L.Conv1D):
        return quant.quantize_annotate_layer(layer, quantize_config=Conv1DQuantizeConfig())
    if isinstance(layer, L.BatchNormalization):
        return quant.quantize_annotate_layer(layer, quantize_config=OutputOnlyQuantizeConfig())
    if isinstance(layer, (L.Dense, L.Activation, L.Dropout, L.Flatten)):
        return quant.quantize_annotate_layer(layer)
    return layer


def quantize_model(model: keras.Model, authors: bool = False) -> keras.Model:
    """A QAT copy of ``model`` (weights kept, all trainable): every layer annotated, Conv1D and BN with our
    configs; ``authors=True``: only the Conv1D layers, as the authors (748,372 parameters at 26 inputs)."""
    annotated = keras.models.clone_model(model, clone_function=_annotate_authors if authors else _annotate)
    annotated.set_weights(model.get_weights())
    annotated.trainable = True
    with quant.quantize_scope(SCOPE):
        return quant.quantize_apply(annotated)


def quantize_aware(P, prep, start: keras.Model, epochs: int, lr: float, seed: int,
                   authors: bool = False) -> training.Trained:
    """Quantization-aware fine-tuning of ``start`` (the trained teacher in rigorous runs)."""
    repro.seed_everything(seed)
    qat = quantize_model(start, authors=authors)
    # Class-weighted where the run asks for it. The BatchNorm statistics are not recomputed here: tfmot wraps
    # the layers with fake-quant ranges of their own; QAT starts from the teacher's recomputed statistics, and
    # its few small steps (10 epochs at lr 1e-5) barely move them.
    training.compiled(qat, lr, training.loss_for(P, prep.y_train))
    validation = (prep.X_val, training.onehot(prep.y_val)) if len(prep.y_val) else None
    t0 = time.perf_counter()
    hist = training.ready(qat).fit(prep.X_train, training.onehot(prep.y_train), epochs=epochs, batch_size=P.batch_size,
                   validation_data=validation, shuffle=True, verbose=0)
    return training.Trained(qat, {k: [float(v) for v in vs] for k, vs in hist.history.items()},
                            time.perf_counter() - t0)


def qat_from_scratch(P, prep, seed: int, epochs: int, lr: float) -> training.Trained:
    """The authors' QAT: a new teacher (conv1 dropout 0.1), only its Conv1D layers annotated, trained
    quantization-aware from scratch."""
    repro.seed_everything(seed)
    return quantize_aware(P, prep, models.build_teacher(prep.n_features, dropout1=0.1), epochs, lr, seed,
                          authors=True)
