"""TensorFlow SavedModels: a Keras LSTM exported with ``model.export(path)`` or
``tf.saved_model.save(model, path)``, loaded with ``tf.saved_model.load``, run through its
serving signature and held to the reference of the LSTM it was exported from.

The face the package-level API dispatches to (lstm_ref.api): :func:`compare_export`,
:func:`is_savedmodel`, :data:`ENDPOINTS`. Module: ``observe`` (loading, reading the
signature's variables, running it, the comparison).
"""

from lstm_ref.frameworks.savedmodel.observe import (
    ENDPOINTS,
    compare_export,
    input_shape,
    is_savedmodel,
)

__all__ = ["ENDPOINTS", "compare_export", "input_shape", "is_savedmodel"]
