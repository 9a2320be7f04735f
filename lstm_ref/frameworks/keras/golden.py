"""The Keras side of golden files (lstm_ref.golden): run a grid case on the installed
Keras, for recording or for checking, and describe the installation."""

import importlib.util
import platform

import numpy as np

from lstm_ref._version import VERSION
from lstm_ref.frameworks.keras.cases import build_case_layer, case_execution, set_case_weights
from lstm_ref.frameworks.keras.observe import gpu_visible, observe
from lstm_ref.frameworks.keras.twin import keras_module

__all__ = ["observe_case", "observe_recorded", "environment"]


def observe_case(case, dtype):
    """Run a grid case as drawn, by its own execution path (as run_case runs it): (the inputs
    and weights exactly as the layer used them, its Observation). The inputs are x, kernel,
    recurrent_kernel[, bias][, h0, c0][, mask]: the mask when the case draws one
    (lstm_ref.golden.format.expected_arrays)."""
    layer = build_case_layer(case, dtype=dtype)
    drawn = case.arrays()
    observation = observe(layer, drawn["x"], initial_state=drawn["initial_state"],
                          mask=drawn.get("mask"), execution=case_execution(case, layer))
    weights = layer.get_weights()  # kernel, recurrent_kernel[, bias], in the layer's dtypes
    inputs = {"x": observation.x, **dict(zip(("kernel", "recurrent_kernel", "bias"), weights))}
    if observation.initial_state is not None:
        inputs["h0"], inputs["c0"] = observation.initial_state
    if observation.mask is not None:
        inputs["mask"] = observation.mask
    return inputs, observation


def observe_recorded(case, dtype, arrays):
    """The installed framework's Observation of a case's recorded inputs and weights, run by
    the case's own execution path."""
    layer = build_case_layer(case, dtype=dtype)
    set_case_weights(layer, case, arrays)
    state = [arrays["h0"], arrays["c0"]] if case.initial_state else None
    return observe(layer, arrays["x"], initial_state=state, mask=arrays.get("mask"),
                   execution=case_execution(case, layer))


def environment():
    """What a recording depends on: lstm_ref, framework and NumPy versions, backend, platform.

    Returns:
        ``{"lstm_ref": ..., "versions": {...}, "backend": ..., "platform": {...}}``.
    """
    keras = keras_module()
    backend = keras.backend.backend()
    versions = {"tensorflow": _version_of("tensorflow"), "keras": keras.__version__,
                "numpy": np.__version__}
    if backend not in versions and backend != "numpy":
        versions[backend] = _version_of(backend)
    system = {"python": platform.python_version(),
              "implementation": platform.python_implementation(),
              "machine": platform.machine(), "system": platform.system(),
              "release": platform.release(), "platform": platform.platform(),
              "device": "GPU" if gpu_visible(keras) else "CPU"}
    if backend == "tensorflow":
        import tensorflow as tf

        # TF32 rounds float32 matmuls to 10 bits on recent GPUs: a reason for drift to show.
        system["tf32"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    return {"lstm_ref": VERSION, "versions": versions, "backend": backend,
            "platform": system}


def _version_of(package):
    if importlib.util.find_spec(package) is None:
        return None
    return getattr(__import__(package), "__version__", "unknown")
