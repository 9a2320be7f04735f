"""Gradient equivalence: a framework's gradients against lstm_ref.gradients, step by step.

The bound is the forward one (lstm_ref.tolerance), computed on gradients: the reference's
backward pass is re-run in the framework's format on PROBES inputs nudged by about one ulp
(one stacked run, weight gradients kept per probe), and kappa measures how far those probes
stray from the float64 gradients. Gradients have no natural scale of 1, so the floor is
relative to the gradient's size, and as backpropagation runs from the last step down, kappa
of dh_t, dc_t and dx_t is the running max from step T-1 down to t:

    |framework - reference| <= max(A eps * scale_t, K * kappa_t * eps) + R eps * |reference|

scale_t: the largest |reference| of dh, dc and dx from step T-1 down to t: rounding in a
gradient is relative to the gradients it is computed from, not to its own, possibly
cancelled, value. For what sums over steps (h0, c0, the weights) the floor is that rounding
carried through the sum: A eps * (the largest adjoint) * reach, reach the sum of |what each
dz_t is multiplied by| (lstm_ref.backprop.Gradients.reach). A gradient is only as determined as the forward pass: if the
forward probes leave their horizon at any step, no gradient is compared; the gradient probes'
own horizon ends the comparison of dh, dc, dx at that step and of everything accumulated
below it (h0, c0, the weights).
"""

from dataclasses import dataclass, field

import numpy as np

