"""Bidirectional(LSTM): every merge mode, return_sequences, return_state (four states in
Keras's order), a custom backward_layer, initial states for both directions, masks; the twin
returns the layer's structure; a backward half not flipped back is flagged."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import ShapeError
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

B, T, F, U = 4, 7, 3, 5
MASK = np.array([[1] * 7, [0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 1, 1, 1]], bool)


def built(layer, rng):
    return build_with_random_weights(layer, rng, (B, T, F))


def inputs(rng):
    return (rng.uniform(-1, 1, (B, T, F)).astype("float32"),
            [rng.uniform(-1, 1, (B, U)).astype("float32") for _ in range(4)])


def structure(result):
    if isinstance(result, (tuple, list)):
        return [structure(r) for r in result]
    return tuple(np.shape(result))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional_matches_the_reference(merge_mode, return_sequences, return_state, masked,
                                             rng):
    layer = built(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=return_sequences, return_state=return_state),
        merge_mode=merge_mode), rng)
    x, state = inputs(rng)
    mask = MASK if masked else None
    report = lstm_ref.compare(layer, x, initial_state=state, mask=mask)
    assert report.passed, report.summary()
    expected_tensors = {"forward.h", "backward.h", "forward.output"}
    expected_tensors |= {"output"} if merge_mode else {"output[0]", "output[1]"}
    expected_tensors |= {"backward.state_c"} if return_state else set()
    assert expected_tensors <= set(report.tensors)
    twin = lstm_ref.from_keras(layer)
    assert structure(twin(x, initial_state=state, mask=mask)) == structure(
        layer(x, initial_state=state, mask=mask))


def test_custom_backward_layer(rng):
    layer = built(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True),
        backward_layer=keras.layers.LSTM(U, return_sequences=True, go_backwards=True,
                                         activation="relu", recurrent_activation="hard_sigmoid")),
        rng)
    twin = lstm_ref.from_keras(layer)
    assert twin.backward.weights.activation.name == "relu"
    report = lstm_ref.compare(layer, inputs(rng)[0])
    assert report.passed, report.summary()


def test_twin_states_are_in_keras_order(rng):
    layer = built(keras.layers.Bidirectional(keras.layers.LSTM(U, return_state=True)), rng)
    x, state = inputs(rng)
    twin = lstm_ref.from_keras(layer)
    output, h_f, c_f, h_b, c_b = twin(x, initial_state=state)
    forward = lstm_ref.forward(x, twin.forward.weights, initial_state=state[:2])
    backward = lstm_ref.forward(x, twin.backward.weights, initial_state=state[2:], go_backwards=True)
    np.testing.assert_array_equal(h_f, forward.final_h)
    np.testing.assert_array_equal(c_b, backward.final_c)
    np.testing.assert_array_equal(output, np.concatenate([forward.last_output, backward.last_output], -1))


def test_backward_half_not_flipped_back_is_flagged(rng):
    from tests.frameworks.keras.broken import UnflippedBidirectional

    # use_cudnn=False: on a GPU the fused cuDNN path would bypass the broken call.
    layer = built(UnflippedBidirectional(keras.layers.LSTM(U, return_sequences=True,
                                                           use_cudnn=False)), rng)
    report = lstm_ref.compare(layer, inputs(rng)[0])
    assert not report.passed, report.summary()
    failure = report.first_failure
    assert failure.tensor == "output" and failure.step == 0 and failure.unit >= U  # the backward half
    assert report.tensors["backward.output"].passed  # the backward layer itself is right


def test_bad_initial_state_and_batch_size_are_clear_errors(rng):
    layer = built(keras.layers.Bidirectional(keras.layers.LSTM(U)), rng)
    x, state = inputs(rng)
    with pytest.raises(ShapeError, match=r"initial_state=\[h_forward, c_forward, h_backward, c_backward\]; received list of length 2"):
        lstm_ref.compare(layer, x, initial_state=state[:2])
    stateful = built(keras.layers.Bidirectional(keras.layers.LSTM(U, stateful=True)), rng)
    with pytest.raises(ShapeError, match="carries a state for batch size"):
        lstm_ref.compare(stateful, x[:1])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_the_cores_forward_bidirectional_returns_what_keras_returns(merge_mode,
                                                                    return_sequences, rng):
    """lstm_ref.forward_bidirectional on the layer's own weights, against the layer's call:
    float32 rounding apart, the same outputs and states, in the same order."""
    from lstm_ref.frameworks.keras.twin import KerasLSTMTwin

    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=return_sequences, return_state=True),
        merge_mode=merge_mode)
    x = rng.uniform(-1, 1, (3, 6, 2)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    got = layer(x, mask=keras.ops.convert_to_tensor(mask))
    trace = lstm_ref.forward_bidirectional(
        x, KerasLSTMTwin(layer.forward_layer).weights, KerasLSTMTwin(layer.backward_layer).weights,
        merge_mode=merge_mode, return_sequences=return_sequences, mask=mask)
    outputs = list(trace.output) if merge_mode is None else [trace.output]
    for expected, actual in zip(outputs + trace.states, got):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(actual), expected, atol=2e-6)
