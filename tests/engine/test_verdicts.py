"""The verdict held against the ways a check can pass falsely, on NumPy arrays (no framework):
a NaN somewhere poisoning the bounds of every row, 0 * inf counted as agreement, and a check
that compared nothing (or nothing in some tensor) reported as a pass.

The "framework" here is the reference itself run in the framework's format (a sound
framework: it passes), then corrupted the way a broken one would be. Each test also says how
it was shown to fail on an engine without the rule it guards: there the same case was PASSED.
"""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import report, tolerance, tolerance_table
from lstm_ref.api import check_verdict
from lstm_ref.engine import (Expectation, check_tensors, check_trace, nonfinite_reach,
                             unit_groups)
from lstm_ref.errors import InconclusiveError
from lstm_ref.gradient_check import (GradientObservation, check_gradient_observation,
                                     gradient_expectations, probe_gradients)
from tests.support.helpers import random_weights

B, T, F, U = 3, 6, 3, 4
NAN_SOURCES = ("x", "d_outputs", "masked padding")


def gradient_case(rng, source=None):
    """(weights, x, d_outputs, mask) float32 values in float64, with row 0 given a NaN from
    ``source``: one element of x, of d_outputs at the last step (where backpropagation
    starts), or of x at a masked step (a value the forward pass discards)."""
    w = random_weights(rng, U, F)
    x = rng.uniform(-1, 1, (B, T, F)).astype(np.float32).astype(np.float64)
    d_out = rng.normal(size=(B, T, U)).astype(np.float32).astype(np.float64)
    mask = None
    if source == "x":
        x[0, 2, 1] = np.nan
    elif source == "d_outputs":
        d_out[0, T - 1, 0] = np.nan
    elif source == "masked padding":
        mask = np.ones((B, T), bool)
        mask[0, 4:] = False
        x[0, 5, 0] = np.nan
    return w, x, d_out, mask


def float32_gradients(w, x, d_out, mask=None):
    """What a sound float32 framework returns: the reference's backward pass in float32."""
    g = lstm_ref.gradients(x, w, d_outputs=d_out, mask=mask, dtype="float32")
    return {"dh": g.dh, "dc": g.dc, "dx": g.x, "d_kernel": g.kernel,
            "d_recurrent_kernel": g.recurrent_kernel, "d_bias": g.bias}


def gradient_report(w, x, d_out, mask, actual, dtype="float32"):
    actual = {name: np.array(value, np.float64) for name, value in actual.items()}
    return check_gradient_observation(GradientObservation(
        actual=actual, weights=w, x=x, upstream={"d_outputs": d_out}, mask=mask, dtype=dtype))


# ------------------------------------------------------------ one NaN poisons every bound


@pytest.mark.parametrize("source", NAN_SOURCES)
def test_a_nan_in_one_row_leaves_every_other_rows_gradient_bound_as_it_was(source, rng):
    """Mechanism: a single NaN in the reference gradients (from x, d_outputs or the masked
    padding of row 0) made the bound of every row NaN, and ``err > NaN`` passes anything.
    The other rows' bounds must be exactly what they are without that NaN: finite, positive.
    Shown on an engine with one scale for all rows: its bound was NaN in every row."""
    w, x, d_out, mask = gradient_case(rng, source)
    clean_x = np.where(np.isnan(x), 0.0, x)
    clean_d = np.where(np.isnan(d_out), 0.0, d_out)
    tol = tolerance_table.lookup("float32", "gradients")

    def expectations(x, d_out):
        obs = GradientObservation(actual={}, weights=w, x=x, upstream={"d_outputs": d_out},
                                  mask=mask)
        reference = lstm_ref.gradients(x, w, d_outputs=d_out, mask=mask)
        return gradient_expectations(reference, probe_gradients(obs, tol.probe), tol)

    poisoned, clean = expectations(x, d_out), expectations(clean_x, clean_d)
    for name in ("dh", "dc", "dx"):
        bound = poisoned[name].bound[1:]
        assert np.isfinite(bound).all() and (bound > 0).all(), name
        np.testing.assert_array_equal(bound, clean[name].bound[1:], err_msg=name)
    assert np.isnan(poisoned["dh"].values[0]).any()  # the NaN is there, in row 0 only


