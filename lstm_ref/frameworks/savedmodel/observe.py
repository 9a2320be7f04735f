"""Run a SavedModel's serving endpoint and hold it to the reference of the LSTM it was
exported from.

What is compared (the Report's tensors):

- ``weights.kernel``, ``weights.recurrent_kernel``, ``weights.bias``: the float32 variables
  the endpoint's function captures (what it computes with, read after loading), against the
  source's: bit for bit where the source's value is a float32 value, within half a float32
  spacing where it is wider (a float64 source);
- ``output`` (every step's h, or the last), ``state_h``, ``state_c`` where the endpoint
  returns them: against the reference run with the source's semantics (activations,
  go_backwards) on the SavedModel's variables, in float64, to the table's float32 entry (a
  SavedModel computes in float32 as the layer did).

A SavedModel's LSTM runs inside one graph function: the state after every step is not
observable, so ``h`` and ``c`` per step are not compared (the report says so).
"""

import os
from pathlib import Path

import numpy as np

from lstm_ref._optional import require
from lstm_ref.checks import describe
from lstm_ref.engine import Observation, check_tensors, compare_parts, observation_part
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref import stored_weights
from lstm_ref.report import Report
from lstm_ref.tolerance_table import lookup
from lstm_ref.weights import LSTMWeights

__all__ = ["ENDPOINTS", "compare_export", "endpoint", "input_shape", "is_savedmodel", "load",
           "variables"]

# The endpoints tried, in order: the serving signature every SavedModel exported for serving
# has, and the ``serve`` function Keras's model.export adds.
ENDPOINTS = ("serving_default", "serve")
WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias")


def _tf():
    return require("tensorflow", "keras")


def is_savedmodel(obj):
    """Whether ``obj`` is a path (str or os.PathLike) to a directory holding saved_model.pb
    (or saved_model.pbtxt), or what ``tf.saved_model.load`` returned (a TensorFlow object with
    ``signatures``)."""
    if not isinstance(obj, (str, os.PathLike)):
        return (type(obj).__module__.split(".")[0] == "tensorflow"
                and hasattr(obj, "signatures"))
    path = Path(obj)
    return path.is_dir() and any((path / name).is_file()
                                 for name in ("saved_model.pb", "saved_model.pbtxt"))


def load(path):
    """``tf.saved_model.load(path)``, or UnsupportedLayerError in one line."""
    tf = _tf()
    try:
        return tf.saved_model.load(os.fspath(path))
    except Exception as exc:  # TensorFlow raises many kinds for a bad directory
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnsupportedLayerError(f"artifact {os.fspath(path)!r} cannot be loaded as a "
                                    f"SavedModel: {first}") from exc


def endpoint(loaded, name=None):
    """(name, concrete function) of the endpoint to run: ``name`` (one of :data:`ENDPOINTS`),
    or the first of them the SavedModel has."""
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if name is not None and name not in ENDPOINTS:
        raise OptionError(f"endpoint must be one of {ENDPOINTS}; received {name!r}")
    for candidate in ([name] if name else ENDPOINTS):
        if candidate in signatures:
            return candidate, signatures[candidate]
        restored = getattr(loaded, candidate, None)
        functions = getattr(restored, "concrete_functions", None)
        if functions:
            if len(functions) != 1:
                raise UnsupportedLayerError(f"the SavedModel's {candidate!r} has "
                                            f"{len(functions)} traced signatures; lstm_ref "
                                            "runs an endpoint of one")
            return candidate, functions[0]
    raise UnsupportedLayerError(f"the SavedModel has no endpoint {name or ' or '.join(ENDPOINTS)}"
                                f"; its signatures: {sorted(signatures) or 'none'}")


def variables(function):
    """{"kernel", "recurrent_kernel", "bias"} -> float64 arrays of the float variables the
    endpoint's function captures, by their last name; UnsupportedLayerError where these are
    not one LSTM's (another layer's weights, a second LSTM, a non-float32 one)."""
    found, others = {}, []
    for var in function.variables:
        if not var.dtype.is_floating:
            continue  # a seed generator's state: not a weight
        name = var.name.split(":")[0].rsplit("/", 1)[-1]
        if name not in WEIGHT_NAMES or name in found:
            others.append(var.name)
            continue
        if var.dtype.name != "float32":
            raise UnsupportedLayerError(f"the SavedModel's {var.name} is {var.dtype.name}; "
                                        "lstm_ref reads float32 LSTM variables")
        found[name] = np.asarray(var.numpy(), np.float64)
    if others:
        raise UnsupportedLayerError(f"the SavedModel holds variables besides one LSTM's kernel, "
                                    f"recurrent_kernel and bias: {', '.join(others)}; "
                                    "compare_export compares an artifact of one LSTM")
    missing = [n for n in ("kernel", "recurrent_kernel") if n not in found]
    if missing:
        raise UnsupportedLayerError(f"the SavedModel's endpoint captures no {' or '.join(missing)}"
                                    " variable: it holds no LSTM lstm_ref can read")
    return found


