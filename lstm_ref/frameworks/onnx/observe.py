"""Step-by-step comparison of an ONNX LSTM node, run in onnxruntime (CPU provider), with the
reference.

onnxruntime returns Y (every h_t) and the final Y_h, Y_c, not c_t at every step. Its own kernel
shows them all the same: the state after step t of the forward direction is Y_h, Y_c of a run
on the prefix X[:t + 1] (sequence_lens clipped to t + 1), and the reverse direction's state
after it has processed time steps T - 1 .. s is Y_h, Y_c of a run on the suffix X[s:]
(sequence_lens reduced by s). That is O(T^2) work, fine at test sizes.

The Report's tensors: per direction (named as the twin names them: forward, reverse,
backward) ``<direction>.h`` and ``<direction>.c``, the state after every step in that
direction's processing order (the reverse direction's in reversed time), then ``Y`` (time
order; the unit index is direction * hidden_size + unit), ``Y_h`` and ``Y_c``.
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref._optional import require
from lstm_ref.frameworks.onnx import graph as onnx_graph
from lstm_ref.frameworks.onnx.twin import (DIRECTION_NAMES, WEIGHT_INPUTS, OnnxLSTMTwin,
                                           lengths_from_mask)
from lstm_ref.engine import Expectation, Observation, compare_parts, observation_part
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.tolerance_table import lookup

__all__ = ["PROVIDER", "OnnxObservation", "session", "run", "observe", "to_steps", "check",
           "compare", "check_outputs"]

PROVIDER = "CPUExecutionProvider"


def _ort():
    return require("onnxruntime", "onnx")


@dataclass
class OnnxObservation:
    """What onnxruntime computed, and the twin's view of the same call.

    Attributes:
        twin: the OnnxLSTMTwin the reference side is built from.
        inputs: the call's :class:`~lstm_ref.frameworks.onnx.twin.Inputs` (X cast to the node's dtype).
        weights: the LSTMWeights of each direction.
        actual: "Y", "Y_h", "Y_c" (ONNX's shapes) and, per direction, "<name>.h" and
            "<name>.c" (batch, time, hidden) in that direction's processing order.
        context: node, versions and notes for the Report.
    """

    twin: OnnxLSTMTwin
    inputs: object
    weights: tuple
    actual: dict
    context: dict


def session(model, node):
    """An onnxruntime InferenceSession on the CPU provider, one thread (rows are independent:
    threads change no value), or UnsupportedLayerError with onnxruntime's reason."""
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), options, providers=[PROVIDER])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise UnsupportedLayerError(f"onnxruntime {ort.__version__} ({PROVIDER}) cannot run "
                                    f"{node.describe()}: {exc}") from exc


def run(sess, feeds, node):
    """``sess.run`` -> (Y, Y_h, Y_c), or UnsupportedLayerError with onnxruntime's reason (its
    CPU LSTM computes float32 only)."""
    try:
        return sess.run(list(onnx_graph.OUTPUTS), feeds)
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedLayerError(f"onnxruntime {_ort().__version__} ({PROVIDER}) failed to "
                                    f"run {node.describe()}: {exc}") from exc


