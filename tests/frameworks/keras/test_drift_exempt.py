"""Every Keras check (a layer, a Bidirectional, stacked cells, a model) leaves the step drift
unchecked, and says why, where a cell's activation is in
lstm_ref.tolerance_table.DRIFT_EXEMPT, and checks it everywhere else."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.engine import DRIFT_NOTE
from lstm_ref.tolerance_table import DRIFT_EXEMPT

UNITS, FEATURES, BATCH, TIME = 5, 3, 2, 12


def build(kind, activation):
    import keras

    def lstm(**options):
        return keras.layers.LSTM(UNITS, activation=activation, return_sequences=True, **options)

    if kind == "lstm":
        return lstm()
    if kind == "bidirectional":
        return keras.layers.Bidirectional(lstm())
    if kind == "stacked":
        cells = [keras.layers.LSTMCell(UNITS, activation=activation) for _ in range(2)]
        return keras.layers.RNN(cells, return_sequences=True)
    inputs = keras.Input((TIME, FEATURES))
    return keras.Model(inputs, lstm()(lstm()(inputs)))


@pytest.mark.parametrize("kind", ["lstm", "bidirectional", "stacked", "model"])
@pytest.mark.parametrize("activation", ["tanh", "tanh_shrink"])
def test_the_drift_check_is_skipped_only_for_exempt_activations(kind, activation, rng):
    layer = build(kind, activation)
    x = rng.uniform(-1, 1, (BATCH, TIME, FEATURES)).astype(np.float32)
    layer(x)
    report = lstm_ref.compare(layer, x)
    assert report.passed, report.summary()
    drifts = [tensor.drift for tensor in report.tensors.values()]
    if activation in DRIFT_EXEMPT:
        assert all(d is None for d in drifts), report.summary()
        assert report.context[DRIFT_NOTE] == DRIFT_EXEMPT[activation]
    else:
        assert drifts and all(d is not None for d in drifts), report.summary()
        assert DRIFT_NOTE not in report.context
