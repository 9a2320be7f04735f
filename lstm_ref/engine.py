"""The engine: what a framework computed -> what the reference expects -> one comparison.

Every check of the package (one layer, the directions of a Bidirectional, the cells of a
stack, the layers of a model, torch's layers and directions, ONNX's directions, gradients and
golden drift) ends in :func:`check_tensors`, and every check of LSTM runs builds its
expectations in :func:`compare_parts`: the verdict's rules live here once.

The rules (see lstm_ref.report for the verdict they lead to):

- each element's bound comes from its own row's reference and probes (lstm_ref.tolerance);
  nothing in another row widens, shrinks or poisons it;
- an element fails unless ``|framework - reference| <= bound``: a NaN error fails, and so
  does a bound that is not finite (NaN or inf claims nothing); a non-finite framework value
  where the reference is finite fails, whatever the bound;
- a non-finite reference value that a non-finite input reaches (:func:`nonfinite_reach`) is
  compared exactly: NaN agrees with NaN, an infinity with the same infinity;
- a non-finite reference value that no non-finite input reaches (an overflow, 0 * inf) is
  *undetermined*, and so is the rest of its row: not compared, and the report says why; so
  are the steps past the probes' horizon (lstm_ref.tolerance.row_horizons), and a value
  computed from determined ones that overflows (:meth:`Expectation.derived`).
"""

from dataclasses import dataclass, field, replace

import numpy as np

from lstm_ref import tolerance as tolerances
from lstm_ref._threads import one_blas_thread
from lstm_ref.bias import bias_bound, carried, resolved, step_bias
from lstm_ref.tolerance_table import lookup, without_drift_check
from lstm_ref.checks import as_float_array, as_mask
from lstm_ref.errors import ShapeError
from lstm_ref.reference import forward
from lstm_ref.report import (ALL_STEPS, COMPARED, EXACT, NOT_COMPARED, UNDETERMINED, Mismatch,
                             Report, TensorReport)

__all__ = ["TENSORS", "REFERENCE_OF", "Observation", "Expectation", "Part", "nonfinite_reach",
           "tensor_expectations", "compare_parts", "check_tensors", "check_trace",
           "check_observation", "run_reference", "observation_part", "stack_reach",
           "sequence_expectation", "row_cuts", "last_step", "combine", "default_entry",
           "unit_groups", "check_inputs",
           "DRIFT_NOTE", "Report", "Mismatch",
           "TensorReport", "ALL_STEPS"]

# Tensors a framework can show, in the order failures are reported within a step.
# h, c: the state after every step (B, T, U); output: the layer's return (B, T, U) with
# return_sequences, else (B, U) at the last step; state_h, state_c: the returned states (B, U).
TENSORS = ("h", "c", "output", "state_h", "state_c")
# The Trace field each tensor is read from.
REFERENCE_OF = {"h": "h", "c": "c", "output": "outputs", "state_h": "h", "state_c": "c"}
FINAL = ("state_h", "state_c")


@dataclass
class Observation:
    """What an adapter saw a framework compute, and what the reference needs to redo it.

    Attributes:
        actual: tensor name (see TENSORS) -> NumPy array from the framework.
        weights: the framework's weights as LSTMWeights.
        x: the input as the framework received it (in its compute dtype).
        initial_state: [h0, c0] as the framework received them, or None.
        mask: (B, T) booleans or None.
        options: further keyword arguments of ``forward`` (go_backwards, zero_output_for_mask).
        dtype: the framework's compute dtype, which picks the tolerance.
        context: what a reproducer needs (layer config, versions, seed...).
        layer_path: None, or "cudnn" when the whole layer ran cuDNN kernels: its outputs and
            states are then held to the tolerance table's cuDNN entry, the stepped cell (h, c)
            to the plain one.
        arithmetic: None, or how the stepped cell computes, for the exact step check of a
            16-bit layer (lstm_ref.step_check): {"cell": "keras", "backend": ...,
            "implementation": ...}.
    """

    actual: dict
    weights: object
    x: np.ndarray
    initial_state: list | None = None
    mask: np.ndarray | None = None
    options: dict = field(default_factory=dict)
    dtype: str = "float32"
    context: dict = field(default_factory=dict)
    layer_path: str | None = None
    arithmetic: dict | None = None


