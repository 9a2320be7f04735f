"""The twin of one Keras LSTM (Keras 3, or tf_keras through its stand-in): weights,
activations, options, and the reference called like the layer."""

import numpy as np

from lstm_ref._optional import require
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.frameworks.tensorflow.tf_keras import api as tf_keras_api
from lstm_ref.frameworks.tensorflow.tf_keras import is_tf_keras
from lstm_ref.reference import forward
from lstm_ref.weights import LSTMWeights

__all__ = ["FLOAT64_DEPARTURES", "keras_module", "keras_of", "lstm_cell", "activation_name",
           "weights_of", "describe_cell", "describe", "cell_note", "KerasLSTMTwin", "layer_states",
           "check_state_batch"]

# Activations whose float64 kernel is not float64-accurate on a Keras backend (Keras 3.15 / TF
# 2.21: gelu is float32-accurate, leaky_relu's slope is float32(0.2)); a float64 layer using
# one departs from the reference, rightly. Pinned in the Keras known-divergence tests.
FLOAT64_DEPARTURES = {"tensorflow": ("gelu", "leaky_relu")}


def keras_module():
    """Keras 3, or FrameworkMissingError naming the extra."""
    return require("keras", "keras")


def keras_of(obj):
    """The Keras API a layer, cell or model belongs to: Keras 3's ``keras`` module, or for a
    tf_keras (Keras 2) object the stand-in lstm_ref.frameworks.tensorflow.tf_keras.api(), which
    has the names this package uses (layers, activations, ops, Model...), so the code here
    serves both."""
    if is_tf_keras(obj):
        return tf_keras_api()
    return keras_module()


def lstm_cell(layer):
    """The LSTMCell of a Keras LSTM or RNN(LSTMCell), or a clear error for anything else."""
    keras = keras_of(layer)
    kind = type(layer).__name__
    if not isinstance(layer, keras.layers.RNN):
        raise UnsupportedLayerError(
            f"from_keras supports keras.layers.LSTM, keras.layers.RNN(LSTMCell) and "
            f"Bidirectional over either; received {kind}")
    cell = layer.cell
    if isinstance(cell, keras.layers.StackedRNNCells):
        raise UnsupportedLayerError(
            f"{kind} {layer.name!r} runs stacked cells "
            f"({', '.join(type(c).__name__ for c in cell.cells)}): use from_keras(layer), which "
            "mirrors stacks of LSTMCells")
    if not isinstance(cell, keras.layers.LSTMCell):
        raise UnsupportedLayerError(
            f"from_keras supports keras.layers.LSTM, keras.layers.RNN(LSTMCell) and "
            f"Bidirectional over either; received {kind} {layer.name!r} over a "
            f"{type(cell).__name__}")
    if not layer.built or not cell.built:
        raise UnsupportedLayerError(
            f"{kind} {layer.name!r} is not built, so it has no weights yet; call it on an input "
            "or call layer.build((batch, time, features)) first")
    return cell


def activation_name(fn, what, keras=None):
    """The lstm_ref name of a built-in activation function of ``keras`` (Keras 3 by default),
    or a clear error."""
    keras = keras or keras_module()
    if hasattr(keras, "activation_name"):  # tf_keras's stand-in: its own names and functions
        return keras.activation_name(fn, what)
    name = getattr(fn, "__name__", None)
    try:
        known = name is not None and keras.activations.get(name) is fn
    except ValueError:
        known = False
    if not known:
        raise UnsupportedLayerError(f"{what} {fn!r} is not a Keras built-in activation; "
                                    "lstm_ref cannot know what it computes")
    return name


def weights_of(cell):
    """The cell's current weights as LSTMWeights."""
    keras = keras_of(cell)
    to_numpy = keras.ops.convert_to_numpy
    return LSTMWeights(
        to_numpy(cell.kernel), to_numpy(cell.recurrent_kernel),
        to_numpy(cell.bias) if cell.use_bias else None,
        activation=activation_name(cell.activation, "activation", keras),
        recurrent_activation=activation_name(cell.recurrent_activation, "recurrent_activation",
                                             keras))


