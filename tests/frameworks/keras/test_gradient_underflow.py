"""Gradients at points float32 cannot resolve. A state that decays below float32's smallest
normal is 0 in TensorFlow, which flushes it, and flips the derivative of an activation with a
kink at 0: the float32 gradient probes flush as TensorFlow does (lstm_ref.precision's
float32-ftz), so that flip is within the bound. A state within rounding of a derivative's
jump is not compared through it (lstm_ref.gradient_check.jump_steps)."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import gradient_check, precision, tolerance_table
from lstm_ref.report import AT_JUMP

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
def test_a_state_flushed_to_zero_is_no_false_failure(activation, monkeypatch):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradients are taken with tf.GradientTape")
    layer = decaying_layer(activation)
    x = np.zeros((1, TIME, 1), np.float32)
    state = [np.zeros((1, 1)), np.ones((1, 1))]
    assert tolerance_table.lookup("float32", "gradients").probe == "float32-ftz"
    upstream = np.ones((1, TIME, 1))
    report = lstm_ref.compare_gradients(layer, x, initial_state=state, d_outputs=upstream)
    assert not report.failed, report.summary()
    # The flushing probes alone cover it (the jump rule off):
    monkeypatch.setattr(gradient_check, "jump_steps", lambda reference, *_: np.full(1, -1))
    flushing = lstm_ref.compare_gradients(layer, x, initial_state=state, d_outputs=upstream)
    assert not flushing.failed, flushing.summary()
    # and probes that keep subnormals, as NumPy does, do not see the flip: the check fails.
    plain = tolerance_table.lookup("float32", "gradients", probe="float32")
    failed = lstm_ref.compare_gradients(layer, x, initial_state=state, d_outputs=upstream,
                                        tolerance=plain)
    assert failed.failed, failed.summary()


def test_a_state_at_a_derivatives_jump_is_not_compared_through_it():
    """selu's derivative jumps at 0 (scale against scale * alpha). A state held at -3e-11
    (i = 0 and f = 1 exactly, sparse_sigmoid gates): the reference takes the negative side,
    TensorFlow picks the side from selu's output, which rounds to 0 in float32, and takes
    the positive one. The gradient through that state is not determined by float32: not
    compared, and said why, instead of failing 0.53 / 1.6e-6 = 3e5-fold."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradients are taken with tf.GradientTape")
    steps = 5
    layer = keras.layers.LSTM(1, activation="selu", recurrent_activation="sparse_sigmoid",
                              return_sequences=True)
    layer.build((1, steps, 1))
    layer.set_weights([np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32),
                       np.array([-2.0, 2.0, 0.5, 0.5], np.float32)])
    x = np.zeros((1, steps, 1), np.float32)
    state = [np.zeros((1, 1)), np.full((1, 1), -3e-11)]
    report = lstm_ref.compare_gradients(layer, x, initial_state=state,
                                        d_outputs=np.ones((1, steps, 1)))
    assert not report.failed, report.summary()
    assert report.tensors["dc"].not_compared == {AT_JUMP: steps}, report.summary()
    assert "at a derivative's jump" in report.summary()