def test_a_sound_float32_backward_pass_beside_a_nan_passes(rng):
    # The control of the next test: nothing but the NaN row, agreeing exactly.
    for source in NAN_SOURCES:
        w, x, d_out, mask = gradient_case(np.random.default_rng(rng.integers(2**32)), source)
        result = gradient_report(w, x, d_out, mask, float32_gradients(w, x, d_out, mask))
        assert result.passed, (source, result.summary())


def garbage_rows(value):
    """The rows the NaN of row 0 does not reach, made garbage by ``value(rows)``."""
    def corrupt(array):
        array = array.copy()
        array[1:] = value(array[1:])
        return array
    return corrupt


GARBAGE = {  # a broken backward pass: tensor -> what it does to the framework's gradient
    "dh x1000": ("dh", garbage_rows(lambda a: a * 1000)),
    "dx = 12345": ("dx", garbage_rows(lambda a: np.full_like(a, 12345.0))),
    "d_kernel = -1e6": ("d_kernel", lambda a: np.full_like(a, -1e6)),  # it sums every row
}


@pytest.mark.parametrize("garbage", GARBAGE)
@pytest.mark.parametrize("source", NAN_SOURCES)
def test_garbage_gradients_beside_a_nan_fail(source, garbage, rng):
    """Garbage gradients (dh x1000 and dx = 12345 in the rows the NaN does not reach,
    d_kernel = -1e6) with a NaN in row 0 (from x, d_outputs or the masked padding) are
    FAILED, in the tensor that holds the garbage. Shown
    on an engine whose bound one NaN poisons: each of these nine was PASSED there."""
    w, x, d_out, mask = gradient_case(rng, source)
    actual = float32_gradients(w, x, d_out, mask)
    name, corrupt = GARBAGE[garbage]
    actual[name] = corrupt(actual[name])
    result = gradient_report(w, x, d_out, mask, actual)
    assert result.failed and result.tensors[name].failures, result.summary()
    failure = result.tensors[name].first_failure
    if name == "d_kernel":  # the NaN reaches every sum: its reference is NaN, compared exactly
        assert np.isnan(failure.expected) and failure.error == np.inf
    else:  # rows the NaN does not reach, each held to its own finite bound
        assert failure.batch > 0 and np.isfinite(failure.bound) and failure.bound < 1e-3


# ------------------------------------------------------------ 0 * inf is not agreement


def zero_times_inf_case(rows=1):
    """An exponential, one-unit cell whose h goes straight to 0 * inf = NaN at step 2 of row
    0: c = 1.6e233 (finite), o = sigmoid(-1073) = 0 in float64, exp(c) = inf. Every input is
    finite. Row 1 (if any) reads x = -1 and stays near 0.5."""
    w = lstm_ref.LSTMWeights(np.array([[0.0, 0.0, 1.0, 0.0]]),
                             np.array([[0.0, 0.0, 1.0, -2.0]]), None, activation="exponential")
    x = np.full((rows, 9, 1), 1.0)
    x[1:] = -1.0
    return w, x


