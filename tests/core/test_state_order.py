"""The order of a state pair, named by ``state_order``: "hc" (Keras's [h, c], the default) or
"ch" (TF1's LSTMStateTuple(c, h)). Where h and c have the same size a swapped pair has valid
shapes and gives a wrong answer silently, so the order is an argument, and a pair whose
fields are named must agree with it."""

import doctest
from collections import namedtuple

import numpy as np
import pytest

import lstm_ref
from lstm_ref import reference
from lstm_ref.errors import OptionError, ShapeError
from tests.support.helpers import random_weights

CH = namedtuple("CH", ("c", "h"))  # TF1's LSTMStateTuple's fields
HC = namedtuple("HC", ("h", "c"))

B, T, F, U = 2, 5, 3, 4  # no projection: h and c both (B, U)


@pytest.fixture
def case(rng):
    w = random_weights(rng, U, F)
    x = rng.normal(size=(B, T, F))
    h0, c0 = rng.uniform(-1, 1, (B, U)), rng.normal(0, 2, (B, U))
    return w, x, h0, c0


def test_ch_takes_c_first_and_gives_what_hc_gives(case):
    w, x, h0, c0 = case
    keras = lstm_ref.forward(x, w, initial_state=[h0, c0])
    for pair in ((c0, h0), [c0, h0], CH(c0, h0)):
        tf1 = lstm_ref.forward(x, w, initial_state=pair, state_order="ch")
        for name in ("outputs", "h", "c"):
            np.testing.assert_array_equal(getattr(tf1, name), getattr(keras, name))


def test_a_swapped_pair_of_equal_sizes_is_a_different_lstm(case):
    """What state_order guards against: (c0, h0) read as [h0, c0] passes every shape check
    and computes something else."""
    w, x, h0, c0 = case
    right = lstm_ref.forward(x, w, initial_state=[h0, c0])
    swapped = lstm_ref.forward(x, w, initial_state=(c0, h0))
    assert np.abs(swapped.h - right.h).max() > 0.01


@pytest.mark.parametrize("pair,order", [(CH, "hc"), (HC, "ch")])
def test_a_pair_with_named_fields_must_agree_with_state_order(pair, order, case):
    w, x, h0, c0 = case
    state = pair(h=h0, c=c0)
    fields = "".join(pair._fields)
    with pytest.raises(OptionError, match=(
            rf"^the state is a {pair.__name__}\('{fields[0]}', '{fields[1]}'\), {fields[0]} "
            rf"first, but state_order='{order}' reads {order[0]} first: pass "
            rf"state_order='{fields}'$")):
        lstm_ref.forward(x, w, initial_state=state, state_order=order)
    with pytest.raises(OptionError, match="state_order="):
        lstm_ref.gradients(x, w, initial_state=state, state_order=order)
    # In its own order it is taken as any pair is.
    np.testing.assert_array_equal(
        lstm_ref.forward(x, w, initial_state=state, state_order=fields).h,
        lstm_ref.forward(x, w, initial_state=[h0, c0]).h)


@pytest.mark.parametrize("order", ["cH", "h,c", None, ("h", "c")])
def test_an_unknown_state_order_is_a_clear_error(order, case):
    w, x, h0, c0 = case
    with pytest.raises(OptionError, match=r"^state_order must be 'hc' \(Keras's \[h, c\]\) or "
                                          r"'ch' \(TF1's LSTMStateTuple\(c, h\)\); received "):
        lstm_ref.forward(x, w, initial_state=[h0, c0], state_order=order)
    with pytest.raises(OptionError, match=r"^state_order must be"):
        lstm_ref.forward(x, w).final_state(order)


def test_size_errors_name_the_index_the_caller_used(rng):
    w = lstm_ref.LSTMWeights(np.zeros((3, 16)), np.zeros((2, 16)), projection=np.zeros((4, 2)))
    x, h0, c0 = np.zeros((1, 2, 3)), np.zeros((1, 2)), np.zeros((1, 4))
    with pytest.raises(ShapeError, match=r"initial_state\[1\] \(h0\) has shape \(1, 4\); expected \(1, 2\)"):
        lstm_ref.forward(x, w, initial_state=(c0, c0), state_order="ch")
    with pytest.raises(ShapeError, match=r"initial_state\[0\] \(c0\) has shape \(1, 2\); expected \(1, 4\)"):
        lstm_ref.forward(x, w, initial_state=(h0, h0), state_order="ch")
    with pytest.raises(ShapeError, match=r"must be a pair \(c0, h0\) \(state_order='ch'\)"):
        lstm_ref.forward(x, w, initial_state=(c0,), state_order="ch")
    trace = lstm_ref.forward(x, w, initial_state=(c0, h0), state_order="ch")
    assert [a.shape for a in trace.final_state("ch")] == [(1, 4), (1, 2)]


def test_final_state_in_either_order(case):
    w, x, h0, c0 = case
    trace = lstm_ref.forward(x, w, initial_state=[h0, c0])
    h, c = trace.final_state()
    c2, h2 = trace.final_state("ch")
    assert h is h2 is trace.final_h and c is c2 is trace.final_c


def test_gradients_take_the_named_order(case, rng):
    w, x, h0, c0 = case
    d_outputs = rng.normal(size=(B, T, U))
    keras = lstm_ref.gradients(x, w, d_outputs=d_outputs, initial_state=[h0, c0])
    tf1 = lstm_ref.gradients(x, w, d_outputs=d_outputs, initial_state=CH(c0, h0),
                             state_order="ch")
    for name in ("h0", "c0", "x", "kernel"):
        np.testing.assert_array_equal(getattr(tf1, name), getattr(keras, name))


def test_the_reference_modules_examples_run():
    assert doctest.testmod(reference, raise_on_error=True).attempted >= 4