def observe(model, x, initial_state=None, mask=None, sequence_lens=None, twin=None, node=None,
            semantics="onnxruntime", **weights):
    """Run the node in onnxruntime: once on the whole input (Y, Y_h, Y_c), and on every prefix
    (forward direction) and suffix (reverse direction) for the state after every step.

    Args: see :func:`compare`.

    Returns:
        An :class:`OnnxObservation`.
    """
    _check_weight_names(weights)
    # onnxruntime runs the node as the model has it; the twin may be another's (a broken
    # one in the sensitivity tests, or one holding a conversion's source weights).
    node = onnx_graph.read_node(model, node if twin is None else twin.node.name)
    if twin is None:
        twin = OnnxLSTMTwin(node, semantics)
    initial_h, initial_c = _split_state(initial_state)
    X = np.asarray(x)
    if mask is not None:
        if sequence_lens is not None:
            raise OptionError("give sequence_lens or mask, not both")
        if X.ndim != 3:
            raise ShapeError(f"X must have 3 dimensions; received shape {X.shape}")
        layout = node.attributes["layout"]
        batch, time = (X.shape[0], X.shape[1]) if layout else (X.shape[1], X.shape[0])
        sequence_lens = lengths_from_mask(mask, batch, time)
    if np.issubdtype(np.asarray(X).dtype, np.floating):
        X = X.astype(node.dtype)
    given = any(v is not None for v in weights.values())
    weights_ = twin.convert(twin.weight_arrays(**weights)) if given else twin.weights
    inputs = twin.prepare(X, sequence_lens,
                          None if initial_h is None else np.asarray(initial_h, node.dtype),
                          None if initial_c is None else np.asarray(initial_c, node.dtype))
    twin.traces(inputs, weights_, dtype="float64")  # validates sizes before onnxruntime runs
    # onnxruntime is fed what the caller gave, as given (not the twin's reading of it).
    fed = {"X": X, **{k: np.asarray(v, node.dtype) for k, v in weights.items() if v is not None}}
    for key, value in (("sequence_lens", sequence_lens), ("initial_h", initial_h),
                       ("initial_c", initial_c)):
        if value is not None:
            fed[key] = np.asarray(value, np.int32 if key == "sequence_lens" else node.dtype)
    whole_model, note = onnx_graph.runnable_model(node, set(fed))
    Y, Y_h, Y_c = run(session(whole_model, node), _feeds(fed), node)
    actual = {"Y": Y, "Y_h": Y_h, "Y_c": Y_c}
    actual.update(_stepped(node, fed))
    ort = _ort()
    onnx = require("onnx", "onnx")
    context = {"node": node.describe(),
               "semantics": f"{twin.semantics} (see lstm_ref.frameworks.onnx.twin)",
               "versions": f"onnx {onnx.__version__}, onnxruntime {ort.__version__} "
                           f"({PROVIDER}), numpy {np.__version__}",
               "steps": "<direction>.h/.c: processing order (reverse, backward: time reversed), "
                        "from onnxruntime's Y_h/Y_c on prefixes (suffixes) of X; Y: time order, "
                        "unit = direction * hidden_size + unit"}
    if note:
        context["layout"] = note
    return OnnxObservation(twin=twin, inputs=inputs, weights=weights_, actual=actual,
                           context=context)


def _check_weight_names(weights):
    unknown = sorted(set(weights) - set(WEIGHT_INPUTS))
    if unknown:
        raise OptionError(f"unknown option(s) {unknown}: compare for ONNX takes node, "
                          "sequence_lens, semantics, twin and the weights "
                          f"{', '.join(WEIGHT_INPUTS)}")


def _split_state(initial_state):
    if initial_state is None:
        return None, None
    if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
        raise OptionError("initial_state must be [initial_h, initial_c] (either may be None), "
                          "in ONNX's shapes; received "
                          f"{type(initial_state).__name__} of length "
                          f"{len(initial_state) if hasattr(initial_state, '__len__') else '?'}")
    return initial_state


def _feeds(inputs):
    return {key: np.ascontiguousarray(value) for key, value in inputs.items()}


