"""The states after every step, as observe reads them from onnxruntime: the prefix runs
(forward) and suffix runs (reverse) batched into one run per 16 steps must give what one run
per prefix (suffix) gives, row by row, whatever the direction, layout and lengths."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from lstm_ref.frameworks.onnx import graph as onnx_graph  # noqa: E402
from lstm_ref.frameworks.onnx import observe  # noqa: E402
from tests.frameworks.onnx.helpers import lstm_inputs, lstm_model  # noqa: E402


def one_run_per_step(node, X, lens, states, layout, direction):
    """h and c after each processing step k of each direction, from a run of the node on
    X[:k + 1] (forward) or X[T - 1 - k:] (reverse) alone: rows none of whose steps has run
    hold their initial state. (The node runs as observe runs it: onnxruntime's CPU LSTM
    takes layout 0 only, so a layout-1 node runs between transposes.)"""
    model, _ = onnx_graph.runnable_model(node, {"X", "sequence_lens", "initial_h",
                                                "initial_c"})
    sess = observe.session(model, node)
    time = X.shape[1] if layout else X.shape[0]
    names = {"forward": ["forward"], "reverse": ["reverse"],
             "bidirectional": ["forward", "backward"]}[direction]
    result = {}
    for d, name in enumerate(names):
        hs, cs = [], []
        for k in range(time):
            start = time - 1 - k if name != "forward" else 0
            part = X[:, start:start + k + 1] if layout else X[start:start + k + 1]
            run_lens = np.clip(lens - start, 0, k + 1).astype(np.int32)
            _, Y_h, Y_c = observe.run(sess, {"X": np.ascontiguousarray(part),
                                             "sequence_lens": run_lens,
                                             "initial_h": states[0], "initial_c": states[1]},
                                      node)
            for out, value, initial in ((hs, Y_h, states[0]), (cs, Y_c, states[1])):
                value = value[:, d] if layout else value[d]
                initial = initial[:, d] if layout else initial[d]
                out.append(np.where((run_lens == 0)[:, None], initial, value))
        result[f"{name}.h"], result[f"{name}.c"] = np.stack(hs, 1), np.stack(cs, 1)
    return result


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("time", [1, 16, 19, 33])
def test_batched_prefix_runs_are_one_run_per_prefix(direction, layout, time, rng):
    directions = 2 if direction == "bidirectional" else 1
    model, _ = lstm_model(rng, hidden=5, features=3, direction=direction, layout=layout)
    X, states = lstm_inputs(rng, batch=4, time=time, directions=directions, layout=layout)
    lens = np.array([time, max(time - 3, 0), 0, min(2, time)], np.int32)
    fed = {"X": X, "sequence_lens": lens, "initial_h": states[0], "initial_c": states[1]}
    node = onnx_graph.read_node(model)
    got = observe._stepped(node, fed)
    expected = one_run_per_step(node, X, lens, states, layout, direction)
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-6, atol=1e-7, err_msg=key)
