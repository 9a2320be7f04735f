"""Reading a .tflite flatbuffer: its operators, and its constant tensors as float64 arrays
with the resolution they were stored at (for the quantized ones, what rounding could have
moved them by).

The schema is LiteRT's own (``ai_edge_litert.schema_py_generated``): nothing here runs the
model (lstm_ref.frameworks.tflite.observe does).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_ref._optional import require
from lstm_ref.checks import describe
from lstm_ref.errors import OptionError, UnsupportedLayerError
from lstm_ref.tolerance import EPS32

__all__ = ["IDENTIFIER", "Artifact", "Constant", "is_tflite", "load", "pack", "schema"]

# A TFLite flatbuffer's file identifier, at bytes 4..8.
IDENTIFIER = b"TFL3"


def schema():
    """LiteRT's flatbuffer schema module, or FrameworkMissingError naming the extra."""
    return require("ai_edge_litert.schema_py_generated", "tflite")


def is_tflite(obj):
    """Whether ``obj`` is a .tflite path (existing file with TFLite's identifier, or a name
    ending in .tflite) or the bytes of one."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj[4:8]) == IDENTIFIER
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if path.suffix == ".tflite":
            return True
        try:
            with open(path, "rb") as handle:
                return handle.read(8)[4:8] == IDENTIFIER
        except OSError:
            return False
    return False


@dataclass
class Constant:
    """A constant tensor of the model, read as float64.

    Attributes:
        values: the stored values, dequantized: ``(q - zero_point) * scale`` for int8/uint8,
            float16 widened, float32 as stored.
        half_step: per element, half the distance between neighbouring representable values
            at the stored value: how far rounding to this format could have moved a value
            (0 for float32: a float32 source is stored exactly; for int8, half the scale and
            the float32 rounding of ``w / scale``).
        format: "float32", "float16", "int8 per-tensor", "int8 per-channel (axis k)".
        name: the tensor's name in the model.
    """

    values: np.ndarray
    half_step: np.ndarray
    format: str
    name: str


class Artifact:
    """A loaded .tflite model: its bytes, the unpacked flatbuffer, and where it came from."""

    def __init__(self, content, origin):
        self.content = bytes(content)
        self.origin = origin
        self.model = schema().ModelT.InitFromPackedBuf(self.content, 0)
        codes = schema().BuiltinOperator
        self._op_names = {value: key for key, value in vars(codes).items()
                          if not key.startswith("_")}
        self._tensor_types = {value: key for key, value in vars(schema().TensorType).items()
                              if not key.startswith("_")}

    def op_name(self, op):
        """The builtin operator name of ``op`` (e.g. "UNIDIRECTIONAL_SEQUENCE_LSTM")."""
        code = self.model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        return self._op_names.get(builtin, f"builtin {builtin}")

    def ops(self):
        """(subgraph index, operator index, name, operator) of every operator."""
        for s, subgraph in enumerate(self.model.subgraphs):
            for k, op in enumerate(subgraph.operators or []):
                yield s, k, self.op_name(op), op

    def op_names(self):
        """The names of every operator, subgraph by subgraph: what the converter emitted."""
        return [name for _, _, name, _ in self.ops()]

    def tensor_name(self, subgraph, index):
        return self.model.subgraphs[subgraph].tensors[index].name.decode(errors="replace")

    def tensor_type(self, subgraph, index):
        return self._tensor_types[self.model.subgraphs[subgraph].tensors[index].type]

    def producer(self, subgraph, index):
        """The operator that writes tensor ``index`` of ``subgraph``, or None (a constant or
        an input)."""
        for op in self.model.subgraphs[subgraph].operators or []:
            if index in list(op.outputs):
                return op
        return None

    def _buffer_data(self, index):
        """A buffer's bytes: inside the flatbuffer, or after it (``offset``/``size``, as
        the converter stores the buffers of large models)."""
        buffer = self.model.buffers[index]
        if buffer.data is not None and len(buffer.data):
            return buffer.data
        offset, size = int(getattr(buffer, "offset", 0) or 0), int(getattr(buffer, "size", 0) or 0)
        if offset > 1 and size > 0:
            return np.frombuffer(self.content[offset:offset + size], np.uint8)
        return None

    def constant(self, subgraph, index):
        """Tensor ``index`` of ``subgraph`` as a :class:`Constant`, following a DEQUANTIZE
        back to the constant it widens; None when it is no constant (an activation, a
        variable state)."""
        op = self.producer(subgraph, index)
        if op is not None:
            if self.op_name(op) != "DEQUANTIZE":
                return None
            index = int(op.inputs[0])
        tensor = self.model.subgraphs[subgraph].tensors[index]
        data = self._buffer_data(tensor.buffer) if tensor.buffer else None
        if data is None or len(data) == 0 or tensor.isVariable:
            return None
        kind = self._tensor_types[tensor.type]
        shape = tuple(int(n) for n in tensor.shape)
        raw = np.asarray(data, np.uint8).tobytes()
        name = tensor.name.decode(errors="replace")
        if kind in ("FLOAT32", "FLOAT16"):
            stored = np.frombuffer(raw, "<f4" if kind == "FLOAT32" else "<f2").reshape(shape)
            half = (np.zeros(shape) if kind == "FLOAT32"
                    else 0.5 * np.spacing(np.abs(stored)).astype(np.float64))
            return Constant(stored.astype(np.float64), half, kind.lower(), name)
        if kind in ("INT8", "UINT8"):
            quant = tensor.quantization
            if quant is None or quant.scale is None or len(quant.scale) == 0:
                raise UnsupportedLayerError(f"tensor {name!r} is {kind} without a scale: not a "
                                            "dequantizable weight")
            stored = np.frombuffer(raw, np.int8 if kind == "INT8" else np.uint8).reshape(shape)
            scale = np.asarray(quant.scale, np.float64)
            zero = np.asarray(quant.zeroPoint if quant.zeroPoint is not None else [0], np.float64)
            axis = int(quant.quantizedDimension)
            if scale.size > 1:
                view = [1] * len(shape)
                view[axis] = scale.size
                scale, zero = scale.reshape(view), zero.reshape(view)
                fmt = f"{kind.lower()} per-channel (axis {axis})"
            else:
                fmt = f"{kind.lower()} per-tensor"
            values = (stored.astype(np.float64) - zero) * scale
            # round(w / scale) is taken in float32: up to 128 of its ulps past half a step.
            half = np.broadcast_to(scale * (0.5 + 128 * EPS32), shape).copy()
            return Constant(values, half, fmt, name)
        raise UnsupportedLayerError(f"tensor {name!r} is stored as {kind}: lstm_ref reads "
                                    "float32, float16 and int8/uint8 weights")


def load(artifact, what="artifact"):
    """An :class:`Artifact` from a .tflite path, its bytes, or an Artifact (returned as is);
    OptionError naming ``what`` for anything else."""
    if isinstance(artifact, Artifact):
        return artifact
    if isinstance(artifact, (bytes, bytearray, memoryview)):
        content = bytes(artifact)
        if content[4:8] != IDENTIFIER:
            raise OptionError(f"{what} must be a TFLite flatbuffer (identifier {IDENTIFIER!r} "
                              f"at bytes 4..8); received {len(content)} bytes with "
                              f"{content[4:8]!r} there")
        return Artifact(content, f"<{len(content)} bytes>")
    if isinstance(artifact, (str, Path)):
        try:
            content = Path(artifact).read_bytes()
        except OSError as exc:
            raise OptionError(f"{what} {str(artifact)!r} cannot be read: {exc.strerror}") from exc
        if content[4:8] != IDENTIFIER:
            raise OptionError(f"{what} {str(artifact)!r} is not a TFLite flatbuffer (no "
                              f"{IDENTIFIER!r} identifier at bytes 4..8)")
        return Artifact(content, str(artifact))
    raise OptionError(f"{what} must be a .tflite path or its bytes; received {describe(artifact)}")


def pack(model):
    """The bytes of an unpacked flatbuffer ``model`` (a ModelT), e.g. after editing a buffer."""
    flatbuffers = require("flatbuffers", "tflite")
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())
