"""ONNX graphs with an LSTM node: reading one (the node, its attributes, its constant inputs)
and writing one (a model of a single LSTM node, from ONNX arrays or from LSTMWeights).

An ONNX LSTM node takes, by position: X, W, R, B, sequence_lens, initial_h, initial_c, P (an
empty name leaves an optional input out) and returns Y, Y_h, Y_c. Shapes, with
D = num_directions (2 if bidirectional, else 1) and H = hidden_size:

    layout 0: X (seq_length, batch, input_size), Y (seq_length, D, batch, H),
              initial_h, initial_c, Y_h, Y_c (D, batch, H)
    layout 1: X (batch, seq_length, input_size), Y (batch, seq_length, D, H),
              initial_h, initial_c, Y_h, Y_c (batch, D, H)
    W (D, 4H, input_size), R (D, 4H, H), B (D, 8H) = [Wb, Rb], P (D, 3H), gates i, o, f, c;
    sequence_lens (batch,) int32.
"""

import os
from dataclasses import dataclass

import numpy as np

from lstm_ref import layouts
from lstm_ref._optional import require
from lstm_ref.frameworks.onnx import activations as onnx_activations
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.weights import LSTMWeights

__all__ = ["INPUTS", "OUTPUTS", "DIRECTIONS", "ATTRIBUTES", "OPSET", "LSTMNode", "load",
           "find_node", "constants", "read_node", "expected_shape", "check_input", "make_model",
           "build_model", "runnable_model"]

INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
OUTPUTS = ("Y", "Y_h", "Y_c")
DIRECTIONS = ("forward", "reverse", "bidirectional")
# Attributes of LSTM-1 to LSTM-22; output_sequence (LSTM-1 only) says whether Y is returned,
# which changes no value.
ATTRIBUTES = ("activation_alpha", "activation_beta", "activations", "clip", "direction",
              "hidden_size", "input_forget", "layout", "output_sequence")
# The opset a model from build_model declares: LSTM-14, the first with ``layout``.
OPSET = 14


def _onnx():
    return require("onnx", "onnx")


@dataclass
class LSTMNode:
    """One LSTM node of a model, read: what a twin needs to compute what the node computes.

    Attributes:
        name: the node's name ("" if it has none).
        inputs: spec input name (see INPUTS) -> the graph value's name ("" if left out).
        constants: spec input name -> NumPy array, for the inputs that are initializers or
            Constant outputs.
        attributes: the node's attributes with the spec's defaults filled in (hidden_size,
            direction, activations, activation_alpha, activation_beta, clip, input_forget,
            layout).
        opset: the model's version of the default ONNX domain.
        dtype: the floating dtype of the node's tensors (from W, or X's declared type).
    """

    name: str
    inputs: dict
    constants: dict
    attributes: dict
    opset: int
    dtype: np.dtype

    @property
    def num_directions(self):
        return 2 if self.attributes["direction"] == "bidirectional" else 1

    @property
    def present(self):
        """The spec names of the inputs the node uses."""
        return tuple(name for name in INPUTS if self.inputs.get(name))

    def describe(self):
        """A one-line account of the node for reports."""
        a = self.attributes
        parts = [f"hidden_size={a['hidden_size']}", f"direction={a['direction']}",
                 f"layout={a['layout']}", f"input_forget={a['input_forget']}",
                 f"clip={a['clip']}", f"activations={a['activations']}"]
        for key in ("activation_alpha", "activation_beta"):
            if a[key]:
                parts.append(f"{key}={[float(f'{v:.9g}') for v in a[key]]}")
        inputs = ", ".join(f"{n}{'' if n not in self.constants else ' (constant)'}"
                           for n in self.present)
        return (f"LSTM {self.name!r} (opset {self.opset}, {np.dtype(self.dtype).name}; inputs "
                f"{inputs}; {', '.join(parts)})")


def load(model_or_path):
    """A ModelProto from a ModelProto, a path (str or os.PathLike) or serialized bytes."""
    onnx = _onnx()
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        if not os.path.exists(model_or_path):
            raise UnsupportedLayerError(f"model_or_path: no file at {os.fspath(model_or_path)!r}")
        return onnx.load(model_or_path)
    if isinstance(model_or_path, bytes):
        return onnx.load_from_string(model_or_path)
    raise UnsupportedLayerError(f"model_or_path must be an onnx.ModelProto, a path or serialized "
                                f"bytes; received {type(model_or_path).__name__}")


