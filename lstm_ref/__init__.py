"""lstm_ref: a verified reference LSTM in NumPy, and the suite that holds frameworks to it."""

from lstm_ref._version import VERSION
from lstm_ref.activations import Activation
from lstm_ref.api import (ARTIFACT_KINDS, assert_equivalent, assert_export_equivalent,
                          assert_gradients_equivalent, compare, compare_export,
                          compare_gradients, from_flax, from_keras, from_onnx, from_tf1_cell,
                          from_tflite, from_torch)
from lstm_ref.backprop import Gradients, gradients
from lstm_ref.bidirectional import BidirectionalTrace, forward_bidirectional
from lstm_ref.errors import (ActivationError, DTypeError, FrameworkMissingError,
                             InconclusiveError, LSTMRefError, OptionError, ShapeError,
                             UnsupportedLayerError, ValueRangeError)
from lstm_ref.layer_norm import LayerNorm
from lstm_ref.reference import Trace, forward, step
from lstm_ref.report import Report
from lstm_ref.stack import StackTrace, forward_stack
from lstm_ref.weights import LSTMWeights

__all__ = ["__version__", "Activation", "assert_equivalent", "assert_gradients_equivalent",
           "compare", "compare_gradients", "from_keras", "from_onnx", "from_tf1_cell",
           "from_torch", "from_tflite", "from_flax", "compare_export", "assert_export_equivalent",
           "ARTIFACT_KINDS", "Gradients", "gradients", "ActivationError", "DTypeError",
           "FrameworkMissingError", "InconclusiveError", "LSTMRefError", "OptionError",
           "ShapeError", "UnsupportedLayerError", "ValueRangeError", "Trace", "forward", "step",
           "Report", "StackTrace", "forward_stack", "BidirectionalTrace",
           "forward_bidirectional", "LSTMWeights", "LayerNorm"]

__version__ = VERSION
