"""Step-by-step comparison of a framework's LSTM with the reference -> Report."""

from dataclasses import dataclass, field, replace

import numpy as np

from lstm_ref import tolerance as tolerances
from lstm_ref.reference import forward

# Tensors a framework can show, in the order failures are reported within a step.
# h, c: the state after every step (B, T, U); output: the layer's return (B, T, U) with
# return_sequences, else (B, U) at the last step; state_h, state_c: the returned states (B, U).
TENSORS = ("h", "c", "output", "state_h", "state_c")
# The step of a tensor that accumulates over every step (a weight's gradient).
ALL_STEPS = -1
_REFERENCE_OF = {"h": "h", "c": "c", "output": "outputs", "state_h": "h", "state_c": "c"}


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


@dataclass
class Mismatch:
    """One element: where it is, both values, the error and the bound it was held to."""

    tensor: str
    step: int
    batch: int
    unit: int
    actual: float
    expected: float
    error: float
    bound: float
    axes: tuple = ("batch", "unit")

    def __str__(self):
        # A weight gradient sums over every step: its "step" is ALL_STEPS.
        where = "all steps" if self.step == ALL_STEPS else f"step {self.step}"
        return (f"{where}, tensor {self.tensor}, {self.axes[0]} {self.batch}, "
                f"{self.axes[1]} {self.unit}: "
                f"framework {self.actual:.9g}, reference {self.expected:.9g}, "
                f"|error| {self.error:.3e} {'>' if self.error > self.bound else '<='} "
                f"tolerance {self.bound:.3e}")


@dataclass
class TensorReport:
    """Per-step errors of one tensor. ``steps`` lists the processing steps it covers."""

    name: str
    steps: np.ndarray
    max_abs: np.ndarray
    max_rel: np.ndarray
    max_bound: np.ndarray
    worst: Mismatch
    first_failure: Mismatch | None

    @property
    def passed(self):
        return self.first_failure is None


@dataclass
class Report:
    """The verdict of one comparison.

    Attributes:
        tensors: name -> TensorReport, for each tensor the framework showed.
        tolerance: the table entry used.
        time: the number of steps.
        compared_steps: steps 0 .. compared_steps - 1 were compared; less than ``time`` from
            the step the probes' format cannot determine (see lstm_ref.tolerance.horizon_step).
        context: layer config, sizes, seed and versions: what reproduces the case.
        order: "forward", or "backward" for gradients, which are computed from the last step
            down: the first failure is then the one at the latest step, and the steps compared
            are the last ``compared_steps`` ones.
    """

    tensors: dict
    tolerance: tolerances.Tolerance
    time: int
    compared_steps: int
    context: dict = field(default_factory=dict)
    order: str = "forward"

    @property
    def passed(self):
        return all(t.passed for t in self.tensors.values())

    @property
    def first_failure(self):
        """The first failing element in processing order (ties: in the order of ``tensors``,
        which is TENSORS order), or None."""
        order = list(self.tensors)
        failures = [t.first_failure for t in self.tensors.values() if t.first_failure]
        if self.order == "backward":  # latest step first; the all-steps sums come last
            return min(failures, key=lambda m: (m.step == ALL_STEPS, -m.step,
                                                order.index(m.tensor)), default=None)
        return min(failures, key=lambda m: (m.step, order.index(m.tensor)), default=None)

    @property
    def first_failing_step(self):
        failure = self.first_failure
        return None if failure is None else failure.step

    @property
    def worst_ratio(self):
        """The largest error-to-bound ratio over every tensor (<= 1 means passed)."""
        return max((t.worst.error / t.worst.bound for t in self.tensors.values()), default=0.0)

    def summary(self):
        """A multi-line, human-readable account: verdict, per-tensor table, reproducer."""
        failure = self.first_failure
        if failure is not None:
            verdict = (f"FAILED at {failure} (step numbers in processing order, of {self.time}"
                       f"{'; gradients flow from the last step down' if self.order == 'backward' else ''})")
        elif not self.tensors:
            verdict = "PASSED vacuously: no step could be compared (see below)"
        else:
            verdict = (f"PASSED: all {len(self.tensors)} tensors within tolerance over "
                       f"{self.compared_steps} steps")
        lines = [verdict]
        width = max([8, *(len(name) for name in self.tensors)])
        lines.append(f"{'tensor':<{width}} {'worst |err|':>11} {'at step':>7} {'max rel':>9} "
                     f"{'tolerance':>10} {'err/tol':>7}  status")
        for t in self.tensors.values():
            step = "all" if t.worst.step == ALL_STEPS else t.worst.step
            lines.append(f"{t.name:<{width}} {t.worst.error:>11.3e} {step:>7} "
                         f"{np.nanmax(t.max_rel):>9.2e} {t.worst.bound:>10.3e} "
                         f"{t.worst.error / t.worst.bound:>7.3f}  "
                         f"{'ok' if t.passed else 'FAIL'}")
        if self.compared_steps < self.time:
            probe = self.tolerance.probe
            skipped = ((0, self.time - self.compared_steps - 1) if self.order == "backward"
                       else (self.compared_steps, self.time - 1))
            lines.append(f"steps {skipped[0]} to {skipped[1]} not compared: {probe} "
                         f"cannot determine them (values beyond {probe}'s range or within "
                         f"{tolerances.OVERFLOW_MARGIN:g}x of its largest number, or the probes "
                         f"stray beyond {self.tolerance.horizon:g} of the values' scale)")
        lines.append(f"tolerance {self.tolerance.describe()}")
        lines.extend(f"{key}: {value}" for key, value in self.context.items())
        return "\n".join(lines)


