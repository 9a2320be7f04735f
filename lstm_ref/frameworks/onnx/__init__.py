"""ONNX: an LSTM node of an ONNX model, run in onnxruntime (CPU provider).

The face the package-level API dispatches to (lstm_ref.api): :func:`compare`,
:func:`from_onnx`. Modules: ``twin`` (the node's twin and semantics), ``graph`` (reading and
building LSTM models), ``activations`` (ONNX's activation functions), ``observe`` (onnxruntime
run whole and on every prefix, compared), ``cases`` (grid cases built and run).
"""

from lstm_ref.frameworks.onnx.observe import compare
from lstm_ref.frameworks.onnx.twin import from_onnx

__all__ = ["compare", "from_onnx"]
