"""A step's drift is taken over the rows still running: the states that finished rows carry
through their padding (lstm_ref.bias.carried) neither dilute nor hide it."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.bias import carried
from lstm_ref.engine import Observation, check_observation
from tests.support.helpers import random_weights

BATCH, TIME, UNITS, FEATURES, START = 4, 100, 9, 3, 50


def observed(rng, drift):
    """A float32 run of the reference over right-padded rows (two end at step 30 and 40, two
    run to the end), whose h and c drift by ``drift`` (relative) from step START on."""
    w = random_weights(rng, UNITS, FEATURES)
    x = rng.uniform(-1, 1, (BATCH, TIME, FEATURES)).astype(np.float32)
    mask = np.arange(TIME)[None, :] < np.array([30, TIME, 40, TIME])[:, None]
    run = lstm_ref.forward(x, w, mask=mask, dtype="float32")
    scale = np.ones((1, TIME, 1), np.float32)
    scale[:, START:] = np.float32(1 + drift)
    # The drift changes the running rows' values; the finished rows carry theirs unchanged.
    running = mask[:, :, None]
    actual = {name: np.where(running, values * scale, values)
              for name, values in (("h", run.h), ("c", run.c), ("output", run.outputs))}
    return Observation(actual=actual, weights=w, x=x, mask=mask)


@pytest.mark.parametrize("drift", [1e-6, -1e-6])
def test_a_drift_in_the_rows_still_running_fails(drift, seed):
    faithful = check_observation(observed(np.random.default_rng(seed), 0.0))
    assert faithful.passed, faithful.summary()
    report = check_observation(observed(np.random.default_rng(seed), drift))
    assert report.failed, report.summary()
    failing = [t.drift for t in report.tensors.values() if t.drift and not t.drift.passed]
    assert failing and min(t.first_failure.step for t in failing) >= START, report.summary()


def test_carried_marks_the_steps_that_repeat_the_one_before():
    values = np.arange(2 * 5 * 3, dtype=float).reshape(2, 5, 3)
    values[0, 3] = values[0, 2]  # row 0 carries step 2 over step 3
    values[1, 4, :2] = values[1, 3, :2]  # only two of three units equal: not carried
    expected = np.zeros((2, 5), bool)
    expected[0, 3] = True
    assert (carried(values) == expected[:, :, None]).all()
    assert not carried(values[:, :1]).any()  # a first step carries nothing
