"""RNN over a list of LSTMCells (stacked cells): twin and step-by-step comparison."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import ShapeError, UnsupportedLayerError
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

B, T, F = 3, 7, 2
MASK = np.array([[1] * 7, [0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 1, 1]], bool)


def stacked(rng, **kwargs):
    cells = [keras.layers.LSTMCell(4), keras.layers.LSTMCell(3, activation="relu"),
             keras.layers.LSTMCell(5, recurrent_activation="hard_sigmoid")]
    return build_with_random_weights(keras.layers.RNN(cells, **kwargs), rng, (B, T, F))


def states(rng):
    return [[rng.uniform(-1, 1, (B, u)).astype("float32") for _ in range(2)] for u in (4, 3, 5)]


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_stacked_cells_match_the_reference(go_backwards, masked, with_state, return_sequences, rng):
    layer = stacked(rng, return_sequences=return_sequences, return_state=True,
                    go_backwards=go_backwards)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    initial = states(rng) if with_state else None
    report = lstm_ref.compare(layer, x, initial_state=initial, mask=MASK if masked else None)
    assert report.passed, report.summary()
    assert {"cell0.h", "cell2.c", "output", "cell1.state_c"} <= set(report.tensors)
    twin = lstm_ref.from_keras(layer)
    result = twin(x, initial_state=initial, mask=MASK if masked else None)
    assert len(result) == 4 and [len(s) for s in result[1:]] == [2, 2, 2]


def test_a_wrong_cell_in_the_stack_is_found(rng):
    from tests.frameworks.keras.broken import BrokenLSTMCell

    cells = [keras.layers.LSTMCell(4), BrokenLSTMCell(3, bug="bias ignored")]
    layer = build_with_random_weights(keras.layers.RNN(cells, return_sequences=True), rng, (B, T, F))
    report = lstm_ref.compare(layer, rng.uniform(-1, 1, (B, T, F)).astype("float32"))
    assert not report.passed
    assert report.tensors["cell0.h"].passed and report.first_failure.tensor == "cell1.h"


def test_stacked_errors(rng):
    layer = stacked(rng)
    with pytest.raises(ShapeError, match=r"one pair per cell; received 2 entries"):
        lstm_ref.from_keras(layer)(np.zeros((B, T, F)), initial_state=states(rng)[:2])
    gru = build_with_random_weights(keras.layers.RNN([keras.layers.LSTMCell(2), keras.layers.GRUCell(2)]),
                                    rng, (B, T, F))
    with pytest.raises(UnsupportedLayerError, match="stacks a GRUCell"):
        lstm_ref.from_keras(gru)