def test_zero_times_inf_is_undetermined_not_agreement():
    """Mechanism: a reference NaN from finite inputs (0 * inf) is no value to agree with: a
    framework's NaN there is not compared, and a check with nothing else in some tensor is
    INCONCLUSIVE. Shown on an engine that counted NaN == NaN as agreement: PASSED there."""
    w, x = zero_times_inf_case()
    tol = tolerance_table.lookup("float64")
    exact = lstm_ref.forward(x, w)
    assert np.isnan(exact.h[0, 2, 0]) and np.isfinite(exact.c[0, 2, 0])  # straight to NaN
    px, _, _ = tolerance.probe_batch(x, None, None, tol.probe)
    probe = lstm_ref.forward(px, w, dtype=tol.probe)
    same = {"h": exact.h, "c": exact.c, "output": exact.outputs[:, -1],
            "state_h": exact.final_h, "state_c": exact.final_c}
    result = check_trace(same, exact, probe, tol)
    assert result.inconclusive and not result.passed, result.summary()
    h = result.tensors["h"]
    assert h.compared == 2 and h.not_compared == {report.UNDETERMINED: 7}
    assert h.cuts[report.UNDETERMINED] == (2, [0])
    assert result.tensors["output"].compared == 0
    with pytest.raises(InconclusiveError):
        check_verdict(result)
    # What is determined is still held to its bound: garbage at step 1 fails.
    same["c"] = same["c"].copy()
    same["c"][0, 1, 0] += 1.0
    failed = check_trace(same, exact, probe, tol)
    assert failed.failed and failed.first_failure.step == 1, failed.summary()


def test_zero_times_inf_gradients_are_not_compared():
    """The gradients of the 0 * inf case are NaN on both sides; its forward pass is not
    determined, so none of them is compared and the verdict is INCONCLUSIVE. Shown on an
    engine that counted NaN == NaN as agreement: PASSED there."""
    w, x = zero_times_inf_case()
    d_out = np.ones((1, 9, 1))
    g = lstm_ref.gradients(x, w, d_outputs=d_out)
    assert np.isnan(g.dh).any() and np.isnan(g.kernel).all()
    actual = {"dh": g.dh, "dc": g.dc, "dx": g.x, "d_kernel": g.kernel,
              "d_recurrent_kernel": g.recurrent_kernel}
    result = gradient_report(w, x, d_out, None, actual, dtype="float64")
    assert result.inconclusive and result.not_compared == result.size, result.summary()
    assert all(t.not_compared == {report.FORWARD_UNDETERMINED: t.size}
               for t in result.tensors.values())


def test_zero_times_inf_in_one_row_leaves_the_other_row_compared():
    # Row 1 stays small: it is compared, and garbage in it fails.
    w, x = zero_times_inf_case(rows=2)
    tol = tolerance_table.lookup("float64")
    exact = lstm_ref.forward(x, w)
    px, _, _ = tolerance.probe_batch(x, None, None, tol.probe)
    probe = lstm_ref.forward(px, w, dtype=tol.probe)
    actual = {"h": exact.h.copy(), "c": exact.c, "state_h": exact.final_h}
    assert check_trace(actual, exact, probe, tol).passed
    actual["h"][1, 8, 0] = np.nan
    result = check_trace(actual, exact, probe, tol)
    failure = result.first_failure
    assert result.failed and (failure.tensor, failure.step, failure.batch) == ("h", 8, 1)


# ------------------------------------------------------------ vacuous passes


def beyond_float32_case(rows=1):
    """A float32 exponential cell whose row 0 is 1.2e39 at step 0, beyond float32's range
    (h = o exp(c), c = i exp(5.2) = 90.7, i = o = 1/2), and whose row 1 (if any) is small."""
    w = lstm_ref.LSTMWeights(np.array([[0.0, 0.0, 1.0, 0.0]]), np.zeros((1, 4)), None,
                             activation="exponential")
    x = np.full((rows, 4, 1), 5.2, np.float32).astype(np.float64)
    x[1:] = 0.1
    return w, x


def float32_probes(w, x):
    px, _, _ = tolerance.probe_batch(x, None, None, "float32")
    return lstm_ref.forward(x, w), lstm_ref.forward(px, w, dtype="float32")


def zeros_of(exact):
    return {"h": np.zeros_like(exact.h), "c": np.zeros_like(exact.c),
            "output": np.zeros_like(exact.outputs)}


