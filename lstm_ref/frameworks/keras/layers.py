"""The one dispatch of Keras layers (a model aside: lstm_ref.frameworks.keras.model): what
kind of LSTM layer an object is, its twin, and its comparison.

Kinds: "bidirectional" (Bidirectional over an LSTM), "stacked" (RNN over a list of
LSTMCells), "lstm" (LSTM or RNN(LSTMCell)).
"""

from lstm_ref.errors import UnsupportedLayerError
from lstm_ref.frameworks.keras import bidirectional, stacked
from lstm_ref.frameworks.keras.observe import compare_lstm
from lstm_ref.frameworks.keras.twin import KerasLSTMTwin, keras_of

__all__ = ["kind_of", "twin_of", "compare_layer"]

TWINS = {"bidirectional": bidirectional.KerasBidirectionalTwin,
         "stacked": stacked.KerasStackedTwin, "lstm": KerasLSTMTwin}


def kind_of(layer):
    """"bidirectional", "stacked" or "lstm" (the twin of an "lstm" checks the rest)."""
    keras = keras_of(layer)
    if isinstance(layer, keras.layers.Bidirectional):
        return "bidirectional"
    if stacked.is_stacked(keras, layer):
        return "stacked"
    return "lstm"


def twin_of(layer):
    """The reference twin of a built Keras LSTM layer of any kind."""
    return TWINS[kind_of(layer)](layer)


def compare_layer(layer, x, initial_state=None, mask=None, tolerance=None, execution="eager"):
    """The step-by-step comparison of a Keras LSTM layer of any kind: a Report. ``execution``
    (lstm_ref.frameworks.keras.execution) applies to a plain LSTM; a Bidirectional and stacked
    cells run eagerly."""
    kind = kind_of(layer)
    if kind == "lstm":
        return compare_lstm(layer, x, initial_state, mask, tolerance, execution)
    if execution != "eager":
        raise UnsupportedLayerError(f"execution={execution!r} applies to an LSTM or "
                                    f"RNN(LSTMCell); a {type(layer).__name__} runs eagerly")
    module = bidirectional if kind == "bidirectional" else stacked
    return module.compare(layer, x, initial_state, mask, tolerance)
