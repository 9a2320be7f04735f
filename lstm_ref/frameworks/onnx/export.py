"""Hold an ONNX export (``torch.onnx.export`` of a torch.nn.LSTM, a tf2onnx conversion of a
Keras LSTM) to the reference of the LSTM it was exported from, run by onnxruntime.

The source is given as plain weights: per layer, a tuple of LSTMWeights (forward[,
backward]), and its semantics (activations from those weights; ``batch_first``; for one
direction, ``go_backwards``). The artifact must hold one ONNX ``LSTM`` node per source layer,
in graph order, each of the source layer's direction (two directions: ``bidirectional``; one:
``forward``, or ``reverse`` for a go_backwards source).

What is compared (the Report's tensors):

- ``weights.layer{k}.{forward|backward}.kernel`` / ``.recurrent_kernel`` / ``.bias``: each
  node's W, R and B (lstm_ref.layouts.from_onnx: bias = Wb + Rb) against the source's, bit
  for bit where the source is a float32 value (within half a float32 spacing where it is
  wider); ``.peephole`` where either has one; ``weights.layer{k}.initial_h`` / ``initial_c``
  where the node holds its initial states as constants: zero, as the source starts;
- ``layer{k}.{direction}.h`` (the node's Y: h after every step, in that direction's
  processing order), ``.h_n``, ``.c_n`` (the graph's second and third outputs where they
  are the states, torch's h_n, c_n or Keras's state_h, state_c; else the node's Y_h, Y_c),
  and ``output`` (the graph's first output: the whole sequence, or its last step): against
  the reference stack
  (lstm_ref.stack.forward_stack) run on the artifact's weights with the source's semantics,
  layer k reading the reference's own layer k - 1, to the table's float32 entry scaled by
  probes of the whole stack (as lstm_ref.frameworks.torch.observe holds a module).

onnxruntime's CPU LSTM computes float32 only: the run is held to the float32 entry.
"""

import numpy as np

from lstm_ref._optional import require
from lstm_ref.checks import describe
from lstm_ref.engine import (
    Expectation,
    Part,
    check_tensors,
    compare_parts,
    last_step,
    nonfinite_reach,
    stack_reach,
)
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.frameworks.onnx import graph as onnx_graph
from lstm_ref.frameworks.onnx.observe import PROVIDER
from lstm_ref.frameworks.onnx.twin import OnnxLSTMTwin
from lstm_ref.report import Report
from lstm_ref.stack import forward_stack
from lstm_ref.stored_weights import stored_expectation, weight_expectations
from lstm_ref.tolerance import probe_batch
from lstm_ref.tolerance_table import lookup
from lstm_ref.weights import LSTMWeights

__all__ = ["compare_export", "input_shape", "is_onnx", "lstm_nodes"]

DIRECTIONS = ("forward", "backward")
# The bytes a serialized ModelProto starts with: field 1 (ir_version, a varint).
_MODEL_START = b"\x08"


def is_onnx(obj):
    """Whether ``obj`` is an ONNX model: an onnx.ModelProto, a path ending in .onnx, or the
    serialized bytes of a ModelProto that holds a graph."""
    import os

    if type(obj).__name__ == "ModelProto":
        return True
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj).endswith(".onnx")
    if isinstance(obj, (bytes, bytearray, memoryview)) and bytes(obj[:1]) == _MODEL_START:
        try:
            return len(require("onnx", "onnx").load_from_string(bytes(obj)).graph.node) > 0
        except Exception:  # noqa: BLE001 - not a ModelProto
            return False
    return False


def input_shape(artifact):
    """The shape of the model's one graph input (None where a dimension is symbolic)."""
    model = onnx_graph.load(artifact)
    fixed = {t.name for t in model.graph.initializer}
    feeds = [i for i in model.graph.input if i.name not in fixed]
    if len(feeds) != 1:
        raise UnsupportedLayerError(f"the artifact takes {len(feeds)} inputs "
                                    f"({[i.name for i in feeds]}); lstm_ref runs artifacts whose "
                                    "one input is the sequence")
    dims = feeds[0].type.tensor_type.shape.dim
    return tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in dims)


