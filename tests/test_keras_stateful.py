"""Stateful LSTMs: consecutive chunks equal one call on the whole sequence, for several
chunkings, the layer and the twin alike; reset_states; a carried state that is dropped is
flagged; another batch size is a clear error."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import ShapeError
from tests.helpers import build_with_random_weights

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


def test_reset_states_starts_again_from_zeros(rng):
    layer = stateful_layer(rng)
    twin = lstm_ref.from_keras(layer)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    layer(x)
    twin(x)
    layer.reset_states()
    twin.reset_states()
    assert lstm_ref.compare(layer, x).passed
    np.testing.assert_array_equal(twin(x), lstm_ref.forward(x, twin.weights).outputs)


def test_a_dropped_state_is_flagged_on_the_second_chunk(rng):
    from tests.keras_broken import BrokenLSTM

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
