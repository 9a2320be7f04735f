"""Sensitivity, without a framework: deliberately wrong LSTMs, built from the reference's own
pieces the way real bugs arise (a converter that mixes gate blocks, a bias not loaded, a
recurrent term lost, states returned in the wrong order, a drift in c), run in float32 like a
framework. the engine must flag each, at the first step where it shows."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import tolerance, tolerance_table
from lstm_ref.engine import check_trace
from lstm_ref.grids.keras import Case
from lstm_ref.layouts import join_gates, split_gates
from tests.support.sensitivity import FIRST_SHOWS, assert_flagged_where_it_first_shows

CASES = [Case(7, 3, 2, 9), Case(32, 16, 5, 40, activation="relu"),
         Case(2, 1, 1, 9, recurrent_activation="hard_sigmoid", go_backwards=True)]


def weights_of(case):
    a = case.arrays()
    return lstm_ref.LSTMWeights(a["kernel"], a["recurrent_kernel"], a["bias"],
                                activation=case.activation,
                                recurrent_activation=case.recurrent_activation)


def swap_input_and_forget(w):
    blocks = {n: split_gates(getattr(w, n)) for n in ("kernel", "recurrent_kernel", "bias")}
    for b in blocks.values():
        b["i"], b["f"] = b["f"], b["i"]
    return lstm_ref.LSTMWeights(*(join_gates(blocks[n]) for n in ("kernel", "recurrent_kernel", "bias")),
                                activation=w.activation, recurrent_activation=w.recurrent_activation)


def without(w, bias=False, recurrent=False):
    return lstm_ref.LSTMWeights(w.kernel, 0 * w.recurrent_kernel if recurrent else w.recurrent_kernel,
                                None if bias else w.bias, activation=w.activation,
                                recurrent_activation=w.recurrent_activation)


def run_stepwise(x, w, state, go_backwards, carry):
    """A framework-like loop over float32 cell steps; ``carry(h, c)`` returns the state it
    reports and carries to the next step (the place a bug would sit)."""
    batch, time, _ = x.shape
    h = np.zeros((batch, w.units), np.float32) if state is None else state[0].astype(np.float32)
    c = np.zeros((batch, w.units), np.float32) if state is None else state[1].astype(np.float32)
    hs, cs = [], []
    for t in (range(time - 1, -1, -1) if go_backwards else range(time)):
        h_out, c_out, _ = lstm_ref.step(x[:, t], h, c, w, dtype="float32")
        h, c = carry(h_out, c_out)
        hs.append(h)
        cs.append(c)
    return {"h": np.stack(hs, axis=1), "c": np.stack(cs, axis=1)}


def run_broken(case, bug):
    a = case.arrays()
    x = a["x"].astype(np.float32)
    w = weights_of(case)
    state = a["initial_state"]
    if bug in ("gates i/f swapped", "bias ignored", "recurrent term dropped"):
        broken = {"gates i/f swapped": swap_input_and_forget(w),
                  "bias ignored": without(w, bias=True),
                  "recurrent term dropped": without(w, recurrent=True)}[bug]
        trace = lstm_ref.forward(x, broken, initial_state=state, go_backwards=case.go_backwards,
                                 dtype="float32")
        actual = {"h": trace.h, "c": trace.c}
    else:
        carry = {"none": lambda h, c: (h, c),
                 "state order swapped": lambda h, c: (c, h),
                 "relative drift 1e-5 in c": lambda h, c: (h, c * np.float32(1 + 1e-5))}[bug]
        actual = run_stepwise(x, w, state, case.go_backwards, carry)
    exact = lstm_ref.forward(x, w, initial_state=state, go_backwards=case.go_backwards)
    px, ps, _ = tolerance.probe_batch(x, state, None)
    probe = lstm_ref.forward(px, w, initial_state=ps, go_backwards=case.go_backwards, dtype="float32")
    return check_trace(actual, exact, probe, tolerance_table.lookup("float32"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_correct_float32_loop_passes(case):
    report = run_broken(case, "none")
    assert report.passed, report.summary()


# bug -> (first failing step with a zero initial state, the tensor that shows it first).
# The recurrent term is h_{t-1} @ recurrent_kernel: zero at step 0 when h0 = 0, so it first
# shows at step 1. A swapped state order shows at once in the reported (h, c).
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("bug", sorted(FIRST_SHOWS))
def test_each_deliberate_bug_is_flagged_where_it_first_shows(case, bug):
    assert_flagged_where_it_first_shows(run_broken(case, bug), bug)


def test_recurrent_term_dropped_shows_at_step_0_with_an_initial_state():
    case = Case(7, 3, 2, 9, initial_state=True)
    assert run_broken(case, "recurrent term dropped").first_failing_step == 0
