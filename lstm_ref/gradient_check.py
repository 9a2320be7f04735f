"""Gradient equivalence: a framework's gradients against lstm_ref.gradients, step by step.

The bound is the forward one (lstm_ref.tolerance), computed on gradients: the reference's
backward pass is re-run in the framework's format on PROBES inputs nudged by about one ulp
(one stacked run, weight gradients kept per probe), and kappa measures how far those probes
stray from the float64 gradients. Gradients have no natural scale of 1, so the floor is
relative to the gradient's size, and as backpropagation runs from the last step down, kappa
of dh_t, dc_t and dx_t is the running max from step T-1 down to t:

    |framework - reference| <= max(A eps * scale_t, K * kappa_t * eps) + R eps * |reference|

scale_t: per row, the largest |reference| of dh, dc and dx from step T-1 down to t:
rounding in a gradient is relative to the gradients it is computed from, not to its own,
possibly cancelled, value. For what sums over steps (h0, c0, the weights) the floor is that
rounding carried through the sum: A eps * (the largest adjoint) * reach, reach the sum of
|what each dz_t is multiplied by| (lstm_ref.backprop.Gradients.reach).

Every row is judged on its own: kappa, scale and the horizons are per row (each element of
dh_t is a sum over every unit's dz_{t+1}, dh_t = dz_{t+1} W^T, so it rounds relative to the
row's adjoints, as the floor's scale_t says). A gradient is
only as determined as the forward pass: a row whose forward probes leave their horizon at
any step has none of its gradients compared; a row's gradient probes' own horizon ends the
comparison of its dh, dc, dx at that step and below, and of its dh0, dc0. The weights'
gradients sum over every row: they are compared only when every row is determined.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from lstm_ref import precision
from lstm_ref import tolerance as tolerances
from lstm_ref.tolerance_table import lookup
from lstm_ref.backprop import Gradients, gradients
from lstm_ref.reference import Trace
from lstm_ref.engine import Expectation, check_tensors, nonfinite_reach
from lstm_ref.report import (ALL_STEPS, AT_JUMP, COMPARED, EXACT, FORWARD_UNDETERMINED,
                             HORIZON, UNDETERMINED, Report)
from lstm_ref.weights import LSTMWeights

__all__ = ["STEP_TENSORS", "TOTAL_TENSORS", "GradientObservation", "check_gradient_observation",
           "probe_gradients", "forward_cuts", "gradient_expectations", "check_gradients",
           "tainted_rows", "summed_expectation", "gradient_scale", "source_floor", "jump_steps"]

# Report tensors: per-step adjoints first (in the order failures are listed within a step),
# then what accumulates over all steps. Each maps to its lstm_ref.backprop.Gradients field.
STEP_TENSORS = {"dh": "dh", "dc": "dc", "dx": "x"}
TOTAL_TENSORS = {"dh0": "h0", "dc0": "c0", "d_kernel": "kernel",
                 "d_recurrent_kernel": "recurrent_kernel", "d_bias": "bias",
                 "d_peephole": "peephole", "d_projection": "projection"}
WEIGHT_AXES = ("row", "column")
# The scale of a gradient that is exactly zero (a row masked throughout, a weight no loss
# reaches): float32's smallest normal number, below which float32 keeps no precision.
TINY = float(np.finfo(np.float32).tiny)


@dataclass
class GradientObservation:
    """What an adapter saw a framework compute for one backward pass.

    Attributes:
        actual: tensor name (STEP_TENSORS, TOTAL_TENSORS) -> the framework's gradient; dh, dc
            (B, T, .) and dx (B, T, F) in processing order (dx reversed for go_backwards),
            the others shaped as lstm_ref.gradients returns them.
        weights, x, initial_state, mask, options: as lstm_ref.engine.Observation (x in time
            order; options: go_backwards, zero_output_for_mask).
        upstream: the keyword arguments d_outputs, d_final_h, d_final_c of lstm_ref.gradients.
        dtype: the framework's compute dtype.
        context: what reproduces the case.
    """

    actual: dict[str, Any]
    weights: LSTMWeights | None
    x: np.ndarray
    upstream: dict[str, Any]
    initial_state: list[Any] | None = None
    mask: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    context: dict[str, Any] = field(default_factory=dict)


def check_gradient_observation(observation: GradientObservation,
                               tolerance: tolerances.Tolerance | None = None) -> Report:
    """The reference gradients (float64) and their probes for what an adapter observed, and
    the comparison: a Report (order "backward")."""
    obs = observation
    tol = tolerance or lookup(obs.dtype, "gradients")
    reference = gradients(obs.x, cast(LSTMWeights, obs.weights),
                          initial_state=obs.initial_state, mask=obs.mask, **obs.upstream,
                          **obs.options)
    probe = probe_gradients(obs, tol.probe)
    go_backwards = obs.options.get("go_backwards", False)
    reached = nonfinite_reach(obs.x, obs.initial_state, obs.mask, go_backwards)
    cut = forward_cuts(reference, probe, reached, lookup(obs.dtype).atol)
    return check_gradients(obs.actual, reference, probe, tol, cut, obs.options, obs.context,
                           tainted_rows(obs))


def tainted_rows(obs: GradientObservation) -> np.ndarray:
    """(B,) booleans: the rows whose gradients a non-finite value reaches: one in x (masked
    steps too: x_t multiplies dz_t in the kernel's gradient), the initial state or the
    upstream gradients. Such a row's non-finite reference values are compared exactly."""
    def bad(array: Any) -> np.ndarray:
        if array is None:
            return np.zeros(obs.x.shape[0], bool)
        array = np.asarray(array, np.float64)
        return ~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)

    rows = bad(obs.x)
    for array in [*(obs.initial_state or ()), *obs.upstream.values()]:
        rows |= bad(array)
    return rows


