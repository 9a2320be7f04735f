"""forward_stack: layers and directions built from forward(), the order of the final states,
masks in the backward direction, and clear errors."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import OptionError, ShapeError
from tests.support.helpers import random_state, random_weights


def test_one_layer_one_direction_is_forward(rng):
    w = random_weights(rng, 4, 3)
    x = rng.normal(size=(2, 6, 3))
    stack = lstm_ref.forward_stack(x, [w])
    trace = lstm_ref.forward(x, w)
    np.testing.assert_array_equal(stack.outputs, trace.outputs)
    np.testing.assert_array_equal(stack.final_c[0], trace.final_c)


def test_two_bidirectional_layers_by_hand(rng):
    layers = [(random_weights(rng, 4, 3), random_weights(rng, 4, 3)),
              (random_weights(rng, 5, 8), random_weights(rng, 5, 8))]
    x = rng.normal(size=(2, 6, 3))
    states = [random_state(rng, 2, u) for u in (4, 4, 5, 5)]
    stack = lstm_ref.forward_stack(x, layers, initial_state=states)
    y, finals = x, []
    for index, (fw, bw) in enumerate(layers):
        f = lstm_ref.forward(y, fw, initial_state=states[2 * index])
        b = lstm_ref.forward(y, bw, initial_state=states[2 * index + 1], go_backwards=True)
        y = np.concatenate([f.outputs, b.outputs[:, ::-1]], axis=-1)
        finals += [f.final_h, b.final_h]
    np.testing.assert_array_equal(stack.outputs, y)
    assert stack.outputs.shape == (2, 6, 10) and len(stack.final_h) == 4
    for got, expected in zip(stack.final_h, finals):  # layer 0 fw, layer 0 bw, layer 1 fw...
        np.testing.assert_array_equal(got, expected)


def test_with_a_right_padded_mask_the_backward_direction_starts_at_each_rows_end(rng):
    fw, bw = random_weights(rng, 3, 2), random_weights(rng, 3, 2)
    x = rng.normal(size=(2, 7, 2))
    lengths = [7, 4]
    mask = np.arange(7)[None, :] < np.array(lengths)[:, None]
    stack = lstm_ref.forward_stack(x, [(fw, bw)], mask=mask, zero_output_for_mask=True)
    for row, length in enumerate(lengths):  # each row alone, truncated to its own length
        alone = lstm_ref.forward(x[row:row + 1, :length], bw, go_backwards=True)
        np.testing.assert_allclose(stack.outputs[row, :length, 3:], alone.outputs[0, ::-1],
                                   rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(stack.final_h[1][row], alone.final_h[0], rtol=1e-14, atol=1e-15)
        assert not stack.outputs[row, length:].any()  # padded steps output zeros


def test_a_projected_layer_feeds_its_projected_size(rng):
    first = lstm_ref.LSTMWeights(rng.normal(size=(3, 16)), rng.normal(size=(2, 16)),
                                 projection=rng.normal(size=(4, 2)))
    second = random_weights(rng, 5, 2)
    stack = lstm_ref.forward_stack(rng.normal(size=(1, 4, 3)), [first, second])
    assert stack.outputs.shape == (1, 4, 5) and stack.final_h[0].shape == (1, 2)


def test_bad_stacks_are_clear_errors(rng):
    w = random_weights(rng, 4, 3)
    x = rng.normal(size=(1, 2, 3))
    with pytest.raises(ShapeError, match="layer 1 takes 3 features; layer 0 outputs 4"):
        lstm_ref.forward_stack(x, [w, w])
    with pytest.raises(ShapeError, match=r"initial_state must be a list of 2 \[h0, c0\] pairs"):
        lstm_ref.forward_stack(x, [(w, w)], initial_state=[random_state(rng, 1, 4)])
    with pytest.raises(OptionError, match=r"layers\[0\] must be an LSTMWeights"):
        lstm_ref.forward_stack(x, ["w"])
    with pytest.raises(OptionError, match="non-empty list"):
        lstm_ref.forward_stack(x, [])
    with pytest.raises(ShapeError, match="backward weights"):
        lstm_ref.forward_stack(x, [(w, random_weights(rng, 5, 3))])
