"""The options of LSTMWeights (TF1's and ONNX's variants of the equations): each by hand on a
one-unit cell, against an independent scalar implementation with random per-gate weights,
and by the properties that pin each down (a zero peephole is none, a huge clip is none...)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstm_ref
from lstm_ref.errors import OptionError, ShapeError, ValueRangeError
from lstm_ref.layouts import fold_forget_bias
from tests.support.helpers import random_state, random_weights


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def one_unit(bias, c0, **options):
    """One step of a 1-unit, 1-feature LSTM with zero kernels: z = bias, from c0 (h0 = 0)."""
    output_size = options["projection"].shape[1] if "projection" in options else 1
    w = lstm_ref.LSTMWeights(np.zeros((1, 4)), np.zeros((output_size, 4)), np.array(bias, float),
                             **options)
    trace = lstm_ref.forward(np.zeros((1, 1, 1)), w,
                             initial_state=[np.zeros((1, output_size)), np.full((1, 1), c0)])
    return trace.final_h[0], trace.final_c[0, 0]


def test_forget_bias_is_added_to_the_forget_gate():
    h, c = one_unit([0, 0, 0, 0], 1.0, forget_bias=1.0)
    assert c == pytest.approx(sigmoid(1.0), rel=1e-15)  # i * g = 0.5 * tanh(0) = 0
    assert h[0] == pytest.approx(0.5 * math.tanh(sigmoid(1.0)), rel=1e-15)


def test_peepholes_see_the_previous_cell_for_i_f_and_the_new_one_for_o():
    h, c = one_unit([0, 0, 0, 0], 0.5, peephole=np.array([[2.0], [3.0], [4.0]]))
    expected_c = sigmoid(1.5) * 0.5 + sigmoid(1.0) * math.tanh(0.0)
    assert c == pytest.approx(expected_c, rel=1e-15)
    assert h[0] == pytest.approx(sigmoid(4 * expected_c) * math.tanh(expected_c), rel=1e-15)


def test_cell_clip_bounds_the_state_before_the_output_gate():
    # f = sigmoid(20) ~ 1 keeps c0 = 5; i * g adds ~0.76: c is clipped to 3, and h uses 3.
    h, c = one_unit([0, 20, 10, 0], 5.0, cell_clip=3.0, peephole=np.array([[0.0], [0.0], [1.0]]))
    assert c == 3.0
    assert h[0] == pytest.approx(sigmoid(3.0) * math.tanh(3.0), rel=1e-15)


def test_gate_clip_bounds_every_activation_input_and_keeps_the_cell():
    h, c = one_unit([2, -2, 3, 1], 4.0, gate_clip=0.5)
    expected_c = sigmoid(-0.5) * 4.0 + sigmoid(0.5) * math.tanh(0.5)
    assert c == pytest.approx(expected_c, rel=1e-15)  # c itself is not clipped...
    assert h[0] == pytest.approx(sigmoid(0.5) * math.tanh(0.5), rel=1e-15)  # ...h(clip(c)) is


def test_input_forget_couples_the_forget_gate_to_the_input_gate():
    h, c = one_unit([1, 100, 0.3, 0], 2.0, input_forget=True)  # the f block is ignored
    expected_c = (1 - sigmoid(1.0)) * 2.0 + sigmoid(1.0) * math.tanh(0.3)
    assert c == pytest.approx(expected_c, rel=1e-15)


def test_projection_and_its_clip():
    proj = np.array([[3.0]])
    h, c = one_unit([0, 0, 2, 0], 0.0, projection=proj)
    m = 0.5 * math.tanh(0.5 * math.tanh(2.0))
    assert h[0] == pytest.approx(3 * m, rel=1e-15)
    h, _ = one_unit([0, 0, 2, 0], 0.0, projection=proj, proj_clip=0.1)
    assert h[0] == 0.1


def test_output_activation_applies_to_the_cell_only():
    h, c = one_unit([0, 0, 2, 0], -1.0, output_activation="relu")
    assert c == pytest.approx(0.5 * -1.0 + 0.5 * math.tanh(2.0), rel=1e-15)
    assert h[0] == pytest.approx(0.5 * max(c, 0.0), rel=1e-15)


def test_a_projected_lstm_has_h_of_the_projected_size(rng):
    w = random_weights(rng, 5, 3)
    proj = rng.normal(size=(5, 2))
    wp = lstm_ref.LSTMWeights(w.kernel, rng.normal(size=(2, 20)), w.bias, projection=proj)
    trace = lstm_ref.forward(rng.normal(size=(4, 6, 3)), wp, keep="gates")
    assert trace.h.shape == trace.outputs.shape == (4, 6, 2) and trace.c.shape == (4, 6, 5)
    assert trace.gates["o"].shape == (4, 6, 5) and (wp.units, wp.output_size) == (5, 2)
    assert wp.param_count() == 3 * 20 + 2 * 20 + 20 + 5 * 2


# --- properties: an option at its neutral value is no option ----------------------------------

@pytest.fixture
def case(rng):
    w = random_weights(rng, 4, 3)
    x = rng.normal(size=(2, 7, 3))
    state = random_state(rng, 2, 4)
    mask = rng.random((2, 7)) < 0.7
    return w, x, state, mask


def with_options(w, **options):
    return lstm_ref.LSTMWeights(w.kernel, w.recurrent_kernel, w.bias, w.activation,
                                w.recurrent_activation, **options)


def run(w, case):
    _, x, state, mask = case
    return lstm_ref.forward(x, w, initial_state=state, mask=mask)


@pytest.mark.parametrize("options", [
    {"peephole": np.zeros((3, 4))}, {"cell_clip": 1e300}, {"gate_clip": 1e300},
    {"projection": np.eye(4)}, {"projection": np.eye(4), "proj_clip": 1e300},
    {"forget_bias": 0.0}, {"output_activation": "tanh"},
    # Without a projection proj_clip does nothing, however small (TF1 and TFLite ignore it).
    {"proj_clip": 1e-3},
], ids=lambda o: ",".join(o))
def test_a_neutral_option_changes_nothing(options, case):
    w = case[0]
    for name in ("h", "c", "outputs"):
        np.testing.assert_array_equal(getattr(run(with_options(w, **options), case), name),
                                      getattr(run(w, case), name))


def test_forget_bias_equals_the_same_amount_folded_into_the_bias(case):
    w = with_options(case[0], forget_bias=1.0)
    folded = fold_forget_bias(w)
    assert folded.forget_bias == 0.0 and folded.bias[4:8] == pytest.approx(w.bias[4:8] + 1.0)
    # Only where the 1.0 is added differs: a last-ulp difference at most.
    np.testing.assert_allclose(run(folded, case).c, run(w, case).c, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("options", [
    {"peephole": np.ones((3, 4))}, {"cell_clip": 0.1}, {"gate_clip": 0.1},
    {"forget_bias": 1.0}, {"input_forget": True}, {"coupled_gates": "cifg"},
    {"projection": 2 * np.eye(4)},
    {"projection": np.eye(4), "proj_clip": 0.01}, {"output_activation": "relu"},
], ids=lambda o: ",".join(o))
def test_each_option_changes_the_lstm(options, case):
    w = case[0]
    assert not np.allclose(run(with_options(w, **options), case).h, run(w, case).h)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"peephole": np.zeros((4, 4))}, ShapeError, r"peephole has shape \(4, 4\); expected \(3, 4\)"),
    ({"projection": np.zeros((5, 2))}, ShapeError, r"projection|recurrent_kernel"),
    ({"coupled_gates": "cfig"}, OptionError,
     (r"coupled_gates must be None, 'input_forget' \(f = 1 - i, ONNX\) or 'cifg' \(i = 1 - f, "
      r"TFLite\); received 'cfig'")),
    ({"coupled_gates": True}, OptionError, r"coupled_gates must be None, .*received True"),
    ({"input_forget": True, "coupled_gates": "cifg"}, OptionError,
     (r"input_forget=True means coupled_gates='input_forget' \(f = 1 - i\); received also "
      r"coupled_gates='cifg': give one of them")),
    ({"cell_clip": 0.0}, ValueRangeError, r"cell_clip must be positive"),
    ({"gate_clip": float("inf")}, ValueRangeError, r"gate_clip must be finite"),
    ({"forget_bias": "one"}, OptionError, r"forget_bias must be a number; received 'one'"),
    ({"input_forget": 1}, OptionError, r"input_forget must be True or False; received 1"),
    ({"output_activation": "nope"}, lstm_ref.ActivationError, r"unknown activation 'nope'"),
])
def test_bad_options_are_clear_errors(kwargs, error, message, rng):
    with pytest.raises(error, match=message):
        lstm_ref.LSTMWeights(np.zeros((3, 16)), np.zeros((4, 16)), **kwargs)


def test_a_projection_fixes_the_shapes_of_recurrent_kernel_and_h0(rng):
    with pytest.raises(ShapeError, match=r"recurrent_kernel has shape \(4, 16\); expected \(2, 16\)"):
        lstm_ref.LSTMWeights(np.zeros((3, 16)), np.zeros((4, 16)), projection=np.zeros((4, 2)))
    w = lstm_ref.LSTMWeights(np.zeros((3, 16)), np.zeros((2, 16)), projection=np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"initial_state\[0\] \(h0\) has shape \(1, 4\); expected \(1, 2\)"):
        lstm_ref.forward(np.zeros((1, 2, 3)), w, initial_state=[np.zeros((1, 4)), np.zeros((1, 4))])


# --- an independent implementation -------------------------------------------------------------

def scalar_lstm_with_options(x, w, h0, c0):
    """The option equations element by element, from TF1's LSTMCell and ONNX's LSTM
    documents (not from reference.py), sigmoid gates and tanh cell activation."""
    clip = lambda v, limit: v if limit is None else min(max(v, -limit), limit)  # noqa: E731
    gates = w.gates()
    units, size = w.units, w.output_size
    peephole = np.zeros((3, units)) if w.peephole is None else w.peephole
    hs, cs = [], []
    for b in range(x.shape[0]):
        h, c = list(h0[b]), list(c0[b])
        row_h, row_c = [], []
        for t in range(x.shape[1]):
            def pre(gate, u):
                g = gates[gate]
                total = sum(x[b, t, k] * g["kernel"][k, u] for k in range(x.shape[2]))
                total += sum(h[k] * g["recurrent_kernel"][k, u] for k in range(size))
                return total + (g["bias"][u] if w.use_bias else 0.0)

            new_c, m = [], []
            for u in range(units):
                i = sigmoid(clip(pre("i", u) + peephole[0, u] * c[u], w.gate_clip))
                f = sigmoid(clip(pre("f", u) + w.forget_bias + peephole[1, u] * c[u], w.gate_clip))
                if w.coupled_gates == "input_forget":  # ONNX
                    f = 1 - i
                elif w.coupled_gates == "cifg":  # TFLite, TF contrib
                    i = 1 - f
                cu = clip(f * c[u] + i * math.tanh(clip(pre("c", u), w.gate_clip)), w.cell_clip)
                o = sigmoid(clip(pre("o", u) + peephole[2, u] * cu, w.gate_clip))
                new_c.append(cu)
                m.append(o * math.tanh(clip(cu, w.gate_clip)))
            if w.projection is not None:
                m = [clip(sum(m[u] * w.projection[u, p] for u in range(units)), w.proj_clip)
                     for p in range(size)]
            h, c = m, new_c
            row_h.append(h)
            row_c.append(c)
        hs.append(row_h)
        cs.append(row_c)
    return np.array(hs), np.array(cs)


@settings(derandomize=True, max_examples=50, deadline=None)
@given(units=st.integers(1, 4), features=st.integers(1, 3), batch=st.integers(1, 2),
       time=st.integers(1, 5), projected=st.integers(0, 3), peephole=st.booleans(),
       cell_clip=st.sampled_from([None, 0.3, 2.0]), gate_clip=st.sampled_from([None, 0.5, 3.0]),
       forget_bias=st.sampled_from([0.0, 1.0, -0.5]),
       coupled_gates=st.sampled_from([None, "input_forget", "cifg"]),
       proj_clip=st.sampled_from([None, 0.2]), seed=st.integers(0, 2**32 - 1))
def test_options_equal_an_independent_scalar_implementation(units, features, batch, time,
                                                             projected, peephole, cell_clip,
                                                             gate_clip, forget_bias, coupled_gates,
                                                             proj_clip, seed):
    rng = np.random.default_rng(seed)
    size = projected or units
    options = dict(cell_clip=cell_clip, gate_clip=gate_clip, forget_bias=forget_bias,
                   coupled_gates=coupled_gates,
                   peephole=rng.normal(size=(3, units)) if peephole else None,
                   projection=rng.normal(size=(units, size)) if projected else None,
                   proj_clip=proj_clip)  # without a projection: kept and ignored
    w = lstm_ref.LSTMWeights(rng.normal(size=(features, 4 * units)),
                             rng.normal(size=(size, 4 * units)), rng.normal(size=4 * units),
                             **options)
    x = rng.normal(size=(batch, time, features))
    h0, c0 = rng.normal(size=(batch, size)), rng.normal(size=(batch, units))
    trace = lstm_ref.forward(x, w, initial_state=[h0, c0])
    h, c = scalar_lstm_with_options(x, w, h0, c0)
    # Both float64; only the order of additions differs: a few ulps of values of order 1.
    np.testing.assert_allclose(trace.h, h, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.c, c, rtol=1e-12, atol=1e-13)