def find_node(model, node=None):
    """The LSTM node of ``model``'s main graph: the only one, or the one named ``node``."""
    lstms = [n for n in model.graph.node if n.op_type == "LSTM" and n.domain in ("", "ai.onnx")]
    names = [n.name for n in lstms]
    if node is not None:
        named = [n for n in lstms if n.name == node]
        if not named:
            raise UnsupportedLayerError(f"node={node!r}: the model has no LSTM node of that "
                                        f"name; its LSTM nodes are {names}")
        return named[0]
    if not lstms:
        kinds = sorted({n.op_type for n in model.graph.node})
        raise UnsupportedLayerError(f"the model has no LSTM node in its main graph; its nodes "
                                    f"are {kinds or 'none'}")
    if len(lstms) > 1:
        raise UnsupportedLayerError(f"the model has {len(lstms)} LSTM nodes {names}: name the "
                                    "one to mirror with node=")
    return lstms[0]


def constants(model):
    """Graph value name -> NumPy array for every initializer and Constant node output."""
    onnx = _onnx()
    values = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            for attribute in n.attribute:
                if attribute.name == "value":
                    values[n.output[0]] = onnx.numpy_helper.to_array(attribute.t)
    return values


def read_node(model_or_path, node=None):
    """Read a model's LSTM node (see :func:`find_node`) into an :class:`LSTMNode`, checking
    every attribute and every constant input's shape against hidden_size and direction."""
    onnx = _onnx()
    model = load(model_or_path)
    proto = find_node(model, node)
    inputs = dict(zip(INPUTS, list(proto.input) + [""] * (len(INPUTS) - len(proto.input))))
    if len(proto.input) > len(INPUTS):
        raise UnsupportedLayerError(f"LSTM {proto.name!r} has {len(proto.input)} inputs; the "
                                    f"spec defines {len(INPUTS)}: {', '.join(INPUTS)}")
    if not inputs["X"] or not inputs["W"] or not inputs["R"]:
        raise UnsupportedLayerError(f"LSTM {proto.name!r} must have inputs X, W and R; received "
                                    f"{list(proto.input)}")
    known = constants(model)
    consts = {name: known[value] for name, value in inputs.items() if value and value in known}
    raw = {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute}
    unknown = sorted(set(raw) - set(ATTRIBUTES))
    if unknown:
        raise OptionError(f"LSTM {proto.name!r} has attribute(s) {unknown} we do not implement; "
                          f"the spec's are {', '.join(ATTRIBUTES)}")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    attributes = _attributes(proto.name, raw, consts)
    dtype = consts["W"].dtype if "W" in consts else _declared_dtype(model, inputs["X"])
    result = LSTMNode(name=proto.name, inputs=inputs, constants=consts, attributes=attributes,
                      opset=opset, dtype=np.dtype(dtype))
    for name, array in consts.items():
        check_input(result, name, array)
    return result


def _attributes(node_name, raw, consts):
    decode = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
    direction = decode(raw.get("direction", b"forward"))
    if direction not in DIRECTIONS:
        raise OptionError(f"LSTM {node_name!r}: direction must be one of {DIRECTIONS}; received "
                          f"{direction!r}")
    hidden_size = raw.get("hidden_size")
    if hidden_size is None:
        if "R" not in consts:
            raise OptionError(f"LSTM {node_name!r} has no hidden_size attribute and R is not a "
                              "constant: its hidden size is unknown")
        hidden_size = int(np.shape(consts["R"])[-1])
    if int(hidden_size) < 1:
        raise OptionError(f"LSTM {node_name!r}: hidden_size must be at least 1; received "
                          f"{hidden_size}")
    layout = int(raw.get("layout", 0))
    if layout not in (0, 1):
        raise OptionError(f"LSTM {node_name!r}: layout must be 0 or 1; received {layout}")
    input_forget = int(raw.get("input_forget", 0))
    if input_forget not in (0, 1):
        raise OptionError(f"LSTM {node_name!r}: input_forget must be 0 or 1; received "
                          f"{input_forget}")
    clip = raw.get("clip")
    if clip is not None and not (np.isfinite(clip) and clip > 0):
        raise OptionError(f"LSTM {node_name!r}: clip must be a positive number; received {clip}")
    return {"hidden_size": int(hidden_size), "direction": direction, "layout": layout,
            "input_forget": input_forget, "clip": None if clip is None else float(clip),
            "activations": [decode(n) for n in raw.get("activations", [])],
            "activation_alpha": [float(v) for v in raw.get("activation_alpha", [])],
            "activation_beta": [float(v) for v in raw.get("activation_beta", [])]}