def test_a_check_with_every_step_past_the_horizon_is_inconclusive():
    """Mechanism: a check whose steps are all cut at the horizon compared nothing; it is
    INCONCLUSIVE, and assert_* raise. A float32 cell returning zeros where the reference is
    1.2e39 does not pass. Shown on an engine where such a check had passed=True: PASSED."""
    w, x = beyond_float32_case()
    exact, probe = float32_probes(w, x)
    assert exact.h[0, 0, 0] == pytest.approx(1.2e39, rel=0.05)
    result = check_trace(zeros_of(exact), exact, probe, tolerance_table.lookup("float32"))
    assert result.verdict == report.INCONCLUSIVE and not result.passed, result.summary()
    assert result.compared_steps == 0 and result.tensors["h"].cuts == {report.HORIZON: (0, [0])}
    with pytest.raises(InconclusiveError, match="INCONCLUSIVE"):
        check_verdict(result)


def test_a_row_beyond_range_does_not_cut_the_other_rows():
    """One row beyond float32's range from step 0 cuts that row only: the zeros in the other
    row fail at step 0. Shown on an engine with one horizon for all rows: PASSED there."""
    w, x = beyond_float32_case(rows=2)
    exact, probe = float32_probes(w, x)
    result = check_trace(zeros_of(exact), exact, probe, tolerance_table.lookup("float32"))
    failure = result.first_failure
    assert result.failed and (failure.tensor, failure.step, failure.batch) == ("h", 0, 1)


def outlier_case(rng):
    """A relu cell and a batch whose row 0 reads x = 1e38 at the last step: unit 0's i and
    c columns sum the features (so z_c = 3e38: float32's probes overflow), the rest random."""
    w = random_weights(rng, U, F, activation="relu")
    kernel = w.kernel.copy()
    kernel[:, 0] = kernel[:, 2 * U] = 1.0
    w = lstm_ref.LSTMWeights(kernel, w.recurrent_kernel, w.bias, activation="relu")
    x = rng.uniform(-1, 1, (B, T, F)).astype(np.float32).astype(np.float64)
    x[0, T - 1] = 1e38
    d_out = rng.normal(size=(B, T, U)).astype(np.float32).astype(np.float64)
    return w, x, d_out


def test_an_outlier_row_does_not_switch_off_the_other_rows_gradients(rng):
    """One row past float32's range (x = 1e38 at its last step) leaves its own gradients and
    the weights' (which sum over it) uncompared, and every other row's compared: a sound
    backward pass is INCONCLUSIVE (the weights), garbage dh in the other rows FAILED. Shown
    on an engine that switched off every gradient for all rows: PASSED there."""
    w, x, d_out = outlier_case(rng)
    actual = float32_gradients(w, x, d_out)
    sound = gradient_report(w, x, d_out, None, actual)
    assert sound.inconclusive, sound.summary()
    dh = sound.tensors["dh"]
    assert dh.compared == (B - 1) * T * U and dh.cuts == {report.FORWARD_UNDETERMINED: (T - 1, [0])}
    assert sound.tensors["d_kernel"].compared == 0
    actual["dh"] = actual["dh"] * 1000
    broken = gradient_report(w, x, d_out, None, actual)
    assert broken.failed and broken.first_failure.batch > 0, broken.summary()



# ------------------------------------------------------------ bounds and values past float64


def test_an_infinite_bound_is_never_a_pass(rng):
    """A bound that is not finite claims nothing, like a NaN bound: NaN, garbage and even
    the reference's own value fail against it (|err| <= inf would pass anything)."""
    values = rng.normal(size=(2, 3, 4))
    expectation = Expectation(values, np.arange(3), np.full(values.shape, np.inf))
    for got in (np.full_like(values, np.nan), values + 12345.0, values):
        result = check_tensors({"h": got}, {"h": expectation}, None, 3)
        assert result.failed and result.tensors["h"].failures == values.size


