"""Sensitivity of the Flax comparison: deliberately wrong cells (a __call__ with one bug) and
wrong readings of a correct cell's weights (a gate swap, a dropped bias) are each flagged at
the step and in the tensor where the bug first shows; a correct cell passes.

Cells are float32, weights random for every gate's layers and the biases non-zero, so no bug
hides behind identical or zero parameters; the carry starts at zero (lstm_ref's FIRST_SHOWS).
"""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nnx = pytest.importorskip("flax.nnx")

import lstm_ref  # noqa: E402
from lstm_ref.frameworks.flax import twin as flax_twin  # noqa: E402
from lstm_ref.weights import LSTMWeights  # noqa: E402
from tests.support.sensitivity import FIRST_SHOWS, assert_flagged_where_it_first_shows  # noqa: E402

jnp = jax.numpy
F, U, B, T = 3, 9, 4, 12


class BrokenCell(nnx.LSTMCell):
    """Flax's LSTMCell with one bug in its step (None: Flax's own equations)."""

    def __init__(self, *args, bug=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bug = bug

    def __call__(self, carry, inputs):
        c, h = carry
        x_i, x_f = self.ii(inputs), self.if_(inputs)
        if self.bug == "gates i/f swapped":
            x_i, x_f = x_f, x_i
        if self.bug == "recurrent term dropped":
            h = jnp.zeros_like(h)  # the h-side layers still add their bias
        h_i, h_f, h_g, h_o = self.hi(h), self.hf(h), self.hg(h), self.ho(h)
        if self.bug == "bias ignored":
            h_i, h_f, h_g, h_o = (layer(h) - layer.bias[...] for layer in
                                  (self.hi, self.hf, self.hg, self.ho))
        if self.bug == "gates i/f swapped":
            h_i, h_f = self.hf(h), self.hi(h)
        i, f = self.gate_fn(x_i + h_i), self.gate_fn(x_f + h_f)
        g = self.activation_fn(self.ig(inputs) + h_g)
        o = self.gate_fn(self.io(inputs) + h_o)
        new_c = f * c + i * g
        new_h = o * self.activation_fn(new_c)
        if self.bug == "relative drift 1e-5 in c":  # the carried c drifts; h_t is still right
            new_c = new_c * (1 + 1e-5)
        if self.bug == "state order swapped":
            return (new_h, new_c), new_h
        return (new_c, new_h), new_h


def broken_rnn(rng, bug=None):
    cell = BrokenCell(F, U, bug=bug, rngs=nnx.Rngs(0))
    for _, param in nnx.iter_graph(cell):
        if isinstance(param, nnx.Param):
            value = param.get_value()
            param.set_value(jnp.asarray(rng.normal(0, 0.7, value.shape), value.dtype))
    return nnx.RNN(cell)


def test_the_unbroken_cell_passes(rng):
    report = lstm_ref.compare(broken_rnn(rng), rng.uniform(-1, 1, (B, T, F)))
    assert report.passed, report.summary()


@pytest.mark.parametrize("bug", list(FIRST_SHOWS))
def test_a_broken_cell_is_flagged_where_the_bug_first_shows(rng, bug):
    report = lstm_ref.compare(broken_rnn(rng, bug), rng.uniform(-1, 1, (B, T, F)))
    assert_flagged_where_it_first_shows(report, bug)
    assert not report.tensors["output"].passed  # the RNN's own call shows it too


def swap_i_f(w):
    blocks = lambda a: np.split(a, 4, axis=-1)  # noqa: E731
    k, r, b = blocks(w.kernel), blocks(w.recurrent_kernel), blocks(w.bias)
    order = [1, 0, 2, 3]
    return LSTMWeights(np.concatenate([k[j] for j in order], -1),
                       np.concatenate([r[j] for j in order], -1),
                       np.concatenate([b[j] for j in order]), activation=w.activation.name,
                       recurrent_activation=w.recurrent_activation.name)


def drop_bias(w):
    return LSTMWeights(w.kernel, w.recurrent_kernel, None, activation=w.activation.name,
                       recurrent_activation=w.recurrent_activation.name)


@pytest.mark.parametrize("cell_class", [nnx.LSTMCell, nnx.OptimizedLSTMCell],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("misreading, bug", [(swap_i_f, "gates i/f swapped"),
                                             (drop_bias, "bias ignored")],
                         ids=["gate swap", "dropped bias"])
def test_a_wrong_reading_of_the_weights_fails(rng, monkeypatch, cell_class, misreading, bug):
    cell = cell_class(F, U, rngs=nnx.Rngs(0))
    for _, param in nnx.iter_graph(cell):
        if isinstance(param, nnx.Param):
            value = param.get_value()
            param.set_value(jnp.asarray(rng.normal(0, 0.7, value.shape), value.dtype))
    read = flax_twin.cell_weights
    monkeypatch.setattr(flax_twin, "cell_weights", lambda c: misreading(read(c)))
    report = lstm_ref.compare(nnx.RNN(cell), rng.uniform(-1, 1, (B, T, F)))
    assert_flagged_where_it_first_shows(report, bug)
