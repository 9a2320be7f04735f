"""The tolerance table: one entry per dtype a framework computes in, each with its reason.

The reference runs in float64. A framework's low-precision result departs from it by
rounding, amplified by the conditioning of the recurrence (saturated gates damp errors;
relu/elu activations, tanh gates and long sequences can amplify them). One fixed atol cannot
be tight on well-conditioned cases and sound on ill-conditioned ones, so the bound at step t
is measured, not guessed:

    kappa_t = max over steps s <= t, over probes, of max |probe_s - reference_s| / eps(P)

where the *probes* are the reference itself re-run in the entry's probe format P (the
layer's own: float32, float16 / bfloat16 emulated as lstm_ref.precision says, or for a
float64 layer "float64-perturbed", float64 with every operation's result moved by one ulp at
random, lstm_ref.precision.perturb_float64):
once on the same inputs, and PROBES - 1 times on inputs (x and the initial state) moved by
about one ulp of P at random, seeded (all in one forward call, stacked along the batch).
kappa_t estimates how much this case amplifies one unit of rounding up to step t. One probe
alone underestimates it when its rounding errors happen to cancel (seen: a Keras error 70
times the single float32 probe's deviation, in a case that amplifies rounding 10^5-fold); the
nudged inputs excite the directions that amplify, and the max over many realizations rarely
falls short: on the hardest configurations (unbounded activations with saturating gates,
T = 100..200) the K a float32 case needs fell from 25 (4 probes) to 11 (8) to 6.1 (16).
Plain float64 probes of a float64 layer compute what the reference computes, bit for bit, so
only the nudged inputs would measure, and no rounding inside a step: the soak found a case
that needs it (h = o * exp(c) carries c's rounding times |c|; 1.8 times a bound built on
nudged inputs alone), which is why the float64 probes round every operation. The element-wise
bound for a framework computing in dtype D is then

    |framework - reference| <= max(atol, scale * kappa_t * eps(D)) + rtol * |reference|

The running max makes the bound non-decreasing in t, like the error it bounds. The floor
(atol, rtol) covers steps where the probes happen to round luckily.

From the first step where the format cannot determine the answer, no bound means anything,
and the steps from there are reported as not compared: where a probe overflows while the
float64 reference is finite (the values left the format's range: a framework returns inf or
NaN there, rightly), where the float64 reference itself overflows, or where the probes stray
from the reference by more than the entry's horizon of the step's largest value (float32:
HORIZON, 1e-3, a chaotic case past its predictability horizon, rounding amplified 10^4-fold
and more; seen in the soak with log_sigmoid, selu and exponential activations over 100+
steps, where the float32 answers end up differing in the first digit). Each entry's numbers
come from ``bench/calibrate_tolerance.py`` (see its docstring for how).
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref import precision, report
from lstm_ref.errors import OptionError

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
    """

    dtype: str
    atol: float
    rtol: float
    scale: float
    reason: str
    probe: str = PROBE_DTYPE
    horizon: float = HORIZON
    relative_floor: bool = False

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
        return (f"{self.dtype}: |err| <= max({floor}, {self.scale:g} * kappa_t * "
                f"{self.eps:.2e}) + {self.rtol:.1e} * |ref|")