def probe_gradients(obs: GradientObservation, dtype: str) -> Gradients:
    """The backward pass in ``dtype`` for the stacked, nudged probe inputs
    (tolerance.probe_batch), one weight gradient per probe."""
    x, state, mask = tolerances.probe_batch(obs.x, obs.initial_state, obs.mask, dtype)
    upstream: dict[str, Any] = {
        name: None if value is None else np.concatenate([value] * tolerances.PROBES)
        for name, value in obs.upstream.items()}
    return gradients(x, cast(LSTMWeights, obs.weights), initial_state=state, mask=mask,
                     dtype=dtype,
                     groups=tolerances.PROBES, **upstream, **obs.options)


def forward_cuts(reference: Gradients, probe: Gradients,
                 reached: np.ndarray | None = None, floor: float = 0.0) -> np.ndarray:
    """(B,) booleans: the rows whose forward pass the probes cannot determine at some step
    (h or c, lstm_ref.tolerance.row_horizons): every gradient of such a row depends on it.
    ``floor``: the forward entry's absolute floor (a row whose states underflow the format
    stays determined to within it, as the forward check has it)."""
    forward = cast(Trace, reference.forward)  # lstm_ref.gradients keeps it
    batch, time = cast(np.ndarray, forward.h).shape[:2]
    cut = np.zeros(batch, bool)
    for name in ("h", "c"):
        first, _ = tolerances.row_horizons(getattr(forward, name),
                                           getattr(probe.forward, name), tainted=reached,
                                           floor=floor)
        cut |= first < time
    return cut


