"""lstm_ref.forward_bidirectional, Keras's Bidirectional in the core: the two directions'
forward() composed by hand (the backward one flipped back to time order), every merge mode,
and Keras's own layer (tests/frameworks/keras/test_bidirectional.py)."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import OptionError, ShapeError
from tests.support.helpers import random_weights

B, T, F, U = 3, 6, 2, 4


def setup(rng):
    weights = random_weights(rng, U, F), random_weights(rng, U, F)
    x = rng.normal(size=(B, T, F))
    mask = np.ones((B, T), bool)
    mask[0, 4:] = False
    mask[1, :2] = False
    return weights, x, mask


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_the_directions_composed_by_hand(merge_mode, return_sequences, rng):
    (fw, bw), x, mask = setup(rng)
    trace = lstm_ref.forward_bidirectional(x, fw, bw, merge_mode=merge_mode,
                                           return_sequences=return_sequences, mask=mask)
    ahead = lstm_ref.forward(x, fw, mask=mask, zero_output_for_mask=return_sequences)
    behind = lstm_ref.forward(x, bw, mask=mask, go_backwards=True,
                              zero_output_for_mask=return_sequences)
    if return_sequences:  # the backward direction's step for time t, at t
        y, y_rev = ahead.outputs, behind.outputs[:, ::-1]
        np.testing.assert_array_equal(y_rev[:, 0], behind.outputs[:, -1])
    else:  # its last step: time 0
        y, y_rev = ahead.last_output, behind.last_output
    expected = {"concat": lambda: np.concatenate([y, y_rev], -1), "sum": lambda: y + y_rev,
                "ave": lambda: (y + y_rev) / 2, "mul": lambda: y * y_rev,
                None: lambda: (y, y_rev)}[merge_mode]()
    np.testing.assert_array_equal(np.asarray(trace.output), np.asarray(expected))
    np.testing.assert_array_equal(trace.states[2], behind.final_h)
    assert len(trace.states) == 4


def test_a_16_bit_merge_rounds_in_the_format(rng):
    (fw, bw), x, _ = setup(rng)
    trace = lstm_ref.forward_bidirectional(x, fw, bw, merge_mode="sum", dtype="bfloat16")
    from lstm_ref.precision import round_bfloat16

    np.testing.assert_array_equal(trace.output, round_bfloat16(trace.output))  # bfloat16 values


def test_bad_arguments(rng):
    (fw, bw), x, _ = setup(rng)
    with pytest.raises(OptionError, match=r"merge_mode must be one of .* received 'max'"):
        lstm_ref.forward_bidirectional(x, fw, bw, merge_mode="max")
    with pytest.raises(ShapeError, match=r"initial_state=\[h_forward, c_forward, h_backward"):
        lstm_ref.forward_bidirectional(x, fw, bw, initial_state=[np.zeros((B, U))] * 2)
    with pytest.raises(OptionError, match="return_sequences must be a bool"):
        lstm_ref.forward_bidirectional(x, fw, bw, return_sequences="yes")
