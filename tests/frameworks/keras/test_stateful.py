"""Stateful LSTMs: consecutive chunks equal one call on the whole sequence, for several
chunkings, the layer and the twin alike; after reset_state() / reset_states() the layer, from
its own state, computes what the reference computes from zeros (standalone and in a
Bidirectional), and a reset that does not clear is caught; a carried state that is dropped is
flagged; another batch size is a clear error."""

import copy

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import ShapeError
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

B, T, F, U = 3, 12, 4, 5


def stateful_layer(rng, cls=None, **kwargs):
    layer = (cls or keras.layers.LSTM)(U, stateful=True, return_sequences=True, **kwargs)
    return build_with_random_weights(layer, rng, (B, T, F))


@pytest.mark.parametrize("chunks", [(12,), (6, 6), (1, 11), (5, 4, 3), (1,) * 12])
def test_chunks_equal_one_call(chunks, rng):
    layer = stateful_layer(rng)
    twin = lstm_ref.from_keras(layer)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    whole = lstm_ref.forward(x, twin.weights).outputs
    starts = np.cumsum((0,) + chunks)
    for start, stop in zip(starts[:-1], starts[1:]):
        # compare() steps the cell from the layer's carried state, then calls the layer (which
        # carries it on); the twin carries its own.
        report = lstm_ref.compare(layer, x[:, start:stop])
        assert report.passed, report.summary()
        # Both float64: chunked matmuls may round the last ulp differently, nothing more.
        np.testing.assert_allclose(twin(x[:, start:stop]), whole[:, start:stop], rtol=0, atol=1e-15)


def test_reset_states_starts_the_twin_again_from_zeros(rng):
    layer = stateful_layer(rng)
    twin = lstm_ref.from_keras(layer)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    twin(x)
    twin.reset_states()
    np.testing.assert_array_equal(twin(x), lstm_ref.forward(x, twin.weights).outputs)


def test_a_dropped_state_is_flagged_on_the_second_chunk(rng):
    from tests.frameworks.keras.broken import BrokenLSTM

    layer = stateful_layer(rng, cls=BrokenLSTM, bug="stateful state not carried")
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    assert lstm_ref.compare(layer, x[:, :6]).passed  # from zeros, the bug cannot show
    report = lstm_ref.compare(layer, x[:, 6:])
    assert not report.passed and report.first_failing_step == 0, report.summary()
    assert report.first_failure.tensor == "output"


def test_another_batch_size_is_a_clear_error(rng):
    layer = stateful_layer(rng)
    x = rng.uniform(-1, 1, (B + 1, T, F)).astype("float32")
    with pytest.raises(ShapeError, match=r"carries a state for batch size 3; received inputs of shape \(4, 12, 4\)"):
        lstm_ref.compare(layer, x)


def stateful_bidirectional(rng, cls=None, **kwargs):
    # An explicit backward layer: Keras would clone a custom forward class from its config.
    forward = (cls or keras.layers.LSTM)(U, stateful=True, return_sequences=True, **kwargs)
    backward = keras.layers.LSTM(U, stateful=True, return_sequences=True, go_backwards=True)
    layer = keras.layers.Bidirectional(forward, backward_layer=backward, merge_mode="concat")
    return build_with_random_weights(layer, rng, (B, T, F))


def states_of(layer):
    subs = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [layer]
    return [keras.ops.convert_to_numpy(s) for sub in subs for s in sub.states]


@pytest.mark.parametrize("chunks", [(6, 6), (5, 4, 3)])
def test_stateful_bidirectional_chunk_by_chunk(chunks, rng):
    layer = stateful_bidirectional(rng)
    twin = lstm_ref.from_keras(layer)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    starts = np.cumsum((0,) + chunks)
    for start, stop in zip(starts[:-1], starts[1:]):
        report = lstm_ref.compare(layer, x[:, start:stop])
        assert report.passed, report.summary()
        # The twin carries its own states: a call equals an explicit call from them.
        carried = twin.forward.states, twin.backward.states
        explicit = [*carried[0], *carried[1]]
        stateless = copy.deepcopy(twin)
        stateless.forward.stateful = stateless.backward.stateful = False
        np.testing.assert_array_equal(twin(x[:, start:stop]),
                                      stateless(x[:, start:stop], initial_state=explicit))


@pytest.mark.parametrize("kind", ["lstm", "bidirectional"])
def test_compare_advances_a_stateful_layer_once_per_call(kind, rng):
    # compare() runs a layer's parts more than once; the carried state must end where the
    # user's own call leaves it: bit for bit as a twin layer called directly.
    make = stateful_layer if kind == "lstm" else stateful_bidirectional
    compared, called = make(rng), make(rng)
    called.set_weights(compared.get_weights())
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    for chunk in (x[:, :5], x[:, 5:]):
        assert lstm_ref.compare(compared, chunk).passed
        called(chunk)
        for a, b in zip(states_of(compared), states_of(called)):
            np.testing.assert_array_equal(a, b)


