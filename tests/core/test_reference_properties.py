"""Properties the recurrence must have, whatever its weights."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.layouts import join_gates, split_gates
from tests.support.helpers import random_state, random_weights

ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("softsign", "tanh"),
                    ("gelu", "sigmoid"), ("linear", "hard_sigmoid")]


@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS)
def test_zero_weights_give_zero_states(activation, recurrent_activation, rng):
    w = lstm_ref.LSTMWeights(np.zeros((3, 20)), np.zeros((5, 20)), np.zeros(20),
                             activation=activation, recurrent_activation=recurrent_activation)
    trace = lstm_ref.forward(rng.normal(size=(2, 11, 3)), w)
    assert not trace.h.any() and not trace.c.any() and not trace.outputs.any()


def test_prefix_of_a_run_is_the_run_of_the_prefix(rng):
    # Causality, and T = 1 equals one cell step.
    w = random_weights(rng, 4, 3)
    x = rng.normal(size=(2, 8, 3))
    state = random_state(rng, 2, 4)
    full = lstm_ref.forward(x, w, initial_state=state)
    # Not bit-equal: BLAS may block a matmul of another shape differently (last-ulp changes).
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)  # noqa: E731
    for t in (1, 4):
        prefix = lstm_ref.forward(x[:, :t], w, initial_state=state)
        close(prefix.h, full.h[:, :t])
        close(prefix.c, full.c[:, :t])
    h, c, gates = lstm_ref.step(x[:, 0], state[0], state[1], w)
    close(h, full.h[:, 0])
    close(c, full.c[:, 0])


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("split", [1, 5, 12])
def test_split_sequence_carrying_state_equals_one_run(go_backwards, with_mask, split, rng):
    w = random_weights(rng, 5, 3)
    x = rng.normal(size=(3, 13, 3))
    mask = rng.random((3, 13)) < 0.6 if with_mask else None
    state = random_state(rng, 3, 5)
    whole = lstm_ref.forward(x, w, initial_state=state, mask=mask, go_backwards=go_backwards)
    # Processing order: with go_backwards the first chunk processed is the end of the sequence.
    first = slice(x.shape[1] - split, None) if go_backwards else slice(0, split)
    second = slice(0, x.shape[1] - split) if go_backwards else slice(split, None)
    part = lambda s: None if mask is None else mask[:, s]  # noqa: E731
    a = lstm_ref.forward(x[:, first], w, initial_state=state, mask=part(first),
                         go_backwards=go_backwards)
    b = lstm_ref.forward(x[:, second], w, initial_state=[a.final_h, a.final_c], mask=part(second),
                         go_backwards=go_backwards)
    np.testing.assert_allclose(np.concatenate([a.h, b.h], axis=1), whole.h, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.concatenate([a.c, b.c], axis=1), whole.c, rtol=0, atol=1e-15)
    np.testing.assert_allclose(b.final_h, whole.final_h, rtol=0, atol=1e-15)


def test_go_backwards_is_the_forward_run_of_the_reversed_sequence(rng):
    w = random_weights(rng, 3, 2)
    x = rng.normal(size=(2, 7, 2))
    mask = rng.random((2, 7)) < 0.6
    backwards = lstm_ref.forward(x, w, mask=mask, go_backwards=True)
    reversed_run = lstm_ref.forward(x[:, ::-1], w, mask=mask[:, ::-1])
    for name in ("outputs", "h", "c", "final_h", "final_c", "last_output"):
        np.testing.assert_array_equal(getattr(backwards, name), getattr(reversed_run, name))
    assert not np.allclose(backwards.h, lstm_ref.forward(x, w, mask=mask).h)


def test_rows_of_a_batch_are_independent(rng):
    w = random_weights(rng, 4, 3)
    x = rng.normal(size=(4, 6, 3))
    state = random_state(rng, 4, 4)
    batched = lstm_ref.forward(x, w, initial_state=state)
    for b in range(4):
        alone = lstm_ref.forward(x[b:b + 1], w, initial_state=[s[b:b + 1] for s in state])
        np.testing.assert_allclose(alone.h, batched.h[b:b + 1], rtol=1e-14, atol=1e-15)


def test_an_all_true_mask_changes_nothing(rng):
    w = random_weights(rng, 3, 2)
    x = rng.normal(size=(2, 5, 2))
    plain = lstm_ref.forward(x, w)
    masked = lstm_ref.forward(x, w, mask=np.ones((2, 5), bool), zero_output_for_mask=True)
    np.testing.assert_array_equal(plain.outputs, masked.outputs)
    np.testing.assert_array_equal(plain.c, masked.c)


def test_a_fully_masked_row_keeps_its_initial_state_and_outputs_zeros(rng):
    w = random_weights(rng, 3, 2)
    state = random_state(rng, 2, 3)
    mask = np.array([[False] * 4, [True] * 4])
    trace = lstm_ref.forward(rng.normal(size=(2, 4, 2)), w, initial_state=state, mask=mask)
    np.testing.assert_array_equal(trace.final_h[0], state[0][0])
    np.testing.assert_array_equal(trace.final_c[0], state[1][0])
    assert not trace.outputs[0].any() and not trace.last_output[0].any()


def test_permuting_units_permutes_the_states(rng):
    # Units are interchangeable: permuting them in every gate block (columns) and in the
    # recurrent input (rows) permutes h and c the same way. Catches a slicing that mixes units.
    units = 6
    w = random_weights(rng, units, 3)
    perm = rng.permutation(units)
    permute_cols = lambda a: join_gates({k: v[..., perm] for k, v in split_gates(a).items()})  # noqa: E731
    permuted = lstm_ref.LSTMWeights(permute_cols(w.kernel), permute_cols(w.recurrent_kernel)[perm],
                                    permute_cols(w.bias))
    x = rng.normal(size=(2, 5, 3))
    np.testing.assert_allclose(lstm_ref.forward(x, permuted).c, lstm_ref.forward(x, w).c[..., perm],
                               rtol=1e-13, atol=1e-15)


def test_gates_explain_the_states(rng):
    # keep="gates": c_t = f c_{t-1} + i g and h_t = o tanh(c_t), from the stored activations.
    w = random_weights(rng, 4, 3)
    state = random_state(rng, 2, 4)
    trace = lstm_ref.forward(rng.normal(size=(2, 6, 3)), w, initial_state=state, keep="gates")
    g = trace.gates
    c_prev = np.concatenate([state[1][:, None], trace.c[:, :-1]], axis=1)
    np.testing.assert_allclose(trace.c, g["f"] * c_prev + g["i"] * g["c"], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(trace.h, g["o"] * np.tanh(trace.c), rtol=1e-15, atol=1e-15)
    assert all(((v > 0) & (v < 1)).all() for k, v in g.items() if k != "c")


def test_keep_final_matches_keep_states_across_chunks(rng):
    # keep="final" projects the inputs a chunk at a time: 600 steps spans three chunks.
    w = random_weights(rng, 3, 2)
    x = rng.normal(size=(2, 600, 2))
    mask = rng.random((2, 600)) < 0.8
    states = lstm_ref.forward(x, w, mask=mask, go_backwards=True)
    final = lstm_ref.forward(x, w, mask=mask, go_backwards=True, keep="final")
    assert final.h is None and final.outputs is None and final.gates is None
    np.testing.assert_allclose(final.final_h, states.final_h, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(final.final_c, states.final_c, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(final.last_output, states.outputs[:, -1], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_dtype_is_the_dtype_of_every_result(dtype, rng):
    w = random_weights(rng, 3, 2)
    trace = lstm_ref.forward(rng.normal(size=(2, 5, 2)), w, dtype=dtype, keep="gates")
    arrays = [trace.outputs, trace.h, trace.c, trace.final_h, trace.final_c, trace.last_output,
              *trace.gates.values()]
    assert all(a.dtype == np.dtype(dtype) for a in arrays)
    exact = lstm_ref.forward(rng.normal(size=(2, 5, 2)), w)
    assert exact.h.dtype == np.float64


def test_float32_run_is_close_to_float64_but_not_equal(rng):
    w = random_weights(rng, 16, 8)
    x = rng.normal(size=(3, 30, 8))
    low, exact = lstm_ref.forward(x, w, dtype="float32"), lstm_ref.forward(x, w)
    deviation = np.abs(low.c - exact.c).max()
    assert 0 < deviation < 1e-5


def test_gate_order_matters(rng):
    # Swapping the i and f blocks of the weights gives a different LSTM: the reference reads
    # each gate from its own block.
    w = random_weights(rng, 3, 2)
    swapped = {name: split_gates(getattr(w, name)) for name in ("kernel", "recurrent_kernel", "bias")}
    for blocks in swapped.values():
        blocks["i"], blocks["f"] = blocks["f"], blocks["i"]
    w2 = lstm_ref.LSTMWeights(*(join_gates(swapped[n]) for n in ("kernel", "recurrent_kernel", "bias")))
    x = rng.normal(size=(1, 3, 2))
    assert np.abs(lstm_ref.forward(x, w).c - lstm_ref.forward(x, w2).c).min() > 1e-6
