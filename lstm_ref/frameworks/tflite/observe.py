"""Run a .tflite artifact in the LiteRT Interpreter and hold it to the reference of the LSTM
it was exported from.

What is compared (the Report's tensors):

- ``weights.kernel``, ``weights.recurrent_kernel``, ``weights.bias`` (and ``peephole``,
  ``projection`` where the artifact has them): the artifact's weights, dequantized, against
  the source's, each element within its storage format's rounding
  (lstm_ref.frameworks.tflite.tolerances.WEIGHTS);
- ``output`` (every step's h, or the last with return_sequences=False), ``state_h`` and
  ``state_c`` where the artifact returns them or, for a fused op, leaves them in its state
  variables; and for a fused op ``h`` and ``c`` after every step, read from its state
  variables after runs on every prefix of the input (the op resized to each length; for a
  go_backwards source, every suffix, which the model reverses): all
  against the reference run with the source's semantics on the artifact's dequantized
  weights, to the bound of the weights' storage (tolerances.entry).

Every run starts from zero states: the Interpreter's state variables are reset before each
invocation (a fused LSTM op keeps its state between invocations otherwise).
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref._optional import require
from lstm_ref.engine import (
    Expectation,
    Observation,
    Part,
    check_tensors,
    compare_parts,
    observation_part,
)
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.frameworks.tflite import tolerances
from lstm_ref.frameworks.tflite.flatbuffer import load
from lstm_ref.frameworks.tflite.loop import read_loop
from lstm_ref.frameworks.tflite.twin import fused_ops, read_fused
from lstm_ref.reference import forward
from lstm_ref.stored_weights import weight_expectations
from lstm_ref.report import Report
from lstm_ref.weights import LSTMWeights

__all__ = ["compare_export", "input_shape", "interpreter", "read_artifact", "run", "storage_of"]


def _litert():
    return require("ai_edge_litert.interpreter", "tflite")


def interpreter(artifact):
    """A LiteRT Interpreter on the artifact's bytes, one thread, with LiteRT's default
    delegates (XNNPACK on CPU): the artifact as a deployment runs it."""
    art = load(artifact)
    try:
        return _litert().Interpreter(model_content=art.content, num_threads=1)
    except Exception as exc:
        raise UnsupportedLayerError(f"LiteRT cannot load {art.origin}: {exc}") from exc


def _resized(it, index, shape, what):
    current = tuple(int(n) for n in it.get_input_details()[0]["shape"])
    if current != tuple(shape):
        try:
            it.resize_tensor_input(index, list(shape), strict=False)
        except Exception as exc:
            raise ShapeError(f"{what}: the artifact's input is {current} and LiteRT cannot "
                             f"resize it to {tuple(shape)}: {' '.join(str(exc).split())}"
                             ) from exc
    try:
        it.allocate_tensors()
    except Exception as exc:
        raise ShapeError(f"{what}: the artifact's input is {current} and LiteRT cannot run it "
                         f"at {tuple(shape)} (convert it at that shape): "
                         f"{' '.join(str(exc).split())}") from exc


def run(artifact, x, read=None):
    """Invoke the artifact on ``x`` (float32, its input's shape or one LiteRT can resize it
    to), from zero states. Returns {"outputs": [arrays in the model's output order],
    "state_h", "state_c": a fused op's state variables after the run (None if none)}."""
    art = load(artifact)
    it = interpreter(art)
    details = it.get_input_details()
    if len(details) != 1:
        raise UnsupportedLayerError(f"{art.origin} takes {len(details)} inputs; lstm_ref runs "
                                    "artifacts whose one input is the sequence")
    x = np.ascontiguousarray(x, np.float32)
    converted = tuple(int(n) for n in details[0]["shape"])
    _resized(it, details[0]["index"], x.shape, "x")
    it.reset_all_variables()
    it.set_tensor(details[0]["index"], x)
    try:
        it.invoke()
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())
        if x.shape != converted:
            raise ShapeError(f"x: LiteRT cannot run the artifact, converted for input "
                             f"{converted}, at {x.shape} (convert it at that shape): "
                             f"{reason}") from exc
        raise UnsupportedLayerError(f"LiteRT failed to run {art.origin}: {reason}") from exc
    order = _output_order(it)
    outputs = [np.array(it.get_tensor(i)) for i in order]
    state_h = state_c = None
    if read is not None and read.states is not None and read.subgraph == 0:
        state_h = np.array(it.get_tensor(read.states[0]))
        state_c = np.array(it.get_tensor(read.states[1]))
    return {"outputs": outputs, "state_h": state_h, "state_c": state_c}


def input_shape(artifact):
    """The shape of the artifact's (first) input, as LiteRT reports it."""
    details = interpreter(artifact).get_input_details()
    if not details:
        raise UnsupportedLayerError(f"{load(artifact).origin} has no input")
    return tuple(int(n) for n in details[0]["shape"])


def _output_order(it):
    """The output tensors' indices in the model's own order: its serving signature's
    (output_0, output_1, ...: the Keras model's outputs in order), else the Interpreter's."""
    signatures = it._get_full_signature_list() if hasattr(it, "_get_full_signature_list") else {}
    if len(signatures) == 1:
        outputs = next(iter(signatures.values()))["outputs"]
        return [outputs[k] for k in sorted(outputs, key=_natural)]
    return [d["index"] for d in it.get_output_details()]


def _natural(name):
    head = name.rstrip("0123456789")
    return (head, int(name[len(head):]) if name[len(head):] else -1)


def read_artifact(artifact, units, features):
    """The artifact's one LSTM as a ReadLSTM: its fused op (lstm_ref.frameworks.tflite.twin),
    or the weights of its WHILE-loop lowering (lstm_ref.frameworks.tflite.loop). An artifact
    of several (a stack, a Bidirectional: one op or loop each) is refused."""
    art = load(artifact)
    fused = fused_ops(art)
    loops = art.op_names().count("WHILE")
    if len(fused) + loops > 1:
        raise UnsupportedLayerError(f"{art.origin} holds {len(fused)} fused LSTM op(s) and "
                                    f"{loops} WHILE loop(s): compare_export compares an "
                                    "artifact of one LSTM (from_tflite(path, op=k) mirrors "
                                    "each fused op)")
    if fused:
        return read_fused(art)
    if any(name == "WHILE" for name in art.op_names()):
        return read_loop(art, units, features)
    raise UnsupportedLayerError(f"{art.origin} has neither a fused LSTM op nor a WHILE loop; "
                                f"its ops: {', '.join(sorted(set(art.op_names())))}")


def storage_of(read):
    """"float32", "float16" or "int8": how the artifact stores its weights (the widest
    departure from float32 among them)."""
    formats = " ".join(read.formats.values())
    return "int8" if "int" in formats else "float16" if "float16" in formats else "float32"


@dataclass
class _BoundedPart(Part):
    """A Part whose run bound adds, per element, what the activations' quantization can move
    it by (int8 hybrid kernels, see tolerances.activation_quantization_bound)."""

    extra: dict | None = None

    def expectations(self):
        result = super().expectations()
        for name, add in (self.extra or {}).items():
            e = result[name]
            grown = e.bound + (add if add.shape[1] == e.bound.shape[1] else add[:, -1:])
            result[name] = Expectation(e.values, e.steps, grown, e.status, e.axes, e.drift,
                                       e.weighed)
        return result


def _arrays(weights):
    """The weight arrays of LSTMWeights, with a layer normalisation's (4, units) gains as
    ``layer_norm``."""
    arrays = dict(weights.arrays)
    norm = getattr(weights, "layer_norm", None)
    arrays["layer_norm"] = None if norm is None else norm.gain
    return arrays


def _weight_expectations(source, read):
    """The weights check: name -> (actual, Expectation) for each array both have, within the
    storage's half steps (lstm_ref.stored_weights)."""
    arrays = _arrays(source)
    return weight_expectations(arrays, _arrays(read.weights), tuple(arrays),
                               half_steps=read.half_steps)


def compare_export(source, artifact, x, tolerance=None, options=None, context=None, seed=0):
    """Hold a .tflite artifact to the reference of the LSTM it was exported from.

    Args:
        source: the source's LSTMWeights (its semantics: activations, clips...).
        artifact: a .tflite path, its bytes, or an Artifact.
        x: (batch, time, features) input.
        tolerance: a Tolerance for the run instead of the storage format's entry.
        options: the source's further forward() options (go_backwards,
            zero_output_for_mask).
        context: lines for the Report (the source's description).
        seed: seeds the int8 run's quantization probes (tolerances.PROBES).

    Returns:
        A :class:`~lstm_ref.report.Report`: the weights check and the run, one verdict.
    """
    art = load(artifact)
    if not isinstance(source, LSTMWeights):
        raise OptionError(f"source must be LSTMWeights here; received {type(source).__name__}")
    options = dict(options or {})
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != source.features:
        raise ShapeError(f"x must be (batch, time, {source.features}) for the source's "
                         f"{source.features} features; received shape {x.shape}")
    read = read_artifact(art, source.units, source.features)
    if read.time_major:
        raise UnsupportedLayerError(f"{read.where} is time-major; compare_export runs "
                                    "batch-major artifacts (from_tflite mirrors it)")
    storage = storage_of(read)
    weighed = _weight_expectations(source, read)
    changes = {k: v for k, v in read.weights.arrays.items()
               if v is not None and source.arrays.get(k) is not None}
    if getattr(source, "layer_norm", None) is not None:
        changes["layer_norm"] = read.weights.layer_norm
    weights = source.replace(**changes)
    x32 = x.astype(np.float32)
    result = run(art, x32, read)
    outputs = result["outputs"]
    _check_ran_whole(outputs[0], x32.shape, art)
    actual = {"output": outputs[0]}
    if len(outputs) == 3:
        actual["state_h"], actual["state_c"] = outputs[1], outputs[2]
    elif len(outputs) != 1:
        raise UnsupportedLayerError(f"{art.origin} returns {len(outputs)} tensors; lstm_ref "
                                    "reads an LSTM's output, or its output, h and c")
    if result["state_h"] is not None and "state_h" not in actual:
        actual["state_h"], actual["state_c"] = result["state_h"], result["state_c"]
    notes = {}
    if read.states is not None and read.subgraph == 0:
        stepped = _stepped_states(art, x32, read, options.get("go_backwards", False))
        if stepped is None:
            notes["h, c per step"] = "not read: LiteRT cannot resize the artifact's time axis"
        else:
            actual["h"], actual["c"] = stepped
    tol, why = (tolerance, "given") if tolerance is not None else tolerances.entry(storage)
    obs = Observation(actual=actual, weights=weights, x=x32, options=options, dtype="float32")
    part = observation_part(obs, tol)
    if storage == "int8":
        ordered = x32[:, ::-1] if options.get("go_backwards") else x32
        extra = tolerances.activation_quantization_bound(
            ordered, weights, forward(ordered, weights), seed=seed)
        extra = {"h": extra["h"], "c": extra["c"], "output": extra["h"],
                 "state_h": extra["h"], "state_c": extra["c"]}
        part = _BoundedPart(**{f: getattr(part, f) for f in part.__dataclass_fields__},
                            extra=extra)
    differs = {k: v for k, v in read.weights.options().items()
               if k not in ("peephole", "projection", "layer_norm") and source.options().get(k) != v}
    if read.weights.activation.name != source.activation.name:
        differs["activation"] = read.weights.activation.name
    info = {"artifact": f"{art.origin}: {read.where}; ops {', '.join(sorted(set(art.op_names())))}",
            "weights stored as": "; ".join(f"{k} {v}" for k, v in read.formats.items()),
            "weights check": tolerances.WEIGHTS[storage],
            "run tolerance": why,
            "expected": "the reference with the source's semantics on the artifact's "
                        "dequantized weights, from zero states",
            "runtime": f"ai_edge_litert {_version()} (Interpreter, default delegates), "
                       f"numpy {np.__version__}", **notes}
    if differs:
        info["artifact options that differ from the source"] = ", ".join(
            f"{k}={v}" for k, v in differs.items())
    run_report = compare_parts([part], context={**(context or {}), **info})
    weight_report = check_tensors({k: v[0] for k, v in weighed.items()},
                                  {k: v[1] for k, v in weighed.items()}, tol, 1)
    return Report(tensors={**weight_report.tensors, **run_report.tensors},
                  tolerance=run_report.tolerance, time=run_report.time,
                  context=run_report.context)


def _check_ran_whole(output, shape, art):
    """ShapeError unless the artifact's output covers the whole input: LiteRT resizes a
    WHILE-loop artifact's input to more steps than it was converted for and runs it, but
    the loop's trip count stays the converted one."""
    batch, time, _ = shape
    got = np.shape(output)
    if got[0] != batch or (len(got) == 3 and got[1] != time):
        steps = f"{got[1]} of the input's {time} steps" if len(got) == 3 else f"shape {got}"
        raise ShapeError(f"x: {art.origin} ran {steps} (output {got} for input {shape}): an "
                         "artifact converted for another shape; convert it at this one")


def _stepped_states(art, x, read, backwards=False):
    """(h, c) after every step, (B, T, U) in processing order, from the fused op's state
    variables after runs on every prefix of x (``backwards``: every suffix, the model
    reversing its input as a go_backwards source does); None where the time axis cannot be
    resized."""
    batch, time, _ = x.shape
    h = np.empty((batch, time, read.weights.output_size))
    c = np.empty((batch, time, read.weights.units))
    it = interpreter(art)
    index = it.get_input_details()[0]["index"]
    for t in range(time):
        try:
            it.resize_tensor_input(index, [batch, t + 1, x.shape[2]], strict=False)
            it.allocate_tensors()
        except Exception:  # noqa: BLE001
            return None
        it.reset_all_variables()
        part = x[:, time - 1 - t:] if backwards else x[:, :t + 1]
        it.set_tensor(index, np.ascontiguousarray(part))
        it.invoke()
        h[:, t] = it.get_tensor(read.states[0])
        c[:, t] = it.get_tensor(read.states[1])
    return h, c


def _version():
    try:
        from importlib.metadata import version

        return version("ai-edge-litert")
    except Exception:  # noqa: BLE001
        return "?"
