"""tf_keras (Keras 2): from_keras / compare take its LSTM, RNN(LSTMCell), stacked cells,
Bidirectional and models as they take Keras 3's; its hard_sigmoid is Keras 2's; the default
grid (lstm_ref.grids.keras, activation names meaning tf_keras's functions) runs against it."""

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras")

import lstm_ref  # noqa: E402
from lstm_ref.grids import keras as grid  # noqa: E402
from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402
from lstm_ref.frameworks.keras import keras2  # noqa: E402
from lstm_ref.errors import UnsupportedLayerError  # noqa: E402
from tests.support.grids import assert_case_passes, parametrize_cases  # noqa: E402

B, T, F, U = 3, 6, 4, 5
layers = tf_keras.layers
pytestmark = pytest.mark.filterwarnings(r"ignore:`tf\.nn\.rnn_cell\..*` is deprecated")


def built(layer, rng, shape=(B, T, F)):
    """Build a tf_keras layer and draw every weight (every gate) at random."""
    layer.build(shape)
    return randomized(layer, rng)


def randomized(layer, rng):
    layer.set_weights([rng.normal(0, 0.7, w.shape).astype("float32") for w in layer.get_weights()])
    return layer


def x_of(rng):
    return rng.uniform(-1, 1, (B, T, F)).astype("float32")


def structure(result):
    if isinstance(result, (tuple, list)):
        return [structure(r) for r in result]
    return tuple(np.shape(result))


OPTIONS = [
    {}, {"return_sequences": True, "return_state": True}, {"go_backwards": True},
    {"recurrent_activation": "hard_sigmoid"}, {"activation": "relu", "implementation": 1},
    {"activation": None, "unroll": True}, {"use_bias": False, "return_state": True},
    {"activation": "swish", "recurrent_activation": "tanh"},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(
    f"{k}={v}" for k, v in o.items()) or "defaults")
def test_twin_returns_what_the_layer_returns(options, rng):
    layer = built(layers.LSTM(U, **options), rng)
    x = x_of(rng)
    state = [rng.uniform(-1, 1, (B, U)).astype("float32") for _ in range(2)]
    twin = lstm_ref.from_keras(layer)
    assert structure(twin(x, initial_state=state)) == structure(
        layer(x, initial_state=[tf_keras.backend.constant(s) for s in state]))
    report = lstm_ref.compare(layer, x, initial_state=state)
    assert report.passed, report.summary()
    assert report.context["versions"].startswith(f"tf_keras {tf_keras.__version__}")
    result = twin(x, initial_state=state)
    trace = lstm_ref.forward(x, twin.weights, initial_state=state, go_backwards=layer.go_backwards)
    output = result[0] if layer.return_state else result
    np.testing.assert_array_equal(output, trace.outputs if layer.return_sequences
                                  else trace.last_output)


def test_hard_sigmoid_is_keras_2s(rng):
    layer = built(layers.LSTM(U, recurrent_activation="hard_sigmoid",
                              activation="hard_sigmoid"), rng)
    weights = lstm_ref.from_keras(layer).weights
    assert weights.recurrent_activation.name == weights.activation.name == "hard_sigmoid_keras2"
    # The function itself, on both sides of its kinks (+-2.5) and where Keras 3's (+-3) differs.
    z = np.linspace(-4, 4, 81, dtype="float32")
    keras_2 = tf_keras.activations.hard_sigmoid(tf_keras.backend.constant(z)).numpy()
    np.testing.assert_array_equal(keras_2, weights.recurrent_activation(z))
    assert not np.array_equal(lstm_ref.activations.get("hard_sigmoid")(z),
                              weights.recurrent_activation(z))
    assert lstm_ref.compare(layer, x_of(rng)).passed


def test_rnn_over_an_lstm_cell_and_stacked_cells(rng):
    cell = layers.LSTMCell(U, activation="softsign", recurrent_activation="hard_sigmoid")
    layer = built(layers.RNN(cell, return_sequences=True, go_backwards=True), rng)
    assert lstm_ref.from_keras(layer).weights.recurrent_activation.name == "hard_sigmoid_keras2"
    lstm_ref.assert_equivalent(layer, x_of(rng))
    stacked = built(layers.RNN([layers.LSTMCell(U), layers.LSTMCell(3)], return_state=True), rng)
    x = x_of(rng)
    assert structure(lstm_ref.from_keras(stacked)(x)) == structure(stacked(x))
    states = [[rng.uniform(-1, 1, (B, n)).astype("float32") for _ in range(2)] for n in (U, 3)]
    report = lstm_ref.compare(stacked, x, initial_state=states)
    assert report.passed, report.summary()
    assert {"cell0.h", "cell1.c", "output", "cell1.state_h"} <= set(report.tensors)


