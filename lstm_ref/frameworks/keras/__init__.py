"""Keras: Keras 3 (any backend) and tf_keras (Keras 2) LSTMs, RNN(LSTMCell), stacked
LSTMCells, Bidirectional over these, and models made of them.

The face the package-level API dispatches to (lstm_ref.api): :func:`compare`,
:func:`from_keras`, :func:`compare_gradients`. Modules, one job each:

- ``twin``: one LSTM's twin (weights, activations, options); ``observe``: one LSTM run step by
  step and whole; ``execution``: the paths a layer runs by; ``bidirectional``, ``stacked``,
  ``model``: the layers made of LSTMs; ``layers``: the one dispatch over them;
- ``gradients``: one LSTM's backward passes under tf.GradientTape; ``gradients_parts``: those
  of Bidirectional, stacked cells and models, part by part (``gradient_steps`` runs them in
  TensorFlow); ``cases``: grid cases built and run;
  ``keras2``: what tf_keras needs of its own; ``golden``: recording and checking golden files.

Importing this package imports no framework; each call imports what its layer needs.
"""

from lstm_ref.errors import UnsupportedLayerError
from lstm_ref.frameworks.keras import gradients, gradients_parts, keras2, layers, model
from lstm_ref.frameworks.keras.twin import keras_of
from lstm_ref.frameworks.tensorflow.tf_keras import is_tf_keras

__all__ = ["compare", "from_keras", "compare_gradients"]


def _checked(layer):
    if is_tf_keras(layer):
        keras2.check_layer(layer)
    return layer


def compare(layer, x, initial_state=None, mask=None, tolerance=None, execution="eager"):
    """Step-by-step comparison of a Keras LSTM layer of any kind or of a chain model: a
    Report (``execution``: lstm_ref.frameworks.keras.execution, for an LSTM)."""
    _checked(layer)
    if model.is_model(keras_of(layer), layer):
        if initial_state is not None or mask is not None:
            raise UnsupportedLayerError("compare(model, x) takes the model's input alone; masks "
                                        "come from its own Masking/Embedding layers")
        return model.compare(layer, x, tolerance)
    return layers.compare_layer(layer, x, initial_state, mask, tolerance, execution)


def from_keras(layer):
    """The reference twin of a built Keras LSTM layer of any kind, or of a model made of
    Input, Masking and LSTM layers."""
    _checked(layer)
    if model.is_model(keras_of(layer), layer):
        return model.KerasModelTwin(layer)
    return layers.twin_of(layer)


def compare_gradients(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Gradients of a Keras LSTM, RNN(LSTMCell), RNN over LSTMCells, Bidirectional, or chain
    model of them against the reference's backward pass: a Report (one layer:
    lstm_ref.frameworks.keras.gradients; several LSTM runs, every part in one Report:
    lstm_ref.frameworks.keras.gradients_parts)."""
    _checked(layer)
    if gradients_parts.is_multipart(keras_of(layer), layer):
        return gradients_parts.compare_gradients(layer, x, initial_state, mask,
                                                 tolerance=tolerance, **options)
    return gradients.compare_gradients(layer, x, initial_state, mask, tolerance=tolerance,
                                       **options)
