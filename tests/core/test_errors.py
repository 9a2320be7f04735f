"""Bad input: a package error (ValueError/TypeError subclass) naming the argument, what was
expected and what came. Nothing is silently accepted."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import (DTypeError, LSTMRefError, OptionError, ShapeError,
                             ValueRangeError)

U, F = 3, 2
K, R, B = np.zeros((F, 4 * U)), np.zeros((U, 4 * U)), np.zeros(4 * U)
W = lstm_ref.LSTMWeights(K, R, B)
X = np.zeros((2, 5, F))


@pytest.mark.parametrize("args,error,message", [
    ((np.zeros(4 * U), R, B), ShapeError, r"kernel must have 2 dimensions \(features, 4 \* units\); received shape \(12,\)"),
    ((K, np.zeros((U, 4 * U + 1)), B), ShapeError, r"recurrent_kernel has shape \(3, 13\); expected \(3, 12\)"),
    ((np.zeros((F, 4 * U + 4)), R, B), ShapeError, r"kernel has 4 \* units axis 16; expected 12"),
    ((K, R, np.zeros(4 * U - 1)), ShapeError, r"bias has length 11; expected 12"),
    ((K, R, np.zeros((1, 4 * U))), ShapeError, r"bias must have 1 dimensions"),
    ((K.astype(int), R, B), DTypeError, r"kernel must be a floating-point array .* received dtype int64"),
    ((K, R.astype(object), B), DTypeError, r"recurrent_kernel must be a floating-point array .* received dtype object"),
    ((K, R, B.astype(complex)), DTypeError, r"bias .* received dtype complex128"),
    ((K, np.zeros((0, 0)), B), ShapeError, r"at least one unit"),
    ((np.full((F, 4 * U), np.nan), R, B), ValueRangeError, r"kernel must be finite; received nan at index \(0, 0\)"),
])
def test_bad_weights(args, error, message):
    with pytest.raises(error, match=message):
        lstm_ref.LSTMWeights(*args)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(x=np.zeros((5, F))), ShapeError, r"x must have 3 dimensions \(batch, time, features\); received shape \(5, 2\)"),
    (dict(x=np.zeros((2, 5, F + 1))), ShapeError, r"x has features \(last axis\) 3; expected 2"),
    (dict(x=np.zeros((2, 0, F))), ShapeError, r"at least one time step"),
    (dict(x=np.zeros((2, 5, F), int)), DTypeError, r"x must be a floating-point array .* received dtype int64"),
    (dict(x=[["a"]]), DTypeError, r"x must be a floating-point array"),
    (dict(mask=np.ones((2, 4), bool)), ShapeError, r"mask must have shape \(batch, time\) = \(2, 5\); received shape \(2, 4\)"),
    (dict(mask=np.ones((2, 5))), DTypeError, r"mask must be a boolean array .* received dtype float64"),
    (dict(mask=np.full((2, 5), 2)), ValueRangeError, r"only 0 and 1"),
    (dict(initial_state=[np.zeros((2, U))]), ShapeError, r"initial_state must be a list \[h0, c0\] .* length 1"),
    (dict(initial_state=np.zeros((2, U))), ShapeError, r"initial_state must be a list \[h0, c0\]"),
    (dict(initial_state=[np.zeros((2, U)), np.zeros((3, U))]), ShapeError, r"initial_state\[1\] \(c0\) has shape \(3, 3\); expected \(2, 3\)"),
    (dict(initial_state=[np.zeros((2, U), int), np.zeros((2, U))]), DTypeError, r"initial_state\[0\] \(h0\) must be a floating-point"),
    (dict(dtype="int32"), OptionError, r"dtype must be one of .* received 'int32'"),
    (dict(dtype="bogus"), OptionError, r"dtype must be one of .* received 'bogus'"),
    (dict(keep="everything"), OptionError, r"keep must be one of .* received 'everything'"),
    (dict(weights="w"), OptionError, r"weights must be an LSTMWeights; received str"),
    (dict(x=np.zeros((0, 5, F))), ShapeError, r"x must have at least one row \(batch, the first axis\); received shape \(0, 5, 2\)"),
    (dict(go_backwards="False"), OptionError, r"go_backwards must be a bool \(True or False\); received str 'False'"),
    (dict(zero_output_for_mask="no"), OptionError, r"zero_output_for_mask must be a bool .* received str 'no'"),
    (dict(go_backwards=1), OptionError, r"go_backwards must be a bool .* received int 1"),
])
def test_bad_forward_arguments(kwargs, error, message):
    args = {"x": X, "weights": W, **kwargs}
    with pytest.raises(error, match=message):
        lstm_ref.forward(args.pop("x"), args.pop("weights"), **args)


@pytest.mark.parametrize("groups", [0, -1, 3, 1.0, True, "2"])
def test_gradient_groups_must_divide_the_batch(groups):
    with pytest.raises(OptionError, match=r"groups must be a positive integer dividing the "
                                          r"batch \(2\); received"):
        lstm_ref.gradients(X, W, groups=groups)


def test_a_tolerance_must_be_a_tolerance():
    from lstm_ref.api import check_tolerance

    with pytest.raises(OptionError, match=r"tolerance must be None \(the table's entry\) or a "
                                          r"Tolerance .* received str 'tight'"):
        check_tolerance("tight")
    check_tolerance(None)
    from lstm_ref.tolerance_table import lookup

    check_tolerance(lookup("float32", scale=4))


def test_a_string_is_not_a_bool_for_gradients_either():
    with pytest.raises(OptionError, match=r"go_backwards must be a bool .* received str 'True'"):
        lstm_ref.gradients(X, W, go_backwards="True")
    with pytest.raises(OptionError, match=r"zero_output_for_mask must be a bool"):
        lstm_ref.gradients(X, W, zero_output_for_mask="yes")
    lstm_ref.forward(X, W, go_backwards=np.True_)  # NumPy's bool is a bool


def test_errors_are_builtin_and_package_exceptions():
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, LSTMRefError)
    assert issubclass(DTypeError, TypeError) and issubclass(DTypeError, LSTMRefError)


def test_integer_mask_of_zeros_and_ones_is_accepted():
    as_int = lstm_ref.forward(X, W, mask=np.array([[1, 0, 1, 1, 0]] * 2))
    as_bool = lstm_ref.forward(X, W, mask=np.array([[1, 0, 1, 1, 0]] * 2, bool))
    np.testing.assert_array_equal(as_int.h, as_bool.h)
