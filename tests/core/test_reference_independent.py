"""The fused, vectorized reference against an independent formulation: plain Python scalar
loops, one gate at a time, written from the equations (not from reference.py), with math's
functions. Random per-gate weights, every option, sizes drawn by hypothesis (derandomized)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lstm_ref
from tests.support.helpers import random_state, random_weights

GATE_ACTIVATIONS = {
    "sigmoid": lambda z: 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z)),
    "hard_sigmoid": lambda z: min(max(z / 6 + 0.5, 0.0), 1.0),
    "tanh": math.tanh,
}
CELL_ACTIVATIONS = {
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "linear": lambda z: z,
    "softsign": lambda z: z / (1 + abs(z)),
    "elu": lambda z: z if z > 0 else math.expm1(z),
}


def scalar_lstm(x, w, h0, c0, mask, go_backwards, zero_output_for_mask):
    """The LSTM equations, element by element. Returns outputs, h, c as nested lists [b][t][u]."""
    act = CELL_ACTIVATIONS[w.activation.name]
    gate_act = GATE_ACTIVATIONS[w.recurrent_activation.name]
    batch, time, features = x.shape
    units = w.units
    gates = w.gates()
    order = list(range(time))[::-1] if go_backwards else list(range(time))
    outputs, hs, cs = [], [], []
    for b in range(batch):
        h, c = list(h0[b]), list(c0[b])
        out = [0.0] * units
        row_out, row_h, row_c = [], [], []
        for t in order:
            def pre(gate, u):
                g = gates[gate]
                total = sum(x[b, t, k] * g["kernel"][k, u] for k in range(features))
                total += sum(h[k] * g["recurrent_kernel"][k, u] for k in range(units))
                return total + (g["bias"][u] if w.use_bias else 0.0)

            new_c = [gate_act(pre("f", u)) * c[u] + gate_act(pre("i", u)) * act(pre("c", u))
                     for u in range(units)]
            new_h = [gate_act(pre("o", u)) * act(new_c[u]) for u in range(units)]
            if mask is None or mask[b, t]:
                h, c, out = new_h, new_c, new_h
            elif zero_output_for_mask:
                out = [0.0] * units
            row_out.append(out)
            row_h.append(h)
            row_c.append(c)
        outputs.append(row_out)
        hs.append(row_h)
        cs.append(row_c)
    return np.array(outputs), np.array(hs), np.array(cs)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(units=st.integers(1, 5), features=st.integers(1, 4), batch=st.integers(1, 3),
       time=st.integers(1, 6), activation=st.sampled_from(sorted(CELL_ACTIVATIONS)),
       recurrent_activation=st.sampled_from(sorted(GATE_ACTIVATIONS)),
       use_bias=st.booleans(), go_backwards=st.booleans(), with_state=st.booleans(),
       with_mask=st.booleans(), zero_output_for_mask=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_fused_reference_equals_scalar_loops(units, features, batch, time, activation,
                                              recurrent_activation, use_bias, go_backwards,
                                              with_state, with_mask, zero_output_for_mask, seed):
    rng = np.random.default_rng(seed)
    w = random_weights(rng, units, features, use_bias, activation, recurrent_activation)
    x = rng.uniform(-2, 2, (batch, time, features))
    h0, c0 = random_state(rng, batch, units) if with_state else (np.zeros((batch, units)),) * 2
    mask = rng.random((batch, time)) < 0.7 if with_mask else None
    trace = lstm_ref.forward(x, w, initial_state=[h0, c0] if with_state else None, mask=mask,
                             go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask)
    outputs, h, c = scalar_lstm(x, w, h0, c0, mask, go_backwards, zero_output_for_mask)
    # Both run in float64; only summation order differs: a few ulps of values of order 1.
    for name, expected in (("outputs", outputs), ("h", h), ("c", c)):
        np.testing.assert_allclose(getattr(trace, name), expected, rtol=1e-12, atol=1e-13,
                                   err_msg=name)
    np.testing.assert_allclose(trace.final_h, h[:, -1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.final_c, c[:, -1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.last_output, outputs[:, -1], rtol=1e-12, atol=1e-13)
