"""The Flax twins: the mapping of LSTMCell's eight Linear layers and OptimizedLSTMCell's two
onto the reference's layout (gate by gate, against Flax's own call), the RNN's options
(time_major, reverse, keep_order, seq_lengths, initial carry (c, h)), the float64 path under
jax_enable_x64, JAX's matmul precision on CPU, dispatch from lstm_ref.compare, and the
one-line refusals."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nnx = pytest.importorskip("flax.nnx")

import lstm_ref  # noqa: E402
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError  # noqa: E402
from lstm_ref.frameworks.flax import cases as flax_cases  # noqa: E402
from lstm_ref.frameworks.flax import twin as flax_twin  # noqa: E402

jnp = jax.numpy
F, U, B, T = 3, 5, 4, 11
CELLS = [nnx.LSTMCell, nnx.OptimizedLSTMCell]


def random_cell(rng, cell_class=nnx.LSTMCell, **options):
    """A cell whose every Linear layer holds its own random draw, written through Flax's own
    parameter names (not lstm_ref's loader): what the mapping is checked against."""
    cell = cell_class(F, U, rngs=nnx.Rngs(0), **options)
    for _, param in nnx.iter_graph(cell):
        if isinstance(param, nnx.Param):
            value = param.get_value()
            param.set_value(jnp.asarray(rng.normal(0, 0.7, value.shape), value.dtype))
    return cell


def flax_step(cell, carry, x):
    (c, h), y = cell(tuple(jnp.asarray(s, jnp.float32) for s in carry), jnp.asarray(x, jnp.float32))
    return np.asarray(c), np.asarray(h), np.asarray(y)


@pytest.mark.parametrize("cell_class", CELLS, ids=lambda c: c.__name__)
def test_one_step_of_the_twin_is_flaxs_step(rng, cell_class):
    cell = random_cell(rng, cell_class)
    carry = (rng.normal(0, 1, (B, U)), rng.uniform(-1, 1, (B, U)))
    x = rng.uniform(-1, 1, (B, F))
    c, h, y = flax_step(cell, carry, x)
    (c_ref, h_ref), y_ref = lstm_ref.from_flax(cell)(carry, x)
    np.testing.assert_allclose(c, c_ref, atol=2e-6)
    np.testing.assert_allclose(h, h_ref, atol=2e-6)
    np.testing.assert_array_equal(h, y)
    assert np.abs(c - h).max() > 0.1  # c and h differ: a carry read in the wrong order shows


def test_lstmcell_layers_map_gate_by_gate(rng):
    cell = random_cell(rng)
    w = flax_twin.cell_weights(cell)
    for gate, (x_side, h_side) in enumerate(flax_twin.CELL_GATES):
        block = slice(gate * U, (gate + 1) * U)
        np.testing.assert_array_equal(w.kernel[:, block], np.asarray(getattr(cell, x_side).kernel[...]))
        np.testing.assert_array_equal(w.recurrent_kernel[:, block],
                                      np.asarray(getattr(cell, h_side).kernel[...]))
        np.testing.assert_array_equal(w.bias[block], np.asarray(getattr(cell, h_side).bias[...]))
    assert w.activation.name == "tanh" and w.recurrent_activation.name == "sigmoid"


@pytest.mark.parametrize("cell_class", CELLS, ids=lambda c: c.__name__)
def test_loading_reference_weights_round_trips(rng, cell_class):
    kernel, recurrent = rng.normal(0, 1, (F, 4 * U)), rng.normal(0, 1, (U, 4 * U))
    bias = rng.uniform(-1, 1, 4 * U)
    cell = flax_cases.set_weights(cell_class(F, U, rngs=nnx.Rngs(0)), kernel, recurrent, bias)
    w = flax_twin.cell_weights(cell)
    f32 = lambda a: a.astype(np.float32).astype(np.float64)  # noqa: E731
    for got, want in ((w.kernel, kernel), (w.recurrent_kernel, recurrent), (w.bias, bias)):
        np.testing.assert_array_equal(got, f32(want))


@pytest.mark.parametrize("swap", [(0, 1), (1, 2), (2, 3), (0, 3)])
def test_a_gate_swap_in_the_mapping_is_caught(rng, swap):
    """Random per-gate weights: a cell with two gates' layers exchanged computes something
    else than the twin of the original (so a mapping that swapped them could not pass)."""
    cell = random_cell(rng)
    swapped = random_cell(rng)
    order = list(range(4))
    order[swap[0]], order[swap[1]] = swap[1], swap[0]
    for gate, source in enumerate(order):
        (xs, hs), (xo, ho) = flax_twin.CELL_GATES[gate], flax_twin.CELL_GATES[source]
        getattr(swapped, xs).kernel.set_value(getattr(cell, xo).kernel.get_value())
        getattr(swapped, hs).kernel.set_value(getattr(cell, ho).kernel.get_value())
        getattr(swapped, hs).bias.set_value(getattr(cell, ho).bias.get_value())
    carry = (rng.normal(0, 1, (B, U)), rng.uniform(-1, 1, (B, U)))
    x = rng.uniform(-1, 1, (B, F))
    c, h, _ = flax_step(swapped, carry, x)
    (c_ref, h_ref), _ = lstm_ref.from_flax(cell)(carry, x)
    assert max(np.abs(c - c_ref).max(), np.abs(h - h_ref).max()) > 1e-2
    report = lstm_ref.compare(swapped, x[:, None], initial_state=carry)
    assert report.passed  # the swapped cell is held to its own twin, which it matches


RNN_OPTIONS = [dict(), dict(time_major=True), dict(reverse=True), dict(reverse=True, keep_order=True),
               dict(reverse=True, keep_order=True, time_major=True)]


@pytest.mark.parametrize("cell_class", CELLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("options", RNN_OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("lengths", [False, True], ids=["full", "seq_lengths"])
def test_rnn_twin_returns_what_the_rnn_returns(rng, cell_class, options, lengths):
    rnn = nnx.RNN(random_cell(rng, cell_class), return_carry=True, **options)
    x = rng.uniform(-1, 1, (T, B, F) if options.get("time_major") else (B, T, F))
    carry = (rng.normal(0, 1, (B, U)), rng.uniform(-1, 1, (B, U)))
    seq = np.array([T, 1, 6, 9]) if lengths else None
    (c, h), y = rnn(jnp.asarray(x, jnp.float32), initial_carry=tuple(jnp.asarray(s, jnp.float32)
                                                                      for s in carry),
                    seq_lengths=None if seq is None else jnp.asarray(seq))
    (c_ref, h_ref), y_ref = lstm_ref.from_flax(rnn)(x, initial_carry=carry, seq_lengths=seq)
    assert y_ref.shape == y.shape
    for got, want in ((c, c_ref), (h, h_ref), (y, y_ref)):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    report = lstm_ref.assert_equivalent(rnn, x, initial_state=carry, seq_lengths=seq)
    assert report.tensors["carry.c"].compared and report.tensors["output"].compared


def test_flip_index_is_flaxs_flip_and_an_involution():
    from flax.nnx.nn.recurrent import flip_sequences

    lengths = np.array([1, 4, 7, 3])
    values = np.arange(4 * 7).reshape(4, 7)
    index = flax_twin.flip_index(lengths, 4, 7)
    np.testing.assert_array_equal(np.take_along_axis(values, index, 1),
                                  np.asarray(flip_sequences(jnp.asarray(values), jnp.asarray(lengths), 1, False)))
    np.testing.assert_array_equal(np.take_along_axis(index, index, 1), np.tile(np.arange(7), (4, 1)))


@pytest.mark.parametrize("cell_class", CELLS, ids=lambda c: c.__name__)
def test_float64_under_x64_is_held_to_the_float64_entry(rng, cell_class):
    with jax.enable_x64(True):
        cell = cell_class(F, U, param_dtype="float64", rngs=nnx.Rngs(0))
        for _, param in nnx.iter_graph(cell):
            if isinstance(param, nnx.Param):
                param.set_value(jnp.asarray(rng.normal(0, 0.7, param.get_value().shape),
                                            jnp.float64))
        report = lstm_ref.assert_equivalent(nnx.RNN(cell), rng.uniform(-1, 1, (B, T, F)))
    assert report.tolerance.dtype == "float64"
    assert max(t.worst.error for t in report.tensors.values()) < 1e-13


def test_a_cell_stepped_by_hand_with_a_mask(rng):
    cell = random_cell(rng, nnx.OptimizedLSTMCell)
    mask = rng.random((B, T)) > 0.3
    report = lstm_ref.assert_equivalent(cell, rng.uniform(-1, 1, (B, T, F)), mask=mask,
                                        initial_state=(rng.normal(0, 1, (B, U)),
                                                       rng.uniform(-1, 1, (B, U))))
    assert report.tolerance.dtype == "float32" and set(report.tensors) == {"h", "c"}


def test_on_cpu_every_matmul_precision_gives_the_same_bits(rng):
    """What observe's precision="highest" rests on here: XLA's CPU dot ignores the setting,
    so the default observes exactly what the caller's setting would."""
    if jax.default_backend() != "cpu":
        pytest.skip(f"a CPU fact; this backend is {jax.default_backend()}")
    rnn = nnx.RNN(random_cell(rng, nnx.OptimizedLSTMCell))
    x = jnp.asarray(rng.uniform(-1, 1, (B, 64, F)), jnp.float32)
    outputs = {}
    for precision in ("default", "bfloat16", "tensorfloat32", "highest"):
        with jax.default_matmul_precision(precision):
            outputs[precision] = np.asarray(rnn(x))
    for precision, y in outputs.items():
        np.testing.assert_array_equal(y, outputs["highest"], err_msg=precision)
    report = lstm_ref.compare(rnn, np.asarray(x), precision=None)
    assert report.passed and "caller's" in report.context["matmul precision"]


def test_other_activations_are_read_from_gate_fn_and_activation_fn(rng):
    cell = random_cell(rng, gate_fn=jax.nn.hard_sigmoid, activation_fn=jax.nn.soft_sign)
    w = flax_twin.cell_weights(cell)
    assert (w.recurrent_activation.name, w.activation.name) == ("hard_sigmoid", "softsign")
    lstm_ref.assert_equivalent(nnx.RNN(cell), rng.uniform(-3, 3, (B, T, F)))


def test_compare_dispatches_and_from_keras_names_the_twin(rng):
    rnn = nnx.RNN(random_cell(rng))
    assert lstm_ref.compare(rnn, rng.uniform(-1, 1, (B, T, F))).passed
    with pytest.raises(UnsupportedLayerError, match=r"from_flax\(module\)"):
        lstm_ref.from_keras(rnn)


REFUSALS = [
    (lambda: nnx.GRUCell(F, U, rngs=nnx.Rngs(0)), {}, UnsupportedLayerError, "GRUCell"),
    (lambda: nnx.RNN(nnx.SimpleCell(F, U, rngs=nnx.Rngs(0))), {}, UnsupportedLayerError,
     "SimpleCell in the nnx.RNN"),
    (lambda: nnx.LSTMCell(F, U, gate_fn=jax.nn.gelu, rngs=nnx.Rngs(0)), {},
     UnsupportedLayerError, "gate_fn must be one of .* received gelu"),
    (lambda: nnx.LSTMCell(F, U, activation_fn=jax.nn.leaky_relu, rngs=nnx.Rngs(0)), {},
     UnsupportedLayerError, "activation_fn .* received leaky_relu"),
    (lambda: nnx.LSTMCell(F, U, dtype=jnp.bfloat16, rngs=nnx.Rngs(0)), {}, OptionError,
     "computes in bfloat16"),
    (lambda: nnx.RNN(nnx.LSTMCell(F, U, rngs=nnx.Rngs(0))), dict(wrong=1), OptionError,
     "received wrong"),
    (lambda: nnx.RNN(nnx.LSTMCell(F, U, rngs=nnx.Rngs(0))), dict(precision="fast"), OptionError,
     "precision must be one of"),
    (lambda: nnx.RNN(nnx.LSTMCell(F, U, rngs=nnx.Rngs(0))), dict(seq_lengths=[T, 0, 1, 2]),
     Exception, "seq_lengths"),
    (lambda: nnx.RNN(nnx.LSTMCell(F, U, rngs=nnx.Rngs(0))), dict(initial_state=np.zeros((B, U))),
     ShapeError, r"initial_carry must be the carry \(c, h\)"),
    (lambda: nnx.RNN(nnx.LSTMCell(F, U, rngs=nnx.Rngs(0))),
     dict(initial_state=(np.zeros((B, U)), np.zeros((B, U + 1)))), ShapeError,
     r"initial_carry\[1\] \(h\) has shape \(4, 6\); expected \(4, 5\)"),
    (lambda: nnx.LSTMCell(F, U, rngs=nnx.Rngs(0)), dict(reverse=True), OptionError,
     "reverse apply to nnx.RNN"),
]


@pytest.mark.parametrize("make, options, error, message", REFUSALS,
                         ids=[r[3].split(" ")[0].strip("\\") for r in REFUSALS])
def test_refusals_are_one_line_and_name_the_argument(rng, make, options, error, message):
    with pytest.raises(error, match=message) as info:
        lstm_ref.compare(make(), rng.uniform(-1, 1, (B, T, F)), **options)
    assert "\n" not in str(info.value)


def test_inputs_of_the_wrong_shape_are_refused(rng):
    rnn = nnx.RNN(nnx.LSTMCell(F, U, rngs=nnx.Rngs(0)))
    with pytest.raises(ShapeError, match="inputs have 4 features .* expected in_features = 3"):
        lstm_ref.compare(rnn, np.zeros((B, T, 4)))
    with pytest.raises(ShapeError, match=r"inputs must be \(batch, time, features\)"):
        lstm_ref.from_flax(rnn)(np.zeros((T, F)))