def _stepped(node, fed):
    """h and c after every step of each direction, in its processing order (batch, time,
    hidden), from onnxruntime runs on prefixes / suffixes of X (``fed``: what the whole run
    was fed; the node's constants stand where it was not)."""
    layout, dtype = node.attributes["layout"], node.dtype
    X = fed["X"]
    batch, time = (X.shape[0], X.shape[1]) if layout else (X.shape[1], X.shape[0])
    d_count, hidden = node.num_directions, node.attributes["hidden_size"]
    state_shape = (batch, d_count, hidden) if layout else (d_count, batch, hidden)
    given = {**{k: v for k, v in node.constants.items() if node.inputs[k]}, **fed}
    states = {key: np.asarray(given[key], dtype) if key in given else np.zeros(state_shape, dtype)
              for key in ("initial_h", "initial_c")}
    lens = np.asarray(given.get("sequence_lens", np.full(batch, time)), np.int64)
    weights = {k: v for k, v in fed.items() if k in WEIGHT_INPUTS}
    stepper_model, _ = onnx_graph.runnable_model(
        node, {"X", "sequence_lens", "initial_h", "initial_c", *weights})
    sess = session(stepper_model, node)
    names = DIRECTION_NAMES[node.attributes["direction"]]
    result = {}
    for d, name in enumerate(names):
        backwards = name != "forward"
        h, c = np.empty((batch, time, hidden)), np.empty((batch, time, hidden))
        for k in range(time):
            if backwards:  # processing step k handles time T - 1 - k: run the suffix from it
                start = time - 1 - k
                part = X[:, start:] if layout else X[start:]
                run_lens = np.clip(lens - start, 0, None)
            else:
                part = X[:, :k + 1] if layout else X[:k + 1]
                run_lens = np.minimum(lens, k + 1)
            feeds = {"X": part, "sequence_lens": run_lens.astype(np.int32), **states, **weights}
            _, Y_h, Y_c = run(sess, _feeds(feeds), node)
            for target, value, key in ((h, Y_h, "initial_h"), (c, Y_c, "initial_c")):
                value = value[:, d] if layout else value[d]
                initial = states[key][:, d] if layout else states[key][d]
                # A row none of whose steps has run yet holds its initial state (onnxruntime
                # reports 0 for a row of length 0, see lstm_ref.frameworks.onnx.twin).
                target[:, k] = np.where((run_lens == 0)[:, None], initial, value)
        result[f"{name}.h"], result[f"{name}.c"] = h, c
    return result


def to_steps(array, layout, states=False):
    """ONNX's Y (or, with ``states``, Y_h / Y_c) as (batch, steps, direction * hidden): the
    (B, S, U) form the comparison works on."""
    array = np.asarray(array)
    if states:
        array = array if layout else array.transpose(1, 0, 2)   # (batch, D, hidden)
        return array.reshape(array.shape[0], 1, -1)
    array = array if layout else array.transpose(2, 0, 1, 3)    # (batch, time, D, hidden)
    return array.reshape(array.shape[0], array.shape[1], -1)


def check(observation, tolerance=None):
    """Compare what onnxruntime computed with the reference (float64, and probes in the node's
    format scaling the bounds, see lstm_ref.tolerance). Returns a Report."""
    obs = observation
    twin, inputs = obs.twin, obs.inputs
    dtype = twin.node.dtype
    tol = tolerance or lookup(dtype)
    time = inputs.x.shape[1]
    parts = []
    for d, name in enumerate(twin.directions):
        sub = Observation(actual={"h": obs.actual.get(f"{name}.h"),
                                  "c": obs.actual.get(f"{name}.c")},
                          weights=obs.weights[d], x=inputs.x.astype(dtype),
                          initial_state=inputs.states[d], mask=inputs.mask,
                          options={"go_backwards": twin.backwards(d),
                                   "zero_output_for_mask": True}, dtype=dtype.name)
        parts.append(observation_part(sub, tol, prefix=name))

    def derived(expected):
        # Y, Y_h, Y_c: the twin's own assembly, of the values, their bounds and their status.
        assembled = {}
        for field in ("values", "bound", "status"):
            outputs = [getattr(e["output"], field) for e in expected]
            finals = [[getattr(e[key], field)[:, 0] for e in expected]
                      for key in ("state_h", "state_c")]
            # (Bounds and status keep theirs where onnxruntime writes exact zeros: rows of
            # length 0.)
            assembled[field] = twin.assemble(outputs, *finals,
                                             inputs.lens if field == "values" else None)
        last = np.array([time - 1])
        result = {}
        for index, key in enumerate(onnx_graph.OUTPUTS):
            states = key != "Y"
            shaped = {f: to_steps(assembled[f][index], twin.layout, states) for f in assembled}
            result[key] = Expectation(shaped["values"], last if states else np.arange(time),
                                      shaped["bound"], shaped["status"].astype(np.uint8))
        return result

    derived_actual = {k: to_steps(obs.actual[k], twin.layout, k != "Y")
                      for k in onnx_graph.OUTPUTS if obs.actual.get(k) is not None}
    return compare_parts(parts, derived, derived_actual, obs.context, time=time)


