"""The step drift check is off, and says so, for the activations it cannot hold
(lstm_ref.tolerance_table.DRIFT_EXEMPT); everywhere else a 1e-6 relative drift fails."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import tolerance_table
from lstm_ref.engine import DRIFT_NOTE, Observation, check_observation, default_entry
from tests.support.helpers import random_weights

BATCH, TIME, UNITS, FEATURES = 4, 40, 9, 3


def observed(rng, activation, drift):
    """An Observation of a float32 run of the reference (a faithful 'framework') whose c
    and h are scaled by 1 + drift at every step: a systematic relative drift."""
    w = random_weights(rng, UNITS, FEATURES, activation=activation)
    x = rng.uniform(-1, 1, (BATCH, TIME, FEATURES)).astype(np.float32)
    run = lstm_ref.forward(x, w, dtype="float32")
    scale = np.float32(1 + drift)
    actual = {"h": run.h * scale, "c": run.c * scale, "output": run.outputs * scale}
    return Observation(actual=actual, weights=w, x=x)


@pytest.mark.parametrize("activation", ["tanh", "relu", "softsign"])
def test_a_1e6_drift_fails_where_the_drift_is_checked(activation, seed):
    faithful = check_observation(observed(np.random.default_rng(seed), activation, 0.0))
    assert faithful.passed, faithful.summary()
    assert faithful.tensors["c"].drift is not None and DRIFT_NOTE not in faithful.context
    drifted = check_observation(observed(np.random.default_rng(seed), activation, 1e-6))
    assert drifted.failed, drifted.summary()
    assert any(not t.drift.passed for t in drifted.tensors.values()), drifted.summary()


def test_an_exempt_activation_is_compared_without_the_drift_check_and_says_why(seed):
    report = check_observation(observed(np.random.default_rng(seed), "tanh_shrink", 1e-6))
    assert all(t.drift is None for t in report.tensors.values()), report.summary()
    assert report.context[DRIFT_NOTE] == tolerance_table.DRIFT_EXEMPT["tanh_shrink"]
    assert DRIFT_NOTE in report.summary()
    # Its elements are still held to the bound: a wrong element fails.
    broken = observed(np.random.default_rng(seed), "tanh_shrink", 0.0)
    broken.actual["c"][1, 20, 4] += 1e-3
    assert check_observation(broken).failed


def test_the_exemption_applies_to_the_default_entry_only(rng):
    obs = observed(rng, "tanh_shrink", 0.0)
    given = tolerance_table.lookup("float32")
    report = check_observation(obs, given)  # the caller's own entry is used as given
    assert report.tensors["c"].drift is not None and DRIFT_NOTE not in report.context
    tol, why = default_entry("float32", [obs.weights])
    assert tol.bias_floor is None and why == tolerance_table.DRIFT_EXEMPT["tanh_shrink"]
    tol, why = default_entry("float64", [obs.weights])  # no drift check to turn off
    assert why is None and tol == tolerance_table.lookup("float64")


def test_without_drift_check_keeps_the_entry_otherwise():
    entry = tolerance_table.lookup("float32")
    assert tolerance_table.without_drift_check(entry, ["tanh", "sigmoid"]) == (entry, None)
    tol, why = tolerance_table.without_drift_check(entry, ["sigmoid", "tanh_shrink"])
    assert tol.bias_floor is None and tol.atol == entry.atol and tol.scale == entry.scale
    assert "step drift" in entry.describe() and "step drift" not in tol.describe()