def test_a_non_finite_value_where_the_reference_is_finite_fails_whatever_the_bound(rng):
    values = rng.normal(size=(1, 3, 2))
    bound = np.full(values.shape, 1e300)  # finite, but wide enough for any finite error
    expectation = Expectation(values, np.arange(3), bound)
    for bad in (np.nan, np.inf, -np.inf):
        got = values.copy()
        got[0, 1, 1] = bad
        result = check_tensors({"c": got}, {"c": expectation}, None, 3)
        failure = result.first_failure
        assert result.failed and (failure.step, failure.unit) == (1, 1), bad
        assert result.tensors["c"].failures == 1


def float64_exponential_gradients(x, d_out):
    """A one-unit float64 exponential cell with no recurrence into the gates (c_t = c_{t-1}/2
    + exp(x_t)/2, h_t = exp(c_t)/2): h reaches 1e187 from x = 6.13, every value finite and
    determined, while a weight's gradient, a sum of h_{t-1} times dz_t, can leave float64."""
    w = lstm_ref.LSTMWeights(np.array([[0.0, 0.0, 1.0, 0.0]]), np.zeros((1, 4)), None,
                             activation="exponential")
    g = lstm_ref.gradients(x, w, d_outputs=d_out)
    actual = {"dh": g.dh, "dc": g.dc, "dx": g.x, "d_kernel": g.kernel,
              "d_recurrent_kernel": g.recurrent_kernel}
    return w, actual


def test_a_weight_gradient_whose_floor_leaves_float64_is_not_passed():
    """Row 0 holds h up to 1e187 and no loss, row 1 a loss on a jump to h = 1e176 at its
    last step: d_recurrent_kernel is 1e178, but its floor (the largest adjoint, 1e179, times
    the sum of |h_{t-1}|, 1e187) leaves float64's range. A bound of inf bounds nothing: the
    tensor is not compared (past the horizon), and NaN there is not a pass. Without this
    rule the engine would call it PASSED with d_recurrent_kernel NaN (|err| <= inf)."""
    x = np.zeros((2, 4, 1))
    x[0], x[1], x[1, 3] = 6.13, -2.0, 6.7
    d_out = np.zeros((2, 4, 1))
    d_out[1, 3] = 1.0
    w, actual = float64_exponential_gradients(x, d_out)
    assert np.isfinite(actual["d_recurrent_kernel"]).all()
    for value in (actual["d_recurrent_kernel"], np.nan):
        actual["d_recurrent_kernel"] = np.full_like(actual["d_recurrent_kernel"], value)
        result = gradient_report(w, x, d_out, None, actual, dtype="float64")
        assert result.inconclusive, result.summary()
        recurrent = result.tensors["d_recurrent_kernel"]
        assert recurrent.not_compared == {report.HORIZON: 4}
        assert "the rounding they bound leaves float64's" in result.summary()
    assert all(t.compared == t.size for name, t in result.tensors.items()
               if name != "d_recurrent_kernel")


def test_a_weight_gradient_that_overflows_from_finite_inputs_is_undetermined():
    """h reaches 1e187 and every step has a loss: d_recurrent_kernel (h_{t-1} dz_t summed)
    overflows to inf in float64 from finite inputs. No framework value is more right than
    another: it is not compared (named), while dh, dc, dx and d_kernel are. Without this
    rule the reference's own gradients would fail (inf against a NaN bound)."""
    x = np.full((1, 4, 1), 6.13)
    d_out = np.ones((1, 4, 1))
    w, actual = float64_exponential_gradients(x, d_out)
    assert np.isinf(actual["d_recurrent_kernel"]).all() and np.isfinite(actual["dx"]).all()
    result = gradient_report(w, x, d_out, None, actual, dtype="float64")
    assert not result.failed, result.summary()
    assert result.inconclusive  # the tensor compared nothing
    recurrent = result.tensors["d_recurrent_kernel"]
    assert recurrent.not_compared == {report.UNDETERMINED: 4}
    assert all(result.tensors[name].compared == result.tensors[name].size
               for name in ("dh", "dc", "dx", "d_kernel"))
    actual["dx"] = actual["dx"] * (1 + 1e-9)  # what is determined is still held
    assert gradient_report(w, x, d_out, None, actual, dtype="float64").failed


