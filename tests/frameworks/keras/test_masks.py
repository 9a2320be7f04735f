"""Masks through compare(): left-, right- and middle-padded rows, fully masked rows, both
zero_output_for_mask settings, go_backwards; the returned state is the last valid state. And
layers whose mask handling is deliberately wrong are flagged."""

import numpy as np
import pytest

import lstm_ref
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

B, T, F, U = 5, 8, 3, 4
# One row of each kind: all valid, left-padded, right-padded, a hole in the middle, all masked.
PATTERNS = np.array([
    [1, 1, 1, 1, 1, 1, 1, 1],
    [0, 0, 0, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 0, 0, 0],
    [1, 1, 0, 0, 0, 1, 1, 1],
    [0, 0, 0, 0, 0, 0, 0, 0],
], bool)


def random_weights(layer, rng):
    return build_with_random_weights(layer, rng, (B, T, F))


def inputs(rng):
    return (rng.uniform(-1, 1, (B, T, F)).astype("float32"),
            [rng.uniform(-1, 1, (B, U)).astype("float32") for _ in range(2)])


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("returns", ["sequences+state", "last+state"])
@pytest.mark.parametrize("with_state", [False, True])
def test_masked_rows_match_the_reference(go_backwards, zero_output_for_mask, returns, with_state,
                                         rng):
    layer = random_weights(keras.layers.RNN(
        keras.layers.LSTMCell(U), go_backwards=go_backwards, return_state=True,
        return_sequences=returns == "sequences+state", zero_output_for_mask=zero_output_for_mask), rng)
    x, state = inputs(rng)
    report = lstm_ref.compare(layer, x, initial_state=state if with_state else None, mask=PATTERNS)
    assert report.passed, report.summary()


def test_returned_state_is_the_last_valid_state(rng):
    layer = random_weights(keras.layers.LSTM(U, return_state=True), rng)
    x, state = inputs(rng)
    twin = lstm_ref.from_keras(layer)
    _, h, c = twin(x, initial_state=state, mask=PATTERNS)
    trace = lstm_ref.forward(x, twin.weights, initial_state=state)
    # Not bit-for-bit: OpenBLAS's h R for one row may differ in the last bits from the same
    # row of a 5-row product (a one-row product may take another kernel than a five-row one).
    np.testing.assert_allclose(h[2], lstm_ref.forward(x[2:3, :5], twin.weights,
                                                      initial_state=[s[2:3] for s in state]).final_h[0],
                               rtol=1e-13, atol=0)
    np.testing.assert_array_equal(h[4], state[0][4])  # fully masked: the initial state
    np.testing.assert_array_equal(c[0], trace.final_c[0])  # all valid: the plain run


@pytest.mark.parametrize("bug,tensor", [("mask ignored", "output"),
                                        ("masked outputs zeroed", "output")])
def test_wrong_mask_handling_is_flagged(bug, tensor, rng):
    from tests.frameworks.keras.broken import BrokenLSTM

    layer = random_weights(BrokenLSTM(U, bug=bug, return_sequences=True), rng)
    x, _ = inputs(rng)
    report = lstm_ref.compare(layer, x, mask=PATTERNS)
    assert not report.passed and report.first_failure.tensor == tensor, report.summary()
    # The first step where the bug shows: row 1's masked step 0 for an ignored mask (the
    # reference outputs 0 there); row 2's step 5 for zeroed outputs (row 3's step 2 comes first).
    assert report.first_failing_step == {"mask ignored": 0, "masked outputs zeroed": 2}[bug]


@pytest.mark.parametrize("bug", ["go_backwards not applied", "initial state ignored"])
def test_wrong_direction_or_initial_state_is_flagged(bug, rng):
    from tests.frameworks.keras.broken import BrokenLSTM

    layer = random_weights(BrokenLSTM(U, bug=bug, go_backwards=True, return_sequences=True), rng)
    x, state = inputs(rng)
    report = lstm_ref.compare(layer, x, initial_state=state)
    assert not report.passed and report.first_failing_step == 0, report.summary()
    assert report.tensors["h"].passed and report.tensors["c"].passed  # the cell itself is right