@dataclass
class Expectation:
    """What one tensor should hold, element by element. Tensors of equal values may share one
    (:func:`tensor_expectations`): derive a new one (dataclasses.replace), never assign to it.

    Attributes:
        values: (B, S, U) float64 reference values.
        steps: (S,) the step number of each of the S slices.
        bound: (B, S, U) the largest |framework - reference| each element may show.
        status: (B, S, U) lstm_ref.report status codes (None: every element COMPARED).
        axes: the names of the first and last axes in reports ("row", "column" for a weight).
        drift: None, or (S,) the bound of each step's relative drift (lstm_ref.bias): the
            check then also holds the tensor's step drift, as a tensor ``name:drift``.
        weighed: None (every COMPARED element), or (B, S, U) booleans: the elements a step's
            drift is taken over (lstm_ref.bias.carried steps left out).
    """

    values: np.ndarray
    steps: np.ndarray
    bound: np.ndarray
    status: np.ndarray | None = None
    axes: tuple = ("batch", "unit")
    drift: np.ndarray | None = None
    weighed: np.ndarray | None = None

    def __post_init__(self):
        if self.status is None:
            self.status = np.full(np.shape(self.values), COMPARED, np.uint8)

    def drift_weight(self):
        """The elements a step's drift is taken over: the compared ones, of those weighed."""
        compared = self.status == COMPARED
        return compared if self.weighed is None else compared & self.weighed

    def flipped(self):
        """The slices in reverse order, under the same step numbers: a backward direction's
        sequence (processing order) in time order."""
        return replace(self, values=self.values[:, ::-1], bound=self.bound[:, ::-1],
                       status=self.status[:, ::-1],
                       drift=None if self.drift is None else self.drift[::-1],
                       weighed=None if self.weighed is None else self.weighed[:, ::-1])

    def derived(self, values, bound, *others):
        """An Expectation of values computed from this one's (and ``others``', element by
        element, e.g. a merge of two directions): an element is only as determined as every
        element it comes from, and one that is not finite although they are all determined
        (an overflow: a product of two values near 1e200) is undetermined."""
        status = np.maximum.reduce([self.status, *(o.status for o in others)])
        overflow = ~np.isfinite(values) & (status == COMPARED)
        status = np.where(overflow, UNDETERMINED, status).astype(np.uint8)
        return Expectation(values, self.steps, bound, status, self.axes,
                           _joined_drift([self, *others]), _joined_weight([self, *others]))

    @staticmethod
    def concatenate(parts, axis=-1):
        """Several Expectations of the same steps joined along ``axis`` (units, by default)."""
        first = parts[0]
        join = lambda name: np.concatenate([getattr(p, name) for p in parts], axis=axis)  # noqa: E731
        weighed = [p.drift_weight() for p in parts]
        return Expectation(join("values"), first.steps, join("bound"), join("status"), first.axes,
                           _joined_drift(parts), np.concatenate(weighed, axis=axis))


def _joined_weight(parts):
    """The elements weighed in the drift of a value computed from several, element by
    element: those weighed in every one."""
    return np.logical_and.reduce([p.drift_weight() for p in parts])


def _joined_drift(parts):
    """The drift bound of a tensor made of several: the largest of theirs (None if one has
    none)."""
    drifts = [p.drift for p in parts]
    return None if any(d is None for d in drifts) else np.maximum.reduce(drifts)


def nonfinite_reach(x, initial_state=None, mask=None, go_backwards=False):
    """The steps a non-finite input reaches, (B, T) booleans in processing order.

    Row b is reached from the first step that reads a non-finite x[b, t] (masked steps
    discard what they read), or from step 0 if its initial state is not finite: every later
    value of the row depends on it. The reference's non-finite values there are what the
    inputs make them, compared exactly; elsewhere they are undetermined.

    Args:
        x: (B, T, F) in time order, or a (B, T) boolean array already saying which steps of
            the input are not finite (a stacked layer's input: the layer below's reach).
        initial_state: None or the list of initial state arrays (B, ...).
        mask: None or (B, T) booleans.
        go_backwards: the layer processes time from the last step.
    """
    x = np.asarray(x)
    bad = x if x.dtype == bool and x.ndim == 2 else ~np.isfinite(x).all(axis=2)
    if mask is not None:
        bad = bad & np.asarray(mask, bool)
    if go_backwards:
        bad = bad[:, ::-1]
    reach = np.logical_or.accumulate(bad, axis=1)
    for state in initial_state or ():
        if state is not None:
            state = np.asarray(state)
            reach |= ~np.isfinite(state.reshape(state.shape[0], -1)).all(axis=1)[:, None]
    return reach