def test_a_merge_that_overflows_from_finite_directions_is_undetermined(rng):
    """Two directions' finite values whose product overflows (a Bidirectional's "mul" merge
    of values near 1e200): the merged value is not finite although every input is; it is not
    compared, and the rest still is. Without this rule those elements would be compared
    against a bound that overflowed to inf, which passes anything."""
    steps = np.arange(3)
    big = np.full((1, 3, 2), 1e200)
    big[0, 0] = 0.5  # step 0 stays small
    forward = Expectation(big, steps, 1e-7 * big)
    backward = Expectation(big.copy(), steps, 1e-7 * big)
    with np.errstate(over="ignore"):
        merged = forward.derived(big * big, big * 1e-7 * big * 2, backward)
    assert merged.status[0, 0].tolist() == [report.COMPARED] * 2
    assert (merged.status[0, 1:] == report.UNDETERMINED).all()
    got = merged.values.copy()
    result = check_tensors({"output": got}, {"output": merged}, None, 3)
    assert result.passed and result.tensors["output"].not_compared == {report.UNDETERMINED: 4}
    got[0, 0, 1] = np.nan
    assert check_tensors({"output": got}, {"output": merged}, None, 3).failed


def test_garbage_in_a_unit_next_to_a_huge_independent_unit_fails():
    """Two units of an exponential cell that share nothing (no recurrent weight, unit 1's
    gates read nothing): unit 0 is 3.6e11 at step 0, unit 1 is 0.82. Garbage (12345) in unit
    1 at step 0 must fail: its value depends on no rounding of unit 0's."""
    kernel = np.zeros((1, 8))  # gate blocks i, f, c, o of two units each
    kernel[0, 4] = 4.0  # unit 0's candidate reads 4 x; unit 1's reads nothing
    w = lstm_ref.LSTMWeights(kernel, np.zeros((2, 8)), None, activation="exponential")
    exact, probe = float32_probes(w, np.ones((1, 3, 1)))
    assert exact.h[0, 0, 0] > 1e11 and exact.h[0, 0, 1] < 1
    actual = {"h": exact.h.copy(), "c": exact.c}
    actual["h"][0, 0, 1] = 12345.0
    groups = unit_groups(w)
    assert groups.tolist() == [0, 1]
    result = check_trace(actual, exact, probe, tolerance_table.lookup("float32"), groups=groups)
    assert result.failed and result.first_failure.unit == 1, result.summary()


def test_nan_from_a_nan_input_that_fills_whole_steps_agrees(rng):
    """One row, a NaN in x at step 3: every element from step 3 on is NaN, compared exactly,
    and a framework's NaN there agrees (a step with only exact elements is no failure); the
    same NaN one step earlier, where the reference is a number, fails."""
    w = random_weights(rng, U, F)
    x = rng.uniform(-1, 1, (1, T, F))
    x[0, 3, 0] = np.nan
    exact, probe = float32_probes(w, x)
    reach = nonfinite_reach(x)
    actual = {"h": exact.h.copy(), "c": exact.c, "output": exact.outputs,
              "state_h": exact.final_h}
    result = check_trace(actual, exact, probe, tolerance_table.lookup("float32"), tainted=reach)
    assert result.passed and result.not_compared == 0, result.summary()
    actual["h"][0, 2, 1] = np.nan
    failure = check_trace(actual, exact, probe, tolerance_table.lookup("float32"),
                          tainted=reach).first_failure
    assert (failure.tensor, failure.step, failure.unit, failure.error) == ("h", 2, 1, np.inf)
