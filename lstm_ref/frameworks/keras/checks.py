"""A Keras observation checked: the engine's comparison of its tensors, and for a 16-bit layer
on TensorFlow the exact step check of its cell (lstm_ref.step_check)."""

from lstm_ref.engine import compare_parts, observation_part
from lstm_ref.step_check import observation_step_check

__all__ = ["check_keras_observation", "arithmetic_of"]


def arithmetic_of(keras, layer):
    """How a layer's cell computes, for the exact step check: a Keras 3 LSTMCell (or a
    subclass, which claims its arithmetic) on the TensorFlow backend, computing in the layer's
    dtype; None otherwise."""
    cell = getattr(layer, "cell", None)
    if (getattr(keras, "__name__", "") != "keras" or keras.backend.backend() != "tensorflow"
            or not isinstance(cell, keras.layers.LSTMCell)
            or cell.compute_dtype != layer.compute_dtype):  # a cell computing in its own dtype
        return None
    return {"cell": "keras", "backend": "tensorflow", "implementation": cell.implementation}


def check_keras_observation(observation, tolerance=None, prefix=""):
    """The Report of one observed Keras LSTM: its tensors against the reference, and where it
    applies the exact step check of its cell (tensors ``step.h``, ``step.c``,
    ``step.mismatch``)."""
    part = observation_part(observation, tolerance, prefix)
    actual, expected = observation_step_check(observation, prefix)
    context = observation.context
    if part.layer_tolerance is not None:
        context = {**context, f"tolerance of the layer's {observation.layer_path} outputs":
                   part.layer_tolerance.describe()}
    if expected:
        context = {**context, "exact step check": "the cell's every step recomputed as "
                                                  "TensorFlow computes it (lstm_ref.emulation)"}
    return compare_parts([part], derived=lambda _: expected, derived_actual=actual,
                         context=context)