@pytest.mark.parametrize("merge_mode", ["concat", "mul", None])
def test_bidirectional(merge_mode, rng):
    layer = built(layers.Bidirectional(layers.LSTM(U, return_sequences=True, return_state=True),
                                       merge_mode=merge_mode), rng)
    x = x_of(rng)
    mask = np.ones((B, T), bool)
    mask[1, 4:] = False
    mask[2, :2] = False
    state = [rng.uniform(-1, 1, (B, U)).astype("float32") for _ in range(4)]
    report = lstm_ref.compare(layer, x, initial_state=state, mask=mask)
    assert report.passed, report.summary()
    assert {"forward.h", "backward.c", "backward.state_c"} <= set(report.tensors)
    tensors = [tf_keras.backend.constant(s) for s in state]
    assert structure(lstm_ref.from_keras(layer)(x, initial_state=state, mask=mask)) == structure(
        layer(x, initial_state=tensors, mask=mask))


def test_models_and_masking(rng):
    model = tf_keras.Sequential([tf_keras.Input((T, F)), layers.Masking(0.0),
                                 layers.LSTM(U, return_sequences=True), layers.LSTM(3)])
    randomized(model, rng)
    x = x_of(rng)
    x[1, 4:] = 0.0  # padding, masked by the Masking layer
    report = lstm_ref.compare(model, x)
    assert report.passed, report.summary()
    assert lstm_ref.from_keras(model)(x).shape == (B, 3)
    inputs = tf_keras.Input((T, F))
    hidden = layers.LSTM(U, return_sequences=True)(inputs)
    functional = tf_keras.Model(inputs, layers.Dense(2)(hidden))
    report = lstm_ref.compare(functional, x)
    assert report.passed, report.summary()


def test_stateful_layer_advances_once_per_compare(rng):
    from lstm_ref.engine import Observation, check_observation

    layer = built(layers.LSTM(U, stateful=True, return_sequences=True), rng)
    x = rng.uniform(-1, 1, (B, 2 * T, F)).astype("float32")
    for chunk in (x[:, :T], x[:, T:]):
        report = lstm_ref.compare(layer, chunk)
        assert report.passed, report.summary()
    # The layer now carries the whole sequence's final state, as after two calls of the user's.
    twin = lstm_ref.from_keras(layer)
    h, c = twin.states
    report = check_observation(Observation(actual={"state_h": h, "state_c": c},
                                           weights=twin.weights, x=x))
    assert report.passed, report.summary()


@pytest.mark.parametrize("execution", ["function", "xla", "predict"])
def test_executions(execution, rng):
    layer = built(layers.LSTM(U, return_sequences=True, return_state=True), rng)
    state = [rng.uniform(-1, 1, (B, U)).astype("float32") for _ in range(2)]
    report = lstm_ref.compare(layer, x_of(rng), initial_state=state, execution=execution)
    assert report.passed, report.summary()


@pytest.mark.parametrize("dtype", ["float64", "mixed_float16"])
def test_other_dtypes_use_their_own_entry(dtype):
    case = grid.Case(7, 3, 2, 9, recurrent_activation="hard_sigmoid", initial_state=True,
                     returns="sequences+state")
    report = keras_cases.run_case(case, dtype=dtype, api="tf_keras")
    assert report.passed, report.summary()
    assert report.tolerance.dtype == {"float64": "float64", "mixed_float16": "float16"}[dtype]


@pytest.mark.parametrize("make,message", [
    (lambda rng: layers.LSTM(U), "is not built"),
    (lambda rng: built(layers.GRU(U), rng), "over a GRUCell"),
    (lambda rng: built(layers.LSTM(U, activation=lambda v: 2 * v), rng),
     "activation .* is neither a tf_keras built-in activation nor one of the TensorFlow ops"),
    (lambda rng: built(layers.LSTM(U, time_major=True), rng, (T, B, F)), "has time_major=True"),
    (lambda rng: built(layers.Bidirectional(layers.LSTM(U, time_major=True)), rng, (T, B, F)),
     "has time_major=True"),
])
def test_unsupported_layers_are_clear_errors(make, message, rng):
    with pytest.raises(UnsupportedLayerError, match=message):
        lstm_ref.from_keras(make(rng))


def test_an_rnn_over_a_tf1_cell_points_to_the_cell(rng):
    from lstm_ref.frameworks.tf1 import cells as tf1

    cell = tf1.legacy_cells().LSTMCell(U)
    layer = layers.RNN(cell)
    layer(x_of(rng))
    with pytest.raises(UnsupportedLayerError, match="runs a TF1 LSTMCell: compare the cell"):
        lstm_ref.compare(layer, x_of(rng))


pytest_generate_tests = parametrize_cases(grid.cases)


def test_tf_keras_lstm_matches_the_reference(case):
    missing = keras2.missing_activations(case)
    if missing:  # the full grid names every Keras 3 activation
        pytest.skip(f"tf_keras has no {', '.join(missing)}")
    assert_case_passes(keras_cases.run_case, case, api="tf_keras")
