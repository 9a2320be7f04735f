"""The drift of an installed framework from a recording, element by element, through the
engine (lstm_ref.engine.check_tensors).

The drift bound. Both versions are held to the same float64 reference: the recorded one
within b_rec (the engine's per-element bound, for the kernels it ran) and the installed one
within b_now. By the triangle inequality two sound versions differ by at most b_rec + b_now
elementwise (2 b_t when both ran the same kernels); a larger drift means at least one of
them departs from the reference. A drift of 0 everywhere is bit-identity. What the reference
cannot determine (past the horizon, not finite) is not compared.
"""

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lstm_ref.tolerance import Tolerance
from lstm_ref.tolerance_table import lookup
from lstm_ref.engine import TENSORS, Expectation, Observation, check_tensors, observation_part
from lstm_ref.golden.format import storable

__all__ = ["DriftExcess", "TensorDrift", "drift", "drift_bounds"]

@dataclass
class DriftExcess:
    """The element where the installed framework first drifts beyond the bound."""

    tensor: str
    step: int
    batch: int
    unit: int
    now: float
    recorded: float
    drift: float
    bound: float

    def __str__(self) -> str:
        return (f"step {self.step}, tensor {self.tensor}, batch {self.batch}, unit {self.unit}: "
                f"installed {self.now:.9g}, recorded {self.recorded:.9g}, |drift| "
                f"{self.drift:.3e} > bound {self.bound:.3e}")


@dataclass
class TensorDrift:
    """How one tensor computed now departs from the recording.

    Attributes:
        name: the tensor (lstm_ref.engine.TENSORS).
        steps: (S,) the processing steps it covers.
        max_drift: (S,) per step, max |now - recorded| over batch and units.
        max_bound: (S,) per step, the largest element bound (b_rec + b_now) over the compared
            elements; NaN at steps where nothing is compared (what the reference cannot
            determine: past the tolerance's horizon, or not finite).
        identical: the same dtype and the same bytes as recorded.
        first_excess: the first element beyond its bound, or None.
        worst_ratio: the largest drift / bound over the compared elements.
        problem: why the tensor could not be compared (shape changed, not returned), or None.
        compared, size: how many of its elements were compared (what the reference cannot
            determine is not), of how many.
    """

    name: str
    steps: np.ndarray
    max_drift: np.ndarray
    max_bound: np.ndarray
    identical: bool
    first_excess: DriftExcess | None = None
    worst_ratio: float = 0.0
    problem: str | None = None
    compared: int = 0
    size: int = 0

    @property
    def passed(self) -> bool:
        """Compared, and no element beyond its bound."""
        return self.problem is None and self.first_excess is None


def drift(observation: Observation, recorded: dict[str, np.ndarray],
          entry: dict[str, Any] | None = None) -> dict[str, TensorDrift]:
    """Per tensor, how the observed values depart from the recorded ones, against the bound
    two sound versions can differ by.

    Args:
        observation: the installed framework's Observation of the recorded inputs.
        recorded: name -> recorded array.
        entry: the manifest entry (its ``layer_path`` and array dtypes), or None (the
            recording ran the same kernels, in the same dtypes).

    Returns:
        name -> :class:`TensorDrift`, for every recorded tensor of TENSORS.
    """
    entry = entry or {}
    bounds = drift_bounds(observation, entry.get("layer_path", observation.layer_path))
    result = {}
    for name in TENSORS:
        if name not in recorded:
            continue
        listed = entry.get("arrays", {}).get(name, {})
        result[name] = _tensor_drift(name, observation.actual.get(name), recorded[name],
                                     listed.get("dtype", recorded[name].dtype.name),
                                     bounds[name])
    return result


def drift_bounds(observation: Observation,
                 recorded_path: str | None = None) -> dict[str, Expectation]:
    """The per-element bound on |now - recorded|, b_rec + b_now, for every tensor.

    Both are the engine's bounds on the same reference (the recorded inputs and weights,
    lstm_ref.engine): b_now with the tolerance of the kernels the installed layer ran,
    b_rec with the tolerance of those the recording ran (``recorded_path``: None or
    "cudnn"). Their status is the reference's: what it cannot determine is not compared.

    Returns:
        name -> Expectation (of the reference's values) whose bound is b_rec + b_now.
    """
    now = observation_part(observation)
    then = replace(now, layer_tolerance=_layer_tolerance(observation.dtype, recorded_path))
    expected, before = now.expectations(), then.expectations()
    # New Expectations: tensors of equal values share one (lstm_ref.engine).
    return {name: replace(expectation, bound=expectation.bound + before[name].bound)
            for name, expectation in expected.items()}


def _layer_tolerance(dtype: str, layer_path: str | None) -> Tolerance | None:
    return None if layer_path is None else lookup(dtype, layer_path)


def _tensor_drift(name: str, now: Any, recorded: np.ndarray, recorded_dtype: str,
                  expectation: Expectation) -> TensorDrift:
    """The TensorDrift of one tensor (see :func:`drift`): the engine's comparison of the
    installed values with the recorded ones, element by element."""
    steps = expectation.steps
    if now is None:
        return _unusable(name, steps, "recorded, but not returned by the installed framework")
    now = np.asarray(now)
    identical = (now.dtype.name == recorded_dtype and now.shape == recorded.shape
                 and storable(now).tobytes() == recorded.tobytes())
    rec = np.asarray(recorded, np.float64)
    rec = rec[:, None, :] if rec.ndim == 2 else rec
    if now.shape != np.shape(recorded) or rec.shape != expectation.values.shape:
        return _unusable(name, steps, f"shape {now.shape} now, {recorded.shape} recorded")
    against = Expectation(rec, steps, expectation.bound, expectation.status, expectation.axes)
    t = check_tensors({name: now}, {name: against}, None, len(steps)).tensors[name]
    excess = t.first_failure
    return TensorDrift(name=name, steps=steps, max_drift=t.max_abs, max_bound=t.max_bound,
                       identical=bool(identical), worst_ratio=t.worst_ratio,
                       compared=t.compared, size=t.size,
                       first_excess=None if excess is None else DriftExcess(
                           name, excess.step, excess.batch, excess.unit, excess.actual,
                           excess.expected, excess.error, excess.bound))


def _unusable(name: str, steps: np.ndarray, problem: str) -> TensorDrift:
    nan = np.full(len(steps), np.nan)
    return TensorDrift(name=name, steps=steps, max_drift=nan, max_bound=nan, identical=False,
                       worst_ratio=np.inf, problem=problem)
