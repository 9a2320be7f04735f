"""The tolerance's logic: how a bound is derived for each element, and what cannot be
compared (the entries themselves: lstm_ref.tolerance_table).

The reference runs in float64. A framework's low-precision result departs from it by
rounding, amplified by the conditioning of the recurrence (saturated gates damp errors;
relu/elu activations, tanh gates and long sequences can amplify them). One fixed atol cannot
be tight on well-conditioned cases and sound on ill-conditioned ones, so the bound is
measured on the case itself. For every row b (rows are independent sequences) and step t:

    kappa[b, t] = max over steps s <= t, probes p, units u of |probe[p, b, s, u] - ref[b, s, u]| / eps(P)

where the *probes* are the reference itself re-run in the entry's probe format P (the
layer's own: float32, float16 / bfloat16 emulated as lstm_ref.precision says, or for a
float64 layer "float64-perturbed", float64 with every operation's result moved by one ulp at
random): once on the same inputs, and PROBES - 1 times on inputs (x and the initial state)
moved by about one ulp of P at random, seeded (all in one forward call, stacked along the
batch). kappa estimates how much this case amplifies one unit of rounding up to step t: one
probe alone can round luckily, and the nudged inputs excite the directions that amplify.
Plain float64 probes of a float64 layer would compute what the reference computes, bit for
bit, which is why float64's probes round every operation. The element-wise bound for a
framework computing in dtype D is then

    |framework - reference| <= max(atol, scale * kappa[b, t] * eps(D)) + rtol * |reference|

The running max makes the bound non-decreasing in t, like the error it bounds; the floor
(atol, rtol) covers steps where the probes happen to round luckily. Nothing in another row
widens or shrinks a row's bound.

From the first step of a row where the format cannot determine the answer, no bound means
anything, and the row's steps from there are not compared (:func:`row_horizons`): where a
probe leaves the format's range while the float64 reference is finite, where the float64
reference itself is not finite although no non-finite input reaches it, or where the probes
stray from the reference by more than the entry's horizon of the row's values (a chaotic case
past its predictability horizon). How each entry's numbers were calibrated is recorded in
the documentation (docs/calibration/).
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref import precision, report

__all__ = ["PROBE_DTYPE", "PROBES", "HORIZON", "OVERFLOW_MARGIN", "EPS32", "EPS64", "EPS16",
           "EPSBF16", "Tolerance", "conditioning", "probe_batch", "row_horizons"]

PROBE_DTYPE = "float32"  # the probes' format unless an entry names another
PROBES = 16
HORIZON = 1e-3
EPS32 = precision.FORMATS["float32"].eps
EPS64 = precision.FORMATS["float64"].eps
EPS16 = precision.FORMATS["float16"].eps
EPSBF16 = precision.FORMATS["bfloat16"].eps


@dataclass(frozen=True)
class Tolerance:
    """How close a framework computing in ``dtype`` must be to the float64 reference.

    Attributes:
        dtype: the framework's compute dtype.
        atol: floor of the absolute bound.
        rtol: relative bound, times |reference|.
        scale: multiplier of the conditioning estimate kappa_t * eps(dtype).
        reason: why these numbers.
        probe: the format the probes run in (kappa_t is counted in its eps).
        horizon: the probes' largest deviation, relative to the step's largest value, up to
            which a step is compared (see :func:`horizon_step`).
        relative_floor: the floor is ``atol * scale`` (the values' size), not ``atol``: for
            gradients, which have no natural scale (lstm_ref.gradient_check).
        bias_floor, bias_scale: the bound of a step's relative drift (lstm_ref.bias): at least
            ``bias_floor`` eps, and ``bias_scale`` times the probes' own drift; None: no
            drift check.
    """

    dtype: str
    atol: float
    rtol: float
    scale: float
    reason: str
    probe: str = PROBE_DTYPE
    horizon: float = HORIZON
    relative_floor: bool = False
    bias_floor: float | None = None
    bias_scale: float = 8.0

    @property
    def eps(self):
        return precision.get(self.dtype).eps

    def step_atol(self, reference, probe):
        """The absolute bound of every row at every step, (B, T), for one (B, T, U) tensor.

        Args:
            reference: the float64 reference's values of the tensor.
            probe: the same tensor from the stacked probe run (see :func:`probe_batch`), or
                None for no scaling (the floor alone).
        """
        kappa = conditioning(reference, probe, precision.get(self.probe).eps)
        return np.maximum(self.atol, self.scale * kappa * self.eps)

    def element_bound(self, values, step_atol):
        """The bound of every element of (B, S, U) reference ``values``, given the (B, S)
        absolute bound of each row at each step: step_atol + rtol * |value| (a non-finite
        value is compared exactly or not at all, lstm_ref.engine: its bound is NaN)."""
        with np.errstate(invalid="ignore"):
            magnitude = np.where(np.isfinite(values), np.abs(values), np.nan)
        return np.asarray(step_atol)[:, :, None] + self.rtol * magnitude

    def describe(self):
        floor = f"{self.atol:.1e}" + (" * scale_t" if self.relative_floor else "")
        drift = ("" if self.bias_floor is None else
                 f"; step drift <= max({self.bias_floor:g}, {self.bias_scale:g} * the probes') "
                 "* eps")
        return (f"{self.dtype}: |err| <= max({floor}, {self.scale:g} * kappa_t * "
                f"{self.eps:.2e}) + {self.rtol:.1e} * |ref|{drift}")


def conditioning(reference, probe, eps=EPS32):
    """kappa (B, T): for every row, the probes' largest deviation from the reference up to
    step t, in ``eps`` (the eps of the probes' format). Each row's from its own elements:
    rows are independent sequences, so nothing in another row widens or shrinks it.

    Args:
        reference: (B, T, U) float64 values of one tensor.
        probe: (PROBES * B, T, U), the same tensor from the stacked probe run (see
            :func:`probe_batch`), or None (kappa = 0: the floor alone).
        eps: the eps of the format the probes ran in.
    """
    if probe is None:
        return np.zeros(reference.shape[:2])
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, dropped next
        diff = np.abs(probe.reshape(-1, *reference.shape).astype(np.float64) - reference)
    # Non-finite positions are compared exactly or not at all (lstm_ref.engine): they say
    # nothing about conditioning.
    diff = np.where(np.isfinite(diff), diff, 0.0)
    with np.errstate(over="ignore"):  # values near float64's max: inf, past the horizon anyway
        return np.maximum.accumulate(diff.max(axis=(0, 3)), axis=1) / eps


def probe_batch(x, initial_state, mask, dtype=PROBE_DTYPE):
    """The inputs of the PROBES runs in format ``dtype``, stacked along the batch axis (one
    forward call). ``initial_state`` is a list of (B, ...) arrays, of any length (two per LSTM
    layer).

    The first copy is (x, initial_state) as given; each other multiplies every element by
    1 + k * eps, k in {-1, 0, 1} drawn from a fixed seed, eps the format's: about one ulp,
    the size of the rounding a framework makes at every step. Returns (x, initial_state,
    mask) with batch PROBES * B, copy p in rows p * B to (p + 1) * B, values of the format
    (in its NumPy storage dtype; bfloat16 values in float32).
    """
    fmt = precision.get(dtype)
    copies = [(x, initial_state)]
    for seed in range(1, PROBES):
        rng = np.random.default_rng(seed)
        copies.append((_nudge(x, rng, fmt.eps),
                       None if initial_state is None else [_nudge(s, rng, fmt.eps)
                                                           for s in initial_state]))
    xs = np.concatenate([_to_format(c[0], fmt) for c in copies])
    states = None if initial_state is None else [
        np.concatenate([_to_format(c[1][i], fmt) for c in copies])
        for i in range(len(initial_state))]
    masks = None if mask is None else np.concatenate([np.asarray(mask)] * PROBES)
    return xs, states, masks


# Values within this factor of the format's largest number count as out of its range: a
# framework may legally reassociate an activation's formula so that an intermediate is larger
# than the result (TensorFlow's arithmetic optimizer turns hard_silu's x * (relu6(x + 3) / 6)
# into (x * relu6(x + 3)) / 6, which overflows at a sixth of float32's max while the value is
# finite). Keras's activations hold constants up to 6 (hard_silu; gelu and squareplus's
# intermediates are twice their value): 16 leaves a margin.
OVERFLOW_MARGIN = 16.0


def row_horizons(reference, probe, horizon=HORIZON, tainted=None, floor=0.0):
    """For every row, the first step its values cannot be determined from, and why.

    A row's step is undetermined when the float64 reference there is not finite although
    nothing non-finite reaches it from the inputs (``tainted``: an overflow, 0 * inf), or
    past the horizon of the probes' format: a probe is non-finite while the reference is
    finite, or comes within OVERFLOW_MARGIN of the format's largest number (the values leave
    the format's range), or the probes stray from the reference by more than ``horizon`` of
    the row's largest |reference| at that step (for float32, HORIZON: rounding amplified
    until float32 keeps fewer than three significant digits, a chaotic case past its
    predictability horizon) and by more than ``floor``: a deviation within the bound's own
    absolute floor leaves the values determined to within that floor (a row whose values all
    underflow the format is not undetermined for it). Everything later in the row depends on
    that step: it is cut from there. Each row is judged on its own elements only.

    Args:
        reference: (B, T, U) float64 values of one tensor, in processing order.
        probe: (PROBES * B, T, U) from the stacked probe run, or None (no horizon).
        horizon: the entry's horizon.
        tainted: None or (B, T) booleans: the steps a non-finite input reaches (see
            lstm_ref.engine.nonfinite_reach); a non-finite reference there is what the
            inputs make it, compared exactly.
        floor: a scalar or (B, T): deviations up to it never cut (the entry's absolute floor).

    Returns:
        ``(cut, code)``: (B,) int arrays, the first undetermined step of each row (T where
        none) and its lstm_ref.report status code (HORIZON or UNDETERMINED; 0 where none).
    """
    batch, time = reference.shape[:2]
    reached = np.zeros((batch, time), bool) if tainted is None else np.asarray(tainted, bool)
    undetermined = (~np.isfinite(reference)).any(axis=2) & ~reached
    past = np.zeros((batch, time), bool)
    if probe is not None:
        limit = np.finfo(probe.dtype).max / OVERFLOW_MARGIN
        probe = probe.reshape(-1, *reference.shape).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN > limit: False
            near_max = (np.abs(probe) > limit).any(axis=(0, 3))
            left = (~np.isfinite(probe) & np.isfinite(reference)).any(axis=(0, 3))
            deviation = np.abs(probe - reference)
            deviation = np.where(np.isfinite(deviation), deviation, 0.0).max(axis=(0, 3))
            scale = np.where(np.isfinite(reference), np.abs(reference), 0.0).max(axis=2)
        past = near_max | left | (deviation > np.maximum(horizon * scale, floor))
    cut = np.full(batch, time)
    code = np.zeros(batch, np.uint8)
    for flags, status in ((past, report.HORIZON), (undetermined, report.UNDETERMINED)):
        first = np.where(flags.any(axis=1), flags.argmax(axis=1), time)
        # The earlier cause names the cut; at the same step, an undetermined reference.
        take = first <= cut if status == report.UNDETERMINED else first < cut
        take &= first < time
        cut, code = np.where(take, first, cut), np.where(take, status, code)
    return cut, code


def _nudge(array, rng, eps):
    array = np.asarray(array, np.float64)
    return array * (1 + eps * rng.integers(-1, 2, array.shape))


def _to_format(array, fmt):
    with np.errstate(over="ignore"):  # beyond the format's range is inf, as a cast gives
        return fmt.to_format(np.asarray(array, fmt.compute)).astype(fmt.storage, copy=False)
