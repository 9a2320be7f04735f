"""lstm_ref.stored_weights: an export's stored weights against its source's, within the
storage's rounding and nothing more."""

import numpy as np
import pytest

from lstm_ref.engine import check_tensors
from lstm_ref.errors import ShapeError, UnsupportedLayerError
from lstm_ref.stored_weights import stored_expectation, weight_expectations


def verdict(pairs):
    actual = {name: got for name, (got, _) in pairs.items()}
    expected = {name: e for name, (_, e) in pairs.items()}
    return check_tensors(actual, expected, None, 1)


def test_float32_weights_must_be_equal_and_wider_ones_within_half_a_spacing(rng):
    source = rng.normal(size=(3, 8)).astype(np.float32).astype(np.float64)
    assert verdict({"w": stored_expectation(source, source)}).passed
    moved = source.copy()
    moved[1, 2] = np.nextafter(np.float32(moved[1, 2]), np.float32(np.inf))
    report = verdict({"w": stored_expectation(moved, source)})
    assert report.failed and report.first_failure.error > 0
    wide = rng.normal(size=(3, 8))  # float64 values: stored as their float32 rounding
    assert verdict({"w": stored_expectation(wide.astype(np.float32), wide)}).passed
    assert verdict({"w": stored_expectation(wide.astype(np.float32), wide, exact=True)}).failed


def test_the_storage_half_step_is_the_bound(rng):
    source = rng.normal(size=(2, 4)).astype(np.float32).astype(np.float64)
    step = np.full(source.shape, 0.01)
    within = source + 0.5 * step * rng.uniform(-1, 1, source.shape)
    assert verdict({"w": stored_expectation(within, source, 0.5 * step)}).passed
    beyond = source.copy()
    beyond[0, 0] += 0.6 * step[0, 0]
    assert verdict({"w": stored_expectation(beyond, source, 0.5 * step)}).failed


def test_missing_zero_and_mismatched_arrays():
    kernel = np.ones((2, 8), np.float32)
    pairs = weight_expectations({"kernel": kernel, "bias": None},
                                {"kernel": kernel, "bias": np.zeros(8)}, ("kernel", "bias"),
                                prefix="layer0.forward")
    assert set(pairs) == {"weights.layer0.forward.kernel", "weights.layer0.forward.bias"}
    assert verdict(pairs).passed
    with pytest.raises(UnsupportedLayerError,
                       match="layer0: the artifact is no export of this source: the source "
                             "has no peephole and the artifact has one"):
        weight_expectations({"peephole": None}, {"peephole": np.ones((3, 2))}, ("peephole",),
                            prefix="layer0")
    with pytest.raises(ShapeError, match=r"the artifact's kernel has shape \(2, 4\); the "
                                         r"source's \(2, 8\)"):
        weight_expectations({"kernel": kernel}, {"kernel": kernel[:, :4]}, ("kernel",))
