"""What several Keras test modules share."""

import numpy as np

__all__ = ["keras_float64_matmul_is_float64"]


def keras_float64_matmul_is_float64():
    """Whether the installed Keras backend multiplies float64 matrices in float64 (Keras off
    TensorFlow maps float64 to float32 in keras.ops, as JAX does without x64)."""
    import keras

    a = keras.ops.convert_to_tensor(np.array([[1.0 + 2.0 ** -40]]), dtype="float64")
    product = float(keras.ops.convert_to_numpy(keras.ops.matmul(a, a))[0, 0])  # not float32's ==
    return product == (1.0 + 2.0 ** -40) ** 2
