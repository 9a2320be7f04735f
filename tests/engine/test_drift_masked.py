"""What a step's drift is taken over: the rows still running (the states that finished rows
carry through their padding, lstm_ref.bias.carried, neither dilute nor hide it) and values
above the rounding level (lstm_ref.bias.resolved)."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import tolerance_table
from lstm_ref.bias import MIN_WEIGHED, carried, resolved
from lstm_ref.engine import (Expectation, Observation, check_observation, drift_of,
                             sequence_expectation)
from lstm_ref.tolerance import PROBES
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



def test_values_at_the_rounding_level_do_not_weigh_in_the_drift():
    """A step whose values are all near 0 (a relu's output at 5e-8, which a framework
    rounding in another order makes 0) has a relative drift of -1 that says nothing: only
    values of at least RESOLVED times their absolute floor weigh in S_t."""
    tol = tolerance_table.lookup("float32")
    values = np.full((1, 3, MIN_WEIGHED), 0.5)
    values[:, 1] = 5e-8
    probe = np.concatenate([values] * PROBES)  # probes that agree: the floors alone
    e = sequence_expectation(values, probe, tol, np.array([3]), np.array([0]))
    got = values.copy()
    got[:, 1] = 0.0
    drift, bound = drift_of(got, e)
    assert drift[0, 1, 0] == 0 and (np.abs(drift) <= bound.bound).all()
    got[:, 2] *= 1 + 1e-6  # a resolved step's drift still counts
    drift, bound = drift_of(got, e)
    assert abs(drift[0, 2, 0] - 1e-6) < 1e-9 and abs(drift[0, 2, 0]) > bound.bound[0, 2, 0]
    assert not resolved(np.full((1, 2, 3), 5e-8), np.full((1, 2), tol.atol)).any()
    assert resolved(np.full((1, 2, 3), 1e-5), np.full((1, 2), tol.atol)).all()


def test_a_step_of_too_few_elements_has_no_drift_to_measure():
    """One or two elements' relative errors are not a drift of the step: an element small
    against the terms it was summed from carries an ulp of theirs, many of its own, which its
    element bound allows. From MIN_WEIGHED elements on, the same relative error is a drift."""
    tol = tolerance_table.lookup("float32")
    for units, measured in ((MIN_WEIGHED - 1, False), (MIN_WEIGHED, True)):
        values = np.full((1, 2, units), 0.5)
        values[:, 1] = 0.25  # a step that repeats the one before is carried: not weighed
        probe = np.concatenate([values] * PROBES)
        e = sequence_expectation(values, probe, tol, np.array([2]), np.array([0]))
        got = values * (1 + 1e-5)
        drift, bound = drift_of(got, e)
        assert (abs(drift[0, :, 0] - 1e-5) < 1e-9).all() == measured
        assert (np.abs(drift) > bound.bound).all() == measured


def test_a_tensor_joined_from_parts_too_small_for_a_drift_has_none_either():
    """A joined tensor's drift bound is the largest of its parts'; a part that weighs too
    few elements measures no drift, so the join of two such parts measures none either
    (a floor inherited from parts that measured nothing would bound nothing)."""
    tol = tolerance_table.lookup("float32")
    half = MIN_WEIGHED // 2
    parts = []
    for _ in range(2):
        values = np.full((1, 2, half), 0.5)
        values[:, 1] = 0.25
        probe = np.concatenate([values] * PROBES)
        parts.append(sequence_expectation(values, probe, tol, np.array([2]), np.array([0])))
    assert np.isinf(parts[0].drift).all()
    joined = Expectation.concatenate(parts)
    got = joined.values * (1 + 1e-5)
    drift, bound = drift_of(got, joined)
    assert (drift == 0).all() and (np.abs(drift) <= bound.bound).all()
