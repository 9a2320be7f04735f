"""Hand-computed cases and closed forms: the reference against arithmetic done by hand."""

import math

import numpy as np
import pytest

import lstm_ref


def one_unit(kernel, recurrent, bias, **kwargs):
    """A 1-unit, 1-feature LSTM from per-gate scalars in order i, f, c, o."""
    return lstm_ref.LSTMWeights(np.array([kernel], float), np.array([recurrent], float),
                                None if bias is None else np.array(bias, float), **kwargs)


def test_one_unit_two_steps_by_hand():
    # Step 1 with x = 1, h0 = 0, c0 = 0.4, gate pre-activations chosen to give round values:
    # z_i = ln 3 -> i = 3/4;  z_f = -ln 3 -> f = 1/4;  z_c = ln 2 -> tanh = 3/5;  z_o = 0 -> 1/2.
    w = one_unit([math.log(3), -math.log(3), math.log(2), 0.0], [0.5, -1.0, 2.0, 1.5], None)
    x = np.array([[[1.0], [0.0]]])
    trace = lstm_ref.forward(x, w, initial_state=[np.zeros((1, 1)), np.array([[0.4]])])
    c1 = 0.25 * 0.4 + 0.75 * 0.6  # = 0.55
    h1 = 0.5 * math.tanh(c1)
    # Step 2: x = 0, so only the recurrent weights act on h1.
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    i2, f2, g2, o2 = sig(0.5 * h1), sig(-1.0 * h1), math.tanh(2.0 * h1), sig(1.5 * h1)
    c2 = f2 * c1 + i2 * g2
    h2 = o2 * math.tanh(c2)
    np.testing.assert_allclose(trace.c[0, :, 0], [c1, c2], rtol=1e-15, atol=0)
    np.testing.assert_allclose(trace.h[0, :, 0], [h1, h2], rtol=1e-15, atol=0)
    assert c1 == pytest.approx(0.55, abs=2e-16)  # the round value the gates were chosen for


@pytest.mark.parametrize("steps", [1, 7, 50])
def test_constant_gates_follow_the_geometric_series(steps):
    # With zero kernels only the bias acts: every gate is constant, so
    # c_t = f^t c0 + i g (1 - f^t) / (1 - f), and h_t = o tanh(c_t).
    b = np.array([0.3, 1.2, -0.7, 0.1])
    w = lstm_ref.LSTMWeights(np.zeros((2, 4)), np.zeros((1, 4)), b)
    c0 = 0.9
    trace = lstm_ref.forward(np.ones((1, steps, 2)), w,
                             initial_state=[np.zeros((1, 1)), np.array([[c0]])])
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    i, f, g, o = sig(b[0]), sig(b[1]), math.tanh(b[2]), sig(b[3])
    t = np.arange(1, steps + 1)
    c = f ** t * c0 + i * g * (1 - f ** t) / (1 - f)
    np.testing.assert_allclose(trace.c[0, :, 0], c, rtol=1e-13)
    np.testing.assert_allclose(trace.h[0, :, 0], o * np.tanh(c), rtol=1e-13)


def test_hard_sigmoid_gates_by_hand():
    # Keras 3 hard_sigmoid(z) = clip(z / 6 + 1/2, 0, 1): z_i = 1.5 -> 3/4, z_f = -3 -> 0,
    # z_c = 0.5 with linear activation -> 0.5, z_o = 6 -> 1. c1 = 0 * c0 + 3/4 * 1/2, h1 = c1.
    w = one_unit([1.5, -3.0, 0.5, 6.0], [0, 0, 0, 0], None, activation="linear",
                 recurrent_activation="hard_sigmoid")
    trace = lstm_ref.forward(np.ones((1, 1, 1)), w, initial_state=[np.zeros((1, 1)), np.ones((1, 1))])
    assert trace.c[0, 0, 0] == 0.375
    assert trace.h[0, 0, 0] == 0.375


def test_keras2_hard_sigmoid_differs_from_keras3_by_hand():
    # Keras 2: clip(0.2 z + 0.5): z_i = 1.5 -> 0.8 (Keras 3 gives 0.75).
    w = one_unit([1.5, -3.0, 0.5, 6.0], [0, 0, 0, 0], None, activation="linear",
                 recurrent_activation="hard_sigmoid_keras2")
    trace = lstm_ref.forward(np.ones((1, 1, 1)), w)
    # f = clip(-0.1) = 0, g = 0.5, o = clip(1.7) = 1: c1 = 0.8 * 0.5
    assert trace.c[0, 0, 0] == pytest.approx(0.4, abs=1e-16)


def test_masked_steps_by_hand():
    # Constant gates (bias only): the output repeats the previous *output*, which is zero
    # before the first valid step (not h0), and the state is carried unchanged.
    b = np.array([0.0, 0.0, 10.0, 10.0])  # i = f = 1/2, g ~ 1, o ~ 1
    w = lstm_ref.LSTMWeights(np.zeros((1, 4)), np.zeros((1, 4)), b)
    h0, c0 = np.array([[0.2]]), np.array([[0.6]])
    mask = np.array([[False, True, False, True]])
    trace = lstm_ref.forward(np.ones((1, 4, 1)), w, initial_state=[h0, c0], mask=mask)
    g, o = math.tanh(10.0), 1 / (1 + math.exp(-10.0))
    c1 = 0.5 * 0.6 + 0.5 * g
    c3 = 0.5 * c1 + 0.5 * g
    np.testing.assert_allclose(trace.c[0, :, 0], [0.6, c1, c1, c3], rtol=1e-15)
    np.testing.assert_allclose(trace.h[0, :, 0], [0.2, o * math.tanh(c1), o * math.tanh(c1),
                                                 o * math.tanh(c3)], rtol=1e-15)
    np.testing.assert_allclose(trace.outputs[0, :, 0], [0.0, o * math.tanh(c1),
                                                       o * math.tanh(c1), o * math.tanh(c3)],
                               rtol=1e-15)
    zeroed = lstm_ref.forward(np.ones((1, 4, 1)), w, initial_state=[h0, c0], mask=mask,
                              zero_output_for_mask=True)
    np.testing.assert_array_equal(zeroed.outputs[0, [0, 2], 0], [0.0, 0.0])
    np.testing.assert_array_equal(zeroed.h, trace.h)
