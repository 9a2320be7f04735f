"""Helpers of the ONNX tests: random one-node ONNX LSTM graphs and their inputs (NumPy and
onnx only; every draw from the test's seeded rng)."""

import numpy as np

from lstm_ref.frameworks.onnx.graph import make_model

STATE_INPUTS = ("sequence_lens", "initial_h", "initial_c")


def onnx_arrays(rng, hidden, features, directions=1, bias=True, peepholes=False, scale=1.0):
    """Random W, R, B = [Wb, Rb] (both halves non-zero), P, independent for every gate and
    direction, pre-activations of order ``scale``."""
    d = directions
    arrays = {"W": rng.normal(0, scale / np.sqrt(features), (d, 4 * hidden, features)),
              "R": rng.normal(0, scale / np.sqrt(hidden), (d, 4 * hidden, hidden))}
    if bias:
        arrays["B"] = rng.uniform(-scale, scale, (d, 8 * hidden))
    if peepholes:
        arrays["P"] = rng.uniform(-1, 1, (d, 3 * hidden))
    return arrays


def lstm_model(rng, hidden=5, features=3, direction="forward", layout=0, bias=True,
               peepholes=False, graph_inputs=STATE_INPUTS, scale=1.0, dtype="float32",
               **attributes):
    """(model, arrays): one LSTM node with random weights as initializers."""
    directions = 2 if direction == "bidirectional" else 1
    arrays = onnx_arrays(rng, hidden, features, directions, bias, peepholes, scale)
    attributes = {"hidden_size": hidden, "direction": direction, **attributes}
    if layout:
        attributes["layout"] = 1
    return make_model(arrays, attributes, dtype=dtype, graph_inputs=graph_inputs), arrays


def lstm_inputs(rng, batch=3, time=6, features=3, hidden=5, directions=1, layout=0):
    """(X, [initial_h, initial_c]) float32, in the layout's shapes."""
    X = rng.uniform(-1, 1, (batch, time, features) if layout else (time, batch, features))
    states = (batch, directions, hidden) if layout else (directions, batch, hidden)
    return X.astype(np.float32), [rng.uniform(-1, 1, states).astype(np.float32),
                                  rng.normal(0, 1, states).astype(np.float32)]


def ort_run(model, feeds):
    """onnxruntime's (Y, Y_h, Y_c) for a model (CPU provider)."""
    from lstm_ref.frameworks.onnx import graph as onnx_graph
    from lstm_ref.frameworks.onnx import observe as onnx_compare

    node = onnx_graph.read_node(model)
    return onnx_compare.run(onnx_compare.session(model, node), feeds, node)