def weight_expectations(source, arrays):
    """The weights check: report name -> (actual, Expectation) of each of ``arrays`` (float32
    values read from the artifact) against the source's LSTMWeights: equal where the source
    is a float32 value, within half a float32 spacing where it is wider
    (lstm_ref.stored_weights)."""
    return stored_weights.weight_expectations(source.arrays, arrays, WEIGHT_NAMES)


def _spec(name, function):
    args, kwargs = function.structured_input_signature
    specs = list(kwargs.values()) if kwargs else [s for s in args if s is not None]
    if len(specs) != 1:
        raise UnsupportedLayerError(f"the SavedModel's {name!r} takes {len(specs)} inputs; "
                                    "lstm_ref runs endpoints whose one input is the sequence")
    return specs[0], kwargs


def input_shape(artifact, endpoint_name=None):
    """The shape of the endpoint's input (None where it is open)."""
    loaded = load(artifact) if isinstance(artifact, (str, os.PathLike)) else artifact
    spec, _ = _spec(*endpoint(loaded, endpoint_name))
    return tuple(spec.shape.as_list())


def _run(name, function, x32):
    tf = _tf()
    spec, kwargs = _spec(name, function)
    if not spec.shape.is_compatible_with(x32.shape):
        raise ShapeError(f"x has shape {x32.shape}; the SavedModel's {name!r} takes "
                         f"{tuple(spec.shape.as_list())} (None: any size)")
    value = tf.constant(x32)
    result = function(**{next(iter(kwargs)): value}) if kwargs else function(value)
    if isinstance(result, dict):  # a signature: output_0, output_1, ... in the model's order
        keys = sorted(result, key=_natural)
        return [np.asarray(result[k]) for k in keys]
    if isinstance(result, (list, tuple)):
        return [np.asarray(r) for r in result]
    return [np.asarray(result)]


def _natural(name):
    head = name.rstrip("0123456789")
    return (head, int(name[len(head):]) if name[len(head):] else -1)


def compare_export(source, artifact, x, tolerance=None, options=None, context=None,
                   endpoint_name=None):
    """Hold a SavedModel of one Keras LSTM to the reference of the LSTM it was exported from.

    Args:
        source: the source's LSTMWeights (its semantics: activations, clips...).
        artifact: the SavedModel's directory, or a loaded SavedModel (what
            ``tf.saved_model.load`` returned: its variables as they are now).
        x: (batch, time, features) input, run in float32.
        tolerance: a Tolerance for the run instead of the table's float32 entry.
        options: the source's further forward() options (go_backwards, zero_output_for_mask).
        context: lines for the Report (the source's description).
        endpoint_name: one of :data:`ENDPOINTS`; None: the first the SavedModel has.

    Returns:
        A :class:`~lstm_ref.report.Report`: the weights check and the run, one verdict.
    """
    if not isinstance(source, LSTMWeights):
        raise OptionError(f"source must be LSTMWeights here; received {describe(source)}")
    origin = os.fspath(artifact) if isinstance(artifact, (str, os.PathLike)) else "a loaded SavedModel"
    loaded = load(artifact) if isinstance(artifact, (str, os.PathLike)) else artifact
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != source.features:
        raise ShapeError(f"x must be (batch, time, {source.features}) for the source's "
                         f"{source.features} features; received shape {x.shape}")
    name, function = endpoint(loaded, endpoint_name)
    arrays = variables(function)
    weighed = weight_expectations(source, arrays)
    changes = {k: v for k, v in arrays.items() if source.arrays.get(k) is not None}
    weights = source.replace(**changes)
    x32 = x.astype(np.float32)
    outputs = _run(name, function, x32)
    if len(outputs) not in (1, 3):
        raise UnsupportedLayerError(f"the SavedModel's {name!r} returns {len(outputs)} tensors; "
                                    "lstm_ref reads an LSTM's output, or its output, h and c")
    actual = {"output": outputs[0]}
    if len(outputs) == 3:
        actual["state_h"], actual["state_c"] = outputs[1], outputs[2]
    tol = tolerance if tolerance is not None else lookup("float32")
    obs = Observation(actual=actual, weights=weights, x=x32, options=dict(options or {}),
                      dtype="float32")
    part = observation_part(obs, tol)
    info = {"artifact": f"SavedModel {origin}, endpoint {name!r}",
            "weights check": "float32 variables: equal to the source's, bit for bit (within "
                             "half a float32 spacing where the source is wider)",
            "run tolerance": "given" if tolerance is not None else
                             "float32 arithmetic on float32 weights: the table's float32 entry",
            "expected": "the reference with the source's semantics on the SavedModel's "
                        "variables, in float64",
            "h, c per step": "not compared: the LSTM runs inside one graph function",
            **(context or {})}
    run_report = compare_parts([part], context=info)
    weight_report = check_tensors({k: v[0] for k, v in weighed.items()},
                                  {k: v[1] for k, v in weighed.items()}, tol, 1)
    return Report(tensors={**weight_report.tensors, **run_report.tensors},
                  tolerance=run_report.tolerance, time=run_report.time,
                  context=run_report.context)
