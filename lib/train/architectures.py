"""The reference architectures, built with tf_keras (Keras 2, as tensorflow-model-optimization requires).

Both end in ``Dense(2, name="logits")`` followed by a separate sigmoid ``Activation(name="probs")``: the model's
output is the authors' sigmoid pair (same parameter count, same TFLite graph), and :func:`logits_model` exposes
the pre-sigmoid values for the Hinton distillation loss.
"""
from __future__ import annotations

import tf_keras as keras

TEACHER_PARAMS_AT_26 = 748_354
STUDENT_PARAMS_AT_26 = 518


def build_teacher(n_features: int, name: str = "TM", dropout1: float = 0.2) -> keras.Model:
    """Teacher (TM): Conv1D(64)-BN-Drop-Conv1D(448)-BN-Drop-Flatten-Dense(64)-Drop-Dense(2, sigmoid).

    ``dropout1`` is the first dropout rate: 0.2 in the teacher, 0.1 in the authors' QAT model."""
    L = keras.layers
    inp = keras.Input((n_features, 1), name="features")
    x = L.Conv1D(64, 2, activation="relu", name="conv1")(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.Dropout(dropout1, name="drop1")(x)
    x = L.Conv1D(448, 2, activation="relu", name="conv2")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.Dropout(0.2, name="drop2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(64, activation="relu", name="dense")(x)
    x = L.Dropout(0.2, name="drop3")(x)
    x = L.Dense(2, name="logits")(x)
    out = L.Activation("sigmoid", name="probs")(x)
    return keras.Model(inp, out, name=name)


def build_student(n_features: int, name: str = "SM", dropout: float = 0.2) -> keras.Model:
    """Student: Conv1D(4, linear)-BN-Drop-Conv1D(8, linear)-BN-Drop-Flatten-Dense(2, sigmoid); 518 params at 26.

    ``dropout`` is both dropout rates (0.2, the reference; tests set 0 to compare training step for step)."""
    L = keras.layers
    inp = keras.Input((n_features, 1), name="features")
    x = L.Conv1D(4, 2, name="conv1")(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.Dropout(dropout, name="drop1")(x)
    x = L.Conv1D(8, 2, name="conv2")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.Dropout(dropout, name="drop2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(2, name="logits")(x)
    out = L.Activation("sigmoid", name="probs")(x)
    return keras.Model(inp, out, name=name)


def logits_model(model: keras.Model) -> keras.Model:
    """A view of ``model`` that outputs its pre-sigmoid logits (shares the weights)."""
    return keras.Model(model.inputs, model.get_layer("logits").output, name=f"{model.name}_logits")


def count_params(model: keras.Model) -> int:
    return int(model.count_params())