def _declared_dtype(model, value_name):
    onnx = _onnx()
    for info in list(model.graph.input) + list(model.graph.value_info):
        if info.name == value_name and info.type.tensor_type.elem_type:
            return onnx.helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type)
    return np.float32


def expected_shape(node, name, batch=None, features=None):
    """The shape the spec requires of input ``name`` (None for a size it does not fix)."""
    d, h = node.num_directions, node.attributes["hidden_size"]
    states = (batch, d, h) if node.attributes["layout"] else (d, batch, h)
    return {"W": (d, 4 * h, features), "R": (d, 4 * h, h), "B": (d, 8 * h), "P": (d, 3 * h),
            "initial_h": states, "initial_c": states, "sequence_lens": (batch,)}[name]


def check_input(node, name, array, batch=None, features=None):
    """ShapeError unless ``array`` has the shape the node's hidden_size, direction and layout
    (and the batch / input size, where known) require of input ``name``."""
    expected = expected_shape(node, name, batch, features)
    shape = np.shape(array)
    if len(shape) != len(expected) or any(e is not None and s != e
                                          for s, e in zip(shape, expected)):
        a = node.attributes
        why = (f"hidden_size={a['hidden_size']}, direction={a['direction']} "
               f"(num_directions {node.num_directions})")
        if name.startswith("initial"):
            why += f", layout={a['layout']}"
        text = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise ShapeError(f"LSTM {node.name!r}: input {name} has shape {tuple(shape)}; expected "
                         f"{text} from {why}")


# --- writing ---------------------------------------------------------------------------------

def make_model(arrays, attributes, dtype="float32", graph_inputs=(), name="lstm",
               opset=OPSET, input_size=None):
    """A model of one LSTM node whose X (and ``graph_inputs``) are graph inputs and whose other
    arrays are initializers.

    Args:
        arrays: spec input name -> NumPy array with the num_directions axis (W, R, B, P,
            and optionally sequence_lens, initial_h, initial_c as constants).
        attributes: the node's attributes (hidden_size, direction, layout, clip, ...).
        dtype: the float dtype of X, the weights and the outputs.
        graph_inputs: further spec inputs fed at run time ("sequence_lens", "initial_h",
            "initial_c", or weights).
        name: the node's and the graph's name.
        opset: the default domain's opset version.
        input_size: X's last dimension (from W when None).

    Returns:
        An onnx.ModelProto, checked by onnx.checker.
    """
    onnx = _onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    dtype = np.dtype(dtype)
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    hidden = attributes["hidden_size"]
    d = 2 if attributes.get("direction", "forward") == "bidirectional" else 1
    layout = attributes.get("layout", 0)
    features = input_size if input_size is not None else np.shape(arrays["W"])[-1]
    batch, seq = "batch_size", "seq_length"
    shapes = {"X": [batch, seq, features] if layout else [seq, batch, features],
              "sequence_lens": [batch],
              "initial_h": [batch, d, hidden] if layout else [d, batch, hidden],
              "W": [d, 4 * hidden, features], "R": [d, 4 * hidden, hidden], "B": [d, 8 * hidden],
              "P": [d, 3 * hidden]}
    shapes["initial_c"] = shapes["initial_h"]
    out_shapes = {"Y": [batch, seq, d, hidden] if layout else [seq, d, batch, hidden],
                  "Y_h": shapes["initial_h"], "Y_c": shapes["initial_h"]}
    fed = ("X",) + tuple(graph_inputs)
    initializers = []
    for key, array in arrays.items():
        if key in fed:
            continue
        kind = np.int32 if key == "sequence_lens" else dtype
        initializers.append(numpy_helper.from_array(np.asarray(array).astype(kind), key))
    present = set(fed) | set(arrays)
    node_inputs = [key if key in present else "" for key in INPUTS]
    while node_inputs[-1] == "":
        node_inputs.pop()
    node = helper.make_node("LSTM", node_inputs, list(OUTPUTS), name=name, **attributes)
    info = lambda key: helper.make_tensor_value_info(  # noqa: E731
        key, onnx.TensorProto.INT32 if key == "sequence_lens" else elem, shapes[key])
    graph = helper.make_graph(
        [node], name, [info(key) for key in fed],
        [helper.make_tensor_value_info(key, elem, out_shapes[key]) for key in OUTPUTS],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="lstm_ref")
    onnx.checker.check_model(model)
    return model


