"""The engine (lstm_ref.compare) and the Report, on NumPy arrays (no framework): what fails,
where, the message, and the verdict's rules: per-row bounds, NaN, undetermined elements,
INCONCLUSIVE."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstm_ref
from lstm_ref import precision, report, tolerance, tolerance_table
from lstm_ref.api import check_verdict
from lstm_ref.engine import (Expectation, check_tensors, check_trace, nonfinite_reach,
                              stack_reach)
from lstm_ref.errors import InconclusiveError, OptionError, ShapeError
from tests.support.helpers import random_state, random_weights


@pytest.fixture
def case(rng):
    w = random_weights(rng, 4, 3)
    x = rng.uniform(-1, 1, (2, 6, 3)).astype(np.float32)
    return w, x, random_state(rng, 2, 4)


@pytest.fixture
def traces(case):
    w, x, state = case
    exact = lstm_ref.forward(x, w, initial_state=state)
    px, ps, _ = tolerance.probe_batch(x, state, None)
    return exact, lstm_ref.forward(px, w, initial_state=ps, dtype="float32")


def actual_from(trace, rows=None):
    rows = slice(None) if rows is None else slice(0, rows)
    return {"h": trace.h[rows].copy(), "c": trace.c[rows].copy(),
            "output": trace.outputs[rows].copy(), "state_h": trace.final_h[rows].copy(),
            "state_c": trace.final_c[rows].copy()}


def test_the_float32_reference_passes_against_float64(traces):
    exact, probe = traces
    plain = actual_from(probe, rows=exact.h.shape[0])  # the un-nudged float32 copy
    result = check_trace(plain, exact, probe, tolerance_table.lookup("float32"))
    assert result.verdict == report.PASSED and result.passed
    assert result.first_failing_step is None and result.first_failure is None
    assert 0 < result.worst_ratio < 1 and result.not_compared == 0
    assert result.summary().startswith("PASSED")
    assert all(t.compared == t.size for t in result.tensors.values())


@pytest.mark.parametrize("tensor,step,batch,unit", [("c", 3, 1, 2), ("h", 0, 0, 0),
                                                    ("output", 5, 1, 3), ("state_c", 5, 0, 1)])
def test_one_wrong_element_is_found_exactly(traces, tensor, step, batch, unit):
    exact, probe = traces
    actual = actual_from(exact)
    if actual[tensor].ndim == 3:
        actual[tensor][batch, step, unit] += 1e-5
    else:
        actual[tensor][batch, unit] += 1e-5
    result = check_trace(actual, exact, probe, tolerance_table.lookup("float32"))
    assert result.verdict == report.FAILED and not result.passed
    failure = result.first_failure
    assert (failure.tensor, failure.step, failure.batch, failure.unit) == (tensor, step, batch, unit)
    assert failure.error == pytest.approx(1e-5, rel=1e-6)
    assert failure.bound < 1e-5
    assert result.first_failing_step == step
    assert result.tensors[tensor].failures == 1
    # One element 1e-5 off also drifts its step as a whole (lstm_ref.bias): nothing else fails.
    assert all(t.passed for name, t in result.tensors.items() if name != tensor)


def test_the_failure_message_names_everything(traces):
    exact, probe = traces
    actual = actual_from(exact)
    actual["c"][1, 3, 2] = 0.5
    text = check_trace(actual, exact, probe, tolerance_table.lookup("float32"),
                       context={"seed": 42}).summary()
    first_line = text.splitlines()[0]
    for part in ("FAILED at step 3", "tensor c", "batch 1", "unit 2", "framework 0.5",
                 f"reference {exact.c[1, 3, 2]:.9g}", "|error|", "> tolerance",
                 "1 of 160 compared elements over the bound"):
        assert part in first_line, part
    c_row = next(line for line in text.splitlines() if line.startswith("c "))
    assert "seed: 42" in text and c_row.endswith("FAIL")  # the c row of the table


def test_failures_are_reported_at_the_first_step_in_tensor_order(traces):
    exact, probe = traces
    actual = actual_from(exact)
    actual["output"][0, 1, 0] += 1.0
    actual["c"][0, 1, 1] += 1e-3
    actual["h"][0, 4, 0] += 1.0
    failure = check_trace(actual, exact, probe, tolerance_table.lookup("float32")).first_failure
    assert (failure.step, failure.tensor) == (1, "c")


def test_a_nan_from_a_nan_input_agrees_only_with_nan(case):
    w, x, state = case
    x = x.astype(np.float64)
    x[0, 2, 1] = np.nan  # row 0 is NaN from step 2 on, in the reference and in any framework
    exact = lstm_ref.forward(x, w, initial_state=state)
    px, ps, _ = tolerance.probe_batch(x, state, None)
    probe = lstm_ref.forward(px, w, initial_state=ps, dtype="float32")
    reached = nonfinite_reach(x, state)
    assert reached[0, 2:].all() and not reached[0, :2].any() and not reached[1].any()
    tol = tolerance_table.lookup("float32")
    actual = actual_from(exact)
    result = check_trace(actual, exact, probe, tol, tainted=reached)
    assert result.passed and result.not_compared == 0, result.summary()
    actual["h"][0, 4, 1] = 0.1  # a number where NaN propagates: wrong
    failure = check_trace(actual, exact, probe, tol, tainted=reached).first_failure
    assert (failure.step, failure.batch, failure.error) == (4, 0, np.inf)


def test_a_non_finite_framework_value_where_the_reference_is_finite_fails(traces):
    exact, probe = traces
    for bad in (np.nan, np.inf, -np.inf):
        actual = actual_from(exact)
        actual["c"][1, 2, 0] = bad
        result = check_trace(actual, exact, probe, tolerance_table.lookup("float32"))
        assert result.failed and result.first_failure.error == np.inf, bad


def test_a_nan_bound_fails_instead_of_passing(traces):
    # err > NaN is False: a NaN bound must never let a value through.
    exact, probe = traces
    values = exact.h
    expectation = Expectation(values, np.arange(6), np.full(values.shape, np.nan))
    result = check_tensors({"h": values + 1.0}, {"h": expectation}, tolerance_table.lookup("float32"),
                           6)
    assert result.failed and result.tensors["h"].failures == values.size
    # Not even an error of 0 passes a NaN bound: a bound that is not a number claims nothing.
    assert check_tensors({"h": values}, {"h": expectation}, None, 6).failed


def test_a_non_finite_reference_from_finite_inputs_is_undetermined(traces):
    # 0 * inf or an overflow in the reference: nothing reaches it from the inputs, so no
    # framework value there is more right than another; it and the rest of its row are not
    # compared, and the report says where and why.
    exact, probe = traces
    exact.c[0, 3, 1] = np.nan
    actual = actual_from(exact)
    actual["c"][0, 3, 1] = np.nan  # agreeing NaN is not "agreement": it is not compared
    actual["h"][0, 5, 2] = 12345.0  # later in the same row: undetermined too
    result = check_trace(actual, exact, probe, tolerance_table.lookup("float32"))
    assert result.passed and result.compared_steps == 3, result.summary()
    c = result.tensors["c"]
    assert c.not_compared == {report.UNDETERMINED: 3 * 4} and c.cuts[report.UNDETERMINED] == (3, [0])
    assert "c: 12 of 48 elements not compared, row 0 from step 3: undetermined" in result.summary()
    actual["h"][1, 5, 2] = 12345.0  # the other row is still compared
    assert check_trace(actual, exact, probe, tolerance_table.lookup("float32")).failed


def test_one_rows_probes_do_not_widen_another_rows_bound(traces):
    exact, probe = traces
    tol = tolerance_table.lookup("float32")
    before = check_trace(actual_from(exact), exact, probe, tol).tensors["c"].max_bound
    batch = exact.c.shape[0]
    wild = probe.c.reshape(-1, *exact.c.shape)
    wild[3, 1] += 1e-4 * np.sign(wild[3, 1])  # probe 3 of row 1 strays far
    actual = actual_from(exact)
    actual["c"][0, 5, 0] += 1e-5  # an error in row 0 well over row 0's own bound
    result = check_trace(actual, exact, probe, tol)
    assert result.failed and result.first_failure.batch == 0, result.summary()
    bounds = tol.element_bound(exact.c, tol.element_atol(exact.c, probe.c))
    row0 = bounds[0].max()
    assert row0 < 1e-5 < bounds[1, 5].max()
    assert probe.c.shape[0] == tolerance.PROBES * batch and before.max() < bounds[1].max()


def test_wrong_shapes_are_clear(traces):
    exact, probe = traces
    actual = actual_from(exact)
    actual["h"] = actual["h"][:, :-1]
    with pytest.raises(ShapeError, match=r"framework tensor 'h' has shape \(2, 5, 4\); the reference has \(2, 6, 4\)"):
        check_trace(actual, exact, probe, tolerance_table.lookup("float32"))


def test_the_bound_grows_with_the_probe_deviation(traces):
    exact, probe = traces
    tol = tolerance_table.lookup("float32")
    atol = tol.element_atol(exact.c, probe.c)
    assert atol.shape == exact.c.shape
    assert (np.diff(atol, axis=1) >= 0).all() and (atol[:, 0] >= tol.atol).all()
    # An ill-conditioned case (a probe copy strays 1000x further) gets a 1000x wider bound;
    # the units of a row, all of one scale here, share the row's largest deviation.
    deviation = probe.c.reshape(-1, *exact.c.shape) - exact.c
    far = (exact.c + 1000 * deviation).reshape(probe.c.shape)
    wide = tol.element_atol(exact.c, far)
    for row in range(exact.c.shape[0]):
        assert wide[row, -1] == pytest.approx(
            1000 * tol.scale * np.abs(deviation[:, row]).max(), rel=1e-6)
    assert (tol.element_atol(exact.c, None) == tol.atol).all()


def test_units_no_weight_couples_keep_their_own_bound():
    """Unit 0 strays by 1 (as a unit at 1e6 does); unit 1, coupled to it, shares its kappa
    (coupled rounding: a value that cancels carries its terms' ulps); unit 2, which no weight
    couples to either, keeps its own. Without groups, the row's."""
    eps = tolerance.EPS32
    reference = np.array([[[1e6, 0.5, -0.4], [2e6, 0.6, 0.3]]])  # (B, T, U) = (1, 2, 3)
    probes = np.repeat(reference[None], tolerance.PROBES, axis=0)
    probes[3, 0, 0, 0] += 1.0
    probes[7, 0, 1, 2] -= 3 * eps
    stacked = probes.reshape(-1, 2, 3)
    kappa = tolerance.conditioning(reference, stacked, eps, groups=np.array([0, 0, 2]))
    assert kappa[0, :, :2] == pytest.approx(np.full((2, 2), 1 / eps))
    assert kappa[0, :, 2] == pytest.approx([0, 3])
    row = tolerance.conditioning(reference, stacked, eps)
    assert row[0] == pytest.approx(np.full((2, 3), 1 / eps))


def test_coupled_groups_follow_the_recurrent_kernel():
    units = 5
    kernel = np.zeros((units, 4 * units))
    kernel[1, 3 * units + 2] = 0.5  # h_1 feeds unit 2's output gate
    kernel[2, 0 * units + 4] = -1.0  # h_2 feeds unit 4's input gate: 1, 2, 4 coupled
    assert tolerance.coupled_groups(kernel, units).tolist() == [0, 1, 1, 3, 1]
    kernel[3, units + 0] = 2.0  # h_3 feeds unit 0's forget gate
    assert tolerance.coupled_groups(kernel, units).tolist() == [0, 1, 1, 0, 1]
    kernel[0, 2 * units + 1] = 1e-30  # any nonzero weight couples: one group
    assert tolerance.coupled_groups(kernel, units) is None
    assert tolerance.coupled_groups(np.ones((3, 4 * units)), units, output_size=3) is None


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_group_max_is_the_max_over_each_group(batch, time, units, seed):
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, (batch, time, units))
    groups = rng.integers(0, 3, units) * 7
    got = tolerance.group_max(values, groups)
    for b, t, u in np.ndindex(batch, time, units):
        assert got[b, t, u] == values[b, t][groups == groups[u]].max()