def compare(layer, x, initial_state=None, mask=None, tolerance=None, node=None,
            sequence_lens=None, semantics="onnxruntime", twin=None, **weights):
    """Run an ONNX LSTM node in onnxruntime and compare every step of it with the reference.

    Args:
        layer: an onnx.ModelProto (or a path, or bytes) with an LSTM node.
        x: X in the node's layout (0: (seq_length, batch, input_size); 1: batch first).
        initial_state: None, or [initial_h, initial_c] in ONNX's shapes (either may be None).
        mask: None, or a right-padded (batch, seq_length) mask: it becomes sequence_lens.
        tolerance: a Tolerance instead of the table's entry for the node's dtype.
        node: the LSTM node's name (None: the model's only one).
        sequence_lens: None or (batch,) lengths (not with ``mask``).
        semantics: "onnxruntime" or "spec" (see lstm_ref.frameworks.onnx.twin).
        twin: an OnnxLSTMTwin to hold onnxruntime to instead of the model's own (the
            sensitivity tests pass deliberately broken ones).
        **weights: W, R, B, P for those the model takes as graph inputs.

    Optional inputs the model takes as graph inputs and the call does not give are left out of
    the run (zero states, full lengths), in onnxruntime as in the twin; those the model holds
    as constants are used.

    Returns:
        A :class:`~lstm_ref.report.Report`.
    """
    observation = observe(onnx_graph.load(layer), x, initial_state, mask, sequence_lens, twin,
                          node, semantics, **weights)
    return check(observation, tolerance)


def check_outputs(twin, x, outputs, initial_state=None, sequence_lens=None, tolerance=None,
                  context=None, **weights):
    """Hold (Y, Y_h, Y_c) that some runtime computed for the twin's node to the reference:
    onnxruntime aside (see :func:`compare`), e.g. onnx's own reference evaluator, or a model
    run on another provider. Only these three tensors are compared.

    Args:
        twin: the node's OnnxLSTMTwin (from_onnx).
        x, initial_state, sequence_lens, weights: the inputs the runtime was given (as in
            :func:`compare`).
        outputs: (Y, Y_h, Y_c) in ONNX's shapes; any may be None.
        tolerance: a Tolerance instead of the table's entry for the node's dtype.
        context: extra lines for the Report.

    Returns:
        A :class:`~lstm_ref.report.Report`.
    """
    _check_weight_names(weights)
    initial_h, initial_c = _split_state(initial_state)
    dtype = twin.node.dtype
    inputs = twin.prepare(np.asarray(x).astype(dtype), sequence_lens,
                          None if initial_h is None else np.asarray(initial_h, dtype),
                          None if initial_c is None else np.asarray(initial_c, dtype))
    converted = (twin.convert(twin.weight_arrays(**weights))
                 if any(v is not None for v in weights.values()) else twin.weights)
    actual = {k: v for k, v in zip(onnx_graph.OUTPUTS, outputs) if v is not None}
    observation = OnnxObservation(twin=twin, inputs=inputs, weights=converted, actual=actual,
                                  context={"node": twin.node.describe(), **(context or {})})
    return check(observation, tolerance)
