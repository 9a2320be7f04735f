"""Export-grid cases (lstm_ref.grids.export) of the SavedModel kind: the case's Keras 3 LSTM
written by ``model.export`` or ``tf.saved_model.save``, run through its serving endpoint and
held to the reference of the case's weights."""

import tempfile
from pathlib import Path

import numpy as np

from lstm_ref._optional import require
from lstm_ref.frameworks.savedmodel.observe import compare_export

__all__ = ["keras_lstm_savedmodel", "run_export_case"]


def keras_lstm_savedmodel(weights, time, path, writer="export", **options):
    """Write a functional Keras 3 model of one LSTM with ``weights`` (its activation, the
    layer ``options``: return_sequences, return_state, go_backwards), input (None, time,
    features), as a SavedModel at ``path``: ``writer`` "export" (Keras ``model.export``) or
    "save" (``tf.saved_model.save``). Returns the path as a string."""
    keras = require("keras", "keras")
    tf = require("tensorflow", "keras")
    inputs = keras.Input((time, weights.features))
    layer = keras.layers.LSTM(weights.units, activation=weights.activation.name,
                              recurrent_activation=weights.recurrent_activation.name,
                              use_bias=weights.use_bias, **options)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.asarray(a, np.float32) for a in weights.to_keras()])
    if writer == "export":
        model.export(str(path), verbose=False)
    else:
        tf.saved_model.save(model, str(path))
    return str(path)


def run_export_case(case, planted=False):
    """The Report of compare_export on the case's SavedModel (in a temporary directory,
    removed after the run). The source is the case's drawn weights and go_backwards;
    ``planted``: the model saved with the input and forget gates swapped."""
    with tempfile.TemporaryDirectory(prefix="lstm_ref_savedmodel_") as folder:
        path = keras_lstm_savedmodel(case.weights(swapped=planted), case.time,
                                     Path(folder) / "model", case.writer,
                                     return_sequences=case.return_sequences,
                                     return_state=case.return_state,
                                     go_backwards=case.go_backwards)
        context = {"source": f"Keras 3 LSTM ({case.units} units, {case.activation}), "
                             f"written by {case.writer}"}
        return compare_export(case.weights(), path, case.input(), context=context,
                              options={"go_backwards": case.go_backwards})