@pytest.mark.parametrize("fmt", ["float32", "float16", "bfloat16"])
def test_probe_batch_is_seeded_one_ulp_nudges(fmt, rng):
    x = rng.normal(size=(2, 5, 3))
    state = [rng.normal(size=(2, 4)), rng.normal(size=(2, 4))]
    mask = rng.random((2, 5)) < 0.5
    xs, states, masks = tolerance.probe_batch(x, state, mask, fmt)
    again = tolerance.probe_batch(x, state, mask, fmt)
    storage = precision.get(fmt).storage
    assert xs.shape == (2 * tolerance.PROBES, 5, 3) and xs.dtype == storage
    assert states[1].shape == (2 * tolerance.PROBES, 4) and masks.shape == (2 * tolerance.PROBES, 5)
    np.testing.assert_array_equal(xs, again[0])  # the same nudges every time: reproducible
    given = precision.get(fmt).round(x.astype(np.float32)).astype(storage)
    np.testing.assert_array_equal(xs[:2], given)  # copy 0: the inputs as given
    tiled = np.tile(given, (tolerance.PROBES, 1, 1)).astype(np.float64)
    # One ulp of the format: eps times the power of two at or below |x|.
    ulp = precision.get(fmt).eps * 2.0 ** np.floor(np.log2(np.abs(tiled)))
    ulps = np.abs(xs - tiled) / ulp
    assert ulps.max() <= 2 and (ulps[2:] > 0).mean() > 0.5
    np.testing.assert_array_equal(masks[4:6], mask)


