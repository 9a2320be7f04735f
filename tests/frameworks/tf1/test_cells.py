"""TF1's BasicLSTMCell and LSTMCell (tf_keras's legacy cells): what num_units is, the twin of
every option against the cell run by dynamic_rnn, every way of running a whole sequence, and
clear errors for what lstm_ref cannot mirror."""

from collections import namedtuple

import numpy as np
import pytest

pytest.importorskip("tf_keras")
tf = pytest.importorskip("tensorflow")

import lstm_ref  # noqa: E402
from lstm_ref.frameworks.tf1 import cells as tf1  # noqa: E402
from lstm_ref.frameworks.tf1.runners import EXECUTIONS  # noqa: E402
from lstm_ref.errors import (DTypeError, OptionError, ShapeError,  # noqa: E402
                             UnsupportedLayerError, ValueRangeError)

legacy = tf1.legacy_cells()
# Every TF1 cell's constructor warns that it is deprecated, and a cell in a v1 graph that
# layer.updates will go: known, and not the subject here.
pytestmark = [pytest.mark.filterwarnings(r"ignore:`tf\.nn\.rnn_cell\..*` is deprecated"),
              pytest.mark.filterwarnings(r"ignore:`layer\.updates` will be removed")]

B, T, F, U = 3, 7, 4, 5
HC = namedtuple("HC", ("h", "c"))  # a state pair named in Keras's order


def built(cell, rng, features=F):
    """The cell built for ``features`` inputs, every variable (every gate) drawn at random."""
    cell.build((None, features))
    for variable in cell.variables:
        variable.assign(rng.normal(0, 0.7, variable.shape).astype(variable.dtype.name))
    return cell


def inputs(rng, cell, batch=B):
    x = rng.uniform(-1, 1, (batch, T, F)).astype("float32")
    state = legacy.LSTMStateTuple(rng.normal(0, 1, (batch, cell.state_size.c)).astype("float32"),
                                  rng.uniform(-1, 1, (batch, cell.output_size)).astype("float32"))
    return x, state


def test_num_units_is_the_size_of_c_and_h_and_h_is_num_proj_when_set(rng):
    """"What is num_units in BasicLSTMCell?" Asked of the cell itself: the size of the state,
    c and h (the output of every step), whatever the number of steps T or of features F."""
    x = rng.uniform(-1, 1, (2, 9, 3)).astype("float32")  # batch 2, T = 9 steps, F = 3 features
    cell = legacy.BasicLSTMCell(num_units=7)
    outputs, state = tf.compat.v1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    assert outputs.shape == (2, 9, 7)                       # one h per step, 7 wide
    assert (state.c.shape, state.h.shape) == ((2, 7), (2, 7))
    assert cell._kernel.shape == (3 + 7, 4 * 7)             # [x_t, h_{t-1}] -> 4 gates of 7
    assert cell._bias.shape == (4 * 7,)
    twin = lstm_ref.from_tf1_cell(cell)
    assert (twin.num_units, twin.state_size) == (7, (7, 7))
    # 4 * ((F + U) * U + U) parameters, every one of the cell's.
    assert twin.weights.param_count() == 4 * ((3 + 7) * 7 + 7) == 308
    assert twin.weights.param_count() == sum(int(np.prod(v.shape)) for v in cell.variables)
    twin_outputs, twin_state = twin(x)
    assert twin_outputs.shape == outputs.shape
    assert (twin_state.c.shape, twin_state.h.shape) == ((2, 7), (2, 7))

    # With a projection, h (and so every output) has num_proj units; c keeps num_units.
    cell = legacy.LSTMCell(num_units=7, num_proj=4)
    outputs, state = tf.compat.v1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    assert outputs.shape == (2, 9, 4)
    assert (state.c.shape, state.h.shape) == ((2, 7), (2, 4))
    assert cell._kernel.shape == (3 + 4, 4 * 7)             # h_{t-1} is 4 wide now
    assert cell._proj_kernel.shape == (7, 4)
    twin = lstm_ref.from_tf1_cell(cell)
    assert (twin.num_units, twin.num_proj, twin.output_size) == (7, 4, 4)
    assert tuple(twin.state_size) == (7, 4)
    assert twin.weights.param_count() == sum(int(np.prod(v.shape)) for v in cell.variables)


