"""The tolerance's logic: how a bound is derived for each element, and what cannot be
compared (the entries themselves: lstm_ref.tolerance_table).

The reference runs in float64. A framework's low-precision result departs from it by
rounding, amplified by the conditioning of the recurrence (saturated gates damp errors;
relu/elu activations, tanh gates and long sequences can amplify them). One fixed atol cannot
be tight on well-conditioned cases and sound on ill-conditioned ones, so the bound is
measured on the case itself, for every element: row b (rows are independent sequences), step t
and unit u:

    kappa[b, t, u] = max over steps s <= t, probes p and the units v coupled to u
                     of |probe[p, b, s, v] - ref[b, s, v]| / eps(P)

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

    |framework - reference| <= max(atol, scale * kappa[b, t, u] * eps(D)) + rtol * |reference|

The running max makes the bound non-decreasing in t, like the error it bounds; the floor
(atol, rtol) covers steps where the probes happen to round luckily. Coupled units share
their rounding: an ulp in one reaches the others through the recurrent kernel, and a value
that cancels (c = f c + i g near 0) carries the ulps of its terms, which its own sixteen
probes can miss, so an element takes the largest deviation over the units coupled to it
(:func:`coupled_groups`: with a dense recurrent kernel, its whole row). A unit no weight
couples to it never widens its bound, nor does anything in another row, nor anything
non-finite. A bound from an element's own probes alone, or from the units of its size alone,
has false failures (docs/calibration/2026-12-03-per-element.md).

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
           "EPSBF16", "Tolerance", "conditioning", "coupled_groups", "group_max", "probe_batch",
           "row_horizons"]

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
        scale: multiplier of the conditioning estimate kappa * eps(dtype).
        reason: why these numbers.
        probe: the format the probes run in (kappa is counted in its eps).
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

    def element_atol(self, reference, probe, groups=None):
        """The absolute bound of every element, (B, T, U), of one (B, T, U) tensor.

        Args:
            reference: the float64 reference's values of the tensor.
            probe: the same tensor from the stacked probe run (see :func:`probe_batch`), or
                None for no scaling (the floor alone).
        """
        kappa = conditioning(reference, probe, precision.get(self.probe).eps, groups)
        return np.maximum(self.atol, self.scale * kappa * self.eps)

    def element_bound(self, values, atol):
        """The bound of every element of (B, S, U) reference ``values``, given the absolute
        bound ``atol`` of each element ((B, S, U)) or of each row at each step ((B, S)):
        atol + rtol * |value| (a non-finite value is compared exactly or not at all,
        lstm_ref.engine: its bound is NaN)."""
        with np.errstate(invalid="ignore"):
            magnitude = np.where(np.isfinite(values), np.abs(values), np.nan)
        atol = np.asarray(atol)
        return (atol if atol.ndim == 3 else atol[:, :, None]) + self.rtol * magnitude

    def describe(self):
        floor = f"{self.atol:.1e}" + (" * scale_t" if self.relative_floor else "")
        drift = ("" if self.bias_floor is None else
                 f"; step drift <= max({self.bias_floor:g}, {self.bias_scale:g} * the probes') "
                 "* eps")
        return (f"{self.dtype}: |err| <= max({floor}, {self.scale:g} * kappa * "
                f"{self.eps:.2e}) + {self.rtol:.1e} * |ref|{drift}")


def conditioning(reference, probe, eps=EPS32, groups=None):
    """kappa (B, T, U), in ``eps`` (the eps of the probes' format): for every element, the
    largest deviation of the probes from the reference up to step t over the units of its
    row coupled to it (``groups``). Nothing in another row, or in a unit of another group,
    and nothing non-finite takes part.

    Args:
        reference: (B, T, U) float64 values of one tensor.
        probe: (PROBES * B, T, U), the same tensor from the stacked probe run (see
            :func:`probe_batch`), or None (kappa = 0: the floor alone).
        eps: the eps of the format the probes ran in.
        groups: None (every unit of a row coupled to every other: the row's largest), or
            (U,) integer labels, units of one label coupled (:func:`coupled_groups`).
    """
    if probe is None:
        return np.zeros(reference.shape)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, dropped next
        diff = np.abs(probe.reshape(-1, *reference.shape).astype(np.float64) - reference)
    # Non-finite positions are compared exactly or not at all (lstm_ref.engine): they say
    # nothing about conditioning.
    diff = np.where(np.isfinite(diff), diff, 0.0).max(axis=0)
    if groups is None:
        largest = np.broadcast_to(diff.max(axis=2, keepdims=True), diff.shape)
    else:
        largest = group_max(diff, groups)
    with np.errstate(over="ignore"):  # values near float64's max: inf, past the horizon anyway
        return np.maximum.accumulate(largest, axis=1) / eps


def group_max(values, groups):
    """(B, T, U): for every element of ``values``, the largest over the units of its group
    (``groups``: (U,) labels)."""
    groups = np.asarray(groups)
    if groups.shape != values.shape[2:]:
        raise ValueError(f"groups must have shape ({values.shape[2]},), one label per unit; "
                         f"received shape {groups.shape}")
    order = np.argsort(groups, kind="stable")
    labels = groups[order]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    largest = np.maximum.reduceat(values[:, :, order], starts, axis=2)
    return largest[:, :, np.searchsorted(labels[starts], groups)]


def coupled_groups(recurrent_kernel, units, output_size=None):
    """(units,) labels of the groups of units that a (output_size, 4 * units) recurrent kernel
    couples (two units are coupled when one's h feeds a gate of the other, directly or through
    others), or None when they are one group, as with any dense kernel. A group's rounding
    never reaches another group: the framework computes each unit's pre-activations from the
    h of the units that feed it only.

    Only for weights whose h is the units' own (no projection: a projection mixes every unit
    into h, one group; so does a layer normalisation).

    >>> import numpy as np
    >>> kernel = np.zeros((3, 12)); kernel[0, [1, 4]] = 1.0  # unit 0 feeds unit 1's i and f
    >>> coupled_groups(kernel, 3).tolist()
    [0, 0, 2]
    >>> coupled_groups(np.ones((3, 12)), 3) is None
    True
    """
    kernel = np.asarray(recurrent_kernel)
    if output_size is not None and output_size != units:
        return None
    feeds = (kernel.reshape(units, 4, units) != 0).any(axis=1)  # feeds[v, u]: h_v -> unit u
    linked = feeds | feeds.T | np.eye(units, dtype=bool)
    labels = np.arange(units)
    while True:  # each pass takes the smallest label among neighbours: components' minima
        spread = np.where(linked, labels[:, None], units).min(axis=0)
        if (spread == labels).all():
            break
        labels = spread
    return None if (labels == 0).all() else labels


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
        probe = probe.reshape(-1, *reference.shape)
        finite = np.isfinite(reference)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN > limit: False
            # In the probes' own format (the comparisons are exact in it): NaN is dropped
            # by fmax, so a row is near the maximum where any element is.
            magnitude = np.abs(probe)
            near_max = np.fmax.reduce(magnitude, axis=(0, 3), initial=0) > limit
            left = (~np.isfinite(magnitude) & finite).any(axis=(0, 3))
            deviation = np.abs(np.subtract(probe, reference, dtype=np.float64))
            # Non-finite deviations (a non-finite probe or reference) are dropped: fmax
            # drops NaN, and inf is made NaN first.
            deviation[deviation == np.inf] = np.nan
            deviation = np.fmax.reduce(deviation, axis=(0, 3), initial=0.0)
            scale = np.where(finite, np.abs(reference), 0.0).max(axis=2)
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