def test_a_stateful_lstm_in_a_model_advances_once_per_compare(rng):
    def model():
        inputs = keras.Input(batch_shape=(B, None, F))
        return keras.Model(inputs, stateful_layer(rng)(inputs))

    compared, called = model(), model()
    called.set_weights(compared.get_weights())
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    for chunk in (x[:, :5], x[:, 5:]):
        report = lstm_ref.compare(compared, chunk)
        assert report.passed, report.summary()
        called(chunk)
        for a, b in zip(states_of(compared.layers[-1]), states_of(called.layers[-1])):
            np.testing.assert_array_equal(a, b)


def test_a_dropped_state_in_a_stateful_bidirectional_is_flagged(rng):
    from tests.frameworks.keras.broken import BrokenLSTM

    # Only the forward half drops its state.
    layer = stateful_bidirectional(rng, cls=BrokenLSTM, bug="stateful state not carried")
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    assert lstm_ref.compare(layer, x[:, :6]).passed
    report = lstm_ref.compare(layer, x[:, 6:])
    assert not report.passed and report.first_failing_step == 0, report.summary()
    assert report.first_failure.tensor in ("forward.output", "output")


def make_stateful(kind, rng, **kwargs):
    return (stateful_layer if kind == "lstm" else stateful_bidirectional)(rng, **kwargs)


@pytest.mark.parametrize("execution", ["eager", "function"])
@pytest.mark.parametrize("reset", ["reset_state", "reset_states"])
@pytest.mark.parametrize("kind", ["lstm", "bidirectional"])
def test_after_a_reset_the_layer_computes_from_zero_states(kind, reset, execution, rng):
    # The layer runs from the state it carries; the reference from zeros, as Keras documents
    # reset_state(), not from the state read from the layer.
    from lstm_ref.frameworks.keras.observe import compare_from_zero_state

    if execution == "function" and keras.backend.backend() != "tensorflow":
        pytest.skip("function needs the TensorFlow backend")
    layer = make_stateful(kind, rng)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    layer(x)
    assert np.abs(states_of(layer)).max() > 0.1  # a state to clear
    getattr(layer, reset)()
    report = compare_from_zero_state(layer, x[:, :7], execution=execution)
    assert report.passed, report.summary()
    if kind == "bidirectional":
        assert {"forward.output", "backward.output"} <= set(report.tensors)
    # It advanced the state as one call would: the next chunk goes on from there.
    report = lstm_ref.compare(layer, x[:, 7:])
    assert report.passed, report.summary()


@pytest.mark.parametrize("kind", ["lstm", "bidirectional"])
def test_a_reset_that_does_not_clear_is_caught(kind, rng):
    from lstm_ref.frameworks.keras.observe import compare_from_zero_state
    from tests.frameworks.keras.broken import BrokenLSTM

    # In a Bidirectional, only the forward half's reset is broken.
    layer = make_stateful(kind, rng, cls=BrokenLSTM, bug="reset does not clear")
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    layer(x)
    carried = states_of(layer)
    layer.reset_states()
    # The bug: the (forward) layer's reset cleared nothing.
    np.testing.assert_array_equal(states_of(layer)[:2], carried[:2])
    # compare() starts the reference from the state read from the layer: it agrees.
    twin_layer = make_stateful(kind, rng, cls=BrokenLSTM, bug="reset does not clear")
    twin_layer.set_weights(layer.get_weights())
    twin_layer(x)
    twin_layer.reset_state()
    assert lstm_ref.compare(twin_layer, x).passed
    # From zero states, as a reset must leave it: caught at the first step of what the
    # layer's own call returns (its stepped cell starts from zeros, and is right).
    report = compare_from_zero_state(layer, x)
    assert not report.passed and report.first_failing_step == 0, report.summary()
    prefix = "" if kind == "lstm" else "forward."
    assert report.first_failure.tensor == f"{prefix}output", report.summary()
    assert report.tensors[f"{prefix}h"].passed and report.tensors[f"{prefix}c"].passed
    if kind == "bidirectional":
        assert report.tensors["backward.output"].passed  # its reset cleared


def test_comparing_from_zero_states_needs_a_stateful_layer_on_its_own_state(rng):
    from lstm_ref.errors import OptionError
    from lstm_ref.frameworks.keras.observe import compare_from_zero_state

    layer = build_with_random_weights(keras.layers.LSTM(U), rng, (B, T, F))
    with pytest.raises(OptionError, match=r"from_zero_state needs a stateful layer .* "
                                          r"received stateful=False"):
        compare_from_zero_state(layer, np.zeros((B, T, F), "float32"))
