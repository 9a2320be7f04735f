"""The tolerance table: one entry per dtype a framework computes in, each with its reason.

The reference runs in float64. A framework's low-precision result departs from it by
rounding, amplified by the conditioning of the recurrence (saturated gates damp errors;
relu/elu activations, tanh gates and long sequences can amplify them). One fixed atol cannot
be tight on well-conditioned cases and sound on ill-conditioned ones, so the bound at step t
is measured, not guessed:

    kappa_t = max over steps s <= t of max |probe_s - reference_s| / eps(float32)

where the *probe* is the reference itself re-run in float32 on the same inputs: an estimate of
how much this case amplifies one unit of float32 rounding up to step t. The element-wise bound
for a framework computing in dtype D is then

    |framework - reference| <= max(atol, scale * kappa_t * eps(D)) + rtol * |reference|

The running max makes the bound non-decreasing in t, like the error it bounds. The floor
(atol, rtol) covers steps where the probe happens to round luckily. Each entry's numbers come
from ``bench/calibrate_tolerance.py`` (see its docstring for the figures they rest on).
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref.errors import OptionError

PROBE_DTYPE = "float32"
EPS32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class Tolerance:
    """How close a framework computing in ``dtype`` must be to the float64 reference.

    Attributes:
        dtype: the framework's compute dtype.
        atol: floor of the absolute bound.
        rtol: relative bound, times |reference|.
        scale: multiplier of the conditioning estimate kappa_t * eps(dtype).
        reason: why these numbers.
    """

    dtype: str
    atol: float
    rtol: float
    scale: float
    reason: str

    @property
    def eps(self):
        return float(np.finfo(self.dtype).eps)

    def step_atol(self, reference, probe):
        """The absolute bound at each step (T,) for one (B, T, U) tensor.

        Args:
            reference: the float64 reference's values of the tensor.
            probe: the same tensor from the reference re-run in float32 (None: no scaling).
        """
        steps = reference.shape[1]
        if probe is None:
            return np.full(steps, self.atol)
        deviation = np.abs(probe.astype(np.float64) - reference)
        # NaN/inf positions are compared exactly, so they say nothing about conditioning.
        deviation = np.where(np.isfinite(deviation), deviation, 0.0)
        kappa = np.maximum.accumulate(deviation.max(axis=(0, 2))) / EPS32
        return np.maximum(self.atol, self.scale * kappa * self.eps)

    def describe(self):
        return (f"{self.dtype}: |err| <= max({self.atol:.1e}, {self.scale:g} * kappa_t * "
                f"{self.eps:.2e}) + {self.rtol:.1e} * |ref|")


TABLE = {
    "float32": Tolerance(
        "float32", atol=8 * EPS32, rtol=4 * EPS32, scale=8.0,
        reason="placeholder until calibrated"),
    "float64": Tolerance(
        "float64", atol=64 * float(np.finfo(np.float64).eps), rtol=16 * float(np.finfo(np.float64).eps),
        scale=8.0, reason="placeholder until calibrated"),
}


def lookup(dtype):
    """The table's entry for a framework's compute dtype (a NumPy/Keras dtype or its name)."""
    try:
        name = np.dtype(dtype).name
    except TypeError:  # not a NumPy dtype (bfloat16 without ml_dtypes, a typo...)
        name = str(dtype)
    if name not in TABLE:
        raise OptionError(f"no tolerance for dtype {name!r}; the table has {sorted(TABLE)}")
    return TABLE[name]