@dataclass
class Expectation:
    """What one tensor should hold: reference values, their steps, and the bound per element.

    Attributes:
        values: (B, S, U) float64 reference values.
        steps: (S,) the step number of each of the S slices.
        bound: (B, S, U) the largest |framework - reference| each element may show.
        axes: the names of the first and last axes in reports ("row", "column" for a weight).
    """

    values: np.ndarray
    steps: np.ndarray
    bound: np.ndarray
    axes: tuple = ("batch", "unit")


def expectations(reference, probe, tol, return_sequences=True, layer_tol=None):
    """The Expectation of every tensor in TENSORS, and the number of comparable steps.

    Args:
        reference: the float64 Trace.
        probe: the Trace of the stacked probe run in ``tol.probe`` (it scales the bound and
            finds the steps that format cannot determine, see lstm_ref.tolerance), or None for
            the floor alone.
        tol: a :class:`~lstm_ref.tolerance.Tolerance`.
        return_sequences: whether "output" is every step's output or only the last.
        layer_tol: the Tolerance of what the whole layer returns (output, state_h, state_c)
            when it differs from the stepped cell's (cuDNN); None: ``tol`` for all.

    Returns:
        ``(dict name -> Expectation, compared_steps)``.
    """
    time = reference.h.shape[1]
    limits = [time]
    for name in set(_REFERENCE_OF.values()):
        probe_seq = None if probe is None else getattr(probe, name)
        limit = tolerances.horizon_step(getattr(reference, name), probe_seq, tol.horizon)
        limits.append(time if limit is None else limit)
    result = {}
    for name in TENSORS:
        entry = tol if name in ("h", "c") or layer_tol is None else layer_tol
        field_name = _REFERENCE_OF[name]
        values = getattr(reference, field_name)
        atol = entry.step_atol(values, None if probe is None else getattr(probe, field_name))
        steps = np.arange(time)
        if name.startswith("state_") or (name == "output" and not return_sequences):
            values, steps, atol = values[:, -1:], steps[-1:], atol[-1:]
        result[name] = Expectation(values, steps, entry.element_bound(values, atol))
    return result, min(limits)


def check(actual, reference, probe, tol, context=None, layer_tol=None):
    """Compare a framework's tensors with the reference, element by element, step by step.

    Args:
        actual: tensor name (see TENSORS) -> array from the framework; "output" may be
            (B, T, U) (return_sequences) or (B, U).
        reference, probe, tol, layer_tol: see :func:`expectations`.
        context: dict shown in the summary to reproduce the case.

    Returns:
        A :class:`Report`.
    """
    output = actual.get("output")
    sequences = output is None or np.ndim(output) == 3
    expected, compared = expectations(reference, probe, tol, sequences, layer_tol)
    return check_expectations(actual, expected, tol, reference.h.shape[1],
                              lambda name, steps: steps < compared, compared, context)


