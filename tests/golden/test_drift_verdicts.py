"""The engine side of golden drift (lstm_ref.golden.drift.drift): an installed framework whose
values depart from a recording at one element (NaN, inf or garbage), or a recording that does,
drifts there, and only there; NaN on both sides where the reference is finite is drift, not
agreement. The observation is a Keras LSTM's; the corruption is written into it."""

import copy

import numpy as np
import pytest

from lstm_ref.golden.drift import drift
from tests.support.helpers import build_with_random_weights

pytestmark = [pytest.mark.keras, pytest.mark.framework]
keras = pytest.importorskip("keras")

from lstm_ref.frameworks.keras.observe import observe  # noqa: E402

U, F, B, T = 4, 3, 3, 6
ROW, STEP, UNIT = 1, 3, 2
KINDS = {"nan": np.nan, "inf": np.inf, "garbage": 12345.0}
TENSORS = ("h", "c", "output", "state_h", "state_c")


@pytest.fixture
def observed(rng):
    """(observation, recording): a Keras LSTM observed on random inputs, and its values
    recorded as they are (bit-identical)."""
    layer = build_with_random_weights(keras.layers.LSTM(U, return_sequences=True,
                                                        return_state=True), rng, (B, T, F))
    observation = observe(layer, rng.uniform(-1, 1, (B, T, F)))
    recorded = {name: np.array(value, copy=True) for name, value in observation.actual.items()}
    return observation, recorded


def corrupt(arrays, tensor, value):
    """``arrays[tensor]`` set to ``value`` at ROW, STEP (the last step for a final state),
    UNIT; returns (step, batch, unit) where."""
    array = arrays[tensor]
    if array.ndim == 2:
        array[ROW, UNIT] = value
        return T - 1, ROW, UNIT
    array[ROW, STEP, UNIT] = value
    return STEP, ROW, UNIT


def test_a_bit_identical_recording_compares_everything_and_passes(observed):
    observation, recorded = observed
    result = drift(observation, recorded)
    assert set(result) == set(TENSORS)
    for name, d in result.items():
        assert d.passed and d.identical and d.compared == d.size > 0, name
        assert d.worst_ratio == 0.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tensor", TENSORS)
def test_installed_values_broken_at_one_element_drift_there(observed, tensor, kind):
    """The installed framework returns NaN, inf or garbage at one element: that tensor drifts
    there, and no other tensor does."""
    observation, recorded = observed
    observation = copy.deepcopy(observation)
    at = corrupt(observation.actual, tensor, KINDS[kind])
    result = drift(observation, recorded)
    excess = result[tensor].first_excess
    assert not result[tensor].passed and excess is not None
    assert (excess.step, excess.batch, excess.unit) == at
    assert excess.drift == np.inf or excess.drift > 1e3
    assert all(d.passed for name, d in result.items() if name != tensor)


@pytest.mark.parametrize("kind", KINDS)
def test_a_recording_broken_at_one_element_drifts_there(observed, kind):
    # The recording is the wrong side: the drift is the same, where it is.
    observation, recorded = observed
    at = corrupt(recorded, "c", KINDS[kind])
    result = drift(observation, recorded)
    excess = result["c"].first_excess
    assert (excess.step, excess.batch, excess.unit) == at and not result["c"].identical


def test_nan_on_both_sides_where_the_reference_is_finite_is_drift(observed):
    """A recording and an installation both NaN everywhere, on finite inputs: the reference
    is finite, so NaN agrees with nothing; every tensor drifts, from step 0. Shown on a drift
    that counted NaN == NaN as agreement: every tensor passed there."""
    observation, recorded = observed
    observation = copy.deepcopy(observation)
    for arrays in (recorded, observation.actual):
        for name in TENSORS:
            arrays[name] = np.full_like(arrays[name], np.nan)
    result = drift(observation, recorded)
    for name, d in result.items():
        assert not d.passed and d.compared == d.size, name
        assert d.first_excess.step == (T - 1 if name.startswith("state_") else 0)