OPTIONS = [
    ("BasicLSTMCell", {}),
    ("BasicLSTMCell", {"forget_bias": 0.0, "activation": "relu"}),
    ("LSTMCell", {}),
    ("LSTMCell", {"forget_bias": -1.5}),
    ("LSTMCell", {"use_peepholes": True}),
    ("LSTMCell", {"cell_clip": 0.3}),
    ("LSTMCell", {"num_proj": 3}),
    ("LSTMCell", {"num_proj": 8, "proj_clip": 0.2}),
    ("LSTMCell", {"proj_clip": 0.2}),  # no projection: TF1 ignores proj_clip, so must the twin
    ("LSTMCell", {"activation": "tanh"}),  # tf_keras's tanh, where the default is tf.tanh
    ("LSTMCell", {"activation": "hard_sigmoid"}),  # Keras 2's
    ("LSTMCell", {"activation": "softsign"}),
    ("LSTMCell", {"activation": tf.nn.relu6}),  # a TensorFlow op as the activation
    ("LSTMCell", {"use_peepholes": True, "cell_clip": 0.3, "num_proj": 3, "proj_clip": 0.2,
                  "forget_bias": 0.5, "activation": "elu"}),
]


def option_id(value):
    if isinstance(value, str):
        return value
    return ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in value.items()) or "defaults"


@pytest.mark.parametrize("kind,options", OPTIONS, ids=option_id)
def test_twin_of_every_option_matches_the_cell(kind, options, rng):
    cell = built(getattr(legacy, kind)(U, **options), rng)
    x, state = inputs(rng, cell)
    report = lstm_ref.compare(cell, x, initial_state=state)
    assert report.passed, report.summary()
    assert list(report.tensors) == ["h", "c", "output", "state_h", "state_c"]
    twin = lstm_ref.from_tf1_cell(cell)
    outputs, final = twin(x, initial_state=state)
    got_outputs, got_final = tf.compat.v1.nn.dynamic_rnn(cell, x, initial_state=state)
    # dynamic_rnn's structure: outputs (B, T, output_size), final state (c, h), c first.
    assert outputs.shape == tuple(got_outputs.shape)
    assert final._fields == got_final._fields == ("c", "h")
    assert [a.shape for a in final] == [tuple(a.shape) for a in got_final]
    # The twin *is* the reference: its values are forward()'s, bit for bit.
    trace = lstm_ref.forward(x, twin.weights, initial_state=[state.h, state.c])
    np.testing.assert_array_equal(outputs, trace.outputs)
    np.testing.assert_array_equal(final.c, trace.final_c)
    assert twin.weights.forget_bias == cell._forget_bias  # an option, not folded into the bias


def test_forget_bias_and_weights_are_read_exactly(rng):
    cell = built(legacy.LSTMCell(U, use_peepholes=True, num_proj=3, forget_bias=0.25), rng)
    w = lstm_ref.from_tf1_cell(cell).weights
    kernel, bias = cell._kernel.numpy(), cell._bias.numpy()
    i, j, f, o = np.split(kernel, 4, axis=1)
    np.testing.assert_array_equal(w.kernel, np.concatenate([i, f, j, o], axis=1)[:F])
    np.testing.assert_array_equal(w.recurrent_kernel, np.concatenate([i, f, j, o], axis=1)[F:])
    b_i, b_j, b_f, b_o = np.split(bias, 4)
    np.testing.assert_array_equal(w.bias, np.concatenate([b_i, b_f, b_j, b_o]))
    np.testing.assert_array_equal(w.peephole, np.stack([cell._w_i_diag.numpy(),
                                                        cell._w_f_diag.numpy(),
                                                        cell._w_o_diag.numpy()]))
    np.testing.assert_array_equal(w.projection, cell._proj_kernel.numpy())
    assert (w.forget_bias, w.recurrent_activation.name) == (0.25, "sigmoid")


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_every_way_of_running_a_sequence(execution, rng):
    cell = built(legacy.LSTMCell(U, use_peepholes=True, cell_clip=0.5, num_proj=3,
                                 proj_clip=0.3, forget_bias=0.5), rng)
    x, state = inputs(rng, cell)
    lengths = np.array([T, 2, 0])
    report = lstm_ref.compare(cell, x, initial_state=state, sequence_length=lengths,
                              execution=execution)
    assert report.passed, report.summary()
    assert report.context["execution"] == execution
    # The cell still runs eagerly afterwards (the session path puts its class back).
    assert lstm_ref.compare(cell, x).passed