def build_model(weights, direction=None, layout=0, dtype="float32", name="lstm",
                graph_inputs=(), opset=OPSET):
    """An ONNX model of one LSTM node with the given weights: how to port an LSTM to ONNX.

    Each direction's LSTMWeights become W, R, B = [bias, 0] and P through
    lstm_ref.layouts.to_onnx (gate order i, o, f, c; peepholes p_i, p_o, p_f); the activations
    (recurrent_activation, activation, output_activation) become f, g, h (see
    lstm_ref.frameworks.onnx.activations.as_onnx: sigmoid, tanh, relu, softsign, softplus, elu,
    linear, leaky_relu and both hard_sigmoids have ONNX equivalents).

    A ``gate_clip`` becomes the ``clip`` attribute, which by the spec also clips c_t before h:
    onnxruntime does not (lstm_ref.frameworks.onnx.twin), so a model from gate_clip weights computes
    in onnxruntime what the reference computes only while |c_t| <= clip. Weights read from a
    model with onnxruntime's semantics (f and g clipped, h not) write back as that model.

    Args:
        weights: an LSTMWeights (one direction) or a (forward, backward) pair (bidirectional).
        direction: "forward" or "reverse" for one LSTMWeights (default "forward");
            "bidirectional" (the default) for a pair.
        layout: 0 (time major) or 1 (batch major).
        dtype: the model's float dtype (onnxruntime's CPU LSTM runs float32 only).
        name: the node's and the graph's name.
        graph_inputs: the optional inputs the graph takes as inputs, which a run must then
            feed: any of "sequence_lens", "initial_h", "initial_c" (none by default: X only).
        opset: the default domain's opset (at least 14 for layout 1).

    Returns:
        An onnx.ModelProto (checked by onnx.checker).
    """
    pair = tuple(weights) if isinstance(weights, (list, tuple)) else (weights,)
    if len(pair) not in (1, 2) or not all(isinstance(w, LSTMWeights) for w in pair):
        raise OptionError(f"weights must be an LSTMWeights or a (forward, backward) pair of them; "
                          f"received {weights!r:.80}")
    direction = direction or ("bidirectional" if len(pair) == 2 else "forward")
    if (direction == "bidirectional") != (len(pair) == 2) or direction not in DIRECTIONS:
        raise OptionError(f"direction={direction!r} does not fit {len(pair)} LSTMWeights: one "
                          "takes 'forward' or 'reverse', a pair 'bidirectional'")
    if layout not in (0, 1):
        raise OptionError(f"layout must be 0 or 1; received {layout!r}")
    if layout and opset < 14:
        raise OptionError(f"layout=1 needs opset 14 or later (LSTM-14); received opset={opset}")
    if len(pair) == 2 and (pair[0].features, pair[0].units) != (pair[1].features, pair[1].units):
        raise ShapeError(f"the backward weights (features {pair[1].features}, units "
                         f"{pair[1].units}) do not match the forward ones ({pair[0].features}, "
                         f"{pair[0].units})")
    converted = [_direction_arrays(w, index) for index, w in enumerate(pair)]
    shared = {}
    for key in ("input_forget", "clip"):
        values = {c[1].get(key) for c in converted}
        if len(values) > 1:
            raise OptionError(f"the two directions differ in {key} ({sorted(values, key=str)}): "
                              "ONNX's attribute holds one value for the node")
        shared[key] = values.pop()
    arrays = {}
    for key in ("W", "R", "B", "P"):
        if any(key in c[0] for c in converted):
            size = {"B": 8, "P": 3}.get(key)
            arrays[key] = np.stack([c[0].get(key, np.zeros(size * pair[0].units)
                                             if size else None) for c in converted])
    attributes = {"hidden_size": pair[0].units, "direction": direction,
                  "input_forget": shared["input_forget"],
                  **onnx_activations.attributes([c[2] for c in converted])}
    if layout:
        attributes["layout"] = 1
    if shared["clip"] is not None:
        attributes["clip"] = shared["clip"]
    return make_model(arrays, attributes, dtype=dtype, graph_inputs=graph_inputs, name=name,
                      opset=opset)


