"""The reference twin of a TFLite fused LSTM op, read from the op's tensors.

``UNIDIRECTIONAL_SEQUENCE_LSTM`` takes 24 inputs (LiteRT's ``lstm_shared.h``): the input,
input_to_{input,forget,cell,output} weights (units, features), recurrent_to_* (units,
output_size), cell_to_{input,forget,output} peepholes (units,), {input,forget,cell,output}
gate biases (units,), projection weights (output_size, units) and bias, the h and c state
variables, and four layer-norm coefficient vectors. Its options: the activation of the cell
gate and of the output (fused_activation_function; the gates' activation is always the
sigmoid), cell_clip and proj_clip (0: none), time_major. They map onto
:class:`~lstm_ref.weights.LSTMWeights` (Keras layout, gate order i, f, c, o): each gate's
(units, features) block transposed into its columns of the kernel.

Layer-norm coefficients become ``LSTMWeights(layer_norm=LayerNorm.tflite(gains))`` and CIFG
(no input-gate tensors) ``coupled_gates="cifg"``. What LSTMWeights cannot express is refused
with a one-line error naming it: a projection bias, diagonal recurrent weights, some
layer-norm coefficients without the others. Quantized weights (float16, int8 with a
scale per tensor or per channel) are dequantized to float64: the twin runs the reference on
the weights the artifact holds.
"""

from dataclasses import dataclass, field

import numpy as np

from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.frameworks.tflite.flatbuffer import load
from lstm_ref.reference import forward
from lstm_ref.weights import LSTMWeights

__all__ = [
    "ACTIVATIONS",
    "FUSED_OPS",
    "INPUTS",
    "ReadLSTM",
    "TFLiteLSTMTwin",
    "from_tflite",
    "fused_ops",
    "read_fused",
]

FUSED_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")

# The fused op's inputs, by position (LiteRT's lstm_shared.h).
INPUTS = ("input", "input_to_input", "input_to_forget", "input_to_cell", "input_to_output",
          "recurrent_to_input", "recurrent_to_forget", "recurrent_to_cell",
          "recurrent_to_output", "cell_to_input", "cell_to_forget", "cell_to_output",
          "input_gate_bias", "forget_gate_bias", "cell_gate_bias", "output_gate_bias",
          "projection_weights", "projection_bias", "output_state", "cell_state",
          "input_layer_norm", "forget_layer_norm", "cell_layer_norm", "output_layer_norm")
GATES = (("i", "input"), ("f", "forget"), ("c", "cell"), ("o", "output"))

# fused_activation_function (schema ActivationFunctionType) -> lstm_ref activation name.
ACTIVATIONS = {0: "linear", 1: "relu", 3: "relu6", 4: "tanh"}


@dataclass
class ReadLSTM:
    """One LSTM read from an artifact.

    Attributes:
        weights: LSTMWeights of the dequantized weights, with the op's options.
        half_steps: LSTMWeights array name ("kernel", "recurrent_kernel", "bias", "peephole",
            "projection"; "layer_norm" for its (4, units) gains) -> per element, how far the format's rounding could have moved the
            stored value (0 where stored in float32).
        formats: the same names -> the storage format(s) of their tensors.
        time_major: the op's input is (time, batch, features).
        where: the op, for reports ("UNIDIRECTIONAL_SEQUENCE_LSTM #0 of subgraph 0").
        hybrid: the op computes with int8 weights and quantizes its activations at run time
            (dynamic range), with ``asymmetric`` quantization of the inputs or not.
        states: (h, c) indices of the op's state variables in subgraph ``subgraph``, or None.
    """

    weights: LSTMWeights
    half_steps: dict
    formats: dict
    time_major: bool = False
    where: str = ""
    hybrid: bool = False
    asymmetric: bool = False
    states: tuple | None = None
    subgraph: int = 0
    notes: dict = field(default_factory=dict)


def fused_ops(artifact):
    """(subgraph, index, name, op) of every fused LSTM op of an artifact."""
    return [entry for entry in load(artifact).ops() if entry[2] in FUSED_OPS]


