"""Gradients of layers made of several LSTM runs, every part in one Report: Bidirectional
(every merge mode), RNN over stacked LSTMCells and chain models, on Keras 3 (TensorFlow
backend) and tf_keras; execution paths and float64; a Bidirectional whose backward
direction's input gradient is not flipped back to time order, and stacks that drop the
gradient flowing from cell 1 into cell 0, are flagged; what stays unsupported is a one-line
error."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from tests.frameworks.keras.helpers import (failing, require_tensorflow_backend,
                                            uniform_inputs, uniform_states)
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras, tf = require_tensorflow_backend()

B, T, F, U = 4, 7, 3, 5
MASK = np.array([[1] * 7, [0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 1, 1, 1]],
                bool)
STEP = {"dh", "dc", "dx"}
WEIGHTS = {"d_kernel", "d_recurrent_kernel", "d_bias"}


def assert_compared_and_passed(report, names):
    assert report.passed, report.summary()
    assert set(names) <= set(report.tensors), sorted(report.tensors)
    assert all(t.compared for t in report.tensors.values()), report.summary()


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
@pytest.mark.parametrize("variant", ["sequences-mask-states", "last"])
def test_bidirectional_gradients(merge_mode, variant, rng):
    sequences = variant.startswith("sequences")
    layer = build_with_random_weights(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=sequences, return_state=sequences),
        merge_mode=merge_mode), rng, (B, T, F))
    initial = uniform_states(rng, B, U, U) if sequences else None
    report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, T, F),
                                        initial_state=initial, mask=MASK if sequences else None)
    parts = {f"{d}.{n}" for d in ("forward", "backward") for n in STEP | WEIGHTS}
    parts |= {"forward.dh0", "backward.dc0"} if sequences else set()
    assert_compared_and_passed(report, parts | {"dx"})
    assert report.order == "backward"


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_stacked_cells_gradients(go_backwards, masked, rng):
    cells = [keras.layers.LSTMCell(4), keras.layers.LSTMCell(3, activation="relu"),
             keras.layers.LSTMCell(5, recurrent_activation="hard_sigmoid")]
    layer = build_with_random_weights(keras.layers.RNN(
        cells, return_sequences=masked, return_state=True, go_backwards=go_backwards), rng,
        (B, T, F))
    initial = [uniform_states(rng, B, u) for u in (4, 3, 5)] if masked else None
    report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, T, F),
                                        initial_state=initial, mask=MASK if masked else None)
    names = {f"cell{k}.{n}" for k in range(3) for n in STEP | WEIGHTS} | {"dx"}
    assert_compared_and_passed(report, names | ({"cell2.dc0"} if masked else set()))


def padded(rng, time=8):
    x = uniform_inputs(rng, B, time, F)
    x[1, :3] = 0.0  # left padding
    x[2, 5:] = 0.0  # right padding
    x[3, 2:4] = 0.0  # a hole
    return x


def randomize(model, rng):
    model.set_weights([rng.normal(0, 0.6, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


@pytest.mark.parametrize("merge_mode", ["sum", "mul"])
def test_sequential_model_gradients(merge_mode, rng):
    model = randomize(keras.Sequential([
        keras.Input((8, F)), keras.layers.Masking(0.0),
        keras.layers.LSTM(5, return_sequences=True, go_backwards=True, name="first"),
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True),
                                   merge_mode=merge_mode, name="both"),
        keras.layers.RNN([keras.layers.LSTMCell(3), keras.layers.LSTMCell(2)],
                         go_backwards=True, name="stack"),
    ]), rng)
    report = lstm_ref.compare_gradients(model, padded(rng))
    names = {f"first/{n}" for n in STEP | WEIGHTS} | {"both/dx", "dx"}
    names |= {f"both/{d}.{n}" for d in ("forward", "backward") for n in STEP | WEIGHTS}
    names |= {f"stack/cell{k}.{n}" for k in range(2) for n in STEP | WEIGHTS}
    assert_compared_and_passed(report, names)
    dx = report.tensors["dx"]
    assert dx.compared == dx.size  # padded steps too: their gradient is exactly zero


def test_functional_chain_gradients(rng):
    x_in = keras.Input((8, F))
    y = keras.layers.LSTM(4, return_sequences=True, name="a")(x_in)
    y = keras.layers.LSTM(3, return_state=True, name="b")(y)
    model = randomize(keras.Model(x_in, y), rng)
    d_states = [rng.normal(size=(B, 3)) for _ in range(2)]
    report = lstm_ref.compare_gradients(model, uniform_inputs(rng, B, 8, F), d_states=d_states)
    assert_compared_and_passed(report, {"a/dh", "a/d_kernel", "b/dc", "b/dx", "dx"})


@pytest.mark.parametrize("kind", ["bidirectional", "stacked", "sequential"])
def test_tf_keras_gradients(kind, rng):
    tf_keras = pytest.importorskip("tf_keras")
    layers = tf_keras.layers
    if kind == "bidirectional":
        layer = build_with_random_weights(layers.Bidirectional(
            layers.LSTM(U, return_sequences=True, return_state=True,
                        recurrent_activation="hard_sigmoid"), merge_mode="mul"), rng, (B, T, F))
        report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, T, F),
                                            initial_state=uniform_states(rng, B, U, U), mask=MASK)
        names = {"forward.dh", "backward.dc0", "dx"}
    elif kind == "stacked":
        layer = build_with_random_weights(layers.RNN(
            [layers.LSTMCell(4), layers.LSTMCell(3)], return_sequences=True, go_backwards=True),
            rng, (B, T, F))
        report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, T, F), mask=MASK)
        names = {"cell0.dh", "cell1.dx", "cell0.d_kernel", "dx"}
    else:
        model = randomize(tf_keras.Sequential([
            tf_keras.Input((8, F)), layers.Masking(0.0),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True), name="both"),
            layers.LSTM(2, go_backwards=True, name="last")]), rng)
        report = lstm_ref.compare_gradients(model, padded(rng))
        names = {"both/backward.dh", "both/dx", "last/dc", "dx"}
    assert_compared_and_passed(report, names)


@pytest.mark.parametrize("execution", ["function", "xla"])
def test_execution_paths(execution, rng):
    layer = build_with_random_weights(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True, return_state=True), merge_mode="ave"), rng,
        (B, T, F))
    report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, T, F),
                                        initial_state=uniform_states(rng, B, U, U), mask=MASK,
                                        execution=execution)
    assert_compared_and_passed(report, {"dx", "backward.dh0", "forward.d_kernel"})
    assert report.context["execution"] == execution


def test_float64_layers(rng):
    layer = build_with_random_weights(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True, dtype="float64"), merge_mode="mul",
        dtype="float64"), rng, (B, T, F))
    report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, T, F).astype("float64"),
                                        mask=MASK)
    assert_compared_and_passed(report, {"forward.dh", "backward.dx", "dx"})
    assert report.tolerance.dtype == "float64"
    # Keras 3 gives stacked cells its own float32 policy inside a float64 RNN: refused.
    mixed = build_with_random_weights(keras.layers.RNN(
        [keras.layers.LSTMCell(4), keras.layers.LSTMCell(3)], dtype="float64"), rng, (B, T, F))
    with pytest.raises(OptionError, match=r"computes in 'float64' but its cells in \['float32'\]"):
        lstm_ref.compare_gradients(mixed, uniform_inputs(rng, B, T, F))


def test_given_upstream_gradients_are_used(rng):
    layer = build_with_random_weights(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True, return_state=True), merge_mode=None), rng,
        (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    zeros = [np.zeros((B, T, U), "float32")] * 2
    report = lstm_ref.compare_gradients(layer, x, d_outputs=zeros,
                                        d_states=[np.zeros((B, U), "float32")] * 4)
    # No loss reaches anything: every gradient is exactly zero, and so is Keras's.
    assert report.passed and report.tensors["forward.d_kernel"].worst.expected == 0
    only_backward = [np.zeros((B, T, U), "float32"), rng.normal(size=(B, T, U))]
    report = lstm_ref.compare_gradients(layer, x, d_outputs=only_backward,
                                        d_states=[np.zeros((B, U))] * 4)
    assert report.passed, report.summary()
    assert report.tensors["forward.d_kernel"].worst.expected == 0
    assert report.tensors["backward.d_kernel"].worst.expected != 0


@tf.custom_gradient
def gradient_not_flipped_back(sequences):
    """The identity; its gradient comes back reversed in time: a backward direction's input
    gradient left in its processing order."""
    return tf.identity(sequences), lambda upstream: tf.reverse(upstream, [1])


class UnflippedGradientLSTM(keras.layers.LSTM):
    """A backward layer whose forward pass is Keras's own and whose input gradient is not
    flipped back to time order."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(gradient_not_flipped_back(sequences), initial_state=initial_state,
                            mask=mask, training=training)