TABLE = {
    "float32": Tolerance(
        "float32", atol=4 * EPS32, rtol=4 * EPS32, scale=8.0,
        reason="Keras 3.15 / TF 2.21 on CPU, bench/calibrate_tolerance.py 2000 --max-time 200: "
               "2000 random configurations (units 1-64, features 1-32, batch 1-5, time 1-200, "
               "all 27 usable activations, 6 gate activations, every option), 16 probes: the "
               "scale a case needs (over the floor 4 eps + 4 eps |ref|) is at most 2.39 (99.9th "
               "percentile 1.85), so 8 leaves a margin of 3.3; 0 false failures; the worst "
               "case used 0.30 of its bound, the median 0.09. The floor: Keras's float32 error "
               "on well-conditioned cases is 1-3e-7, i.e. 1-2.5 eps. Tight enough that a 1e-5 "
               "relative drift in c fails at step 0 (tests/test_sensitivity*.py)."),
    "float64": Tolerance(
        "float64", atol=16 * EPS64, rtol=4 * EPS64, scale=12.0, probe="float64-perturbed",
        reason="Keras 3.15 float64 layers on CPU (TensorFlow), bench/calibrate_tolerance.py "
               "1000 --max-time 200 --dtype float64 (gelu and leaky_relu left out: TensorFlow's "
               "float64 gelu is float32-accurate and its leaky_relu slope is float32(0.2), "
               "tests/test_keras_known_divergences.py), probes float64-perturbed (every "
               "operation's result moved by one ulp at random, lstm_ref.precision): the scale "
               "needed over the floor is at most 3.91 (99.9th percentile 3.15), so 12 leaves a "
               "margin of 3.1; 0 false failures; the worst case used 0.33 of its bound, the "
               "median 0.05. The soak (tests/test_soak.py --soak=2000): Keras float64 0 false "
               "failures in 2000, worst 0.20; torch float64 (stacked, bidirectional, "
               "projected) 0 in 2000, worst 0.45, i.e. K needed 5.4, a margin of 2.2. Plain "
               "float64 probes (only the inputs nudged) compute what the reference computes "
               "and see no rounding inside a step: the soak failed an exponential case 1.8-fold "
               "with them (h = o exp(c) carries c's rounding times |c|). Probing in float32 "
               "and scaling by eps64/eps32 failed a chaotic case 73-fold (squareplus with "
               "sparse_sigmoid gates). The floor: a float64 layer computes in the reference's "
               "own precision, in another order; 51 of 1000 cases overflow float64 "
               "(exponential activations): from there nothing is compared."),
    "float16": Tolerance(
        "float16", atol=2 * EPS16, rtol=4 * EPS16, scale=6.0, probe="float16", horizon=0.1,
        reason="Keras 3.15 / TF 2.21 float16 layers on CPU, bench/calibrate_tolerance.py 2000 "
               "--max-time 200 --dtype float16, probes in emulated float16 (lstm_ref.precision: "
               "float32 operations rounded to float16; activations in NumPy's float16, so an "
               "intermediate overflow such as squareplus's x * x happens in the probes as in "
               "Keras): the scale a case needs over the floor 2 eps + 4 eps |ref| is at most "
               "1.57 (99.9th percentile 1.13), much the same whatever the floor, so 6 leaves a "
               "margin of 3.8; 0 false failures; the worst case used 0.42 of the draft's bound "
               "(K = 4), the median 0.12. float16 keeps 3.3 digits and overflows at 65504: a "
               "step is compared while the probes stay finite and within 0.1 of the values' "
               "scale (one digit; beyond it the bound, 6 times the deviation, exceeds the "
               "values themselves); 425 of 2000 random cases reach that horizon at some step. "
               "mixed_float16 (float32 weights, rounded by the layer and the probes alike): "
               "1000 cases, K needed at most 1.28, 0 false failures."),
    "bfloat16": Tolerance(
        "bfloat16", atol=2 * EPSBF16, rtol=4 * EPSBF16, scale=16.0, probe="bfloat16",
        horizon=0.1,
        reason="Keras 3.15 / TF 2.21 bfloat16 layers on CPU, bench/calibrate_tolerance.py 2000 "
               "--max-time 200 --dtype bfloat16, probes in emulated bfloat16 (float32 "
               "operations rounded to bfloat16; activations evaluated in float32 and rounded "
               "once, where TensorFlow rounds inside its composite ones, which is why a case "
               "needs more than in float16): the scale needed over the floor 2 eps + 4 eps "
               "|ref| is at most 4.6 (99.9th percentile 2.5), so 16 leaves a margin of 3.5; 0 "
               "false failures; the worst case used 0.32 of its bound, the median 0.04. "
               "Rounding inside the activations as well gave a worst case of 9.1 (1000 cases). "
               "bfloat16 keeps 2.4 digits: the probes of 1936 of 2000 random cases stray "
               "beyond 1e-2 of the values' scale and 1303 beyond 3e-2, so float32's horizon "
               "(1e-3) would compare almost nothing; 0.1, one digit, as for float16 (606 of "
               "2000 cases reach it). The price: a relative drift in c shows only from about "
               "32 eps (25%) on (tests/test_keras_dtypes.py). mixed_bfloat16: 1000 cases, K "
               "needed at most 3.46, 0 false failures."),
}


# cuDNN's kernels are not float32-faithful (see the reason); their entries, by dtype. They
# bound what the cuDNN layer returns; a layer's cell, stepped, is still held to TABLE.
CUDNN = {
    "float32": Tolerance(
        "float32", atol=128 * EPS32, rtol=16 * EPS32, scale=128.0,
        reason="cuDNN 9.19 through Keras 3.15's torch backend (torch 2.11, H100, TF32 off), "
               "bench/calibrate_tolerance.py 900 --max-time 200 --cudnn: cuDNN departs from "
               "the reference about 28 times more than float32 rounding explains (median scale "
               "needed 28, 99.9th percentile 85, max 98 over the floor 4 eps; already 7.8e-7 on "
               "1 unit, 1 step), so this entry is 16-32 times looser than float32's. Over the "
               "floor 64 eps + 16 eps |ref| the scale needed was <= 37 (a higher floor can only "
               "lower it), and the worst of 900 cases used 0.86 of that draft's bound (K = 64), "
               "so both are doubled: 128 eps, K = 128 (margin 3.5 on the scale). Not measured "
               "on TensorFlow's cuDNN (no TensorFlow on the GPU machines)."),
}