def stack_reach(x, layers, initial_states=None, mask=None):
    """:func:`nonfinite_reach` for every direction of a stack of layers (lstm_ref.stack):
    layer k reads layer k - 1's output, both directions in time order.

    Args:
        x: (B, T, F) in time order.
        layers: per layer, its number of directions (1 or 2; the second runs backwards).
        initial_states: None, or one [h0, c0] (or None) per layer and direction, in order.
        mask: None or (B, T) booleans, applied to every layer.

    Returns:
        Per layer, a list with one (B, T) processing-order array per direction.
    """
    states = list(initial_states or [])
    result, inputs, position = [], np.asarray(x), 0
    for directions in layers:
        runs = []
        for direction in range(directions):
            state = states[position] if position < len(states) else None
            runs.append(nonfinite_reach(inputs, state, mask, go_backwards=direction == 1))
            position += 1
        result.append(runs)
        inputs = runs[0] | runs[1][:, ::-1] if directions == 2 else runs[0]
    return result


def _status(values, cut, code, tainted):
    """(B, T, U) status codes: the row's cut code from its cut step, EXACT where a reached
    reference value is not finite, COMPARED elsewhere."""
    time = values.shape[1]
    after = np.arange(time)[None, :] >= np.asarray(cut)[:, None]
    status = np.where(after, np.asarray(code, np.uint8)[:, None], COMPARED)[:, :, None]
    status = np.broadcast_to(status, values.shape).astype(np.uint8)
    if tainted is not None:
        exact = (~np.isfinite(values)) & np.asarray(tainted, bool)[:, :, None]
        status = np.where(exact & (status == COMPARED), EXACT, status).astype(np.uint8)
    return status


def sequence_expectation(values, probe, tol, cut, code, tainted=None, groups=None):
    """The Expectation of one (B, T, U) sequence given its rows' cuts (see
    lstm_ref.tolerance.row_horizons): its bound scaled by the probes (``probe``: the same
    tensor of the stacked probe run, or None for the floor alone) of the units coupled to
    each element (``groups``, see lstm_ref.tolerance.conditioning)."""
    values = np.asarray(values, np.float64)
    atol = tol.element_atol(values, probe, groups)
    bound = tol.element_bound(values, atol)
    status = _status(values, cut, code, tainted)
    weighed = ~carried(values) & resolved(values, atol)
    drift = bias_bound(values, probe, tol, (status == COMPARED) & weighed)
    return Expectation(values, np.arange(values.shape[1]), bound, status, drift=drift,
                       weighed=weighed)


def row_cuts(reference, probe, tol, tainted=None, fields=("h", "c", "outputs")):
    """Each row's first undetermined step over the Trace ``fields`` (they depend on each
    other: a row cut in c is cut in h), and its status code: ``(cut, code)``, (B,) each."""
    cut = code = None
    for name in fields:
        values = getattr(reference, name)
        probed = None if probe is None else getattr(probe, name)
        c, k = tolerances.row_horizons(values, probed, tol.horizon, tainted,
                                       0.0 if tol.relative_floor else tol.atol)
        if cut is None:
            cut, code = c, k
        else:
            take = c < cut
            cut, code = np.where(take, c, cut), np.where(take, k, code)
    return cut, code