def lstm_nodes(model):
    """The model's ONNX LSTM nodes in graph order, each given a name where it has none (on
    ``model``, which the caller owns)."""
    nodes = [n for n in model.graph.node if n.op_type == "LSTM" and n.domain in ("", "ai.onnx")]
    for k, node in enumerate(nodes):
        if not node.name:
            node.name = f"lstm_ref_LSTM_{k}"
    return nodes


def _weight_checks(prefix, source, artifact, exact=False):
    """report name -> (actual, Expectation) of one direction's arrays (``exact``: equal
    everywhere, for a float32 source whose bias is a float64 sum of float32 values)."""
    return weight_expectations(source.arrays, artifact.arrays,
                               ("kernel", "recurrent_kernel", "bias", "peephole"),
                               prefix=prefix, exact=exact)


def _session(model, outputs):
    """An onnxruntime CPU session (one thread) on ``model`` with ``outputs`` added as graph
    outputs (each LSTM node's Y, Y_h, Y_c)."""
    onnx, ort = require("onnx", "onnx"), require("onnxruntime", "onnx")
    present = {o.name for o in model.graph.output}
    for name in outputs:
        if name and name not in present:
            model.graph.output.append(onnx.helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), options, providers=[PROVIDER])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise UnsupportedLayerError(f"onnxruntime {ort.__version__} cannot load the artifact: "
                                    f"{' '.join(str(exc).split())[:300]}") from exc


def _graph_states(returned, count, batch, units):
    """(h, c): per LSTM run (layer and direction, in h_n's order), the state the graph
    returns as its second and third outputs (torch: h_n, c_n (count, batch, hidden); one
    Keras layer: state_h, state_c (batch, units)); None where it returns no such states."""
    if len(returned) < 2:
        return None
    h, c = (np.asarray(a) for a in returned[:2])
    if len(set(units)) == 1 and h.shape == c.shape == (count, batch, units[0]):
        return list(h), list(c)
    if count == 1 and h.shape == c.shape == (batch, units[0]):
        return [h], [c]
    return None