# Gradients (lstm_ref.gradient_check): the same bound, with the floor relative to the size of
# the adjoints (dh, dc, dx from the last step down to t), carried through the sums for h0, c0
# and the weights, since gradients have no natural scale of 1 as h and c do; kappa runs from
# the last step down.
GRADIENTS = {
    "float32": Tolerance(
        "float32", atol=4 * EPS32, rtol=4 * EPS32, scale=12.0, relative_floor=True,
        reason="Keras 3.15 / TF 2.21 on CPU, tf.GradientTape through the stepped cell and the "
               "layer, bench/calibrate_gradients.py 1000 --max-time 60: 1000 random "
               "configurations (units 1-32, features 1-16, batch 1-5, time 1-60, all 27 usable "
               "activations, 6 gate activations, every option, masks none/right/left/middle "
               "padded), 16 probes: the scale a case needs over the floor 4 eps * scale_t + 4 "
               "eps |ref| is at most 4 (99th percentile 1.5; median 0.25: the floor alone), so "
               "12 leaves a margin of 3, as the forward entry's; 0 false failures; the worst "
               "case (log_softmax, tanh gates) used 0.49 of the draft's bound (K = 8), the "
               "median 0.08. The floor is relative to the adjoints (dh, dc, dx share one "
               "scale) and carried through the sums for h0, c0 and the weights: with a floor "
               "relative to each tensor's own size, 5 of 1000 cases failed falsely, all "
               "tanh_shrink, whose derivative TensorFlow computes as 1 - (1 - tanh^2), off by "
               "eps |dh| however small it is. 64 of 1000 cases leave float32's range in the "
               "forward pass (exponential activations): no gradient is compared there."),
    "float64": Tolerance(
        "float64", atol=16 * EPS64, rtol=4 * EPS64, scale=12.0, probe="float64-perturbed",
        relative_floor=True,
        reason="Keras 3.15 float64 layers on CPU (TensorFlow), bench/calibrate_gradients.py "
               "1000 --max-time 60 --dtype float64 (gelu and leaky_relu left out, as for the "
               "forward entry), probes float64-perturbed (the forward's every operation and "
               "each backward step's dz, dh, dc rounded by an ulp at random): the scale needed "
               "over the floor 16 eps * scale_t + 4 eps |ref| is at most 1.5 over the first "
               "600 cases (99th percentile over 1000: 1; plain float64 probes, 300 cases: 3), "
               "so 12 leaves a margin of 8; the worst passing case used 0.20 of its bound, "
               "the median 0.04; 42 of 1000 cases leave float64's range in the forward pass. "
               "One false failure: case 632 (log_softmax, tanh gates, gradients of "
               "1e16-1e22), 36 times the bound, the same with plain probes: Keras's rounding "
               "there is relative to terms larger than the result, which these probes do not "
               "reproduce (tests/test_keras_gradients.py, strict xfail). With only the inputs nudged, an exponential case failed 1.68x "
               "(tests/test_soak.py)."),
}


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
# than the result. TensorFlow's arithmetic optimizer (in tf.function) turns hard_silu's
# x * (relu6(x + 3) / 6) into (x * relu6(x + 3)) / 6, which overflows to inf at a sixth of
# float32's max while the value is finite (the soak, tests/test_soak.py, found 3 such cases in
# 151 drawn to explode). Keras's activations hold constants up to 6 (hard_silu; gelu and
# squareplus's intermediates are twice their value): 16 leaves a margin.
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
        return fmt.round(np.asarray(array, fmt.compute)).astype(fmt.storage, copy=False)


def lookup(dtype, path=None):
    """The table's entry for a framework's compute dtype (a NumPy/Keras dtype or its name);
    ``path="cudnn"`` for the cuDNN kernels' own entries, ``path="gradients"`` for gradients'."""
    name = precision.name_of(dtype)
    table = {None: TABLE, "cudnn": CUDNN, "gradients": GRADIENTS}.get(path)
    if table is None:
        raise OptionError(f"path must be None, 'cudnn' or 'gradients'; received {path!r}")
    if name not in table:
        raise OptionError(f"no tolerance for dtype {name!r}{f' for {path}' if path else ''}; "
                          f"the table has {sorted(table)}")
    return table[name]