def read_fused(artifact, op=None):
    """The :class:`ReadLSTM` of a ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op of ``artifact`` (a
    .tflite path, bytes or Artifact): the only one, or the ``op``-th (0-based, in the order
    of :func:`fused_ops`)."""
    art = load(artifact)
    found = fused_ops(art)
    if not found:
        names = sorted(set(art.op_names()))
        raise UnsupportedLayerError(f"{art.origin} has no fused LSTM op ({', '.join(FUSED_OPS)}); "
                                    f"its ops: {', '.join(names)} (a WHILE-loop lowering is "
                                    "compared with compare_export, which reads its weights)")
    if op is None:
        if len(found) > 1:
            raise OptionError(f"{art.origin} has {len(found)} fused LSTM ops: pass op= (0 to "
                              f"{len(found) - 1})")
        op = 0
    if not isinstance(op, int) or isinstance(op, bool) or not 0 <= op < len(found):
        raise OptionError(f"op must be an index from 0 to {len(found) - 1}; received {op!r}")
    s, k, name, operator = found[op]
    where = f"{name} #{k} of subgraph {s}"
    if name != "UNIDIRECTIONAL_SEQUENCE_LSTM":
        raise UnsupportedLayerError(f"{where}: lstm_ref reads UNIDIRECTIONAL_SEQUENCE_LSTM; "
                                    f"{name} is not supported yet")
    inputs = [int(i) for i in operator.inputs] + [-1] * (len(INPUTS) - len(operator.inputs))
    tensor = dict(zip(INPUTS, inputs))
    options = operator.builtinOptions

    def read(key):
        index = tensor[key]
        if index < 0:
            return None
        constant = art.constant(s, index)
        if constant is None:
            raise UnsupportedLayerError(f"{where}: its {key} input "
                                        f"{art.tensor_name(s, index)!r} is not a constant; "
                                        "lstm_ref reads weights stored in the model")
        return constant

    cifg = tensor["input_to_input"] < 0
    present = [key for key in INPUTS[20:] if tensor[key] >= 0]
    needed = list(INPUTS[21:] if cifg else INPUTS[20:])
    if present and present != needed:
        raise UnsupportedLayerError(f"{where} has some layer-norm coefficients ({', '.join(present)}) "
                                    f"but not all of {', '.join(needed)}")
    if tensor["projection_bias"] >= 0:
        raise UnsupportedLayerError(f"{where} has a projection bias: LSTMWeights has none")
    if getattr(options, "diagonalRecurrentTensors", False):
        raise UnsupportedLayerError(f"{where} has diagonal recurrent weights: LSTMWeights "
                                    "holds full recurrent kernels")
    activation = ACTIVATIONS.get(int(options.fusedActivationFunction))
    if activation is None:
        raise UnsupportedLayerError(f"{where}: fused_activation_function "
                                    f"{options.fusedActivationFunction} has no lstm_ref name "
                                    f"(known: {ACTIVATIONS})")
    blocks = {}
    for gate, word in GATES:
        for kind, key in (("kernel", f"input_to_{word}"), ("recurrent_kernel",
                                                          f"recurrent_to_{word}"),
                          ("bias", f"{word}_gate_bias")):
            constant = read(key)
            if constant is None and not (cifg and gate == "i"):
                raise UnsupportedLayerError(f"{where} has no {key} tensor")
            blocks[gate, kind] = constant
    ref = blocks["f", "kernel"].values
    units, features = ref.shape
    output_size = blocks["f", "recurrent_kernel"].values.shape[1]
    shapes = {"kernel": (units, features), "recurrent_kernel": (units, output_size),
              "bias": (units,)}
    arrays, halves, formats = {}, {}, {}
    for kind, shape in shapes.items():
        columns, half, kinds = [], [], []
        for gate, _ in GATES:
            constant = blocks[gate, kind]
            if constant is None:  # CIFG: the input gate is 1 - f, its blocks unused
                columns.append(np.zeros(shape))
                half.append(np.zeros(shape))
                continue
            if constant.values.shape != shape:
                raise ShapeError(f"{where}: {constant.name!r} has shape {constant.values.shape}; "
                                 f"expected {shape} from input_to_forget {ref.shape}")
            columns.append(constant.values)
            half.append(constant.half_step)
            kinds.append(constant.format)
        stack = np.concatenate if kind == "bias" else (lambda b: np.concatenate(b, axis=0).T)
        arrays[kind], halves[kind] = stack(columns), stack(half)
        formats[kind] = ", ".join(sorted(set(kinds)))
    extra = {}
    peepholes = [read(f"cell_to_{word}") for word in ("input", "forget", "output")]
    if any(p is not None for p in peepholes):
        if peepholes[1] is None or peepholes[2] is None or (peepholes[0] is None and not cifg):
            raise UnsupportedLayerError(f"{where} has some peepholes but not all of i, f, o")
        rows = [np.zeros(units) if p is None else p.values for p in peepholes]
        extra["peephole"] = np.stack(rows)
        halves["peephole"] = np.stack([np.zeros(units) if p is None else p.half_step
                                       for p in peepholes])
        formats["peephole"] = ", ".join(sorted({p.format for p in peepholes if p is not None}))
    projection = read("projection_weights")
    if projection is not None:
        extra["projection"] = projection.values.T
        halves["projection"] = projection.half_step.T
        formats["projection"] = projection.format
        if options.projClip > 0:
            extra["proj_clip"] = float(options.projClip)
    if options.cellClip > 0:
        extra["cell_clip"] = float(options.cellClip)
    if cifg:
        extra["coupled_gates"] = "cifg"
    if present:
        norms = [None if tensor[f"{word}_layer_norm"] < 0 else read(f"{word}_layer_norm")
                 for _, word in GATES]
        extra["layer_norm"] = _layer_norm(where, [np.zeros(units) if n is None else n.values
                                                  for n in norms])
        halves["layer_norm"] = np.stack([np.zeros(units) if n is None else n.half_step
                                         for n in norms])
        formats["layer_norm"] = ", ".join(sorted({n.format for n in norms if n is not None}))
    try:
        weights = LSTMWeights(arrays["kernel"], arrays["recurrent_kernel"], arrays["bias"],
                              activation=activation, recurrent_activation="sigmoid", **extra)
    except TypeError as exc:
        what = ("a CIFG LSTM (no input-gate tensors: i = 1 - f)" if cifg
                else "a layer-normalised LSTM")
        raise UnsupportedLayerError(f"{where} is {what}, which this LSTMWeights cannot "
                                    "express") from exc
    hybrid = any("int" in f for f in formats.values()) and art.tensor_type(
        s, tensor["input"]) == "FLOAT32"
    states = (tensor["output_state"], tensor["cell_state"])
    return ReadLSTM(weights, halves, formats, bool(options.timeMajor), where, hybrid,
                    bool(getattr(options, "asymmetricQuantizeInputs", False)),
                    states if min(states) >= 0 else None, s)


