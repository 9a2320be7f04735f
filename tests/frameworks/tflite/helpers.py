"""Artifacts for the TFLite tests: float32 weights drawn per gate (the converter stores
float32), converted at the case's fixed shape. TensorFlow's converter takes seconds per
artifact, so tests that need "an artifact of this lowering, storage and shape with random
per-gate weights" share one conversion per key (:func:`shared_artifact`)."""

import functools
import zlib

import numpy as np

import lstm_ref
from lstm_ref.frameworks.tflite import convert
from tests.support.helpers import random_weights

__all__ = ["artifact", "float32_weights", "shared_artifact", "swap_gates", "with_op_inputs",
           "with_op_options", "with_projection"]


def float32_weights(rng, units, features, **options):
    """Random per-gate weights, rounded to float32 (what a Keras layer holds)."""
    w = random_weights(rng, units, features, **options)
    return lstm_ref.LSTMWeights(*(None if a is None else a.astype(np.float32)
                                  for a in (w.kernel, w.recurrent_kernel, w.bias)),
                                activation=w.activation, recurrent_activation=w.recurrent_activation)


def artifact(weights, batch, time, lowering, storage="float32", **options):
    return convert.keras_lstm_artifact(weights, batch, time, lowering, storage, **options)


def shared_artifact(units, features, batch, time, lowering, storage="float32", **options):
    """(weights, content): float32 weights drawn from a generator seeded from the key
    (units, features, batch, time, lowering, storage, options), so the same on every call and
    in every process, and the artifact converted from them, once per key and process. The
    weights are drawn afresh on each call (the caller may change its arrays); the content is
    bytes, immutable, and every editing helper returns new bytes."""
    key = (units, features, batch, time, lowering, storage, tuple(sorted(options.items())))
    return _weights_of(key), _content_of(key)


def _weights_of(key):
    units, features = key[:2]
    return float32_weights(np.random.default_rng(zlib.crc32(repr(key).encode())), units, features)


@functools.cache
def _content_of(key):
    batch, time, lowering, storage, options = key[2:]
    return artifact(_weights_of(key), batch, time, lowering, storage, **dict(options))


def swap_gates(weights, a, b):
    """The weights with gate blocks ``a`` and ``b`` (of "ifco") swapped in every array."""
    u = weights.units
    order = list("ifco")
    blocks = [slice(order.index(g) * u, (order.index(g) + 1) * u) for g in order]
    perm = np.arange(4 * u)
    ia, ib = order.index(a), order.index(b)
    perm[blocks[ia]], perm[blocks[ib]] = np.arange(4 * u)[blocks[ib]], np.arange(4 * u)[blocks[ia]]
    return weights.replace(kernel=weights.kernel[:, perm],
                           recurrent_kernel=weights.recurrent_kernel[:, perm],
                           bias=None if weights.bias is None else weights.bias[perm])


def _fused_op(model):
    from lstm_ref.frameworks.tflite.flatbuffer import Artifact

    art = Artifact(model, "edited")
    for s, k, name, op in art.ops():
        if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            return art, op
    raise AssertionError("no fused LSTM op")


def with_op_inputs(content, **changes):
    """The artifact with its fused op's inputs rewired: ``{position: tensor index}``
    (position as ``p<N>``; -1 removes an optional input)."""
    from lstm_ref.frameworks.tflite.flatbuffer import pack

    art, op = _fused_op(content)
    inputs = np.array(op.inputs, np.int32)
    for key, index in changes.items():
        inputs[int(key[1:])] = index
    op.inputs = inputs
    return pack(art.model)


def with_op_options(content, **options):
    """The artifact with fields of its fused op's options changed (cellClip=...)."""
    from lstm_ref.frameworks.tflite.flatbuffer import pack

    art, op = _fused_op(content)
    for name, value in options.items():
        setattr(op.builtinOptions, name, value)
    return pack(art.model)


def with_projection(content, projection, recurrent):
    """The artifact's fused op given a projection: ``projection`` (output_size, units) as a
    new projection_weights constant, ``recurrent`` {gate word: (units, output_size)} as its
    recurrent_to_* weights, and the h state and the output resized to output_size."""
    from lstm_ref.frameworks.tflite.flatbuffer import pack, schema

    art, op = _fused_op(content)
    model, subgraph = art.model, art.model.subgraphs[0]
    inputs = np.array(op.inputs, np.int32)
    size = projection.shape[0]

    def put(index, array):
        tensor = subgraph.tensors[index]
        tensor.shape = np.array(array.shape, np.int32)
        tensor.shapeSignature = None
        buffer = schema().BufferT()
        buffer.data = np.frombuffer(np.asarray(array, np.float32).tobytes(), np.uint8).copy()
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1

    for position, word in ((5, "input"), (6, "forget"), (7, "cell"), (8, "output")):
        put(int(inputs[position]), recurrent[word])
    tensor = schema().TensorT()
    tensor.name = b"projection_weights"
    tensor.type = 0  # FLOAT32
    subgraph.tensors.append(tensor)
    put(len(subgraph.tensors) - 1, projection)
    inputs[16] = len(subgraph.tensors) - 1
    op.inputs = inputs
    state = subgraph.tensors[int(inputs[18])]
    state.shape = np.array([state.shape[0], size], np.int32)
    state.shapeSignature = None
    out = subgraph.tensors[int(op.outputs[0])]
    out.shape = np.array([*out.shape[:-1], size], np.int32)
    out.shapeSignature = None
    return pack(model)
