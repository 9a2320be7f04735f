"""SavedModels of one Keras LSTM for the tests: float32 weights drawn per gate."""

import numpy as np

__all__ = ["keras_lstm", "save", "swap_gates"]


def keras_lstm(rng, units, features, time, **options):
    """A functional Keras model of one LSTM (input (None, time, features)) with weights drawn
    independently for every gate, and the layer."""
    import keras

    inputs = keras.Input((time, features))
    layer = keras.layers.LSTM(units, **options)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in layer.get_weights()])
    return model, layer


def save(model, path, how):
    """Write ``model`` as a SavedModel at ``path``: ``how`` "export" (Keras model.export) or
    "save" (tf.saved_model.save)."""
    import tensorflow as tf

    if how == "export":
        model.export(str(path), verbose=False)
    else:
        tf.saved_model.save(model, str(path))
    return str(path)


def swap_gates(weights, a, b):
    """The LSTMWeights with gate blocks ``a`` and ``b`` (of "ifco", Keras's order) swapped in
    every array."""
    u = weights.units
    order = "ifco"
    perm = np.arange(4 * u)
    ia, ib = order.index(a), order.index(b)
    perm[ia * u:(ia + 1) * u], perm[ib * u:(ib + 1) * u] = (np.arange(ib * u, (ib + 1) * u),
                                                            np.arange(ia * u, (ia + 1) * u))
    return weights.replace(kernel=weights.kernel[:, perm],
                           recurrent_kernel=weights.recurrent_kernel[:, perm],
                           bias=None if weights.bias is None else weights.bias[perm])