def check_expectations(actual, expected, tol, time, comparable, compared_steps, context=None,
                       order="forward"):
    """Compare ``actual[name]`` with ``expected[name]`` for every name both have, in the order
    of ``expected``; ``comparable(name, steps)`` says which steps to compare. Returns a Report
    (``order``: see :class:`Report`)."""
    tensors = {}
    for name, expectation in expected.items():
        if actual.get(name) is None:
            continue
        got = np.asarray(actual[name], dtype=np.float64)
        if got.ndim == 2:  # a single step: final states or the last output
            got = got[:, None, :]
        _check_shape(name, got.shape, expectation.values.shape)
        keep = comparable(name, expectation.steps)
        if keep.any():
            tensors[name] = _tensor_report(name, got[:, keep], expectation.values[:, keep],
                                           expectation.steps[keep], expectation.bound[:, keep],
                                           expectation.axes, order)
    return Report(tensors=tensors, tolerance=tol, time=time, compared_steps=compared_steps,
                  context=dict(context or {}), order=order)


def combine(parts, time, context=None):
    """One Report from several: ``parts`` maps a prefix to a Report, whose tensors become
    ``prefix/name``. The tolerance shown is the first part's."""
    tensors = {}
    for prefix, report in parts.items():
        for name, tensor in report.tensors.items():
            renamed = f"{prefix}/{name}"
            tensors[renamed] = replace(
                tensor, name=renamed, worst=replace(tensor.worst, tensor=renamed),
                first_failure=tensor.first_failure and replace(tensor.first_failure, tensor=renamed))
    first = next(iter(parts.values()))
    return Report(tensors=tensors, tolerance=first.tolerance, time=time,
                  compared_steps=min(r.compared_steps for r in parts.values()),
                  context=dict(context or {}))


def run_reference(observation, tol):
    """The float64 reference, and the stacked probe run in ``tol.probe``, for what an adapter
    observed."""
    obs = observation
    reference = forward(obs.x, obs.weights, initial_state=obs.initial_state, mask=obs.mask,
                        **obs.options)
    x, state, mask = tolerances.probe_batch(obs.x, obs.initial_state, obs.mask, tol.probe)
    probe = forward(x, obs.weights, initial_state=state, mask=mask, dtype=tol.probe,
                    **obs.options)
    return reference, probe


def check_observation(observation, tolerance=None):
    """Run the reference on what an adapter observed, and compare (see :func:`check`)."""
    obs = observation
    tol = tolerance or tolerances.lookup(obs.dtype)
    context, layer_tol = obs.context, None
    if tolerance is None and obs.layer_path is not None:
        layer_tol = tolerances.lookup(obs.dtype, obs.layer_path)
        context = {**context, f"tolerance of the layer's {obs.layer_path} outputs":
                   layer_tol.describe()}
    reference, probe = run_reference(obs, tol)
    return check(obs.actual, reference, probe, tol, context, layer_tol)


