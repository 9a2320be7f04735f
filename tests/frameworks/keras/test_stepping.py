"""The cell stepped in one tf.function and eagerly (lstm_ref/adapters/stepping.py) see the
same states: the graph is only a faster way to observe them."""

import numpy as np
import pytest

from lstm_ref.frameworks.tensorflow import stepping

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="graphs are TensorFlow's")
@pytest.mark.parametrize("go_backwards", [False, True])
def test_graph_and_eager_steps_agree(go_backwards, rng):
    cell = keras.layers.LSTMCell(6)
    cell.build((None, 3))
    cell.set_weights([rng.normal(0, 0.7, w.shape).astype("float32") for w in cell.get_weights()])
    x = rng.uniform(-1, 1, (4, stepping.GRAPH_MIN_STEPS, 3)).astype("float32")
    states = [rng.uniform(-1, 1, (4, 6)).astype("float32") for _ in range(2)]
    mask = rng.random((4, x.shape[1])) < 0.7
    step = lambda x_t, s: cell(x_t, s, training=False)[1]  # noqa: E731
    graph = stepping.step_states(step, x, states, mask, go_backwards, keras)
    eager = stepping.step_states(step, x, states, mask, go_backwards, keras, graph=False)
    for seen_graph, seen_eager in zip(graph, eager):
        # The same kernels: bit for bit on TensorFlow 2.21 (CPU). A graph optimizer that
        # reorders this cell's arithmetic would show here first.
        np.testing.assert_array_equal(seen_graph, seen_eager)
    # A masked step keeps the previous state, in both.
    first_masked = np.argwhere(~mask[:, ::-1] if go_backwards else ~mask)
    b, t = next((b, t) for b, t in first_masked if t > 0)
    np.testing.assert_array_equal(graph[0][b, t], graph[0][b, t - 1])
