"""What several Keras test modules share: the TensorFlow-backend guard of the gradient tests,
their random float32 inputs and states, and the names of a report's failing tensors."""

import numpy as np
import pytest

__all__ = ["keras_float64_matmul_is_float64", "require_tensorflow_backend", "uniform_inputs",
           "uniform_states", "failing"]


def keras_float64_matmul_is_float64():
    """Whether the installed Keras backend multiplies float64 matrices in float64 (Keras off
    TensorFlow maps float64 to float32 in keras.ops, as JAX does without x64)."""
    import keras

    a = keras.ops.convert_to_tensor(np.array([[1.0 + 2.0 ** -40]]), dtype="float64")
    product = float(keras.ops.convert_to_numpy(keras.ops.matmul(a, a))[0, 0])  # not float32's ==
    return product == (1.0 + 2.0 ** -40) ** 2


def require_tensorflow_backend():
    """Keras and TensorFlow, as ``(keras, tf)``, for a module whose gradients are observed with
    tf.GradientTape; called at import, it skips the whole module where either is missing or
    Keras runs on another backend."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradients are observed with tf.GradientTape: TensorFlow backend only",
                    allow_module_level=True)
    return keras, tf


def uniform_inputs(rng, batch, time, features):
    """A (batch, time, features) float32 input drawn from uniform(-1, 1)."""
    return rng.uniform(-1, 1, (batch, time, features)).astype("float32")


def uniform_states(rng, batch, *units):
    """Initial states [h, c] for layers of ``units`` each (h and c of every layer in turn),
    (batch, u) float32 drawn from uniform(-1, 1)."""
    return [rng.uniform(-1, 1, (batch, u)).astype("float32") for u in units for _ in range(2)]


def failing(report):
    """The names of the tensors a report holds that did not pass."""
    return {name for name, t in report.tensors.items() if not t.passed}