def tensor_expectations(reference, probe, tol, return_sequences=True, layer_tol=None,
                        tainted=None, groups=None):
    """The Expectation of every tensor in TENSORS for one run of the reference.

    Args:
        reference: the float64 Trace.
        probe: the Trace of the stacked probe run in ``tol.probe`` (it scales the bound and
            finds what that format cannot determine, see lstm_ref.tolerance), or None for the
            floor alone.
        tol: a :class:`~lstm_ref.tolerance.Tolerance`.
        return_sequences: whether "output" is every step's output or only the last.
        layer_tol: the Tolerance of what the whole layer returns (output, state_h, state_c)
            when it differs from the stepped cell's (cuDNN); None: ``tol`` for all.
        tainted: the steps a non-finite input reaches (:func:`nonfinite_reach`), or None.
        groups: the units' coupled groups (:func:`unit_groups`), or None: one group.

    Returns:
        dict name -> :class:`Expectation`.
    """
    fields = _distinct_fields(reference, probe)
    cut, code = row_cuts(reference, probe, tol, tainted, tuple(dict.fromkeys(fields.values())))
    result, sequences = {}, {}
    for name in TENSORS:
        entry = tol if name in ("h", "c") or layer_tol is None else layer_tol
        # A tensor whose values are another's (the output where no step is masked, a final
        # state: the last step of h or c) has that tensor's expectation, computed once.
        key = (fields[REFERENCE_OF[name]], id(entry))
        if key not in sequences:
            probed = None if probe is None else getattr(probe, key[0])
            sequences[key] = sequence_expectation(getattr(reference, key[0]), probed, entry,
                                                  cut, code, tainted, groups)
        expectation = sequences[key]
        if name in FINAL or (name == "output" and not return_sequences):
            expectation = last_step(expectation)
        result[name] = expectation
    return result


def _distinct_fields(reference, probe):
    """Trace field -> the field whose values it has: "outputs" -> "h" where the reference's
    and the probes' outputs equal their h (no step masked, or masked steps that repeat h),
    else each field itself."""
    same = all(np.array_equal(getattr(trace, "outputs"), getattr(trace, "h"), equal_nan=True)
               for trace in (reference, probe) if trace is not None)
    return {"h": "h", "c": "c", "outputs": "h" if same else "outputs"}


def last_step(expectation):
    """Only the last slice of an Expectation (the returned states, the last output)."""
    e = expectation
    return Expectation(e.values[:, -1:], e.steps[-1:], e.bound[:, -1:], e.status[:, -1:], e.axes,
                       None if e.drift is None else e.drift[-1:],
                       None if e.weighed is None else e.weighed[:, -1:])


@dataclass
class Part:
    """One LSTM run inside a check: a layer, a direction, a cell of a stack.

    Attributes:
        actual: tensor name (TENSORS) -> the framework's array, for those it showed.
        reference: the float64 Trace of this run.
        probe: the Trace of the stacked probe run (lstm_ref.tolerance.probe_batch), or None.
        tolerance: the entry its stepped tensors (h, c) are held to.
        prefix: its tensors are named ``prefix.name`` ("" for no prefix).
        layer_tolerance: the entry of what the whole layer returned (output and states), when
            not ``tolerance`` (a layer run by cuDNN).
        return_sequences: whether its "output" is every step's.
        tainted: the steps a non-finite input reaches (:func:`nonfinite_reach`), or None.
        names: TENSORS name -> the whole name it has in the report, where not
            ``prefix.name`` (torch's ``layer0.forward.h_n``, a stack's last ``output``).
        notes: shown in the report's context (what this part does not check, and why).
        groups: the units' coupled groups (:func:`unit_groups`), or None: one group.
    """

    actual: dict
    reference: object
    probe: object
    tolerance: object
    prefix: str = ""
    layer_tolerance: object = None
    return_sequences: bool = True
    tainted: np.ndarray | None = None
    names: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    groups: np.ndarray | None = None

    def name(self, tensor):
        if tensor in self.names:
            return self.names[tensor]
        return f"{self.prefix}.{tensor}" if self.prefix else tensor

    def expectations(self):
        """TENSORS name -> Expectation (all of them, shown or not: derived tensors need them)."""
        return tensor_expectations(self.reference, self.probe, self.tolerance,
                                   self.return_sequences, self.layer_tolerance, self.tainted,
                                   self.groups)


