"""lstm_ref: a verified reference LSTM in NumPy, and the suite that holds frameworks to it."""

from lstm_ref.activations import Activation
from lstm_ref.compare import Report, assert_equivalent, compare
from lstm_ref.errors import (ActivationError, DTypeError, FrameworkMissingError, LSTMRefError,
                             OptionError, ShapeError, UnsupportedLayerError, ValueRangeError)
from lstm_ref.reference import Trace, forward, step
from lstm_ref.weights import LSTMWeights

__version__ = "0.1.0"


def from_keras(layer):
    """The reference twin of a built Keras 3 LSTM, RNN(LSTMCell), RNN over stacked LSTMCells,
    Bidirectional over one of these, or a model made of them (with Input and Masking): called
    like it, it returns the same structure, computed by the reference (see adapters.keras)."""
    from lstm_ref.adapters import keras

    return keras.from_keras(layer)