def describe_cell(cell):
    """A one-line account of an LSTMCell's options."""
    return (f"{type(cell).__name__}(units={cell.units}, activation={cell.activation.__name__}, "
            f"recurrent_activation={cell.recurrent_activation.__name__}, "
            f"use_bias={cell.use_bias})")


def describe(layer):
    """The options of a layer that bear on what it computes, for reports and reproducers."""
    cell = layer.cell
    keras = keras_of(layer)
    return {
        "layer": f"{type(layer).__name__}({cell_note(layer)}units={cell.units}, activation="
                 f"{cell.activation.__name__}, recurrent_activation="
                 f"{cell.recurrent_activation.__name__}, use_bias={cell.use_bias}, "
                 f"return_sequences={layer.return_sequences}, return_state={layer.return_state}, "
                 f"go_backwards={layer.go_backwards}, stateful={layer.stateful}, "
                 f"unroll={layer.unroll}, implementation={cell.implementation}, "
                 f"use_cudnn={getattr(layer, 'use_cudnn', 'n/a')}, dtype={layer.dtype_policy.name})",
        "versions": f"{keras.__name__} {keras.__version__} (backend "
                    f"{keras.backend.backend()}), "
                    f"numpy {np.__version__}",
    }


def cell_note(layer):
    """The cell class, where it is not the plain LSTMCell, for a layer's description."""
    cell = type(layer.cell)
    if cell is keras_of(layer).layers.LSTMCell:
        return ""
    return f"cell={cell.__module__}.{cell.__qualname__}, "


class KerasLSTMTwin:
    """The reference twin of a built Keras LSTM or RNN(LSTMCell).

    Called like the layer (``twin(inputs, initial_state=None, mask=None, training=None)``), it
    returns what the layer returns (the output, or ``(output, h, c)`` with return_state), as
    float64 NumPy arrays computed by the reference (``dtype=`` runs it in another precision).
    A stateful twin keeps its own state.
    """

    def __init__(self, layer):
        cell = lstm_cell(layer)
        self.weights = weights_of(cell)
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.go_backwards = layer.go_backwards
        self.zero_output_for_mask = layer.zero_output_for_mask
        self.stateful = layer.stateful
        self.dropout = cell.dropout
        self.recurrent_dropout = cell.recurrent_dropout
        self.dtype = layer.compute_dtype
        self.config = describe(layer)
        self.states = layer_states(layer)

    def __call__(self, inputs, initial_state=None, mask=None, training=None, dtype="float64"):
        if training and (self.dropout or self.recurrent_dropout):
            raise OptionError(
                f"training=True with dropout={self.dropout}, recurrent_dropout="
                f"{self.recurrent_dropout} draws random masks: no reference can reproduce it; "
                "call with training=False (dropout is a no-op at inference)")
        if initial_state is None and self.stateful and self.states is not None:
            check_state_batch(self.states, np.shape(inputs))
            initial_state = self.states
        trace = forward(inputs, self.weights, initial_state=initial_state, mask=mask,
                        go_backwards=self.go_backwards, dtype=dtype,
                        zero_output_for_mask=self.zero_output_for_mask)
        if self.stateful:
            self.states = [trace.final_h, trace.final_c]
        output = trace.outputs if self.return_sequences else trace.last_output
        return (output, trace.final_h, trace.final_c) if self.return_state else output

    def reset_states(self):
        """Forget the carried state, as the layer's reset_state(): the next call starts at zeros."""
        self.states = None


def layer_states(layer):
    """NumPy copies of a stateful layer's carried states, or None (not stateful, or none yet)."""
    states = getattr(layer, "states", None) if getattr(layer, "stateful", False) else None
    if not states or any(s is None for s in states):
        return None
    to_numpy = keras_of(layer).ops.convert_to_numpy
    return [to_numpy(s) for s in states]


def check_state_batch(states, input_shape):
    if states is not None and len(input_shape) >= 1 and states[0].shape[0] != input_shape[0]:
        raise ShapeError(f"this stateful LSTM carries a state for batch size {states[0].shape[0]}; "
                         f"received inputs of shape {tuple(input_shape)}")