def compare_export(layers, artifact, x, tolerance=None, batch_first=True, go_backwards=False,
                   context=None, source_dtype=None):
    """Hold an ONNX artifact of LSTM nodes to the reference of the source it was exported from.

    Args:
        layers: the source: per layer, a tuple of LSTMWeights (forward[, backward]).
        artifact: an onnx.ModelProto, a .onnx path or its bytes.
        x: the input as the source takes it: (batch, time, features) with ``batch_first``,
            else (time, batch, features); run in float32.
        tolerance: a Tolerance for the run instead of the table's float32 entry.
        batch_first: the layout of ``x`` and of the artifact's input and first output.
        go_backwards: a one-direction source that runs on the reversed sequence (Keras's
            go_backwards; its node is ``reverse``).
        context: lines for the Report (the source's description).
        source_dtype: "float32" where the source's parameters are float32 (a torch module's
            bias b_ih + b_hh, summed in float64, is then checked exactly too); None: a weight
            that is no float32 value may be stored within half a float32 spacing.

    Returns:
        A :class:`~lstm_ref.report.Report`: the weights check and the run, one verdict.
    """
    onnx = require("onnx", "onnx")
    if not (isinstance(layers, (list, tuple)) and layers and all(
            isinstance(pair, tuple) and pair and all(isinstance(w, LSTMWeights) for w in pair)
            for pair in layers)):
        raise OptionError(f"layers must be a list with, per layer, a tuple of LSTMWeights; "
                          f"received {describe(layers)}")
    model = onnx.ModelProto()
    model.CopyFrom(onnx_graph.load(artifact))
    origin = artifact if isinstance(artifact, str) else type(artifact).__name__
    nodes = lstm_nodes(model)
    if len(nodes) != len(layers):
        raise UnsupportedLayerError(f"the artifact holds {len(nodes)} ONNX LSTM node(s) and "
                                    f"the source {len(layers)} LSTM layer(s): compare_export "
                                    "needs one node per layer (its nodes: "
                                    f"{sorted({n.op_type for n in model.graph.node})})")
    x = np.asarray(x)
    features = layers[0][0].features
    if x.ndim != 3 or x.shape[2] != features:
        axes = "(batch, time, features)" if batch_first else "(time, batch, features)"
        raise ShapeError(f"x must be {axes} with {features} features (the source's); received "
                         f"shape {x.shape}")
    x32 = x.astype(np.float32)
    x64 = np.asarray(x32 if batch_first else x32.transpose(1, 0, 2), np.float64)
    weighed, artifact_layers, described, directions = {}, [], [], []
    for k, (node, pair) in enumerate(zip(nodes, layers)):
        twin = OnnxLSTMTwin(onnx_graph.read_node(model, node.name))
        described.append(twin.node.describe())
        # A go_backwards source exports as a reverse node, or (tf2onnx) as a forward node
        # fed the reversed sequence (ReverseSequence): the run tells whether it is fed so.
        want = (("bidirectional",) if len(pair) == 2 else ("reverse", "forward")
                if go_backwards else ("forward",))
        direction = twin.node.attributes["direction"]
        if direction not in want:
            raise UnsupportedLayerError(f"layer {k}: the artifact's LSTM node is {direction}; "
                                        f"the source's layer is {' or '.join(want)}")
        directions.append(direction)
        read = twin.weights
        names = DIRECTIONS[:len(pair)] if len(pair) == 2 else (
            ("backward",) if go_backwards else ("forward",))
        chosen = []
        for d, (source, art) in enumerate(zip(pair, read)):
            weighed.update(_weight_checks(f"layer{k}.{names[d]}", source, art,
                                          source_dtype == "float32"))
            chosen.append(source.replace(**{n: a for n, a in art.arrays.items()
                                            if n in ("kernel", "recurrent_kernel", "bias",
                                                     "peephole") and a is not None
                                            and (source.arrays.get(n) is not None
                                                 or np.any(a))}))
        for key in ("initial_h", "initial_c"):
            if key in twin.node.constants:
                value = np.asarray(twin.node.constants[key], np.float64)
                weighed[f"weights.layer{k}.{key}"] = stored_expectation(
                    value.reshape(value.shape[0], -1), np.zeros((value.shape[0], value[0].size)))
        artifact_layers.append(tuple(chosen))
    feeds = [i for i in model.graph.input if i.name not in {t.name for t in
                                                              model.graph.initializer}]
    if len(feeds) != 1:
        raise UnsupportedLayerError(f"the artifact takes {len(feeds)} inputs "
                                    f"({[i.name for i in feeds]}); lstm_ref runs artifacts whose "
                                    "one input is the sequence")
    extra = [name for node in nodes for name in list(node.output)[:3]]
    returned = [o.name for o in model.graph.output]  # what the model gives its user
    sess = _session(model, extra)
    try:
        values = sess.run([*returned, *extra], {feeds[0].name: x32})
    except Exception as exc:  # noqa: BLE001
        raise ShapeError(f"x: onnxruntime cannot run the artifact at shape {x32.shape}: "
                         f"{' '.join(str(exc).split())[:300]}") from exc
    module_output, per_node = values[0], values[len(returned):]
    graph_states = _graph_states(values[1:len(returned)], sum(len(p) for p in artifact_layers),
                                 x64.shape[0], [w.units for p in artifact_layers for w in p])
    tol = tolerance if tolerance is not None else lookup("float32")
    reference = forward_stack(x64, artifact_layers, zero_output_for_mask=True) if not (
        go_backwards) else None
    if go_backwards:  # one layer, one direction, run on the reversed sequence
        from lstm_ref.reference import forward

        weights = artifact_layers[0][0]
        ref = forward(x64, weights, go_backwards=True)
        px, _, _ = probe_batch(x64, None, None, tol.probe)
        probe = forward(px, weights, go_backwards=True, dtype=tol.probe)
        references, probes = [[ref]], [[probe]]
        reach = [[nonfinite_reach(x64, go_backwards=True)]]
    else:
        px, _, _ = probe_batch(x64, None, None, tol.probe)
        probed = forward_stack(px, artifact_layers, dtype=tol.probe, zero_output_for_mask=True)
        references = [list(t) for t in reference.layers]
        probes = [list(t) for t in probed.layers]
        reach = stack_reach(x64, [len(p) for p in artifact_layers], None, None)
    parts = []
    for k, pair in enumerate(artifact_layers):
        Y, Y_h, Y_c = per_node[3 * k:3 * k + 3]
        layout = int(onnx_graph.read_node(model, nodes[k].name).attributes["layout"])
        if layout == 0:  # Y (T, D, B, H) -> (D, B, T, H); Y_h (D, B, H)
            Y = np.asarray(Y).transpose(1, 2, 0, 3)
        else:  # Y (B, T, D, H) -> (D, B, T, H); Y_h (B, D, H) -> (D, B, H)
            Y, Y_h, Y_c = (np.asarray(Y).transpose(2, 0, 1, 3),
                           np.asarray(Y_h).transpose(1, 0, 2), np.asarray(Y_c).transpose(1, 0, 2))
        ran = tuple(np.shape(Y)[1:3])
        if ran != x64.shape[:2]:
            axes = "(batch, time, features)" if batch_first else "(time, batch, features)"
            raise ShapeError(f"x: the artifact's LSTM node {k} ran {ran[1]} steps of {ran[0]} "
                             f"rows, where the source reads x {tuple(x.shape)} as {axes}: "
                             f"{x64.shape[1]} steps of {x64.shape[0]} rows (is the source's "
                             "batch_first the artifact's?)")
        for d in range(len(pair)):
            backward = d == 1 or go_backwards
            prefix = f"layer{k}.{'backward' if backward else 'forward'}"
            # Y is in time order: a backward direction's processing order is reversed (a
            # forward node fed the reversed sequence already holds it).
            h = Y[d][:, ::-1] if directions[k] != "forward" and backward else Y[d]
            index = len(parts)
            state_h, state_c = ((Y_h[d], Y_c[d]) if graph_states is None else
                                (graph_states[0][index], graph_states[1][index]))
            parts.append(Part(actual={"h": h, "state_h": state_h, "state_c": state_c},
                              reference=references[k][d], probe=probes[k][d], tolerance=tol,
                              prefix=prefix, tainted=reach[k][d],
                              names={"state_h": f"{prefix}.h_n", "state_c": f"{prefix}.c_n"}))
    last = range(len(parts) - len(artifact_layers[-1]), len(parts))
    out = np.asarray(module_output)
    if not batch_first and out.ndim == 3:
        out = out.transpose(1, 0, 2)
    width = sum(w.output_size for w in artifact_layers[-1])
    expected_shape = (x64.shape[0], x64.shape[1], width)
    # The whole sequence, or (return_sequences=False) the last step's output.
    whole = out.shape == expected_shape
    derived_actual = {"output": out if whole or out.shape == (x64.shape[0], width) else None}

    def derived(expected):
        outputs = [expected[i]["output"] for i in last]
        # A bidirectional pair's output is in time order; a go_backwards layer's (Keras) in
        # its processing order, as each direction's Trace.
        outputs = [o.flipped() if i > 0 else o for i, o in enumerate(outputs)]
        joined = Expectation.concatenate(outputs)
        return {"output": joined if whole else last_step(joined)}

    onnx_version = getattr(onnx, "__version__", "?")
    ort_version = require("onnxruntime", "onnx").__version__
    info = {"artifact": f"ONNX {origin}: " + "; ".join(described),
            "weights check": "float32 initializers: equal to the source's, bit for bit "
                             "(within half a float32 spacing where the source is wider); bias "
                             "= Wb + Rb",
            "run tolerance": "given" if tolerance is not None else
                             "onnxruntime's float32 LSTM: the table's float32 entry",
            "expected": "the reference stack with the source's semantics on the artifact's "
                        "weights, in float64, each layer reading the reference's previous one",
            "steps": "layer*.forward.h: time order; layer*.backward.h: that direction's "
                     "processing order (time reversed); output: as the source returns it",
            "versions": f"onnx {onnx_version}, onnxruntime {ort_version} ({PROVIDER})",
            "h_n, c_n": ("the LSTM nodes' Y_h, Y_c (the graph returns no states)"
                         if graph_states is None else "the graph's second and third outputs"),
            **({} if derived_actual["output"] is not None else
               {"output": f"not compared: the graph's first output has shape {out.shape}, not "
                          f"{expected_shape} or {(x64.shape[0], width)}"}),
            **(context or {})}
    run_report = compare_parts(parts, derived, derived_actual, context=info)
    weight_report = check_tensors({k: v[0] for k, v in weighed.items()},
                                  {k: v[1] for k, v in weighed.items()}, tol, 1)
    return Report(tensors={**weight_report.tensors, **run_report.tensors},
                  tolerance=run_report.tolerance, time=run_report.time,
                  context=run_report.context)