def test_steps_beyond_float32_range_are_not_compared_in_that_row(traces):
    exact, probe = traces
    actual = actual_from(exact)
    probe.h[1, 4, 0] = np.inf  # row 1's first probe overflows at step 4; the reference is finite
    actual["h"][1, 5, 0] = np.nan  # what a float32 framework would show after an overflow
    result = check_trace(actual, exact, probe, tolerance_table.lookup("float32"))
    assert result.passed and result.compared_steps == 4, result.summary()
    assert "row 1 from step 4: past the horizon: float32 cannot determine" in result.summary()
    assert result.tensors["state_h"].compared == 4  # row 0's final state is still compared
    actual["h"][0, 5, 0] = np.nan  # row 0 is not past its horizon: a NaN there fails
    assert check_trace(actual, exact, probe, tolerance_table.lookup("float32")).failed


def test_a_case_beyond_range_from_step_0_is_inconclusive(traces):
    # Both rows' probes overflow at step 0 (exp(17) in float16, say): nothing can be compared,
    # and that is not a pass.
    exact, probe = traces
    probe.h[0, 0, 0] = probe.h[1, 0, 0] = np.inf
    actual = actual_from(exact)
    actual["h"][:] = 0.0  # zeros where the reference is not: nothing says otherwise
    result = check_trace(actual, exact, probe, tolerance_table.lookup("float32"))
    assert result.verdict == report.INCONCLUSIVE and not result.passed and result.inconclusive
    assert result.compared_steps == 0 and result.first_failure is None
    summary = result.summary()
    assert summary.startswith("INCONCLUSIVE: nothing could be compared in h, c, output, "
                              "state_h, state_c"), summary
    assert "48 of 48 elements not compared, rows 0, 1 from step 0: past the horizon" in summary
    with pytest.raises(InconclusiveError, match="INCONCLUSIVE"):
        check_verdict(result)
    assert check_verdict(result, allow_inconclusive=True) is result
    assert isinstance(InconclusiveError("x"), AssertionError)


