"""Test helpers: random per-gate weights and inputs, and weights compared array by array
(NumPy only)."""

import numpy as np

import lstm_ref

__all__ = ["random_weights", "random_state", "build_with_random_weights", "assert_same_arrays",
           "ci_script"]


def random_weights(rng, units, features, use_bias=True, activation="tanh",
                   recurrent_activation="sigmoid"):
    """Independent random weights for every gate, pre-activations of order 1."""
    return lstm_ref.LSTMWeights(
        rng.normal(0, 1 / np.sqrt(features), (features, 4 * units)),
        rng.normal(0, 1 / np.sqrt(units), (units, 4 * units)),
        rng.uniform(-1, 1, 4 * units) if use_bias else None,
        activation=activation, recurrent_activation=recurrent_activation)


def random_state(rng, batch, units):
    return [rng.uniform(-1, 1, (batch, units)), rng.normal(0, 1, (batch, units))]


def build_with_random_weights(layer, rng, input_shape):
    """Build a Keras layer and give every weight (every gate) its own random values, so no
    option hides behind Keras's initial values. Returns the layer."""
    layer.build(input_shape)
    layer.set_weights([rng.normal(0, 0.7, w.shape).astype("float32") for w in layer.get_weights()])
    return layer


def assert_same_arrays(a, b):
    """Every array of LSTMWeights ``a`` is in ``b``, bit for bit, and each one ``a`` lacks
    (None) ``b`` lacks too."""
    for name, array in a.arrays.items():
        other = b.arrays[name]
        assert (array is None) == (other is None), name
        if array is not None:
            np.testing.assert_array_equal(array, other, err_msg=name)


def ci_script(name):
    """A script of ci/ (``compare_runs``, ``merge_junit``...) loaded as a module: ci/ is not a
    package, its scripts run by path."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "ci" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

