"""The exact step check of a 16-bit layer: every step recomputed from the layer's own previous
state, as TensorFlow computes it (lstm_ref.emulation), held to a few ulps of the format.

The element bounds (lstm_ref.tolerance) hold a 16-bit layer to the float64 reference within
its rounding, amplified over the steps: bounds of several ulps, too loose to see a layer that
computes in a slightly different way each step (16-bit accumulation in a matrix product, a
missing float32 accumulator, a rounding moved between operations). Here no error carries
over from one step to the next: step t of the check starts from the layer's own h_{t-1},
c_{t-1}, and is the same sequence of roundings the layer makes. So a faithful layer agrees
bit for bit but where a float32 sum lands next to a rounding boundary and the layer's order
of summation rounds it the other way (one ulp, rarely). The check's tensors, per stepped
part: ``step.h`` and ``step.c`` (every element within ``ulps`` ulps of its row's scale) and
``step.mismatch`` (the fraction of elements not bit-identical, at most ``mismatch``).
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref import emulation, precision
from lstm_ref.engine import Expectation
from lstm_ref.report import COMPARED, UNDETERMINED
from lstm_ref.tolerance import OVERFLOW_MARGIN

__all__ = ["StepTolerance", "STEP_TOLERANCES", "applies", "step_expectations",
           "observation_step_check"]


@dataclass(frozen=True)
class StepTolerance:
    """How close a 16-bit layer's steps must be to the emulation.

    Attributes:
        ulps: the largest difference of any element, in ulps of the format at its row's scale
            (the largest new or previous value of the row at that step).
        mismatch: the largest fraction of elements that may differ at all.
        reason: why these numbers (calibration records: the documentation).
    """

    ulps: float
    mismatch: float
    reason: str

    def describe(self):
        return f"each step within {self.ulps:g} ulp of the emulation, at most " \
               f"{self.mismatch:.1%} of elements not bit-identical"


STEP_TOLERANCES = {
    "float16": StepTolerance(4.0, 0.02, "Keras float16 on CPU, 2000 random cases: at most 2 "
                                        "ulps, at most 0.8% of elements not bit-identical"),
    "bfloat16": StepTolerance(4.0, 0.02, "Keras bfloat16 on CPU, 2000 random cases: at most 2 "
                                         "ulps, at most 0.02% of elements not bit-identical"),
}


def applies(arithmetic, weights, fmt):
    """Whether the check applies: a Keras LSTMCell on TensorFlow (``arithmetic``, from the
    observation), in a 16-bit format, with activations the emulation has."""
    return (arithmetic is not None and arithmetic.get("cell") == "keras"
            and arithmetic.get("backend") == "tensorflow"
            and emulation.emulates(weights.activation.name, weights.recurrent_activation.name,
                                   fmt)
            and weights.options() == {})


def step_expectations(x, h, c, weights, arithmetic, fmt, initial_state=None, mask=None,
                      go_backwards=False, tolerance=None):
    """The check's actual values and Expectations: ``(actual, expected)``, names "step.h",
    "step.c", "step.mismatch".

    Args:
        x: (B, T, F) the layer's input, in time order.
        h, c: (B, T, U) the layer's own states after every step, in processing order.
        weights: the cell's LSTMWeights.
        arithmetic: {"cell": "keras", "backend": "tensorflow", "implementation": 1 or 2}.
        fmt: "float16" or "bfloat16".
        initial_state: None (zeros) or [h0, c0].
        mask: None or (B, T) booleans (time order); a masked step keeps the state exactly.
        go_backwards: the layer processes time from the last step.
        tolerance: a StepTolerance (default: STEP_TOLERANCES[fmt]).
    """
    tol = tolerance or STEP_TOLERANCES[fmt]
    x = np.asarray(x, np.float64)
    h, c = np.asarray(h, np.float64), np.asarray(c, np.float64)
    batch, time, units = c.shape
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else np.asarray(mask, bool)[:, ::-1]
    h0, c0 = ((np.zeros((batch, h.shape[2])), np.zeros((batch, units))) if initial_state is None
              else (np.asarray(initial_state[0], np.float64), np.asarray(initial_state[1],
                                                                         np.float64)))
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    c_prev = np.concatenate([c0[:, None], c[:, :-1]], axis=1)
    flat = lambda a: a.reshape(batch * time, -1)  # noqa: E731 - every step at once
    h_new, c_new = emulation.keras_step(flat(x), flat(h_prev), flat(c_prev), weights,
                                        arithmetic["implementation"], fmt)
    expected_h = h_new.astype(np.float64).reshape(h.shape)
    expected_c = c_new.astype(np.float64).reshape(c.shape)
    if mask is not None:  # a masked step keeps the state: exactly the previous one
        keep = ~mask[:, :, None]
        expected_h = np.where(keep, h_prev, expected_h)
        expected_c = np.where(keep, c_prev, expected_c)
    eps = precision.get(fmt).eps
    tiny = emulation.TINY[fmt]
    actual, expected, differs, compared = {}, {}, [], []
    # A step is recomputed from the layer's previous state: where that is not finite in a
    # row, the step's every element depends on it (the recurrent product) and is undetermined;
    # so is a step whose previous state or recomputed one comes within OVERFLOW_MARGIN of the
    # format's largest number, where a float32 sum of two terms near it overflows or not
    # depending on the order the framework adds them in. (The layer's new state is not
    # judged by itself: a layer overflowing where the recomputation stays small is wrong.)
    limit = emulation.LARGEST[fmt] / OVERFLOW_MARGIN
    with np.errstate(invalid="ignore"):  # NaN <= limit: False, undetermined
        within = [np.abs(a) <= limit for a in (h_prev, c_prev, expected_h, expected_c)]
    determined = np.logical_and.reduce([w.all(axis=2) for w in within])[:, :, None]
    for name, got, values, prev in (("step.h", h, expected_h, h_prev),
                                     ("step.c", c, expected_c, c_prev)):
        finite = np.isfinite(values) & np.isfinite(got) & determined
        status = np.where(finite, COMPARED, UNDETERMINED).astype(np.uint8)
        # An ulp of the row's scale at that step (its largest value, new or previous): one
        # ulp's difference in a gate multiplies c_{t-1}, which may be larger than c_t.
        with np.errstate(invalid="ignore"):
            scale = np.nanmax(np.abs(np.where(finite, np.maximum(np.abs(values), np.abs(prev)),
                                              np.nan)), axis=2, initial=0.0)
        ulp = eps * 2.0 ** np.floor(np.log2(np.maximum(scale, tiny)))[:, :, None]
        bound = tol.ulps * ulp
        if mask is not None:
            bound = np.where(~mask[:, :, None], 0.0, bound)
        expected[name] = Expectation(values, np.arange(time), bound, status)
        actual[name] = got
        differs.append((got != values) & finite)
        compared.append(finite)
    count = sum(int(f.sum()) for f in compared)
    fraction = sum(int(d.sum()) for d in differs) / count if count else 0.0
    actual["step.mismatch"] = np.array([[[fraction]]])
    expected["step.mismatch"] = Expectation(np.zeros((1, 1, 1)), np.array([time - 1]),
                                            np.full((1, 1, 1), tol.mismatch),
                                            np.full((1, 1, 1), COMPARED if count else
                                                    UNDETERMINED, np.uint8), axes=None)
    return actual, expected


def observation_step_check(observation, prefix=""):
    """The check's ``(actual, expected)`` for an Observation whose ``arithmetic`` says how its
    cell computes (names prefixed ``prefix.``), or two empty dicts where it does not apply."""
    obs = observation
    fmt = precision.name_of(obs.dtype)
    if not applies(obs.arithmetic, obs.weights, fmt) or obs.actual.get("h") is None:
        return {}, {}
    actual, expected = step_expectations(
        obs.x, obs.actual["h"], obs.actual["c"], obs.weights, obs.arithmetic, fmt,
        obs.initial_state, obs.mask, obs.options.get("go_backwards", False))
    name = (lambda n: f"{prefix}.{n}") if prefix else (lambda n: n)  # noqa: E731
    return ({name(k): v for k, v in actual.items()}, {name(k): v for k, v in expected.items()})