def _layer_norm(where, rows):
    """TFLite's layer normalisation (lstm_ref.layer_norm.LayerNorm.tflite) with gains
    ``rows`` (i, f, c, o), or a refusal naming it where this lstm_ref has none."""
    try:
        from lstm_ref.layer_norm import LayerNorm
    except ImportError as exc:
        raise UnsupportedLayerError(f"{where} has layer-norm coefficients: this lstm_ref has "
                                    "no layer-normalised LSTM") from exc
    return LayerNorm.tflite(np.stack(rows))


class TFLiteLSTMTwin:
    """The reference twin of a fused TFLite LSTM op: ``twin(x, initial_state=None)`` returns
    the op's output, every step's h, (batch, time, output_size), or (time, batch, ...) when
    the op is time-major, as float64 NumPy computed by the reference on the artifact's
    dequantized weights; ``twin.final_state`` is then [h, c] of the last call (what the op
    leaves in its state variables). An op with int8 weights (``read.hybrid``) also quantizes
    its activations at run time, which the twin does not: lstm_ref.compare_export bounds
    that departure (lstm_ref.frameworks.tflite.tolerances).

    Attributes:
        read: the :class:`ReadLSTM` (weights, their storage formats and resolution, options).
        weights: ``read.weights``.
    """

    def __init__(self, read):
        self.read = read
        self.weights = read.weights
        self.final_state = None

    def __call__(self, x, initial_state=None, dtype="float64"):
        x = np.asarray(x)
        if x.ndim != 3:
            raise ShapeError(f"x must be (batch, time, features) (time-major: (time, batch, "
                             f"features)); received shape {x.shape}")
        if self.read.time_major:
            x = x.transpose(1, 0, 2)
        trace = forward(x, self.weights, initial_state=initial_state, dtype=dtype)
        self.final_state = [trace.final_h, trace.final_c]
        out = trace.outputs
        return out.transpose(1, 0, 2) if self.read.time_major else out

    def __repr__(self):
        return f"TFLiteLSTMTwin({self.read.where}, {self.weights!r})"


def from_tflite(path_or_bytes, op=None):
    """The :class:`TFLiteLSTMTwin` of a fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op of a .tflite
    model (a path or its bytes): the only one, or the ``op``-th."""
    return TFLiteLSTMTwin(read_fused(path_or_bytes, op))