def compare(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Run ``layer`` on ``x`` step by step and compare every h_t, c_t and output with the reference.

    Args:
        layer: a framework LSTM layer, built: Keras 3 LSTM, RNN(LSTMCell), Bidirectional.
        x: (batch, time, features) input.
        initial_state: None, or [h0, c0] ([h_f, c_f, h_b, c_b] for a Bidirectional).
        mask: None or (batch, time) booleans.
        tolerance: a Tolerance to use instead of the table's entry for the layer's dtype.
        **options: adapter options, e.g. ``execution="eager"|"function"|"xla"|"predict"``
            for Keras (how the whole layer is run; its cell is always stepped eagerly).

    Returns:
        A :class:`Report`.
    """
    from lstm_ref.adapters import adapter_for

    return adapter_for(layer).compare(layer, x, initial_state=initial_state, mask=mask,
                                      tolerance=tolerance, **options)


def assert_equivalent(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """:func:`compare`, raising AssertionError with the report's summary if it failed."""
    report = compare(layer, x, initial_state=initial_state, mask=mask, tolerance=tolerance,
                     **options)
    if not report.passed:
        raise AssertionError(report.summary())
    return report


def compare_gradients(layer, x, initial_state=None, mask=None, d_outputs=None, d_states=None,
                      tolerance=None, **options):
    """Backpropagate through ``layer`` and compare every gradient with the reference's
    (lstm_ref.gradients): dL/dh_t and dL/dc_t at every step, dL/dx, the initial state's and
    the weights' gradients.

    Args:
        layer: a built Keras 3 (TensorFlow backend) or tf_keras LSTM or RNN(LSTMCell).
        x, initial_state, mask: as in :func:`compare`.
        d_outputs: dL/d of the layer's output (shaped as it), or None to draw one at random
            (seeded by ``seed=``, an option).
        d_states: [dL/dh_T, dL/dc_T] for a layer that returns its states, or None (random).
        tolerance: a Tolerance instead of the table's gradient entry (lstm_ref.tolerance.GRADIENTS).
        **options: adapter options: ``execution=``, ``seed=``.

    Returns:
        A :class:`Report` in backward order: its first failure is at the latest step.
    """
    from lstm_ref.adapters import adapter_for

    adapter = adapter_for(layer)
    if not hasattr(adapter, "compare_gradients"):
        from lstm_ref.errors import UnsupportedLayerError

        raise UnsupportedLayerError(f"compare_gradients has no adapter for "
                                    f"{type(layer).__qualname__} yet; supported: Keras 3 and "
                                    "tf_keras LSTM / RNN(LSTMCell) (for torch, compare "
                                    "lstm_ref.gradients with autograd as "
                                    "tests/test_torch_gradients.py does)")
    return adapter.compare_gradients(layer, x, initial_state=initial_state, mask=mask,
                                     tolerance=tolerance, d_outputs=d_outputs,
                                     d_states=d_states, **options)


def assert_gradients_equivalent(layer, x, initial_state=None, mask=None, d_outputs=None,
                                d_states=None, tolerance=None, **options):
    """:func:`compare_gradients`, raising AssertionError with the report's summary if it failed."""
    report = compare_gradients(layer, x, initial_state, mask, d_outputs, d_states, tolerance,
                               **options)
    if not report.passed:
        raise AssertionError(report.summary())
    return report


def _check_shape(name, received, expected):
    if received != expected:
        from lstm_ref.errors import ShapeError

        raise ShapeError(f"framework tensor {name!r} has shape {received}; the reference has "
                         f"{expected} (batch, steps, units)")


def _tensor_report(name, got, expected, steps, bound, axes=("batch", "unit"), order="forward"):
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.abs(got - expected)
        agree = (np.isnan(got) & np.isnan(expected)) | (np.isinf(expected) & (got == expected))
        err = np.where(agree, 0.0, np.where(np.isnan(err), np.inf, err))
        rel = np.where(expected != 0, err / np.abs(expected), np.where(err > 0, np.inf, 0.0))
    ratio = err / bound
    failing = err > bound
    worst = _mismatch(name, np.unravel_index(np.argmax(ratio), ratio.shape), got, expected,
                      err, bound, steps, axes)
    first = None
    if failing.any():
        failing_steps = np.flatnonzero(failing.any(axis=(0, 2)))
        step_index = int(failing_steps[-1] if order == "backward" else failing_steps[0])
        in_step = np.where(failing[:, step_index], ratio[:, step_index], -np.inf)
        b, u = np.unravel_index(np.argmax(in_step), in_step.shape)
        first = _mismatch(name, (b, step_index, u), got, expected, err, bound, steps, axes)
    return TensorReport(name=name, steps=steps, max_abs=err.max(axis=(0, 2)),
                        max_rel=rel.max(axis=(0, 2)), max_bound=bound.max(axis=(0, 2)),
                        worst=worst, first_failure=first)


def _mismatch(name, index, got, expected, err, bound, steps, axes=("batch", "unit")):
    b, s, u = (int(i) for i in index)
    return Mismatch(tensor=name, step=int(steps[s]), batch=b, unit=u, actual=float(got[b, s, u]),
                    expected=float(expected[b, s, u]), error=float(err[b, s, u]),
                    bound=float(bound[b, s, u]), axes=axes)
