"""compare.check and the Report, on NumPy arrays (no framework): what fails, where, and the
message."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import tolerance
from lstm_ref.compare import check
from lstm_ref.errors import OptionError, ShapeError
from tests.helpers import random_state, random_weights


@pytest.fixture
def traces(rng):
    w = random_weights(rng, 4, 3)
    x = rng.uniform(-1, 1, (2, 6, 3)).astype(np.float32)
    state = random_state(rng, 2, 4)
    exact = lstm_ref.forward(x, w, initial_state=state)
    probes = [lstm_ref.forward(px, w, initial_state=ps, dtype="float32")
              for px, ps in tolerance.probe_inputs(x, state)]
    return exact, probes


def actual_from(trace):
    return {"h": trace.h.copy(), "c": trace.c.copy(), "output": trace.outputs.copy(),
            "state_h": trace.final_h.copy(), "state_c": trace.final_c.copy()}


def test_the_float32_reference_passes_against_float64(traces):
    exact, probes = traces
    report = check(actual_from(probes[0]), exact, probes, tolerance.lookup("float32"))
    assert report.passed and report.first_failing_step is None and report.first_failure is None
    assert 0 < report.worst_ratio < 1
    assert report.summary().startswith("PASSED")


@pytest.mark.parametrize("tensor,step,batch,unit", [("c", 3, 1, 2), ("h", 0, 0, 0),
                                                    ("output", 5, 1, 3), ("state_c", 5, 0, 1)])
def test_one_wrong_element_is_found_exactly(traces, tensor, step, batch, unit):
    exact, probes = traces
    actual = actual_from(exact)
    if actual[tensor].ndim == 3:
        actual[tensor][batch, step, unit] += 1e-5
    else:
        actual[tensor][batch, unit] += 1e-5
    report = check(actual, exact, probes, tolerance.lookup("float32"))
    assert not report.passed
    failure = report.first_failure
    assert (failure.tensor, failure.step, failure.batch, failure.unit) == (tensor, step, batch, unit)
    assert failure.error == pytest.approx(1e-5, rel=1e-6)
    assert failure.bound < 1e-5
    assert report.first_failing_step == step
    assert all(t.passed for name, t in report.tensors.items() if name != tensor)


def test_the_failure_message_names_everything(traces):
    exact, probes = traces
    actual = actual_from(exact)
    actual["c"][1, 3, 2] = 0.5
    report = check(actual, exact, probes, tolerance.lookup("float32"), context={"seed": 42})
    text = report.summary()
    first_line = text.splitlines()[0]
    for part in ("FAILED at step 3", "tensor c", "batch 1", "unit 2", "framework 0.5",
                 f"reference {exact.c[1, 3, 2]:.9g}", "|error|", "> tolerance"):
        assert part in first_line, part
    assert "seed: 42" in text and "FAIL" in text.splitlines()[3]  # the c row of the table


def test_failures_are_reported_at_the_first_step_in_tensor_order(traces):
    exact, probes = traces
    actual = actual_from(exact)
    actual["output"][0, 1, 0] += 1.0
    actual["c"][0, 1, 1] += 1e-3
    actual["h"][0, 4, 0] += 1.0
    failure = check(actual, exact, probes, tolerance.lookup("float32")).first_failure
    assert (failure.step, failure.tensor) == (1, "c")


def test_nan_agrees_only_with_nan(traces):
    exact, probes = traces
    actual = actual_from(exact)
    exact.h[0, 2, 1] = actual["h"][0, 2, 1] = np.nan
    assert check(actual, exact, probes, tolerance.lookup("float32")).passed
    actual["h"][0, 2, 1] = 0.1
    failure = check(actual, exact, probes, tolerance.lookup("float32")).first_failure
    assert (failure.step, failure.error) == (2, np.inf)
    actual["h"][0, 2, 1] = np.nan
    exact.h[0, 2, 1] = 0.1
    assert not check(actual, exact, probes, tolerance.lookup("float32")).passed


def test_wrong_shapes_are_clear(traces):
    exact, probes = traces
    actual = actual_from(exact)
    actual["h"] = actual["h"][:, :-1]
    with pytest.raises(ShapeError, match=r"framework tensor 'h' has shape \(2, 5, 4\); the reference has \(2, 6, 4\)"):
        check(actual, exact, probes, tolerance.lookup("float32"))


def test_the_bound_grows_with_the_probe_deviation(traces):
    exact, probes = traces
    tol = tolerance.lookup("float32")
    probe = probes[0].c
    atol = tol.step_atol(exact.c, [probe])
    assert (np.diff(atol) >= 0).all() and atol[0] >= tol.atol
    # An ill-conditioned case (a probe strays 1000x further) gets a 1000x wider bound.
    far = exact.c + 1000 * (probe - exact.c)
    wide = tol.step_atol(exact.c, [probe, far])
    assert wide[-1] == pytest.approx(1000 * tol.scale * np.abs(probe - exact.c).max(), rel=1e-6)
    assert (tol.step_atol(exact.c, []) == tol.atol).all()


def test_probe_inputs_are_seeded_one_ulp_nudges(rng):
    x = rng.normal(size=(2, 5, 3))
    state = [rng.normal(size=(2, 4)), rng.normal(size=(2, 4))]
    first, second = list(tolerance.probe_inputs(x, state)), list(tolerance.probe_inputs(x, state))
    assert len(first) == tolerance.PROBES and first[0][0] is x
    for (x1, s1), (x2, s2) in zip(first[1:], second[1:]):
        np.testing.assert_array_equal(x1, x2)  # the same nudges every time: reproducible
        assert x1.dtype == np.float32
        ulps = np.abs(x1 - x.astype(np.float32)) / np.spacing(np.abs(x.astype(np.float32)))
        assert ulps.max() <= 2 and (ulps > 0).mean() > 0.5
        assert s1[0].shape == (2, 4)


def test_lookup_names_and_errors():
    assert tolerance.lookup(np.float32).dtype == "float32"
    assert tolerance.lookup("float64").dtype == "float64"
    with pytest.raises(OptionError, match="no tolerance for dtype 'int8'"):
        tolerance.lookup("int8")


def test_every_entry_says_why():
    for entry in tolerance.TABLE.values():
        assert len(entry.reason) > 40 and "placeholder" not in entry.reason