def _direction_arrays(weights, index):
    """(arrays, attributes, (f, g, h)) of one direction, from layouts.to_onnx."""
    where = f"weights[{index}]"
    roles = (("recurrent_activation", "f"), ("activation", "g"), ("output_activation", "h"))
    acts = [onnx_activations.as_onnx(getattr(weights, attr), f"{where}.{attr} ({role})")
            for attr, role in roles]
    clips = {a.clip for a in acts[:2]}
    clip = None
    if clips != {None}:
        # Weights read with onnxruntime's semantics: f and g clipped alike, h unclipped.
        if len(clips) > 1 or acts[2].clip is not None or weights.gate_clip is not None:
            raise OptionError(f"{where}: the clips of f, g and h ({[a.clip for a in acts]}) and "
                              f"gate_clip ({weights.gate_clip}) do not form an ONNX clip "
                              "attribute")
        clip = clips.pop()
        acts = [a.unclipped() for a in acts]
    arrays, attributes = layouts.to_onnx(weights)
    if clip is not None:
        attributes["clip"] = clip
    attributes.setdefault("clip", None)
    return arrays, attributes, tuple(acts)


# --- running ---------------------------------------------------------------------------------

def runnable_model(node, fed):
    """A model onnxruntime's CPU provider can run that computes what ``node`` computes.

    The node alone, with its attributes and its constant inputs as initializers; ``fed``
    lists the spec inputs given at run time (X always), the others are left out. onnxruntime's
    CPU LSTM refuses layout 1 ("Batchwise recurrent operations (layout == 1) are not
    supported", lstm_base.h), so a layout-1 node runs as the spec defines layout 1: Transpose
    nodes around the same LSTM with layout 0.

    Returns:
        (ModelProto, note): ``note`` says how a layout-1 node was run, else None.
    """
    onnx = _onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    elem = helper.np_dtype_to_tensor_dtype(node.dtype)
    layout = node.attributes["layout"]
    graph_inputs, initializers, node_inputs, nodes = [], [], [], []
    for key in INPUTS:
        if key in fed:
            kind = onnx.TensorProto.INT32 if key == "sequence_lens" else elem
            graph_inputs.append(helper.make_tensor_value_info(key, kind, None))
            value = key
            if layout and key in ("X", "initial_h", "initial_c"):
                value = f"{key}_time_major"
                nodes.append(helper.make_node("Transpose", [key], [value], perm=[1, 0, 2]))
            node_inputs.append(value)
        elif key in node.constants and node.inputs[key]:
            initializers.append(numpy_helper.from_array(node.constants[key], key))
            node_inputs.append(key)
        else:
            node_inputs.append("")
    while node_inputs[-1] == "":
        node_inputs.pop()
    attributes = {k: v for k, v in node.attributes.items() if v not in (None, [])}
    attributes.pop("layout")
    if node.opset >= 14:
        attributes["layout"] = 0
    outputs = [f"{o}_time_major" for o in OUTPUTS] if layout else list(OUTPUTS)
    nodes.append(helper.make_node("LSTM", node_inputs, outputs, name=node.name, **attributes))
    note = None
    if layout:
        for key, perm in zip(OUTPUTS, ([2, 0, 1, 3], [1, 0, 2], [1, 0, 2])):
            nodes.append(helper.make_node("Transpose", [f"{key}_time_major"], [key], perm=perm))
        note = ("layout 1 run as Transpose + LSTM(layout=0) + Transpose: onnxruntime's CPU LSTM "
                "does not implement layout 1")
    graph = helper.make_graph(nodes, "lstm_ref_run", graph_inputs,
                              [helper.make_tensor_value_info(o, elem, None) for o in OUTPUTS],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", node.opset)])
    return model, note
