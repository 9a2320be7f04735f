"""Building .tflite artifacts from LSTM weights the two ways TensorFlow's converter lowers a
Keras LSTM (for tests, grids and examples), and editing one (the planted bugs of the
sensitivity tests).

What TensorFlow 2.21's converter emits (``tf.lite.TFLiteConverter.from_keras_model``):

- a Keras 3 LSTM: always a WHILE loop (its body FULLY_CONNECTED, ADD, SPLIT, LOGISTIC,
  TANH, MUL): Keras 3 marks no function as an LSTM for the converter to fuse;
- a tf_keras (Keras 2) LSTM with a fixed batch size and return_state=False: the fused
  ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (with cell_clip 10 set by the converter: |c| is clipped
  to 10, which the Keras layer does not do); with return_state=True, a WHILE loop.

Weight storage: "float32"; "float16" (``optimizations=[DEFAULT]``,
``supported_types=[tf.float16]``: FLOAT16 constants widened by DEQUANTIZE ops); "int8"
(``optimizations=[DEFAULT]`` without a representative dataset: dynamic range, int8 weights
with a float32 scale, per tensor in the fused op and per channel in FULLY_CONNECTED; only
tensors of 1024 elements or more are quantized, smaller ones stay float32).
"""

import numpy as np

from lstm_ref._optional import require
from lstm_ref.errors import OptionError, UnsupportedLayerError
from lstm_ref.frameworks.tflite.flatbuffer import load, pack

__all__ = ["LOWERINGS", "STORAGES", "convert_model", "edit_constant", "keras_lstm_artifact"]

LOWERINGS = ("while", "fused")
STORAGES = ("float32", "float16", "int8")


def _tf():
    return require("tensorflow", "tflite")


def convert_model(model, storage="float32"):
    """The .tflite bytes of a Keras 3 or tf_keras model, its weights stored as ``storage``."""
    if storage not in STORAGES:
        raise OptionError(f"storage must be one of {STORAGES}; received {storage!r}")
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if storage != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if storage == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return bytes(converter.convert())


def keras_lstm_artifact(weights, batch, time, lowering="while", storage="float32",
                        return_sequences=True, return_state=None, go_backwards=False):
    """The .tflite bytes of a model of one LSTM layer with ``weights`` (plain Keras options:
    activations, bias) over (batch, time, features) inputs of fixed size.

    Args:
        lowering: "while" (a Keras 3 layer: a WHILE loop) or "fused" (a tf_keras layer: the
            fused UNIDIRECTIONAL_SEQUENCE_LSTM op; return_state must be False).
        storage: "float32", "float16" or "int8" (dynamic range).
        return_state: the layer's; default True for "while" (the states are outputs) and
            False for "fused".
        return_sequences, go_backwards: the layer's.
    """
    if lowering not in LOWERINGS:
        raise OptionError(f"lowering must be one of {LOWERINGS}; received {lowering!r}")
    if weights.options():
        raise OptionError(f"keras_lstm_artifact builds plain Keras LSTMs; these weights have "
                          f"{sorted(weights.options())}")
    return_state = (lowering == "while") if return_state is None else return_state
    if lowering == "fused" and return_state:
        raise OptionError("lowering='fused' needs return_state=False: with return_state the "
                          "converter keeps the WHILE loop")
    keras = require("keras", "keras") if lowering == "while" else require("tf_keras", "tf_keras")
    inputs = keras.Input((time, weights.features), batch_size=batch)
    layer = keras.layers.LSTM(weights.units, activation=weights.activation.name,
                              recurrent_activation=weights.recurrent_activation.name,
                              use_bias=weights.use_bias, return_sequences=return_sequences,
                              return_state=return_state, go_backwards=go_backwards)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.asarray(a, np.float32) for a in weights.to_keras()])
    content = convert_model(model, storage)
    if lowering == "fused" and "UNIDIRECTIONAL_SEQUENCE_LSTM" not in load(content).op_names():
        raise UnsupportedLayerError(f"the converter did not fuse this tf_keras LSTM: it emitted "
                                    f"{sorted(set(load(content).op_names()))}")
    return content


def edit_constant(artifact, name, edit):
    """The artifact's bytes with the constant tensor named ``name`` (in any subgraph) replaced
    by ``edit(stored)``, ``stored`` being its raw values (int8, float16 or float32 as stored;
    the result is cast back to that type). For planting bugs in an artifact."""
    art = load(artifact)
    model = art.model
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            if tensor.name.decode(errors="replace") != name:
                continue
            buffer = model.buffers[tensor.buffer]
            if buffer.data is None or len(buffer.data) == 0:
                raise OptionError(f"tensor {name!r} holds no constant data")
            dtype = {0: np.float32, 1: np.float16, 9: np.int8}.get(tensor.type)
            if dtype is None:
                raise OptionError(f"tensor {name!r} has type {tensor.type}: edit_constant edits "
                                  "float32, float16 and int8 tensors")
            shape = tuple(int(n) for n in tensor.shape)
            stored = np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), dtype)
            edited = np.asarray(edit(stored.reshape(shape).copy()), dtype)
            buffer.data = np.frombuffer(edited.tobytes(), np.uint8).copy()
            return pack(model)
    raise OptionError(f"the artifact has no tensor named {name!r}")
