"""from_keras: the twin of a Keras 3 LSTM honours every option that bears on inference, returns
the layer's structure, and refuses what it cannot mirror with a clear error."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

B, T, F, U = 3, 6, 4, 5


def built(layer, rng, batch=B):
    return build_with_random_weights(layer, rng, (batch, T, F))


def x_of(rng, batch=B):
    return rng.uniform(-1, 1, (batch, T, F)).astype("float32")


def assert_same_structure(twin_result, layer_result):
    if isinstance(layer_result, (tuple, list)):
        assert isinstance(twin_result, tuple) and len(twin_result) == len(layer_result)
        for a, b in zip(twin_result, layer_result):
            assert a.shape == tuple(b.shape)
    else:
        assert twin_result.shape == tuple(layer_result.shape)


OPTIONS = [
    {}, {"return_sequences": True}, {"return_state": True},
    {"return_sequences": True, "return_state": True}, {"go_backwards": True},
    {"activation": "relu"}, {"activation": None}, {"activation": "swish"},
    {"recurrent_activation": "hard_sigmoid"}, {"recurrent_activation": "tanh"},
    {"use_bias": False}, {"unroll": True}, {"implementation": 1}, {"use_cudnn": False},
    {"dropout": 0.5, "recurrent_dropout": 0.3}, {"unit_forget_bias": False},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_twin_returns_what_the_layer_returns(options, rng):
    layer = built(keras.layers.LSTM(U, **options), rng)
    x = x_of(rng)
    state = [rng.uniform(-1, 1, (B, U)).astype("float32") for _ in range(2)]
    twin = lstm_ref.from_keras(layer)
    assert_same_structure(twin(x), layer(x))
    assert_same_structure(twin(x, initial_state=state), layer(x, initial_state=state))
    report = lstm_ref.compare(layer, x, initial_state=state)
    assert report.passed, report.summary()
    # The twin *is* the reference: its values are forward()'s, bit for bit.
    trace = lstm_ref.forward(x, twin.weights, initial_state=state,
                             go_backwards=layer.go_backwards)
    result = twin(x, initial_state=state)
    output = result[0] if layer.return_state else result
    np.testing.assert_array_equal(output, trace.outputs if layer.return_sequences else trace.last_output)


def test_rnn_over_an_lstm_cell(rng):
    cell = keras.layers.LSTMCell(U, activation="softsign", recurrent_activation="hard_sigmoid")
    layer = built(keras.layers.RNN(cell, return_sequences=True, go_backwards=True), rng)
    twin = lstm_ref.from_keras(layer)
    assert twin.weights.activation.name == "softsign"
    assert twin.weights.recurrent_activation.name == "hard_sigmoid"
    lstm_ref.assert_equivalent(layer, x_of(rng))


def test_param_count_equals_keras(rng):
    for use_bias in (True, False):
        layer = built(keras.layers.LSTM(U, use_bias=use_bias), rng)
        assert lstm_ref.from_keras(layer).weights.param_count() == layer.count_params()


def test_stateful_twin_carries_its_state_like_the_layer(rng):
    layer = built(keras.layers.LSTM(U, stateful=True, return_sequences=True), rng)
    twin = lstm_ref.from_keras(layer)
    x = rng.uniform(-1, 1, (B, 3 * T, F)).astype("float32")
    whole = lstm_ref.forward(x, twin.weights).outputs
    chunks = [twin(x[:, i * T:(i + 1) * T]) for i in range(3)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, rtol=0, atol=1e-15)
    for i in range(3):  # the layer, chunk by chunk, against the reference of the whole
        report = lstm_ref.compare(layer, x[:, i * T:(i + 1) * T])
        assert report.passed, report.summary()
    twin.reset_states()
    np.testing.assert_array_equal(twin(x[:, :T]), whole[:, :T])
    with pytest.raises(ShapeError, match="carries a state for batch size 3"):
        twin(x[:2, :T])


def test_compare_with_a_mask(rng):
    layer = built(keras.layers.LSTM(U, return_sequences=True, return_state=True), rng)
    mask = np.ones((B, T), bool)
    mask[0, :2] = False   # left padding
    mask[1, 4:] = False   # right padding
    mask[2, 2:4] = False  # a hole
    report = lstm_ref.compare(layer, x_of(rng), mask=mask)
    assert report.passed, report.summary()


@pytest.mark.parametrize("execution", ["eager", "function"])
@pytest.mark.parametrize("implementation", [1, 2])
@pytest.mark.parametrize("dropout,recurrent_dropout", [(0.5, 0.0), (0.0, 0.3), (0.5, 0.3)])
def test_dropout_is_a_no_op_at_inference_in_each_implementation(dropout, recurrent_dropout,
                                                                implementation, execution, rng):
    if execution == "function" and keras.backend.backend() != "tensorflow":
        pytest.skip("function needs the TensorFlow backend")
    layer = built(keras.layers.LSTM(U, dropout=dropout, recurrent_dropout=recurrent_dropout,
                                    implementation=implementation, return_sequences=True,
                                    return_state=True), rng)
    # Keras runs implementation 1 whenever recurrent_dropout is set: implementation 2's
    # inference path with dropout set is the one with dropout alone.
    assert layer.cell.implementation == (1 if recurrent_dropout else implementation)
    mask = np.ones((B, T), bool)
    mask[1, 4:] = False
    state = [rng.uniform(-1, 1, (B, U)).astype("float32") for _ in range(2)]
    report = lstm_ref.compare(layer, x_of(rng), initial_state=state, mask=mask,
                              execution=execution)
    assert report.passed, report.summary()


def test_training_with_dropout_is_refused_and_inference_ignores_dropout(rng):
    layer = built(keras.layers.LSTM(U, dropout=0.5), rng)
    twin = lstm_ref.from_keras(layer)
    x = x_of(rng)
    np.testing.assert_array_equal(twin(x, training=False), twin(x))
    with pytest.raises(OptionError, match=r"training=True with dropout=0.5, recurrent_dropout=0.0"):
        twin(x, training=True)


@pytest.mark.parametrize("make,message", [
    (lambda: keras.layers.LSTM(U), "is not built"),
    (lambda: built(keras.layers.GRU(U), np.random.default_rng(0)), "received GRU 'gru.*' over a GRUCell"),
    (lambda: built(keras.layers.SimpleRNN(U), np.random.default_rng(0)), "over a SimpleRNNCell"),
    (lambda: keras.layers.Dense(U), "received Dense"),
    (lambda: built(keras.layers.RNN([keras.layers.LSTMCell(U), keras.layers.GRUCell(U)]),
                   np.random.default_rng(0)), "stacks a GRUCell"),
    (lambda: built(keras.layers.LSTM(U, activation=lambda v: 2 * v), np.random.default_rng(0)),
     "activation .* is not a Keras built-in activation"),
])
def test_unsupported_layers_are_clear_errors(make, message):
    with pytest.raises(UnsupportedLayerError, match=message):
        lstm_ref.from_keras(make())


def test_compare_refuses_what_no_adapter_knows():
    with pytest.raises(UnsupportedLayerError, match="no framework for builtins.str"):
        lstm_ref.compare("an LSTM", np.zeros((1, 2, 3)))


def test_compare_checks_inputs_before_the_framework_runs(rng):
    layer = built(keras.layers.LSTM(U), rng)
    with pytest.raises(ShapeError, match=r"x has features \(last axis\) 3; expected 4"):
        lstm_ref.compare(layer, np.zeros((B, T, 3), "float32"))
    with pytest.raises(ShapeError, match=r"mask must have shape"):
        lstm_ref.compare(layer, x_of(rng), mask=np.ones((B, T + 1), bool))


def test_assert_equivalent_raises_with_the_report(rng):
    from tests.frameworks.keras.broken import BrokenLSTMCell

    layer = built(keras.layers.RNN(BrokenLSTMCell(U, bug="bias ignored"), return_sequences=True), rng)
    with pytest.raises(AssertionError, match=r"FAILED at step 0, tensor h, batch \d, unit \d: framework"):
        lstm_ref.assert_equivalent(layer, x_of(rng))