def test_sequence_length_as_dynamic_rnn(rng):
    cell = built(legacy.BasicLSTMCell(U), rng)
    x, state = inputs(rng, cell)
    twin = lstm_ref.from_tf1_cell(cell)
    lengths = np.array([T, 3, 0])
    outputs, final = twin(x, state, sequence_length=lengths)
    whole, _ = twin(x, state)
    np.testing.assert_array_equal(outputs[1, 3:], 0.0)  # past the length: zeros
    np.testing.assert_array_equal(outputs[2], 0.0)
    np.testing.assert_array_equal(final.h[1], whole[1, 2])  # the state at the last valid step
    np.testing.assert_array_equal(final.c[2], state.c[2])  # length 0: the initial state
    mask = np.arange(T)[None, :] < lengths[:, None]
    report = lstm_ref.compare(cell, x, initial_state=state, mask=mask)
    assert report.passed, report.summary()
    with pytest.raises(OptionError, match="must be right-padded"):
        lstm_ref.compare(cell, x, mask=mask[:, ::-1])
    with pytest.raises(ValueRangeError, match=r"sequence_length must lie in \[0, 7\]"):
        twin(x, sequence_length=[1, 2, T + 1])
    with pytest.raises(DTypeError, match="sequence_length must be integers"):
        twin(x, sequence_length=[1.0, 2.5, 3.0])
    # Whole floats are lengths, as dynamic_rnn casts them.
    np.testing.assert_array_equal(twin(x, sequence_length=[1.0, 2.0, 3.0])[0],
                                  twin(x, sequence_length=[1, 2, 3])[0])


def test_step_is_one_call_of_the_cell(rng):
    cell = built(legacy.LSTMCell(U, num_proj=3, use_peepholes=True), rng)
    x, state = inputs(rng, cell)
    twin = lstm_ref.from_tf1_cell(cell)
    h, new_state = twin.step(x[:, 0], state)
    outputs, final = twin(x[:, :1], state)
    np.testing.assert_array_equal(h, outputs[:, 0])
    np.testing.assert_array_equal(new_state.c, final.c)
    assert lstm_ref.compare(cell, x[:, :1], initial_state=state).passed


