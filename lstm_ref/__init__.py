"""lstm_ref: a verified reference LSTM in NumPy, and the suite that holds frameworks to it."""

from lstm_ref.activations import Activation
from lstm_ref.compare import (Report, assert_equivalent, assert_gradients_equivalent, compare,
                              compare_gradients)
from lstm_ref.errors import (ActivationError, DTypeError, FrameworkMissingError, LSTMRefError,
                             OptionError, ShapeError, UnsupportedLayerError, ValueRangeError)
from lstm_ref.backprop import Gradients, gradients
from lstm_ref.reference import Trace, forward, step
from lstm_ref.stack import StackTrace, forward_stack
from lstm_ref.weights import LSTMWeights

__version__ = "0.1.0"


def from_keras(layer):
    """The reference twin of a built Keras LSTM, RNN(LSTMCell), RNN over stacked LSTMCells,
    Bidirectional over one of these, or a model made of them (with Input and Masking), from
    Keras 3 or tf_keras (Keras 2): called like it, it returns the same structure, computed by
    the reference (see lstm_ref.adapters.keras)."""
    from lstm_ref.adapters import adapter_for

    return adapter_for(layer).from_keras(layer)


def from_torch(module):
    """The reference twin of a torch.nn.LSTM: ``twin(x, (h0, c0))`` returns
    ``(output, (h_n, c_n))`` shaped as torch returns them (see lstm_ref.adapters.torch)."""
    from lstm_ref.adapters import torch

    return torch.from_torch(module)


def from_onnx(model_or_path, node=None):
    """The reference twin of an ONNX LSTM node (the only one, or the one named ``node``):
    ``twin(X, ...)`` returns ``(Y, Y_h, Y_c)`` in ONNX's shapes (see lstm_ref.adapters.onnx)."""
    from lstm_ref.adapters import onnx

    return onnx.from_onnx(model_or_path, node=node)


def from_tf1_cell(cell):
    """The reference twin of a TF1 BasicLSTMCell / LSTMCell (tf_keras's legacy cells), run as
    ``dynamic_rnn`` runs it over a batch-major sequence: ``twin(x, initial_state=None)``
    returns ``(outputs, (c, h))`` (see lstm_ref.adapters.tf1)."""
    from lstm_ref.adapters import tf1

    return tf1.from_tf1_cell(cell)