def gradient_expectations(reference: Gradients, probe: Gradients, tol: tolerances.Tolerance,
                          go_backwards: bool = False, forward_cut: np.ndarray | None = None,
                          tainted: np.ndarray | None = None) -> dict[str, Expectation]:
    """name -> Expectation for every gradient the reference has.

    Args:
        reference, probe: the float64 Gradients and the probes' (lstm_ref.backprop).
        tol: the gradient entry (lstm_ref.tolerance_table.GRADIENTS).
        go_backwards: dx is given in time order; it is compared in processing order.
        forward_cut: None or (B,) booleans, the rows whose forward pass is not determined
            (:func:`forward_cuts`): none of their gradients is compared.
        tainted: None or (B,) booleans, the rows a non-finite input reaches
            (:func:`tainted_rows`).
    """
    result = {}
    batch, time = reference.dh.shape[:2]
    forward_cut = np.zeros(batch, bool) if forward_cut is None else np.asarray(forward_cut)
    tainted = np.zeros(batch, bool) if tainted is None else np.asarray(tainted, bool)
    copies = tolerances.PROBES
    eps_probe = precision.get(tol.probe).eps
    back = lambda a: a[:, ::-1]  # noqa: E731 - kappa and scale run from the last step down
    pairs = {}
    for name, attribute in STEP_TENSORS.items():
        values, probed = getattr(reference, attribute), getattr(probe, attribute)
        if attribute == "x" and go_backwards:  # dx in processing order, as dh and dc
            values, probed = values[:, ::-1], probed[:, ::-1]
        pairs[name] = values, probed
    # One scale for the three, per row: a framework's rounding in dc_t is relative to the
    # gradient that reaches c_t through h_t (e.g. d tanh_shrink = 1 - (1 - tanh^2), as
    # autodiff computes it, errs by eps |dh_t| however small the result), and dx_t inherits
    # dc_t's. Non-finite values (compared exactly or not at all) take no part in it.
    with np.errstate(invalid="ignore"):
        sizes = [np.where(np.isfinite(v), np.abs(v), 0.0).max(axis=2) for v, _ in pairs.values()]
    scale = np.maximum.accumulate(back(np.max(sizes, axis=0)), axis=1)[:, ::-1]  # (B, T)
    # Each row's own gradient horizon (from the last step down) and forward determinacy.
    cut_step = np.full(batch, -1)
    cut_code = np.zeros(batch, np.uint8)
    floor = back(tol.atol * np.maximum(scale, TINY))  # the bound's floor, from the last step
    for values, probed in pairs.values():
        first, code = tolerances.row_horizons(back(values), back(probed), tol.horizon,
                                              np.broadcast_to(tainted[:, None], values.shape[:2]),
                                              floor)
        step = np.where(first < time, time - 1 - first, -1)  # processing step, cut at and below
        take = step > cut_step
        cut_step, cut_code = np.where(take, step, cut_step), np.where(take, code, cut_code)
    # A derivative's jump the probes straddle, or come within the bound's scale of: the
    # gradient flowing through it is not determined, at that step and below.
    step = jump_steps(reference, probe, tol.scale, eps_probe)
    take = step > cut_step
    cut_step, cut_code = np.where(take, step, cut_step), np.where(take, AT_JUMP, cut_code)
    steps = np.arange(time)
    for name, (values, probed) in pairs.items():
        kappa = tolerances.conditioning(back(values), back(probed), eps_probe)[:, ::-1]
        atol = np.maximum(tol.atol * np.maximum(scale, TINY)[:, :, None],
                          tol.scale * kappa * tol.eps)
        status = np.where(steps[None, :] <= cut_step[:, None], cut_code[:, None], COMPARED)
        status = np.where(forward_cut[:, None], FORWARD_UNDETERMINED, status)
        status = _exact(np.broadcast_to(status[:, :, None], values.shape), values, tainted)
        result[name] = Expectation(values, steps, tol.element_bound(values, atol), status)
    # A gradient summed over steps (h0, c0, the weights) carries each dz_t's rounding, which
    # is relative to the adjoints' size (above), times what dz_t is multiplied by:
    # floor = A eps * (largest adjoint) * reach (lstm_ref.backprop.Gradients.reach).
    with np.errstate(invalid="ignore"):
        dz = np.where(np.isfinite(reference.dz), np.abs(reference.dz), 0.0)
    adjoint = max(scale.max(initial=0.0), dz.max(initial=0.0), TINY)
    reaches = cast(dict, reference.reach)  # lstm_ref.gradients computes it
    row_status = np.where(forward_cut, FORWARD_UNDETERMINED,
                          np.where(cut_step >= 0, cut_code, COMPARED)).astype(np.uint8)
    for name, attribute in TOTAL_TENSORS.items():
        values = getattr(reference, attribute)
        if values is None:
            continue
        probed = getattr(probe, attribute)
        axes = ("batch", "unit")
        reach = np.broadcast_to(reaches[attribute], np.shape(values))
        if attribute in ("h0", "c0"):  # per row: a row's initial state is its own
            probed = probed.reshape(copies, *values.shape)
            status = np.broadcast_to(row_status[:, None], values.shape)
            rows_tainted = tainted
        else:  # a weight: (rows, columns), one per probe; it sums over every batch row
            axes = WEIGHT_AXES
            values, reach = np.atleast_2d(values), np.atleast_2d(reach)
            probed = probed.reshape(copies, *values.shape)
            status = np.full(values.shape, row_status.max(initial=COMPARED), np.uint8)
            rows_tainted = np.full(values.shape[0], tainted.any())
        with np.errstate(invalid="ignore", over="ignore"):
            deviation = np.abs(probed - values)
        deviation = np.where(np.isfinite(deviation), deviation, 0.0).max() / eps_probe
        with np.errstate(over="ignore"):  # beyond float64: bounds nothing (below)
            floor = tol.atol * np.maximum(adjoint * reach, TINY)
        with np.errstate(invalid="ignore"):
            bound = (np.maximum(floor, tol.scale * deviation * tol.eps)
                     + tol.rtol * np.where(np.isfinite(values), np.abs(values), np.nan))
        # A floor past float64's range (the largest adjoint times a reach near 1e200 each,
        # from different rows) bounds nothing: those elements are past the horizon.
        status = np.where(np.isinf(bound) & (status == COMPARED), HORIZON, status)
        status = _exact(np.asarray(status)[:, None, :], values[:, None, :], rows_tainted)
        result[name] = Expectation(values[:, None, :], np.array([ALL_STEPS]),
                                   bound[:, None, :], status, axes)
    return result