from lstm_ref import precision
from lstm_ref import tolerance as tolerances
from lstm_ref.compare import ALL_STEPS, Expectation, check_expectations
from lstm_ref.backprop import gradients

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
        weights, x, initial_state, mask, options: as lstm_ref.compare.Observation (x in time
            order; options: go_backwards, zero_output_for_mask).
        upstream: the keyword arguments d_outputs, d_final_h, d_final_c of lstm_ref.gradients.
        dtype: the framework's compute dtype.
        context: what reproduces the case.
    """

    actual: dict
    weights: object
    x: np.ndarray
    upstream: dict
    initial_state: list | None = None
    mask: np.ndarray | None = None
    options: dict = field(default_factory=dict)
    dtype: str = "float32"
    context: dict = field(default_factory=dict)


def check_gradient_observation(observation, tolerance=None):
    """The reference gradients (float64) and their probes for what an adapter observed, and
    the comparison: a Report (order "backward")."""
    obs = observation
    tol = tolerance or tolerances.lookup(obs.dtype, "gradients")
    reference = gradients(obs.x, obs.weights, initial_state=obs.initial_state, mask=obs.mask,
                          **obs.upstream, **obs.options)
    probe = probe_gradients(obs, tol.probe)
    return check(obs.actual, reference, probe, tol, forward_horizon(reference, probe),
                 obs.options, obs.context)


def probe_gradients(obs, dtype):
    """The backward pass in ``dtype`` for the stacked, nudged probe inputs
    (tolerance.probe_batch), one weight gradient per probe."""
    x, state, mask = tolerances.probe_batch(obs.x, obs.initial_state, obs.mask, dtype)
    upstream = {name: None if value is None else np.concatenate([value] * tolerances.PROBES)
                for name, value in obs.upstream.items()}
    return gradients(x, obs.weights, initial_state=state, mask=mask, dtype=dtype,
                     groups=tolerances.PROBES, **upstream, **obs.options)


def forward_horizon(reference, probe):
    """The first step the forward probes cannot determine (h or c), or None: from there no
    gradient is determined either."""
    steps = [tolerances.horizon_step(getattr(reference.forward, name),
                                     getattr(probe.forward, name)) for name in ("h", "c")]
    return min((s for s in steps if s is not None), default=None)


def expectations(reference, probe, tol, go_backwards=False):
    """name -> Expectation for every gradient the reference has, and the first step (from
    the last down) the gradient probes cannot determine, or None."""
    result, horizons = {}, []
    batch, time = reference.dh.shape[:2]
    copies = tolerances.PROBES
    eps_probe = precision.get(tol.probe).eps
    back = lambda a: a[:, ::-1]  # noqa: E731 - kappa and scale run from the last step down
    pairs = {}
    for name, attribute in STEP_TENSORS.items():
        values, probed = getattr(reference, attribute), getattr(probe, attribute)
        if attribute == "x" and go_backwards:  # dx in processing order, as dh and dc
            values, probed = values[:, ::-1], probed[:, ::-1]
        pairs[name] = values, probed
    # One scale for the three: a framework's rounding in dc_t is relative to the gradient
    # that reaches c_t through h_t (e.g. d tanh_shrink = 1 - (1 - tanh^2), as autodiff
    # computes it, errs by eps |dh_t| however small the result), and dx_t inherits dc_t's.
    scale = np.maximum.accumulate(np.max([np.abs(back(v)).max(axis=(0, 2))
                                          for v, _ in pairs.values()], axis=0))[::-1]
    for name, (values, probed) in pairs.items():
        kappa = tolerances.conditioning(back(values), back(probed), eps_probe)[::-1]
        step = tolerances.horizon_step(back(values), back(probed), tol.horizon)
        if step is not None:
            horizons.append(time - 1 - step)
        atol = np.maximum(tol.atol * np.maximum(scale, TINY), tol.scale * kappa * tol.eps)
        result[name] = Expectation(values, np.arange(time), tol.element_bound(values, atol))
    # A gradient summed over steps (h0, c0, the weights) carries each dz_t's rounding, which
    # is relative to the adjoints' size (above), times what dz_t is multiplied by:
    # floor = A eps * (largest adjoint) * reach (lstm_ref.backprop.Gradients.reach).
    adjoint = max(scale.max(initial=0.0), np.abs(reference.dz).max(initial=0.0), TINY)
    for name, attribute in TOTAL_TENSORS.items():
        values = getattr(reference, attribute)
        if values is None:
            continue
        probed = getattr(probe, attribute)
        axes = ("batch", "unit")
        reach = np.broadcast_to(reference.reach[attribute], np.shape(values))
        if attribute in ("h0", "c0"):
            probed = probed.reshape(copies, *values.shape)
        else:  # a weight: (rows, columns), one per probe
            axes = WEIGHT_AXES
            values, reach = np.atleast_2d(values), np.atleast_2d(reach)
            probed = probed.reshape(copies, *values.shape)
        deviation = np.abs(probed - values).max() / eps_probe
        floor = tol.atol * np.maximum(adjoint * reach, TINY)
        bound = np.maximum(floor, tol.scale * deviation * tol.eps) + tol.rtol * np.abs(values)
        result[name] = Expectation(values[:, None, :], np.array([ALL_STEPS]),
                                   bound[:, None, :], axes)
    return result, max(horizons, default=None)


def check(actual, reference, probe, tol, forward_horizon=None, options=None, context=None):
    """Compare a framework's gradients with the reference: a Report, order "backward".

    Args:
        actual: name -> the framework's gradient (see GradientObservation.actual).
        reference: the float64 lstm_ref.backprop.Gradients.
        probe: the probes' Gradients (lstm_ref.backprop.backward with groups=PROBES).
        tol: a Tolerance (lstm_ref.tolerance.GRADIENTS).
        forward_horizon: the first step the forward probes cannot determine, or None.
        options: go_backwards, zero_output_for_mask.
        context: shown in the summary.
    """
    options = options or {}
    time = reference.dh.shape[1]
    actual = {name: _as_reported(name, value) for name, value in actual.items()
              if value is not None}
    if forward_horizon is not None:  # every gradient depends on every later forward step
        return check_expectations({}, {}, tol, time, None, 0, context, order="backward")
    expected, horizon = expectations(reference, probe, tol, options.get("go_backwards", False))
    first = -1 if horizon is None else horizon  # steps above it are compared

    def comparable(name, steps):
        if name in STEP_TENSORS:
            return steps > first
        return np.full(steps.shape, horizon is None)

    return check_expectations(actual, expected, tol, time, comparable, time - 1 - first,
                              context, order="backward")


def _as_reported(name, value):
    """A framework's gradient shaped as its Expectation: (rows, 1, columns) for the totals."""
    value = np.asarray(value, np.float64)
    if name in STEP_TENSORS:
        return value
    value = np.atleast_2d(value)
    return value[:, None, :]