def test_the_twin_takes_and_returns_the_state_c_first_as_tf1(rng):
    """Without a projection c and h have the same size, so only the order tells them apart:
    the twin reads and returns (c, h) as dynamic_rnn does, which lstm_ref.forward takes with
    state_order="ch"; a TF1 state handed to forward as if it were Keras's [h, c] is refused
    (LSTMStateTuple names its fields), and as a plain pair computes another LSTM."""
    cell = built(legacy.LSTMCell(U), rng)
    x, state = inputs(rng, cell)
    assert state.c.shape == state.h.shape
    twin = lstm_ref.from_tf1_cell(cell)
    outputs, final = twin(x, initial_state=state)
    expected, expected_final = tf.compat.v1.nn.dynamic_rnn(cell, x, initial_state=state)
    # float32 against float64: well inside 1e-5 (a swapped state misses by far more, below).
    np.testing.assert_allclose(outputs, expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(final.c, expected_final.c.numpy(), atol=1e-5)
    trace = lstm_ref.forward(x, twin.weights, initial_state=state, state_order="ch")
    np.testing.assert_array_equal(outputs, trace.outputs)
    for got, want in zip(final, trace.final_state("ch")):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(OptionError, match=r"LSTMStateTuple\('c', 'h'\), c first, but "
                                          r"state_order='hc' reads h first"):
        lstm_ref.forward(x, twin.weights, initial_state=state)
    swapped = lstm_ref.forward(x, twin.weights, initial_state=tuple(state))
    assert np.abs(swapped.outputs - outputs).max() > 0.01
    with pytest.raises(OptionError, match=r"state_order='ch' reads c first"):
        twin(x, initial_state=HC(h=state.h, c=state.c))


def test_proj_clip_without_num_proj_is_ignored_by_tf1_and_by_the_twin(rng):
    """TF1's LSTMCell accepts proj_clip without num_proj and clips nothing (its call clips
    inside ``if self._num_proj is not None``): the same cell with and without a tiny proj_clip
    computes the same outputs, bit for bit, far outside the clip. LSTMWeights keeps the value
    and ignores it as well."""
    plain = built(legacy.LSTMCell(U), rng)
    clipped = legacy.LSTMCell(U, proj_clip=0.01)
    clipped.build((None, F))
    for target, source in zip(clipped.variables, plain.variables):
        target.assign(source)
    x, state = inputs(rng, plain)
    expected, _ = tf.compat.v1.nn.dynamic_rnn(plain, x, initial_state=state)
    got, _ = tf.compat.v1.nn.dynamic_rnn(clipped, x, initial_state=state)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert np.abs(got.numpy()).max() > 0.1  # a clip at 0.01 would have bound
    twin = lstm_ref.from_tf1_cell(clipped)
    assert twin.weights.proj_clip == 0.01 and "proj_clip" not in twin.weights.options()
    np.testing.assert_array_equal(twin(x, initial_state=state)[0],
                                  lstm_ref.from_tf1_cell(plain)(x, initial_state=state)[0])
    assert lstm_ref.compare(clipped, x, initial_state=state).passed


def test_an_unbuilt_cell(rng):
    cell = legacy.LSTMCell(U, num_proj=2)
    with pytest.raises(UnsupportedLayerError, match="is not built, so it has no weights yet"):
        lstm_ref.from_tf1_cell(cell)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    report = lstm_ref.compare(cell, x)  # built on x, as dynamic_rnn's first call would
    assert report.passed, report.summary()
    assert cell.built and "by compare" in report.context["built"]


def test_float64_cells_pass_their_own_entry(rng):
    cell = built(legacy.LSTMCell(U, use_peepholes=True, num_proj=3, dtype="float64"), rng)
    x, state = inputs(rng, cell)
    report = lstm_ref.compare(cell, x, initial_state=state)
    assert report.passed, report.summary()
    assert report.tolerance.dtype == "float64"


@pytest.mark.parametrize("make,message", [
    (lambda: legacy.GRUCell(U), r"received .*GRUCell \(another TF1 cell"),
    (lambda: legacy.BasicRNNCell(U), "received .*BasicRNNCell"),
    (lambda: legacy.MultiRNNCell([legacy.LSTMCell(U), legacy.LSTMCell(U)]), "MultiRNNCell"),
    (lambda: __import__("tf_keras").layers.LSTMCell(U), r"a Keras LSTMCell: wrap it in an RNN"),
    (lambda: legacy.LSTMCell(U, state_is_tuple=False), "state_is_tuple=False"),
    (lambda: legacy.BasicLSTMCell(U, state_is_tuple=False), "state_is_tuple=False"),
    (lambda: legacy.LSTMCell(U, num_unit_shards=2), "num_unit_shards=2"),
    (lambda: "an LSTM", "received builtins.str"),
])
def test_unsupported_cells_are_clear_errors(make, message):
    with pytest.raises(UnsupportedLayerError, match=message):
        lstm_ref.from_tf1_cell(make())


def test_compare_routes_only_tf1_lstm_cells(rng):
    with pytest.raises(UnsupportedLayerError, match="GRUCell"):
        lstm_ref.compare(legacy.GRUCell(U), np.zeros((B, T, F), "float32"))
    with pytest.raises(UnsupportedLayerError,
                       match=r"a TF1 cell, not a Keras layer: its twin is lstm_ref.from_tf1_cell"):
        lstm_ref.from_keras(built(legacy.LSTMCell(U), rng))


def test_a_custom_activation_is_a_clear_error(rng):
    cell = built(legacy.LSTMCell(U, activation=lambda v: 2 * v), rng)
    with pytest.raises(UnsupportedLayerError, match="activation .* is neither a tf_keras "
                                                    "built-in activation nor"):
        lstm_ref.from_tf1_cell(cell)


def test_weights_that_disagree_with_the_declared_sizes_are_refused(rng):
    good = {"kernel": rng.normal(size=(F + 3, 4 * U)), "bias": rng.normal(size=4 * U),
            "projection": rng.normal(size=(U, 3))}
    assert tf1.tf1_weights(good, U, num_proj=3).output_size == 3
    cases = [
        ({**good, "kernel": rng.normal(size=(F + 3, 4 * U + 4))}, {}, ShapeError,
         r"variables\['kernel'\] must have shape \(features \+ 3, 4 \* num_units\) = "
         r"\(features \+ 3, 20\).*received shape \(7, 24\)"),
        ({**good, "kernel": rng.normal(size=(3, 4 * U))}, {}, ShapeError, "features >= 1"),
        ({**good, "bias": rng.normal(size=4 * U - 1)}, {}, ShapeError,
         r"variables\['bias'\] has shape \(19,\); expected \(20,\)"),
        ({**good, "projection": rng.normal(size=(U, 4))}, {}, ShapeError,
         r"variables\['projection'\] has shape \(5, 4\); expected \(5, 3\)"),
        (good, {"num_proj": None}, OptionError, "a projection variable comes with num_proj"),
        ({**good, "w_i_diag": np.ones(U)}, {}, OptionError, "peepholes come as"),
        ({**good, "w_i_diag": np.ones(U), "w_f_diag": np.ones(U), "w_o_diag": np.ones(U + 1)},
         {}, ShapeError, r"variables\['w_o_diag'\] has shape \(6,\); expected \(5,\)"),
        ({**good, "gamma": np.ones(U)}, {}, OptionError, "unknown names"),
    ]
    for variables, overrides, error, message in cases:
        with pytest.raises(error, match=message):
            tf1.tf1_weights(variables, U, **{"num_proj": 3, **overrides})
    # A cell whose variable was swapped for one of another shape (a bad checkpoint restore).
    cell = built(legacy.LSTMCell(U), rng)
    cell._kernel = tf.Variable(rng.normal(size=(F + U, 4 * U + 4)).astype("float32"))
    with pytest.raises(ShapeError, match=r"variables\['kernel'\] must have shape"):
        lstm_ref.from_tf1_cell(cell)


def test_bad_inputs_are_clear_errors(rng):
    cell = built(legacy.LSTMCell(U, num_proj=3), rng)
    twin = lstm_ref.from_tf1_cell(cell)
    x, state = inputs(rng, cell)
    with pytest.raises(ShapeError, match=r"initial_state.c has shape \(3, 3\); expected \(3, 5\) "
                                         r"\(\(batch, num_units\): c comes first"):
        twin(x, initial_state=(state.h, state.c))  # Keras's [h, c] order
    with pytest.raises(ShapeError, match="initial_state must be an LSTMStateTuple"):
        twin(x, initial_state=state.c)
    with pytest.raises(ShapeError, match=r"x has features \(last axis\) 2; expected 4"):
        lstm_ref.compare(cell, x[..., :2])
    with pytest.raises(OptionError, match="execution must be one of"):
        lstm_ref.compare(cell, x, execution="graph")