def jump_steps(reference: Gradients, probe: Gradients, scale: float,
               eps: float) -> np.ndarray:
    """(B,) ints: per row, the last processing step (-1 for none) at which an activation's
    argument (lstm_ref.backprop.jump_arguments) is within rounding of a point where its
    derivative jumps: a probe's argument lies on the other side of the point than the
    reference's, or the point is nearer the reference's than ``scale`` times the larger of
    the probes' deviation there and the activation's resolution (``eps`` times
    lstm_ref.activation_grads.JUMP_RESOLUTION: TensorFlow picks selu's side from its output,
    which is 0 for c = -3e-11). A framework may stray that far (the entry's K): the gradient
    through that step, and every earlier one it flows to, may differ by the jump. An
    argument exactly at the point in the reference and in every probe is computed exactly (a
    state that stays 0): the derivative's convention there is TensorFlow's own
    (lstm_ref.activation_grads)."""
    batch, time = reference.dh.shape[:2]
    near = np.zeros((batch, time), bool)
    for (values, points, resolution), (probed, *_) in zip(reference.jumps or [],
                                                           probe.jumps or []):
        probed = np.asarray(probed, np.float64).reshape(-1, *values.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            deviation = np.nan_to_num(np.abs(probed - values), posinf=0.0).max(axis=0)
            for point in points:
                side = np.sign(values - point)
                crossed = ((np.sign(probed - point) != side) & np.isfinite(probed)).any(axis=0)
                reach = scale * np.maximum(deviation, eps * resolution)
                exact = (values == point) & (probed == point).all(axis=0)
                close = (np.abs(values - point) < reach) & ~exact
                near |= ((crossed | close) & np.isfinite(values)).any(axis=2)
    return np.where(near.any(axis=1), time - 1 - near[:, ::-1].argmax(axis=1), -1)


def _exact(status: np.ndarray, values: np.ndarray, tainted: Any) -> np.ndarray:
    """Where the reference value is not finite (and nothing else says not to compare it):
    EXACT in a tainted row (a non-finite input reaches it), UNDETERMINED elsewhere (an
    overflow from finite inputs: a weight's gradient summing h_{t-1} dz_t near 1e200 each)."""
    tainted = np.asarray(tainted, bool).reshape(-1, *([1] * (values.ndim - 1)))
    nonfinite = ~np.isfinite(values) & (status == COMPARED)
    return np.where(nonfinite, np.where(tainted, EXACT, UNDETERMINED), status).astype(np.uint8)


def check_gradients(actual: Mapping[str, Any], reference: Gradients, probe: Gradients,
                    tol: tolerances.Tolerance, forward_cut: np.ndarray | None = None,
                    options: Mapping[str, Any] | None = None,
                    context: dict[str, Any] | None = None,
                    tainted: np.ndarray | None = None) -> Report:
    """Compare a framework's gradients with the reference: a Report, order "backward".

    Args:
        actual: name -> the framework's gradient (see GradientObservation.actual).
        reference: the float64 lstm_ref.backprop.Gradients.
        probe: the probes' Gradients (lstm_ref.backprop.backward with groups=PROBES).
        tol: a Tolerance (lstm_ref.tolerance_table.GRADIENTS).
        forward_cut: None or (B,) booleans, the rows whose forward pass is not determined.
        options: go_backwards, zero_output_for_mask.
        context: shown in the summary.
        tainted: None or (B,) booleans, the rows a non-finite input reaches.
    """
    options = options or {}
    time = reference.dh.shape[1]
    actual = {name: _as_reported(name, value) for name, value in actual.items()
              if value is not None}
    expected = gradient_expectations(reference, probe, tol, options.get("go_backwards", False),
                                     forward_cut, tainted)
    return check_tensors(actual, expected, tol, time, context, order="backward")


def _as_reported(name: str, value: Any) -> np.ndarray:
    """A framework's gradient shaped as its Expectation: (rows, 1, columns) for the totals."""
    value = np.asarray(value, np.float64)
    if name in STEP_TENSORS:
        return value
    value = np.atleast_2d(value)
    return value[:, None, :]


def summed_expectation(first: Expectation, second: Expectation, eps: float) -> Expectation:
    """The Expectation of the elementwise sum of two gradients of the same steps (an input
    read by two runs, e.g. both directions of a Bidirectional: its gradient is the sum of
    theirs), from theirs: |d(a + b)| <= |da| + |db|, plus the sum's own rounding (``eps``, the
    framework's, times |a + b|); an element is only as determined as both it comes from."""
    values = first.values + second.values
    with np.errstate(invalid="ignore"):
        own = eps * np.where(np.isfinite(values), np.abs(values), np.nan)
    return first.derived(values, first.bound + second.bound + own, second)


def gradient_scale(reference: Gradients, source: np.ndarray | None = None,
                   go_backwards: bool = False) -> np.ndarray:
    """(B, T) per row and step, in processing order: the size of the gradients the rounding
    in step t's gradients is relative to (the scale_t of :func:`gradient_expectations`):
    the largest finite |dh|, |dc|, |dx| of the row from the last step down to t, and of
    ``source`` there.

    Args:
        reference: the float64 Gradients of one run.
        source: None, or (B, T) the size, per row and step, of the gradients the run's
            upstream gradient is computed from where that upstream is itself computed (a
            cell of a stack reads the next cell's dx, a layer of a model the next layer's
            input gradient): its rounding is relative to them, not to the run's own,
            possibly cancelled, values.
        go_backwards: the Gradients' x is in time order (lstm_ref.gradients with
            go_backwards=True).
    """
    sizes = []
    for attribute in STEP_TENSORS.values():
        values = getattr(reference, attribute)
        if attribute == "x" and go_backwards:
            values = values[:, ::-1]
        with np.errstate(invalid="ignore"):
            sizes.append(np.where(np.isfinite(values), np.abs(values), 0.0).max(axis=2))
    if source is not None:
        sizes.append(np.where(np.isfinite(source), source, 0.0))
    return np.maximum.accumulate(np.max(sizes, axis=0)[:, ::-1], axis=1)[:, ::-1]


def source_floor(expectations: Mapping[str, Expectation], reference: Gradients,
                 tol: tolerances.Tolerance, source: np.ndarray) -> dict[str, Expectation]:
    """:func:`gradient_expectations`'s Expectations of a run whose upstream gradient is
    computed from other gradients, their floors taken over the sizes those come from:
    A eps * :func:`gradient_scale` (reference, source) for dh, dc, dx, and for what sums
    over steps A eps * (the largest of it and of |dz|) * reach; the rest of each bound
    (the probes' kappa, rtol) as it was. ``source``: see :func:`gradient_scale`. A floor
    past float64's range bounds nothing: those elements are past the horizon."""
    from dataclasses import replace

    scale = gradient_scale(reference, source)
    with np.errstate(invalid="ignore"):
        dz = np.where(np.isfinite(reference.dz), np.abs(reference.dz), 0.0)
    adjoint = max(scale.max(initial=0.0), dz.max(initial=0.0), TINY)
    reaches = cast(dict, reference.reach)  # lstm_ref.gradients computes it
    result = dict(expectations)
    for name, attribute in {**STEP_TENSORS, **TOTAL_TENSORS}.items():
        expectation = expectations.get(name)
        if expectation is None:
            continue
        values = expectation.values
        with np.errstate(invalid="ignore", over="ignore"):
            if name in STEP_TENSORS:
                floor = tol.atol * np.maximum(scale, TINY)[:, :, None]
            else:
                reach = np.broadcast_to(reaches[attribute],
                                        np.shape(getattr(reference, attribute)))
                floor = tol.atol * np.maximum(adjoint * np.atleast_2d(reach)[:, None, :], TINY)
            floor = floor + tol.rtol * np.where(np.isfinite(values), np.abs(values), np.nan)
            bound = np.maximum(expectation.bound, floor)
        codes = cast(np.ndarray, expectation.status)  # set in Expectation.__post_init__
        status = np.where(np.isinf(bound) & (codes == COMPARED), HORIZON, codes).astype(np.uint8)
        result[name] = replace(expectation, bound=bound, status=status)
    return result