def test_backward_direction_gradient_not_flipped_back_is_flagged(rng):
    layer = build_with_random_weights(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True, use_cudnn=False),
        backward_layer=UnflippedGradientLSTM(U, return_sequences=True, go_backwards=True,
                                             use_cudnn=False)), rng, (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    assert lstm_ref.compare(layer, x).passed  # the forward pass is right
    report = lstm_ref.compare_gradients(layer, x)
    assert not report.passed
    # The directions' own gradients are right; their sum, the layer's input gradient, is not.
    assert failing(report) == {"dx"}, report.summary()
    assert report.tensors["backward.dx"].passed and report.tensors["backward.d_kernel"].passed


class InputGradientDroppingCell(keras.layers.LSTMCell):
    """An LSTMCell whose forward pass is Keras's own and which passes no gradient to its input."""

    def call(self, inputs, states, training=False):
        return super().call(tf.stop_gradient(inputs), states, training=training)


class DetachingStackedCells(keras.layers.StackedRNNCells):
    """Two stacked cells whose forward pass is Keras's own; cell 1 reads cell 0's h through
    a stop_gradient."""

    def call(self, inputs, states, training=False, **kwargs):
        h0, state0 = self.cells[0](inputs, list(states[0]), training=training)
        h1, state1 = self.cells[1](tf.stop_gradient(h0), list(states[1]), training=training)
        return h1, [state0, state1]


@pytest.mark.parametrize("where", ["in cell 1", "between the cells"])
def test_dropped_gradient_from_cell1_into_cell0_is_flagged(where, rng):
    if where == "in cell 1":
        cells = [keras.layers.LSTMCell(4), InputGradientDroppingCell(3)]
    else:
        cells = DetachingStackedCells([keras.layers.LSTMCell(4), keras.layers.LSTMCell(3)])
    layer = build_with_random_weights(keras.layers.RNN(cells, return_sequences=True), rng,
                                      (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    assert lstm_ref.compare(layer, x).passed  # the forward pass is right
    report = lstm_ref.compare_gradients(layer, x)
    assert not report.passed
    # Cell 1's own recurrence and weights are right; everything below its input is not.
    assert not failing(report) & {"cell1.dh", "cell1.dc", "cell1.d_kernel"}, report.summary()
    assert {"dx", "cell0.d_kernel"} <= failing(report), report.summary()
    if where == "in cell 1":  # the stepped cells see it too, at the cell that drops it
        assert {"cell1.dx", "cell0.dh", "cell0.dc", "cell0.dx"} <= failing(report)
    else:  # the cells stepped one by one are right: only the layer's own call shows it
        assert not failing(report) & {f"cell{k}.{n}" for k in range(2) for n in STEP}


def test_what_stays_unsupported(rng):
    stateful = build_with_random_weights(keras.layers.Bidirectional(
        keras.layers.LSTM(U, stateful=True)), rng, (B, T, F))
    with pytest.raises(UnsupportedLayerError, match="does not support stateful layers inside"):
        lstm_ref.compare_gradients(stateful, uniform_inputs(rng, B, T, F))
    dense = randomize(keras.Sequential([keras.Input((T, F)),
                                        keras.layers.LSTM(U, return_sequences=True),
                                        keras.layers.Dense(2)]), rng)
    with pytest.raises(UnsupportedLayerError, match="has Dense"):
        lstm_ref.compare_gradients(dense, uniform_inputs(rng, B, T, F))
    model = randomize(keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(U)]), rng)
    with pytest.raises(UnsupportedLayerError, match="takes the model's input alone"):
        lstm_ref.compare_gradients(model, uniform_inputs(rng, B, T, F), mask=MASK)
    gru = build_with_random_weights(keras.layers.Bidirectional(keras.layers.GRU(U)), rng,
                                    (B, T, F))
    with pytest.raises(UnsupportedLayerError, match="compare_gradients supports .*; received "
                                                    "Bidirectional"):
        lstm_ref.compare_gradients(gru, uniform_inputs(rng, B, T, F))
    stack = build_with_random_weights(keras.layers.RNN([keras.layers.LSTMCell(2),
                                                        keras.layers.GRUCell(2)]), rng, (B, T, F))
    with pytest.raises(UnsupportedLayerError, match="compare_gradients supports .*; received RNN"):
        lstm_ref.compare_gradients(stack, uniform_inputs(rng, B, T, F))


def test_bad_upstream_and_states_are_clear_errors(rng):
    layer = build_with_random_weights(keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True), merge_mode=None), rng, (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    with pytest.raises(ShapeError, match=r"d_outputs must be \[d_forward, d_backward\]"):
        lstm_ref.compare_gradients(layer, x, d_outputs=np.zeros((B, T, U)))
    with pytest.raises(ShapeError, match=r"d_outputs must have the shapes .*\(4, 7, 5\).*"
                                         r"received shape \(4, 5\)"):
        lstm_ref.compare_gradients(layer, x, d_outputs=[np.zeros((B, T, U)), np.zeros((B, U))])
    with pytest.raises(OptionError, match="return_state=False"):
        lstm_ref.compare_gradients(layer, x, d_states=[np.zeros((B, U))] * 4)
    with pytest.raises(ShapeError, match=r"initial_state=\[h_forward, c_forward"):
        lstm_ref.compare_gradients(layer, x, initial_state=uniform_states(rng, B, U))
    stacked = build_with_random_weights(keras.layers.RNN(
        [keras.layers.LSTMCell(2), keras.layers.LSTMCell(3)], return_state=True), rng, (B, T, F))
    with pytest.raises(ShapeError, match="d_states must hold 4 arrays"):
        lstm_ref.compare_gradients(stacked, x, d_states=[[np.zeros((B, 2))] * 2])
    with pytest.raises(ShapeError, match="one pair per cell"):
        lstm_ref.compare_gradients(stacked, x, initial_state=uniform_states(rng, B, 2, 3))


def test_torch_modules_are_refused_in_one_line():
    torch = pytest.importorskip("torch")
    module = torch.nn.LSTM(F, U, batch_first=True)
    with pytest.raises(UnsupportedLayerError, match="compare_gradients does not support LSTM") \
            as raised:
        lstm_ref.compare_gradients(module, np.zeros((B, T, F), "float32"))
    assert "torch" in str(raised.value) and "\n" not in str(raised.value)