def compare_parts(parts, derived=None, derived_actual=None, context=None, order="forward",
                  time=None):
    """The one multi-part comparison: several runs and what is computed from them, one Report.

    Args:
        parts: a list of :class:`Part`.
        derived: None, or ``derived(expectations)`` -> {report name: Expectation} for tensors
            the framework computes from several parts (a merged Bidirectional output, torch's
            output of both directions), given ``expectations``: one dict per part (TENSORS
            name -> Expectation), in the order of ``parts``.
        derived_actual: report name -> the framework's array, for the derived tensors.
        context: shown in the summary to reproduce the case.
        order: "forward" (or "backward", see lstm_ref.report.Report).
        time: the number of steps (default: the first part's).

    Returns:
        A Report whose tensors are, in order: every part's h, c and output, then the derived
        tensors, then every part's final states.
    """
    per_part = [part.expectations() for part in parts]
    expected, actual, finals = {}, {}, {}
    for part, expectations in zip(parts, per_part):
        for name in TENSORS:
            if part.actual.get(name) is None:
                continue
            target = finals if name in FINAL else expected
            target[part.name(name)] = expectations[name]
            actual[part.name(name)] = part.actual[name]
    if derived is not None:
        for name, expectation in derived(per_part).items():
            if (derived_actual or {}).get(name) is not None:
                expected[name] = expectation
                actual[name] = derived_actual[name]
    expected.update(finals)
    if time is None:
        time = parts[0].reference.h.shape[1] if parts[0].reference.h is not None else 1
    notes = {key: value for part in parts for key, value in part.notes.items()}
    if notes:
        context = {**(context or {}), **notes}
    return check_tensors(actual, expected, parts[0].tolerance, time, context, order)


def check_tensors(actual, expected, tolerance, time, context=None, order="forward"):
    """Compare ``actual[name]`` with ``expected[name]`` for every name both have, in the order
    of ``expected``: the element-by-element comparison every check ends in.

    Args:
        actual: name -> the framework's array, (B, S, U) or (B, U) for a single step.
        expected: name -> :class:`Expectation`.
        tolerance: the Tolerance shown in the report.
        time: the number of steps of the run.
        context: shown in the summary.
        order: "forward" or "backward" (see lstm_ref.report.Report).

    Returns:
        A :class:`~lstm_ref.report.Report`.
    """
    tensors = {}
    for name, expectation in expected.items():
        if actual.get(name) is None:
            continue
        got = np.asarray(actual[name], dtype=np.float64)
        if got.ndim == 2:  # a single step: final states or the last output
            got = got[:, None, :]
        _check_shape(name, got.shape, expectation.values.shape)
        tensors[name] = _tensor_report(name, got, expectation, order)
        if expectation.drift is not None:
            tensors[name].drift = _tensor_report(f"{name}:drift", *drift_of(got, expectation),
                                                 order)
    return Report(tensors=tensors, tolerance=tolerance, time=time,
                  context=dict(context or {}), order=order)


def combine(reports_by_prefix, time, context=None):
    """One Report from several complete ones: ``reports_by_prefix`` maps a prefix to a Report,
    whose tensors become ``prefix/name``. The tolerance shown is the first one's; the verdict
    is over every tensor of every report."""
    tensors = {}
    for prefix, rep in reports_by_prefix.items():
        for name, tensor in rep.tensors.items():
            tensors[f"{prefix}/{name}"] = _renamed(tensor, f"{prefix}/{tensor.name}")
    first = next(iter(reports_by_prefix.values()))
    return Report(tensors=tensors, tolerance=first.tolerance, time=time,
                  context=dict(context or {}), order=first.order)


def _renamed(tensor, name):
    """A TensorReport (and its drift's) under another name."""
    moved = lambda m, to: m and replace(m, tensor=to)  # noqa: E731
    drift = tensor.drift and _renamed(tensor.drift, f"{name}:drift")
    return replace(tensor, name=name, worst=moved(tensor.worst, name),
                   first_failure=moved(tensor.first_failure, name), drift=drift)


def check_inputs(x, weights, initial_state=None, mask=None):
    """The reference's own checks of a run's inputs, with its messages, before a framework
    sees them: x (batch, time, features) and the mask (batch, time) whole, then everything
    the weights fix (features, the initial state's shapes) by one step of the reference,
    not the whole run. Returns nothing; raises what :func:`lstm_ref.forward` raises."""
    x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)")
    if mask is not None:
        mask = as_mask(mask, x.shape[0], x.shape[1])[:, :1]
    forward(x[:, :1], weights, initial_state=initial_state, mask=mask, keep="final")


