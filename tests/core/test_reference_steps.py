"""The recurrence step by step: what forward stores at every step is what Cell.internals (the
one statement of the equations, which the backward pass differentiates) computes from that
step's stored pre-activations and previous state, bit for bit, whichever path computed it;
every ``keep`` gives the same results; and a run leaves its inputs as they were."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import precision
from lstm_ref.layer_norm import LayerNorm
from lstm_ref.reference import KEEP, Cell

B, T, F, U = 5, 9, 3, 6

OPTIONS = {
    "plain": {},
    "peephole, clips, forget_bias": dict(peephole=True, cell_clip=0.8, gate_clip=1.5,
                                         forget_bias=1.0),
    "projection, proj_clip": dict(projection=4, proj_clip=0.3),
    "input_forget": dict(coupled_gates="input_forget", peephole=True),
    "cifg, gate_clip": dict(coupled_gates="cifg", gate_clip=0.7),
    "activations": dict(activation="relu", recurrent_activation="hard_sigmoid",
                        output_activation="softsign"),
    "row-wise activation": dict(activation="softmax"),
    "linear": dict(activation="linear"),
    "linear gates": dict(recurrent_activation="linear", activation="tanh"),
    "layer_norm": dict(layer_norm=True),
}


def weights(rng, peephole=False, projection=None, layer_norm=False, **options):
    out = projection or U
    if peephole:
        options["peephole"] = rng.normal(0, 1, (3, U))
    if projection:
        options["projection"] = rng.normal(0, 1 / np.sqrt(U), (U, projection))
    if layer_norm:
        options["layer_norm"] = LayerNorm.tflite(rng.normal(1, 0.2, (4, U)))
    return lstm_ref.LSTMWeights(rng.normal(0, 2 / np.sqrt(F), (F, 4 * U)),
                                rng.normal(0, 2 / np.sqrt(out), (out, 4 * U)),
                                rng.uniform(-1, 1, 4 * U), **options)


def bits(a):
    a = np.asarray(a)
    return a.view({8: np.uint64, 4: np.uint32, 2: np.uint16}[a.dtype.itemsize])


def assert_bitwise(a, b, what):
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert np.array_equal(bits(a), bits(b)), f"{what} differs"


def problem(rng, options, masked):
    w = weights(rng, **OPTIONS[options])
    x = rng.normal(0, 2, (B, T, F))
    state = [rng.normal(0, 1, (B, w.output_size)), rng.normal(0, 2, (B, U))]
    mask = None
    if masked:
        mask = rng.random((B, T)) < 0.7
        mask[:, 0] = False  # a step masked in every row
        mask[1, 3:] = False  # a row masked to the end
    return w, x, state, mask


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
def test_every_step_is_cell_internals(dtype, options, masked, rng):
    w, x, state, mask = problem(rng, options, masked)
    kw = dict(initial_state=state, mask=mask, dtype=dtype, zero_output_for_mask=masked)
    gates = lstm_ref.forward(x, w, keep="gates", **kw)
    pre = lstm_ref.forward(x, w, keep="preactivations", **kw).preactivations
    fmt = precision.get(dtype)
    dt = fmt.compute
    arrays = {k: None if a is None else fmt.to_format(a.astype(dt)) for k, a in w.arrays.items()}
    cell = Cell(w, arrays, fmt)
    h, c = (fmt.to_format(np.asarray(s, dt)) for s in state)
    output = np.zeros_like(h)
    for t in range(T):
        parts = cell.internals(pre[:, t].astype(dt), c)
        for name, key in zip("ifco", ("i", "f", "g", "o")):
            assert_bitwise(gates.gates[name][:, t].astype(dt), parts[key], f"gate {name}, t={t}")
        valid = np.ones((B, 1), bool) if mask is None else mask[:, t, None]
        h = np.where(valid, parts["h"], h)
        c = np.where(valid, parts["c_new"], c)
        output = np.where(valid, parts["h"], 0.0 if masked else output)
        assert_bitwise(gates.h[:, t].astype(dt), h, f"h, t={t}")
        assert_bitwise(gates.c[:, t].astype(dt), c, f"c, t={t}")
        assert_bitwise(gates.outputs[:, t].astype(dt), output, f"output, t={t}")


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "float64-perturbed"])
def test_every_keep_gives_the_same_results(dtype, options, masked, rng):
    w, x, state, mask = problem(rng, options, masked)
    runs = {keep: lstm_ref.forward(x, w, initial_state=state, mask=mask, dtype=dtype,
                                   go_backwards=True, keep=keep) for keep in KEEP}
    states = runs["states"]
    for keep, trace in runs.items():
        for name in ("final_h", "final_c", "last_output"):
            assert_bitwise(getattr(trace, name), getattr(states, name), f"{keep}: {name}")
        if keep != "final":
            for name in ("outputs", "h", "c"):
                assert_bitwise(getattr(trace, name), getattr(states, name), f"{keep}: {name}")
            assert not np.shares_memory(trace.outputs, trace.h)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_a_run_leaves_its_inputs_and_weights_as_they_were(dtype, masked, rng):
    w, x, state, mask = problem(rng, "peephole, clips, forget_bias", masked)
    state = [s.astype(dtype) for s in state]  # the format's dtype: used without a copy
    x = x.astype(dtype)
    before = [a.copy() for a in (x, *state, w.kernel, w.recurrent_kernel, w.bias)]
    first = lstm_ref.forward(x, w, initial_state=state, mask=mask, dtype=dtype)
    again = lstm_ref.forward(x, w, initial_state=state, mask=mask, dtype=dtype)
    for kept, now in zip(before, (x, *state, w.kernel, w.recurrent_kernel, w.bias)):
        assert_bitwise(now, kept, "an input")
    for name in ("outputs", "h", "c", "final_h", "final_c", "last_output"):
        assert_bitwise(getattr(again, name), getattr(first, name), name)
