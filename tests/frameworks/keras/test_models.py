"""Stacks and models: Sequential and functional chains of LSTM layers (with Masking), a model
saved to a .keras file and loaded back, from_keras(model) for LSTM-only models, and
compare(model, x) layer by layer on what reaches each LSTM layer, for any chain model."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import UnsupportedLayerError

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

B, T, F = 4, 8, 3


def randomize(model, rng):
    model.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    return model


def padded_inputs(rng):
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    x[1, :3] = 0.0   # left padding
    x[2, 5:] = 0.0   # right padding
    x[3, 2:4] = 0.0  # a hole
    return x


def lstm_stack(rng):
    return randomize(keras.Sequential([
        keras.Input((T, F)), keras.layers.Masking(0.0),
        keras.layers.LSTM(5, return_sequences=True),
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), merge_mode="sum"),
        keras.layers.RNN([keras.layers.LSTMCell(3), keras.layers.LSTMCell(2)], go_backwards=True),
    ]), rng)


def test_lstm_only_sequential_model(rng):
    model = lstm_stack(rng)
    x = padded_inputs(rng)
    report = lstm_ref.compare(model, x)
    assert report.passed, report.summary()
    prefixes = {name.split("/")[0] for name in report.tensors}
    assert len(prefixes) == 4 and "model" in prefixes  # three LSTM layers, and end to end
    assert any(name.endswith("/backward.c") for name in report.tensors)
    assert any(name.endswith("/cell1.c") for name in report.tensors)
    twin = lstm_ref.from_keras(model)
    assert twin(x).shape == tuple(model(x).shape)


def test_functional_chain_with_embedding_and_dense(rng):
    tokens = keras.Input((T,), dtype="int32")
    y = keras.layers.Embedding(20, F, mask_zero=True)(tokens)
    y = keras.layers.LSTM(6, return_sequences=True)(y)
    y = keras.layers.Dense(4, activation="tanh")(y)
    y = keras.layers.LSTM(3)(y)
    model = randomize(keras.Model(tokens, y), rng)
    ids = rng.integers(1, 20, (B, T))
    ids[1, :3] = 0
    ids[2, 6:] = 0
    report = lstm_ref.compare(model, ids.astype("int32"))
    assert report.passed, report.summary()
    names = list(report.tensors)
    assert sum(name.endswith("/h") for name in names) == 2 and not any(n.startswith("model/") for n in names)
    with pytest.raises(UnsupportedLayerError, match="has Embedding"):
        lstm_ref.from_keras(model)


def test_saved_and_loaded_model(rng, tmp_path):
    model = lstm_stack(rng)
    path = tmp_path / "stack.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = padded_inputs(rng)
    report = lstm_ref.compare(loaded, x)
    assert report.passed, report.summary()
    np.testing.assert_array_equal(lstm_ref.from_keras(loaded)(x), lstm_ref.from_keras(model)(x))


def test_a_wrong_layer_inside_a_model_is_named(rng):
    from tests.frameworks.keras.broken import BrokenLSTMCell

    model = randomize(keras.Sequential([
        keras.Input((T, F)), keras.layers.LSTM(4, return_sequences=True, name="first"),
        keras.layers.RNN(BrokenLSTMCell(3, bug="gates i/f swapped"), name="second")]), rng)
    report = lstm_ref.compare(model, padded_inputs(rng))
    assert not report.passed
    assert report.first_failure.tensor.startswith("second/")
    assert all(t.passed for name, t in report.tensors.items() if name.startswith("first/"))


def test_models_without_lstm_or_not_a_chain_are_clear_errors(rng):
    dense = keras.Sequential([keras.Input((T, F)), keras.layers.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="has no LSTM layer"):
        lstm_ref.compare(dense, padded_inputs(rng))
    a = keras.Input((T, F))
    branch = keras.layers.LSTM(2, return_sequences=True)(a)
    merged = keras.layers.Add()([branch, keras.layers.LSTM(2, return_sequences=True)(a)])
    with pytest.raises(UnsupportedLayerError, match="follows a chain of layers"):
        lstm_ref.compare(keras.Model(a, merged), padded_inputs(rng))


def test_a_mask_not_propagated_is_flagged_end_to_end(rng):
    from tests.frameworks.keras.broken import MaskLosingMasking

    model = randomize(keras.Sequential([keras.Input((T, F)), MaskLosingMasking(0.0),
                                        keras.layers.LSTM(4, return_sequences=True)]), rng)
    report = lstm_ref.compare(model, padded_inputs(rng))
    assert not report.passed, report.summary()
    assert report.first_failure.tensor == "model/output"
    # The LSTM computed right on what reached it (no mask): only end to end shows the loss.
    assert all(t.passed for name, t in report.tensors.items() if not name.startswith("model/"))