def run_reference(observation, tol):
    """The float64 reference, and the stacked probe run in ``tol.probe``, for what an adapter
    observed."""
    obs = observation
    with one_blas_thread():
        reference = forward(obs.x, obs.weights, initial_state=obs.initial_state,
                            mask=obs.mask, **obs.options)
        x, state, mask = tolerances.probe_batch(obs.x, obs.initial_state, obs.mask,
                                                tol.probe)
        probe = forward(x, obs.weights, initial_state=state, mask=mask, dtype=tol.probe,
                        **obs.options)
    return reference, probe


def observation_part(observation, tolerance=None, prefix="", names=None):
    """The :class:`Part` of an Observation: the reference and its probes run on what the
    framework was given; the cuDNN entry for the layer's own outputs where it ran cuDNN."""
    obs = observation
    tol, notes = tolerance, {}
    layer_tol = None
    if tolerance is None:
        tol, why = default_entry(obs.dtype, [obs.weights])
        notes = {DRIFT_NOTE: why} if why else {}
        if obs.layer_path is not None:
            layer_tol, _ = default_entry(obs.dtype, [obs.weights], obs.layer_path)
    reference, probe = run_reference(obs, tol)
    output = obs.actual.get("output")
    tainted = nonfinite_reach(obs.x, obs.initial_state, obs.mask,
                              obs.options.get("go_backwards", False))
    return Part(actual=obs.actual, reference=reference, probe=probe, tolerance=tol,
                prefix=prefix, layer_tolerance=layer_tol,
                return_sequences=output is None or np.ndim(output) == 3, tainted=tainted,
                names=names or {}, notes=notes, groups=unit_groups(obs.weights))


def unit_groups(weights):
    """The groups of units that ``weights`` (an LSTMWeights) couple, as
    lstm_ref.tolerance.coupled_groups gives them, or None where every unit is coupled to
    every other: any dense recurrent kernel, a projection or a layer normalisation (both mix
    every unit)."""
    if weights.projection is not None or getattr(weights, "layer_norm", None) is not None:
        return None
    return tolerances.coupled_groups(weights.recurrent_kernel, weights.units)


# The context key under which a check says its step drift was not checked.
DRIFT_NOTE = "step drift not checked"


def default_entry(dtype, weights, path=None):
    """The table's entry for a run in ``dtype`` of cells with ``weights`` (a list of
    LSTMWeights), and why its step drift is not checked (None where it is): the drift check
    is off for activations it cannot hold (lstm_ref.tolerance_table.DRIFT_EXEMPT)."""
    names = [getattr(getattr(w, name, None), "name", None) for w in weights
             for name in ("activation", "recurrent_activation")]
    return without_drift_check(lookup(dtype, path), [n for n in names if n])


def check_observation(observation, tolerance=None):
    """Run the reference on what an adapter observed, and compare: a Report."""
    part = observation_part(observation, tolerance)
    context = observation.context
    if part.layer_tolerance is not None:
        context = {**context, f"tolerance of the layer's {observation.layer_path} outputs":
                   part.layer_tolerance.describe()}
    return compare_parts([part], context=context)


def check_trace(actual, reference, probe, tol, context=None, layer_tol=None, tainted=None,
                groups=None):
    """Compare a framework's tensors with one reference run (Trace) and its probes: a Report.

    Args:
        actual: tensor name (see TENSORS) -> array from the framework; "output" may be
            (B, T, U) (return_sequences) or (B, U).
        reference, probe, tol, layer_tol, tainted, groups: see :func:`tensor_expectations`.
        context: dict shown in the summary to reproduce the case.
    """
    output = actual.get("output")
    part = Part(actual=actual, reference=reference, probe=probe, tolerance=tol,
                layer_tolerance=layer_tol, tainted=tainted,
                return_sequences=output is None or np.ndim(output) == 3, groups=groups)
    return compare_parts([part], context=context)


def drift_of(got, expectation):
    """A tensor's step drift (lstm_ref.bias) as the engine compares it: the framework's S_t
    over the elements held to a bound, as (1, S, 1), and its Expectation (0, within the drift
    bound). A step none of whose elements is compared is not compared either; one whose
    elements are all compared exactly has no drift to measure (0: they agree or fail), nor
    one whose drift bound is infinite (too few elements weighed, here or in a part it was
    joined from: lstm_ref.bias.bias_bound), which shows as 0 within 0."""
    e = expectation
    compared = e.status == COMPARED
    drift = step_bias(got, e.values, e.drift_weight())
    nothing = ~compared.any(axis=(0, 2))
    unmeasured = ~np.isfinite(e.drift)
    code = e.status.max(axis=(0, 2))
    status = np.where(nothing & (code > EXACT), code, COMPARED).astype(np.uint8)
    shaped = lambda a: np.asarray(a, np.float64)[None, :, None]  # noqa: E731
    return shaped(np.where(nothing | unmeasured, 0.0, drift)), Expectation(
        shaped(np.zeros(len(e.steps))), e.steps, shaped(np.where(unmeasured, 0.0, e.drift)),
        status[None, :, None], axes=None)


