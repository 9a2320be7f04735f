"""compare.check and the Report, on NumPy arrays (no framework): what fails, where, and the
message."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import precision, tolerance
from lstm_ref.compare import check
from lstm_ref.errors import OptionError, ShapeError
from tests.helpers import random_state, random_weights


@pytest.fixture
def traces(rng):
    w = random_weights(rng, 4, 3)
    x = rng.uniform(-1, 1, (2, 6, 3)).astype(np.float32)
    state = random_state(rng, 2, 4)
    exact = lstm_ref.forward(x, w, initial_state=state)
    px, ps, _ = tolerance.probe_batch(x, state, None)
    return exact, lstm_ref.forward(px, w, initial_state=ps, dtype="float32")


def actual_from(trace):
    return {"h": trace.h.copy(), "c": trace.c.copy(), "output": trace.outputs.copy(),
            "state_h": trace.final_h.copy(), "state_c": trace.final_c.copy()}


def test_the_float32_reference_passes_against_float64(traces):
    exact, probe = traces
    batch = exact.h.shape[0]
    plain = {k: v[:batch] for k, v in actual_from(probe).items()}  # the un-nudged float32 copy
    report = check(plain, exact, probe, tolerance.lookup("float32"))
    assert report.passed and report.first_failing_step is None and report.first_failure is None
    assert 0 < report.worst_ratio < 1
    assert report.summary().startswith("PASSED")


@pytest.mark.parametrize("tensor,step,batch,unit", [("c", 3, 1, 2), ("h", 0, 0, 0),
                                                    ("output", 5, 1, 3), ("state_c", 5, 0, 1)])
def test_one_wrong_element_is_found_exactly(traces, tensor, step, batch, unit):
    exact, probe = traces
    actual = actual_from(exact)
    if actual[tensor].ndim == 3:
        actual[tensor][batch, step, unit] += 1e-5
    else:
        actual[tensor][batch, unit] += 1e-5
    report = check(actual, exact, probe, tolerance.lookup("float32"))
    assert not report.passed
    failure = report.first_failure
    assert (failure.tensor, failure.step, failure.batch, failure.unit) == (tensor, step, batch, unit)
    assert failure.error == pytest.approx(1e-5, rel=1e-6)
    assert failure.bound < 1e-5
    assert report.first_failing_step == step
    assert all(t.passed for name, t in report.tensors.items() if name != tensor)


def test_the_failure_message_names_everything(traces):
    exact, probe = traces
    actual = actual_from(exact)
    actual["c"][1, 3, 2] = 0.5
    report = check(actual, exact, probe, tolerance.lookup("float32"), context={"seed": 42})
    text = report.summary()
    first_line = text.splitlines()[0]
    for part in ("FAILED at step 3", "tensor c", "batch 1", "unit 2", "framework 0.5",
                 f"reference {exact.c[1, 3, 2]:.9g}", "|error|", "> tolerance"):
        assert part in first_line, part
    assert "seed: 42" in text and "FAIL" in text.splitlines()[3]  # the c row of the table


def test_failures_are_reported_at_the_first_step_in_tensor_order(traces):
    exact, probe = traces
    actual = actual_from(exact)
    actual["output"][0, 1, 0] += 1.0
    actual["c"][0, 1, 1] += 1e-3
    actual["h"][0, 4, 0] += 1.0
    failure = check(actual, exact, probe, tolerance.lookup("float32")).first_failure
    assert (failure.step, failure.tensor) == (1, "c")


def test_nan_agrees_only_with_nan(traces):
    exact, _ = traces  # no probe: a doctored reference would look chaotic to it
    actual = actual_from(exact)
    exact.h[0, 2, 1] = actual["h"][0, 2, 1] = np.nan
    assert check(actual, exact, None, tolerance.lookup("float32")).passed
    actual["h"][0, 2, 1] = 0.1
    failure = check(actual, exact, None, tolerance.lookup("float32")).first_failure
    assert (failure.step, failure.error) == (2, np.inf)
    actual["h"][0, 2, 1] = np.nan
    exact.h[0, 2, 1] = 0.1
    assert not check(actual, exact, None, tolerance.lookup("float32")).passed


def test_wrong_shapes_are_clear(traces):
    exact, probe = traces
    actual = actual_from(exact)
    actual["h"] = actual["h"][:, :-1]
    with pytest.raises(ShapeError, match=r"framework tensor 'h' has shape \(2, 5, 4\); the reference has \(2, 6, 4\)"):
        check(actual, exact, probe, tolerance.lookup("float32"))


def test_the_bound_grows_with_the_probe_deviation(traces):
    exact, probe = traces
    tol = tolerance.lookup("float32")
    atol = tol.step_atol(exact.c, probe.c)
    assert (np.diff(atol) >= 0).all() and atol[0] >= tol.atol
    # An ill-conditioned case (a probe copy strays 1000x further) gets a 1000x wider bound.
    deviation = probe.c.reshape(-1, *exact.c.shape) - exact.c
    far = (exact.c + 1000 * deviation).reshape(probe.c.shape)
    wide = tol.step_atol(exact.c, far)
    assert wide[-1] == pytest.approx(1000 * tol.scale * np.abs(deviation).max(), rel=1e-6)
    assert (tol.step_atol(exact.c, None) == tol.atol).all()


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


def test_steps_beyond_float32_range_are_not_compared(traces):
    exact, probe = traces
    actual = actual_from(exact)
    probe.h[1, 4, 0] = np.inf  # a probe copy overflows at step 4 while the reference is finite
    actual["h"][0, 5, 0] = np.nan  # what a float32 framework would show after an overflow
    report = check(actual, exact, probe, tolerance.lookup("float32"))
    assert report.passed and report.compared_steps == 4
    assert "steps 4 to 5 not compared" in report.summary()
    assert "state_h" not in report.tensors  # the final state lies beyond the range too


def test_steps_where_the_reference_itself_overflows_are_not_compared(traces):
    # A float64 layer: probes and reference overflow together (exp(800)); the layer may show
    # inf or NaN there (0 * inf), and neither is more right.
    exact, probe = traces
    batch = exact.c.shape[0]
    exact.c[0, 3, 1] = np.inf
    probe.c.reshape(-1, *exact.c.shape)[:, 0, 3, 1] = np.inf
    actual = actual_from(exact)
    actual["c"][0, 3, 1] = np.nan
    report = check(actual, exact, probe, tolerance.lookup("float32"))
    assert report.passed and report.compared_steps == 3, report.summary()
    assert probe.c.shape[0] == tolerance.PROBES * batch


def test_a_nan_in_the_reference_is_compared_exactly(traces):
    exact, probe = traces
    exact.h[1, 2, 0] = probe.h[1, 2, 0] = np.nan  # a NaN input, propagated in both
    actual = actual_from(exact)
    assert check(actual, exact, probe, tolerance.lookup("float32")).compared_steps == 6
    actual["h"][1, 2, 0] = 0.5
    report = check(actual, exact, probe, tolerance.lookup("float32"))
    assert not report.passed and report.first_failure.step == 2


def test_a_case_beyond_range_from_step_0_compares_nothing(traces):
    # A probe overflowing at step 0 (exp(17) in float16, say) leaves no step to compare: the
    # report says so, rather than holding every step to a bound that means nothing.
    exact, probe = traces
    probe.h[1, 0, 0] = np.inf
    actual = actual_from(exact)
    actual["h"][0, 0, 0] = np.nan
    report = check(actual, exact, probe, tolerance.lookup("float32"))
    assert report.passed and report.compared_steps == 0 and not report.tensors
    summary = report.summary()
    assert summary.startswith("PASSED vacuously") and "steps 0 to 5 not compared" in summary


def test_steps_past_the_predictability_horizon_are_not_compared(traces):
    exact, probe = traces
    scale = np.abs(exact.c[:, 3]).max()
    probe.c[0, 3, 1] = exact.c[0, 3, 1] + 2 * tolerance.HORIZON * scale  # probes disagree
    report = check(actual_from(exact), exact, probe, tolerance.lookup("float32"))
    assert report.compared_steps == 3
    probe.c[0, 3, 1] = exact.c[0, 3, 1] + 0.5 * tolerance.HORIZON * scale  # they still agree
    assert check(actual_from(exact), exact, probe, tolerance.lookup("float32")).compared_steps == 6


def test_lookup_names_and_errors():
    assert tolerance.lookup(np.float32).dtype == "float32"
    assert tolerance.lookup("float64").dtype == "float64"
    with pytest.raises(OptionError, match="no tolerance for dtype 'int8'"):
        tolerance.lookup("int8")


def test_every_entry_says_why():
    for entry in tolerance.TABLE.values():
        assert len(entry.reason) > 40 and "placeholder" not in entry.reason


def test_a_layer_tolerance_applies_to_what_the_layer_returns_only(traces):
    # On cuDNN the layer's outputs and states are held to the looser cuDNN entry, the stepped
    # cell (h, c) to float32's: an error between the two bounds passes in output, fails in h.
    exact, probe = traces
    plain, cudnn = tolerance.lookup("float32"), tolerance.lookup("float32", "cudnn")
    error = 4 * plain.atol  # above float32's floor, below cuDNN's
    for tensor, passes in (("output", True), ("state_c", True), ("h", False)):
        actual = actual_from(exact)
        index = (0, 2, 1) if actual[tensor].ndim == 3 else (0, 1)
        actual[tensor][index] += error
        report = check(actual, exact, probe, plain, layer_tol=cudnn)
        assert report.passed == passes, (tensor, report.summary())
    with pytest.raises(OptionError, match="path must be None, 'cudnn' or 'gradients'"):
        tolerance.lookup("float32", "tf32")