def test_a_tensor_with_nothing_compared_makes_the_check_inconclusive(traces):
    # Every step of h, c, output compared, but the final states past the horizon (in both
    # rows): a check is PASSED only when something was compared in every tensor it reports.
    exact, probe = traces
    probe.c[0, 5, 0] = probe.c[1, 5, 0] = np.inf
    result = check_trace(actual_from(exact), exact, probe, tolerance_table.lookup("float32"))
    assert result.inconclusive, result.summary()
    assert result.tensors["h"].compared == 40 and result.tensors["state_c"].compared == 0
    assert "nothing could be compared in state_h, state_c" in result.summary()


def test_steps_past_the_predictability_horizon_are_not_compared(traces):
    exact, probe = traces
    scale = np.abs(exact.c[0, 3]).max()  # row 0's own scale at step 3
    probe.c[0, 3, 1] = exact.c[0, 3, 1] + 2 * tolerance.HORIZON * scale  # probes disagree
    result = check_trace(actual_from(exact), exact, probe, tolerance_table.lookup("float32"))
    assert result.compared_steps == 3 and result.tensors["c"].cuts[report.HORIZON] == (3, [0])
    probe.c[0, 3, 1] = exact.c[0, 3, 1] + 0.5 * tolerance.HORIZON * scale  # they still agree
    result = check_trace(actual_from(exact), exact, probe, tolerance_table.lookup("float32"))
    assert result.compared_steps == 6


