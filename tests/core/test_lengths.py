"""Per-row lengths and right-padded masks (lstm_ref.checks.lengths_mask, mask_lengths): the
one conversion every framework that takes lengths (TF1's sequence_length, torch's packed
sequences) uses, with errors that name the argument, the row and the reason."""

import numpy as np
import pytest

from lstm_ref.checks import lengths_mask, mask_lengths
from lstm_ref.errors import DTypeError, OptionError, ShapeError, ValueRangeError


def test_lengths_and_masks_convert_both_ways():
    lengths = np.array([4, 0, 2])
    mask = lengths_mask(lengths, 3, 4)
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(mask_lengths(mask, 3, 4), lengths)
    np.testing.assert_array_equal(mask_lengths(mask.astype(np.int8), 3, 4), lengths)


def test_whole_floats_are_lengths_and_fractions_are_refused():
    np.testing.assert_array_equal(lengths_mask([2.0, 1.0], 2, 3), lengths_mask([2, 1], 2, 3))
    with pytest.raises(DTypeError, match=r"seq must be integers .*\[2\.0, 1\.5\]"):
        lengths_mask([2.0, 1.5], 2, 3, name="seq")


def test_lengths_out_of_range_or_of_the_wrong_shape_are_named():
    with pytest.raises(ValueRangeError, match=r"lengths must lie in \[1, 3\] \(the input's 3 "
                                              r"time steps; none empty\); received \[0, 3\]"):
        lengths_mask([0, 3], 2, 3, minimum=1, why="none empty")
    with pytest.raises(ValueRangeError, match=r"must lie in \[0, 3\] .*received \[4, 3\]"):
        lengths_mask([4, 3], 2, 3)
    with pytest.raises(ShapeError, match=r"lengths has shape \(3,\); expected \(2,\)"):
        lengths_mask([1, 2, 3], 2, 3)


def test_a_mask_that_is_not_right_padded_names_its_first_such_row():
    mask = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], bool)
    with pytest.raises(OptionError, match=r"^packing: the mask must be right-padded .*mask row 1 "
                                          r"is \[1, 0, 1\]$"):
        mask_lengths(mask, 3, 3, why="packing")


def test_a_row_shorter_than_the_minimum_is_named():
    mask = np.array([[1, 1, 0], [0, 0, 0]], bool)
    np.testing.assert_array_equal(mask_lengths(mask, 2, 3), [2, 0])
    with pytest.raises(ValueRangeError, match=r"at least 1 valid step\(s\) \(no empty rows\); "
                                              r"mask row 1 has 0"):
        mask_lengths(mask, 2, 3, minimum=1, why="no empty rows")
