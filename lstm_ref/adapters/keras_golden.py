"""The framework side of golden files (lstm_ref.golden): run a grid case on the installed
Keras, for recording or for checking, and describe the installation."""

import importlib.util
import platform

import numpy as np

from lstm_ref.adapters import keras as keras_adapter


def observe_case(case, dtype):
    """Run a grid case as drawn: (the inputs and weights exactly as the layer used them, its
    Observation)."""
    layer = keras_adapter.build_case_layer(case, dtype=dtype)
    drawn = case.arrays()
    observation = keras_adapter.observe(layer, drawn["x"], initial_state=drawn["initial_state"])
    weights = layer.get_weights()  # kernel, recurrent_kernel[, bias], in the layer's dtypes
    inputs = {"x": observation.x, **dict(zip(("kernel", "recurrent_kernel", "bias"), weights))}
    if observation.initial_state is not None:
        inputs["h0"], inputs["c0"] = observation.initial_state
    return inputs, observation


def observe_recorded(case, dtype, arrays):
    """The installed framework's Observation of a case's recorded inputs and weights."""
    layer = keras_adapter.build_case_layer(case, dtype=dtype)
    weights = [arrays["kernel"], arrays["recurrent_kernel"]]
    weights += [arrays["bias"]] if case.use_bias else []
    layer.set_weights([w.astype(layer.variable_dtype) for w in weights])
    state = [arrays["h0"], arrays["c0"]] if case.initial_state else None
    return keras_adapter.observe(layer, arrays["x"], initial_state=state)


def environment():
    """What a recording depends on: lstm_ref, framework and NumPy versions, backend, platform.

    Returns:
        ``{"lstm_ref": ..., "versions": {...}, "backend": ..., "platform": {...}}``.
    """
    import lstm_ref

    keras = keras_adapter._keras()
    backend = keras.backend.backend()
    versions = {"tensorflow": _version_of("tensorflow"), "keras": keras.__version__,
                "numpy": np.__version__}
    if backend not in versions and backend != "numpy":
        versions[backend] = _version_of(backend)
    system = {"python": platform.python_version(),
              "implementation": platform.python_implementation(),
              "machine": platform.machine(), "system": platform.system(),
              "release": platform.release(), "platform": platform.platform(),
              "device": "GPU" if keras_adapter.gpu_visible(keras) else "CPU"}
    if backend == "tensorflow":
        import tensorflow as tf

        # TF32 rounds float32 matmuls to 10 bits on recent GPUs: a reason for drift to show.
        system["tf32"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    return {"lstm_ref": lstm_ref.__version__, "versions": versions, "backend": backend,
            "platform": system}


def _version_of(package):
    if importlib.util.find_spec(package) is None:
        return None
    return getattr(__import__(package), "__version__", "unknown")