def test_nonfinite_reach_follows_masks_directions_and_states():
    x = np.zeros((3, 5, 2))
    x[0, 1, 0] = np.nan
    x[1, 3, 1] = np.inf
    mask = np.ones((3, 5), bool)
    mask[1, 3] = False  # row 1's only bad step is masked: its value is discarded
    state = [np.zeros((3, 4)), np.zeros((3, 4))]
    state[1][2, 0] = np.nan
    reach = nonfinite_reach(x, state, mask)
    np.testing.assert_array_equal(reach[0], [0, 1, 1, 1, 1])
    assert not reach[1].any() and reach[2].all()
    back = nonfinite_reach(x, None, None, go_backwards=True)  # processing order: time reversed
    np.testing.assert_array_equal(back[0], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(back[1], [0, 1, 1, 1, 1])
    layers = stack_reach(x, [2, 1])  # layer 1 reads both directions of layer 0 in time order
    np.testing.assert_array_equal(layers[1][0][0], [1, 1, 1, 1, 1])


def test_the_report_is_plain_data_and_one_line(traces):
    exact, probe = traces
    probe.h[1, 4, 0] = np.inf
    result = check_trace(actual_from(exact), exact, probe, tolerance_table.lookup("float32"))
    data = result.to_dict()
    assert data["verdict"] == "PASSED" and data["compared_steps"] == 4
    cut = data["tensors"]["h"]["not_compared"][0]
    assert (cut["reason"], cut["from_step"], cut["rows"]) == ("past the horizon", 4, [1])
    assert "\n" not in repr(result) and len(repr(result)) < 200
    assert repr(result).startswith("<Report PASSED")


def test_lookup_names_and_errors():
    assert tolerance_table.lookup(np.float32).dtype == "float32"
    assert tolerance_table.lookup("float64").dtype == "float64"
    with pytest.raises(OptionError, match="no tolerance for dtype 'int8'"):
        tolerance_table.lookup("int8")


def test_every_entry_says_why_and_where_it_was_calibrated():
    root = Path(__file__).resolve().parents[2]
    tables = (tolerance_table.TABLE, tolerance_table.CUDNN, tolerance_table.GRADIENTS)
    for entry in (e for table in tables for e in table.values()):
        assert len(entry.reason) > 40 and "placeholder" not in entry.reason
        record = re.search(r"docs/calibration/[\w.-]+\.md", entry.reason)
        assert record and (root / record.group()).is_file(), entry.reason
        # The figures of a calibration are history: they live in its record, not here.
        assert not re.search(r"\b(K needed|margin \d|false failures|\d+ cases)\b",
                             entry.reason), entry.reason


def test_a_layer_tolerance_applies_to_what_the_layer_returns_only(traces):
    # On cuDNN the layer's outputs and states are held to the looser cuDNN entry, the stepped
    # cell (h, c) to float32's: an error between the two bounds passes in output, fails in h.
    exact, probe = traces
    plain, cudnn = tolerance_table.lookup("float32"), tolerance_table.lookup("float32", "cudnn")
    error = 4 * plain.atol  # above float32's floor, below cuDNN's
    for tensor, passes in (("output", True), ("state_c", True), ("h", False)):
        actual = actual_from(exact)
        index = (0, 2, 1) if actual[tensor].ndim == 3 else (0, 1)
        actual[tensor][index] += error
        result = check_trace(actual, exact, probe, plain, layer_tol=cudnn)
        assert result.passed == passes, (tensor, result.summary())
    with pytest.raises(OptionError, match="path must be None, 'cudnn' or 'gradients'"):
        tolerance_table.lookup("float32", "tf32")
