"""Deprecated: ONNX graphs of LSTM nodes (build_model, read_node...) are
:mod:`lstm_ref.frameworks.onnx.graph`."""

from lstm_ref._deprecated import announce
from lstm_ref.frameworks.onnx.graph import (ATTRIBUTES, DIRECTIONS, INPUTS, OPSET, OUTPUTS,
                                            LSTMNode, build_model, check_input, constants,
                                            expected_shape, find_node, load, make_model,
                                            read_node, runnable_model)

__all__ = ["INPUTS", "OUTPUTS", "DIRECTIONS", "ATTRIBUTES", "OPSET", "LSTMNode", "load",
           "find_node", "constants", "read_node", "expected_shape", "check_input", "make_model",
           "build_model", "runnable_model"]

announce(__name__, "lstm_ref.adapters.onnx_graph", "lstm_ref.frameworks.onnx.graph")
