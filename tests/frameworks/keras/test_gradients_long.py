"""Long gradient cases (33 to 200 steps) in the default run: what a backward pass does only
after many steps (a state gradient truncated every 32 steps) is invisible to the grid's
short cases (at most 9 steps); a cell that truncates it is caught here, and passes unnoticed
at 9 steps, which is why these cases exist."""

import numpy as np
import pytest

import lstm_ref
from tests.frameworks.keras.helpers import (failing, require_tensorflow_backend,
                                            uniform_inputs, uniform_states)

pytestmark = pytest.mark.keras
keras, tf = require_tensorflow_backend()

LONG = (33, 64, 200)
B, F, U = 4, 3, 8
TRUNCATION = 32  # TruncatingLSTMCell stops c_(t-1)'s gradient at steps 32, 64, ...


def well_conditioned(layer, rng, time, features=F):
    """Build ``layer`` and give it independent random weights per gate, pre-activations of
    order 1 (tanh and sigmoid neither saturated nor linear): gradients neither vanish nor
    explode over hundreds of steps."""
    layer.build((B, time, features))
    weights = []
    for w in layer.get_weights():
        if w.ndim == 2:  # kernel (F, 4U) or recurrent kernel (U, 4U)
            weights.append(rng.normal(0, 1 / np.sqrt(w.shape[0]), w.shape))
        else:
            weights.append(rng.uniform(-1, 1, w.shape))
    layer.set_weights([w.astype("float32") for w in weights])
    return layer


@pytest.mark.parametrize("time", LONG)
def test_long_lstm_gradients(time, rng):
    layer = well_conditioned(keras.layers.LSTM(U, return_sequences=True, return_state=True),
                             rng, time)
    state = uniform_states(rng, B, U)
    mask = np.ones((B, time), bool)
    mask[1, time - 5:] = False  # one row right-padded
    report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, time, F), initial_state=state,
                                        mask=mask, execution="function")
    assert report.passed, report.summary()
    # Every step of every row is compared: nothing is cut by a horizon.
    assert all(t.compared == t.size for t in report.tensors.values()), report.summary()


@pytest.mark.parametrize("kind", ["bidirectional", "stacked"])
def test_long_multipart_gradients(kind, rng):
    time = 64
    if kind == "bidirectional":
        layer = keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True),
                                           merge_mode="mul")
    else:
        layer = keras.layers.RNN([keras.layers.LSTMCell(U), keras.layers.LSTMCell(U)],
                                 return_sequences=True, go_backwards=True)
    layer = well_conditioned(layer, rng, time)
    mask = np.ones((B, time), bool)
    mask[2, :7] = False  # one row left-padded
    report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, time, F), mask=mask,
                                        execution="function")
    assert report.passed, report.summary()
    assert all(t.compared == t.size for t in report.tensors.values()), report.summary()


class TruncatingLSTMCell(keras.layers.LSTMCell):
    """An LSTMCell whose forward pass is Keras's own and whose backward pass truncates: the
    gradient of c_(t-1) is stopped at steps 32, 64, ... (backpropagation through time cut
    into 32-step windows where nothing should cut it). A cell is not told its step: it
    reads it from its input's last feature, a clock (0, 1, 2, ...) that the kernel's zero
    last row keeps out of the forward pass."""

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        step = inputs[:, -1:]
        cut = tf.logical_and(step > 0, tf.math.floormod(step, TRUNCATION) == 0)
        c_prev = tf.where(cut, tf.stop_gradient(c_prev), c_prev)
        return super().call(inputs, [h_prev, c_prev], training=training)


def truncating_case(rng, time):
    """An RNN over a TruncatingLSTMCell, its clocked input and an initial state."""
    layer = well_conditioned(keras.layers.RNN(TruncatingLSTMCell(U), return_sequences=True),
                             rng, time, F + 1)
    kernel, *rest = layer.get_weights()
    kernel[-1] = 0.0  # the clock feature never enters the forward pass
    layer.set_weights([kernel, *rest])
    x = uniform_inputs(rng, B, time, F + 1)
    x[:, :, -1] = np.arange(time)
    state = uniform_states(rng, B, U)
    return layer, x, state


@pytest.mark.parametrize("time", LONG)
def test_truncated_state_gradient_is_caught_by_the_long_cases(time, rng):
    layer, x, state = truncating_case(rng, time)
    assert lstm_ref.compare(layer, x, initial_state=state).passed  # the forward pass is right
    report = lstm_ref.compare_gradients(layer, x, initial_state=state, execution="function")
    assert not report.passed
    # The latest cut: c's gradient at the step before it misses the path through the cut.
    last_cut = (time - 1) // TRUNCATION * TRUNCATION
    assert report.first_failing_step == last_cut - 1, report.summary()
    # c0's gradient misses only what crosses the first cut, 32 steps of forget gates later;
    # over 200 steps the rounding the backward pass amplifies bounds it more loosely than
    # that, so it shows the cut only in the shorter cases.
    expected = {"dc", "dh", "dx", "d_kernel"} | ({"dc0"} if time <= 2 * TRUNCATION else set())
    assert expected <= failing(report), report.summary()


@pytest.mark.parametrize("time", [9, TRUNCATION])
def test_truncated_state_gradient_passes_unnoticed_in_short_cases(time, rng):
    """The same cell over the grid's longest default-run sequences (9 steps), and up to 32:
    no step reaches a cut, so its gradients are right; only the long cases can see it."""
    layer, x, state = truncating_case(rng, time)
    report = lstm_ref.compare_gradients(layer, x, initial_state=state)
    assert report.passed, report.summary()