def _check_shape(name, received, expected):
    if received != expected:
        raise ShapeError(f"framework tensor {name!r} has shape {received}; the reference has "
                         f"{expected} (batch, steps, units)")


def _tensor_report(name, got, expectation, order="forward"):
    """Hold one tensor to its Expectation: the rules of the module docstring."""
    values, bound, status = expectation.values, expectation.bound, expectation.status
    steps, axes = expectation.steps, expectation.axes
    compared = status <= EXACT
    exact = status == EXACT
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.abs(got - values)
        agree = (np.isnan(got) & np.isnan(values)) | (np.isinf(values) & (got == values))
        err = np.where(exact, np.where(agree, 0.0, np.inf), err)
        err = np.where(np.isnan(err), np.inf, err)  # a NaN on one side only
        held = np.where(exact, 0.0, bound)
        # A NaN or infinite bound claims nothing: never a pass (|err| <= inf passes NaN too).
        unbounded = ~np.isfinite(held)
        # A non-finite framework value where the reference is finite: wrong, whatever the bound.
        nonfinite = np.isfinite(values) & ~np.isfinite(got)
        failing = compared & (~(err <= held) | unbounded | nonfinite)
        ratio = np.where(err == 0, 0.0, np.where(held > 0, err / held, np.inf))
        ratio = np.where(failing & ~(ratio > 1), np.inf, ratio)
        rel = np.where(values != 0, err / np.abs(values), np.where(err > 0, np.inf, 0.0))
    masked = lambda a: np.where(compared, a, -np.inf).max(axis=(0, 2))  # noqa: E731
    per_step = [masked(a) for a in (err, rel, np.where(exact, 0.0, bound))]
    max_abs, max_rel, max_bound = (np.where(np.isneginf(a), np.nan, a) for a in per_step)
    worst = first = None
    if compared.any():
        score = np.where(compared, np.nan_to_num(ratio, nan=np.inf), -np.inf)
        worst = _mismatch(name, np.unravel_index(np.argmax(score), score.shape), got, values,
                          err, held, steps, axes)
    if failing.any():
        failing_steps = np.flatnonzero(failing.any(axis=(0, 2)))
        index = int(failing_steps[-1] if order == "backward" else failing_steps[0])
        in_step = np.where(failing[:, index], np.nan_to_num(ratio[:, index], nan=np.inf),
                           -np.inf)
        b, u = np.unravel_index(np.argmax(in_step), in_step.shape)
        first = _mismatch(name, (b, index, u), got, values, err, held, steps, axes)
    not_compared, cuts = {}, {}
    for code in NOT_COMPARED:
        where = status == code
        if not where.any():
            continue
        not_compared[code] = int(where.sum())
        at_steps = np.flatnonzero(where.any(axis=(0, 2)))
        step = int(steps[at_steps[-1] if order == "backward" else at_steps[0]])
        cuts[code] = (step, [int(r) for r in np.flatnonzero(where.any(axis=(1, 2)))])
    return TensorReport(name=name, steps=steps, max_abs=max_abs, max_rel=max_rel,
                        max_bound=max_bound, worst=worst, first_failure=first,
                        compared=int(compared.sum()), size=int(values.size),
                        failures=int(failing.sum()), not_compared=not_compared, cuts=cuts)


def _mismatch(name, index, got, expected, err, bound, steps, axes=("batch", "unit")):
    b, s, u = (int(i) for i in index)
    return Mismatch(tensor=name, step=int(steps[s]), batch=b, unit=u, actual=float(got[b, s, u]),
                    expected=float(expected[b, s, u]), error=float(err[b, s, u]),
                    bound=float(bound[b, s, u]), axes=axes)

