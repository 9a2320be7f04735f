"""NaN and infinity: decided behaviour. Inputs propagate as IEEE 754 says (as the frameworks
do), only forward in time and only in their own batch row; a masked step's input is discarded
whole; infinities saturate the gates; weights must be finite (see test_errors)."""

import warnings

import numpy as np
import pytest

import lstm_ref
from tests.support.helpers import random_weights


@pytest.fixture
def setup(rng):
    return random_weights(rng, 4, 3), rng.normal(size=(3, 8, 3))


def run_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks out of forward
        return lstm_ref.forward(*args, **kwargs)


def test_nan_input_poisons_its_row_from_that_step_on(setup):
    w, x = setup
    x[1, 5, 0] = np.nan
    trace = run_quietly(x, w)
    assert np.isnan(trace.h[1, 5:]).all() and np.isnan(trace.c[1, 5:]).all()
    assert np.isfinite(trace.h[1, :5]).all()
    assert np.isfinite(trace.h[[0, 2]]).all()


def test_nan_input_at_a_masked_step_is_discarded(setup):
    w, x = setup
    mask = np.ones(x.shape[:2], bool)
    mask[1, 5] = False
    clean = run_quietly(x, w, mask=mask)
    x[1, 5, :] = np.nan
    poisoned = run_quietly(x, w, mask=mask)
    np.testing.assert_array_equal(poisoned.h, clean.h)
    np.testing.assert_array_equal(poisoned.outputs, clean.outputs)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_infinite_input_saturates_every_gate(sign):
    # All-positive kernel: z = sign * inf for every gate. +inf: i = f = o = 1, g = 1, so
    # c1 = c0 + 1 and h1 = tanh(c1). -inf: i = f = o = 0, g = -1, so c1 = h1 = 0.
    w = lstm_ref.LSTMWeights(np.full((2, 4), 0.5), np.zeros((1, 4)), np.zeros(4))
    c0 = 0.25
    trace = run_quietly(np.full((1, 1, 2), sign * np.inf), w,
                        initial_state=[np.zeros((1, 1)), np.full((1, 1), c0)])
    expected_c = c0 + 1 if sign > 0 else 0.0
    assert trace.c[0, 0, 0] == expected_c
    assert trace.h[0, 0, 0] == np.tanh(expected_c)


def test_inf_minus_inf_gives_nan_not_a_warning():
    # Kernel entries of both signs: +inf + -inf in the pre-activation is NaN, as in any framework.
    w = lstm_ref.LSTMWeights(np.array([[1.0] * 4, [-1.0] * 4]), np.zeros((1, 4)))
    trace = run_quietly(np.array([[[np.inf, np.inf]]]), w)
    assert np.isnan(trace.h).all()
