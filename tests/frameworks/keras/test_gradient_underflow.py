"""A state that decays below float32's smallest normal: TensorFlow flushes it to zero, which
flips the derivative of an activation with a kink at 0; the gradient check's float32 probes
flush as TensorFlow does (lstm_ref.precision's float32-ftz), so that flip is within the bound,
not a false failure."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import precision, tolerance_table

keras = pytest.importorskip("keras")

TIME = 44  # c = 0.1 ** t: subnormal in float32 from t = 38, still not 0 at t = 43


def decaying_layer(activation):
    """One unit, input and recurrent weights zero: i = o = 0.5, f = sigmoid(-2.197) = 0.1 and
    g = activation(-1) (0 for relu6), so from c0 = 1 the state decays as c_t = 0.1 ** t."""
    layer = keras.layers.LSTM(1, activation=activation, return_sequences=True)
    layer.build((1, TIME, 1))
    bias = np.array([0.0, np.log(0.1 / 0.9), -1.0, 0.0], np.float32)
    layer.set_weights([np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32), bias])
    return layer


def test_flush_float32_flushes_subnormals_only():
    values = np.array([1e-39, -1e-39, 2e-38, -3.0, 0.0, np.inf, np.nan], np.float32)
    flushed = precision.flush_float32(values)
    assert flushed[0] == 0 and flushed[1] == 0 and np.signbit(flushed[1])
    np.testing.assert_array_equal(flushed[2:5], values[2:5])
    assert np.isinf(flushed[5]) and np.isnan(flushed[6])


@pytest.mark.parametrize("activation", ["relu6", "relu"])
def test_a_state_flushed_to_zero_is_no_false_failure(activation):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradients are taken with tf.GradientTape")
    layer = decaying_layer(activation)
    x = np.zeros((1, TIME, 1), np.float32)
    state = [np.zeros((1, 1)), np.ones((1, 1))]
    tol = tolerance_table.lookup("float32", "gradients")
    assert tol.probe == "float32-ftz"
    report = lstm_ref.compare_gradients(layer, x, initial_state=state,
                                        d_outputs=np.ones((1, TIME, 1)))
    assert not report.failed, report.summary()
    # Probes that keep subnormals, as NumPy does, do not see the flip: the check fails.
    plain = lstm_ref.compare_gradients(layer, x, initial_state=state,
                                       d_outputs=np.ones((1, TIME, 1)),
                                       tolerance=tolerance_table.lookup(
                                           "float32", "gradients", probe="float32"))
    assert plain.failed, plain.summary()
