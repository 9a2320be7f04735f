"""LSTMWeights: shapes, parameter count, immutability, per-gate views."""

import numpy as np
import pytest

import lstm_ref


@pytest.mark.parametrize("units,features", [(1, 1), (7, 3), (32, 64)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_param_count_is_the_keras_formula(units, features, use_bias, rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(features, 4 * units)),
                             rng.normal(size=(units, 4 * units)),
                             rng.normal(size=4 * units) if use_bias else None)
    expected = 4 * ((features + units) * units + (units if use_bias else 0))
    assert w.param_count() == expected
    assert (w.units, w.features, w.use_bias) == (units, features, use_bias)


def test_weights_are_copied_and_read_only(rng):
    kernel = rng.normal(size=(2, 8))
    w = lstm_ref.LSTMWeights(kernel, rng.normal(size=(2, 8)))
    kernel[:] = 0
    assert w.kernel.any()
    with pytest.raises(ValueError):
        w.kernel[0, 0] = 1.0


def test_gates_are_the_keras_blocks_in_order_i_f_c_o():
    kernel = np.repeat(np.arange(4.0), 2)[None, :]  # units = 2: blocks 0,0 | 1,1 | 2,2 | 3,3
    w = lstm_ref.LSTMWeights(kernel, np.zeros((2, 8)), np.arange(8.0))
    gates = w.gates()
    assert list(gates) == ["i", "f", "c", "o"]
    for index, name in enumerate("ifco"):
        np.testing.assert_array_equal(gates[name]["kernel"], [[index, index]])
        np.testing.assert_array_equal(gates[name]["bias"], [2 * index, 2 * index + 1])


def test_dtype_and_repr(rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 8)).astype(np.float32),
                             rng.normal(size=(2, 8)).astype(np.float32),
                             activation="relu", recurrent_activation="hard_sigmoid")
    assert w.dtype == np.float32
    assert repr(w) == ("LSTMWeights(units=2, features=3, use_bias=False, activation='relu', "
                       "recurrent_activation='hard_sigmoid', dtype=float32)")
