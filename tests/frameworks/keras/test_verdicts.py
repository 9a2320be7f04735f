"""The verdict of every Keras path held to broken layers: a NaN somewhere must not hide a
broken gradient, 0 * inf is not agreement, a check that compared nothing is not a pass, and a
cell or layer that returns NaN, inf or garbage in one row or one step fails there, through
compare (plain LSTM, RNN(cell), Bidirectional, stacked cells, models) and compare_gradients.

The broken layers are tests/frameworks/keras/garbage.py's. Tests of cases that an engine
without the verdict's rules passed say in one line how that was shown.
"""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import report
from lstm_ref.errors import InconclusiveError
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
if keras.backend.backend() != "tensorflow":
    pytest.skip("the broken cells are written with TensorFlow ops; gradients use "
                "tf.GradientTape", allow_module_level=True)

from tests.frameworks.keras.garbage import (BROKEN, CutCarryCell, GarbageLSTM,  # noqa: E402
                                            GarbageLSTMCell, GradientGarbageCell, mark)

B, T, F, U = 3, 6, 3, 4
NAN_SOURCES = ("x", "d_outputs", "masked padding")
ROW, STEP = 1, 3  # where a garbage cell breaks: row 1 at time step 3


def rnn(cell, rng, shape=(B, T, F), **options):
    """keras.layers.RNN over ``cell``, returning sequences, built, every weight random."""
    return build_with_random_weights(keras.layers.RNN(cell, return_sequences=True, **options),
                                     rng, shape)


def where(failure):
    return failure.tensor, failure.step, failure.batch


# ------------------------------------------------------------ a NaN hides a broken gradient


def nan_case(rng, source):
    """x, d_outputs, mask (float32) with a NaN in row 0 from ``source``: one element of x, of
    d_outputs at the last step, or of x at a masked step."""
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    d_out = rng.normal(size=(B, T, U)).astype("float32")
    mask = None
    if source == "x":
        x[0, 2, 1] = np.nan
    elif source == "d_outputs":
        d_out[0, T - 1, 0] = np.nan
    else:
        mask = np.ones((B, T), bool)
        mask[0, 4:] = False
        x[0, 5, 0] = np.nan
    return x, d_out, mask


@pytest.mark.parametrize("source", NAN_SOURCES)
def test_a_nan_in_one_row_does_not_hide_a_cut_c_gradient(source, seed):
    """A cell whose gradient through c_{t-1} is cut fails in the rows that are finite on both
    sides, with a NaN in row 0 from x, d_outputs or the masked padding; the same NaN beside
    Keras's own cell passes. Shown on an engine whose bound one NaN poisons: PASSED there."""
    x, d_out, mask = nan_case(np.random.default_rng(seed), source)
    sound = rnn(keras.layers.LSTMCell(U), np.random.default_rng(seed))
    healthy = lstm_ref.compare_gradients(sound, x, mask=mask, d_outputs=d_out)
    assert healthy.passed, healthy.summary()
    cut = rnn(CutCarryCell(U), np.random.default_rng(seed))
    result = lstm_ref.compare_gradients(cut, x, mask=mask, d_outputs=d_out)
    assert result.failed, result.summary()
    failure = result.first_failure
    assert failure.tensor in ("dh", "dc") and failure.batch > 0, result.summary()
    assert np.isfinite(failure.actual) and np.isfinite(failure.expected)
    assert failure.error > 1e-3 > failure.bound


# ------------------------------------------------------------ 0 * inf is not agreement


def soak_exponential_case(return_sequences=False, units=1, time=9, seed=0):
    """The float64 exponential case of tests/soak (1 unit, 9 steps, weights std 0.3, seed 0):
    its forward pass goes through 0 * inf to NaN at step 6, from finite inputs."""
    from tests.soak.test_soak import build_keras_layer, exponential_config, keras_inputs

    config = exponential_config(units=units, time=time, return_sequences=return_sequences,
                                seed=seed)
    rng = np.random.default_rng(config["seed"])
    layer = build_keras_layer(config, "float64", rng)
    x, _, _ = keras_inputs(config, rng)
    return layer, x


def test_zero_times_inf_forward_is_inconclusive():
    """Keras's NaN where the reference is NaN from finite inputs (0 * inf) is not agreement:
    the last output, all the layer returns, is not compared; INCONCLUSIVE, and
    assert_equivalent raises. Shown on an engine that counted NaN == NaN: PASSED there."""
    layer, x = soak_exponential_case()
    result = lstm_ref.compare(layer, x)
    assert result.verdict == report.INCONCLUSIVE, result.summary()
    # NaN on both sides: the reference's and Keras's last output
    assert np.isnan(lstm_ref.from_keras(layer)(x)).all()
    assert np.isnan(keras.ops.convert_to_numpy(layer(x))).all()
    assert result.tensors["output"].compared == 0
    assert result.tensors["c"].cuts == {report.UNDETERMINED: (6, [0])}, result.summary()
    with pytest.raises(InconclusiveError):
        lstm_ref.assert_equivalent(layer, x)


def test_zero_times_inf_gradients_are_inconclusive():
    """The same case's gradients: its forward pass is not determined, so no gradient is
    compared (they are NaN on both sides); INCONCLUSIVE, and assert_gradients_equivalent
    raises. Shown on an engine that counted NaN == NaN: PASSED there."""
    layer, x = soak_exponential_case()
    result = lstm_ref.compare_gradients(layer, x)
    assert result.verdict == report.INCONCLUSIVE, result.summary()
    assert result.not_compared == result.size and result.size > 0
    assert all(set(t.not_compared) == {report.FORWARD_UNDETERMINED}
               for t in result.tensors.values())
    with pytest.raises(InconclusiveError):
        lstm_ref.assert_gradients_equivalent(layer, x)


def test_zero_times_inf_case_still_fails_garbage_where_it_is_determined():
    # Steps 0 to 5 of the same case are determined: a NaN there fails.
    layer, x = soak_exponential_case(return_sequences=True)
    broken = keras.layers.RNN(GarbageLSTMCell(1, kind="nan", activation="exponential",
                                              use_bias=False, dtype="float64"),
                              return_sequences=True, dtype="float64")
    broken.build(x.shape)
    broken.set_weights(layer.get_weights())
    result = lstm_ref.compare(broken, mark(x, 0, 2))
    assert result.failed and where(result.first_failure) == ("h", 2, 0), result.summary()


# ------------------------------------------------------------ vacuous passes


def beyond_float32_layer(cell_kind="zero"):
    """A float32 RNN over an exponential one-unit cell returning zeros in rows 0 and 1 at
    every step, weights making h = o exp(i exp(z_c)) = 1.2e39 for x = 5.2."""
    cell = GarbageLSTMCell(1, kind=cell_kind, rows=(0, 1), activation="exponential",
                           use_bias=False)
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer.build((None, 4, 1))
    layer.set_weights([np.array([[0.0, 0.0, 1.0, 0.0]], "float32"), np.zeros((1, 4), "float32")])
    return layer


def test_zeros_beyond_float32_range_are_inconclusive_not_passed():
    """A float32 exponential cell returning zeros where the reference is 1.2e39 from step 0:
    nothing can be compared, INCONCLUSIVE, and assert_equivalent raises. Shown on an engine
    where a check cut at step 0 had passed=True: PASSED there."""
    layer = beyond_float32_layer()
    x = np.full((1, 4, 1), 5.2, "float32")
    result = lstm_ref.compare(layer, x)
    assert result.verdict == report.INCONCLUSIVE and not result.passed, result.summary()
    assert result.tensors["h"].cuts == {report.HORIZON: (0, [0])}
    with pytest.raises(InconclusiveError, match="INCONCLUSIVE"):
        lstm_ref.assert_equivalent(layer, x)
    assert lstm_ref.assert_equivalent(layer, x, allow_inconclusive=True).inconclusive


def test_zeros_beside_a_row_beyond_float32_range_fail():
    """The same cell with a second row that float32 can hold: its zeros fail at step 0.
    Shown on an engine with one horizon for every row: PASSED there."""
    x = np.full((2, 4, 1), 5.2, "float32")
    x[1] = 0.1
    result = lstm_ref.compare(beyond_float32_layer(), x)
    assert result.failed and where(result.first_failure) == ("h", 0, 1), result.summary()


def outlier_layer(cell, rng):
    """A relu layer whose unit 0's i and c kernel columns sum the features (x = 1e38 in
    every feature makes z_c = 3e38: float32's probes leave the range)."""
    layer = rnn(cell, rng)
    kernel, *rest = layer.get_weights()
    kernel[:, 0] = kernel[:, 2 * U] = 1.0
    layer.set_weights([kernel, *rest])
    return layer


def test_an_outlier_row_does_not_switch_off_the_other_rows_gradients(seed):
    """One row reads x = 1e38 at its last step: its gradients and the weights' (sums over it)
    are not compared, every other row's are. Keras's own cell is INCONCLUSIVE (the weights),
    a cell whose gradient through c_{t-1} is cut FAILED in another row. Shown on an engine
    that switched off every gradient of every row: PASSED (no tensor) there."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    x[0, T - 1] = 1e38
    healthy = lstm_ref.compare_gradients(
        outlier_layer(keras.layers.LSTMCell(U, activation="relu"), np.random.default_rng(seed)), x)
    assert healthy.inconclusive, healthy.summary()
    dh = healthy.tensors["dh"]
    assert dh.compared == (B - 1) * T * U and dh.cuts == {report.FORWARD_UNDETERMINED: (T - 1, [0])}
    assert healthy.tensors["d_kernel"].compared == 0
    cut = lstm_ref.compare_gradients(
        outlier_layer(CutCarryCell(U, activation="relu"), np.random.default_rng(seed)), x)
    assert cut.failed and cut.first_failure.batch > 0, cut.summary()


# ------------------------------------------------------------ one broken row or step


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_cell_broken_at_one_element_fails_there(kind, go_backwards, rng):
    """RNN(cell): NaN, inf or garbage in h and c of one row at one step fails there (in
    processing order: time reversed for go_backwards), in h first."""
    layer = rnn(GarbageLSTMCell(U, kind=kind), rng, go_backwards=go_backwards)
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    result = lstm_ref.compare(layer, x)
    step = T - 1 - STEP if go_backwards else STEP
    assert result.failed and where(result.first_failure) == ("h", step, ROW), result.summary()
    assert not result.tensors["output"].passed and not result.tensors["c"].passed


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("execution", ["eager", "function"])
def test_a_plain_lstm_broken_in_its_output_fails_there(kind, execution, rng):
    """keras.layers.LSTM whose own output is wrong at one element (its cell right): the
    stepped cell passes, the output fails at that row and step."""
    layer = build_with_random_weights(GarbageLSTM(U, kind=kind, return_sequences=True,
                                                  return_state=True), rng, (B, T, F))
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    result = lstm_ref.compare(layer, x, execution=execution)
    assert result.failed and where(result.first_failure) == ("output", STEP, ROW), \
        result.summary()
    assert result.tensors["h"].passed and result.tensors["state_h"].passed
    assert result.tensors["output"].failures == U


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_backward_pass_fails_at_its_row_and_step(kind, rng):
    """A cell right forward whose gradient through c_t of one row at one step is NaN, inf or
    garbage: compare passes, compare_gradients fails at dx of that row and step (the latest
    step it shows at), and dc below it."""
    layer = rnn(GradientGarbageCell(U, kind=kind), rng)
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    assert lstm_ref.compare(layer, x).passed
    result = lstm_ref.compare_gradients(layer, x)
    assert result.failed and where(result.first_failure) == ("dx", STEP, ROW), result.summary()
    assert result.tensors["dc"].first_failure.step == STEP - 1
    assert result.tensors["dh"].first_failure.batch == ROW


@pytest.mark.parametrize("kind", BROKEN)
def test_a_cell_broken_forward_fails_its_gradients(kind, rng):
    # Its gradients are as broken as its forward pass: in that row, from its step on.
    layer = rnn(GarbageLSTMCell(U, kind=kind), rng)
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    result = lstm_ref.compare_gradients(layer, x)
    assert result.failed, result.summary()
    for name in ("dh", "dc", "dx"):
        failure = result.tensors[name].first_failure
        assert failure.batch == ROW and failure.step >= STEP - 1, (name, result.summary())


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("merge_mode", ["concat", "mul", None])
def test_a_bidirectional_with_a_broken_backward_layer_fails_there(kind, merge_mode, rng):
    """Bidirectional whose backward layer's cell breaks one row at one time step: backward.h
    fails at that row, at the backward layer's processing step; the forward layer passes;
    the merged output fails in that row from time 0 (the backward layer reaches it last)."""
    forward = keras.layers.RNN(keras.layers.LSTMCell(U), return_sequences=True)
    backward = keras.layers.RNN(GarbageLSTMCell(U, kind=kind), return_sequences=True,
                                go_backwards=True)
    layer = build_with_random_weights(
        keras.layers.Bidirectional(forward, backward_layer=backward, merge_mode=merge_mode),
        rng, (B, T, F))
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    result = lstm_ref.compare(layer, x)
    assert result.failed, result.summary()
    failing = {name for name, t in result.tensors.items() if not t.passed}
    assert all(name.startswith("forward.") is False for name in failing), result.summary()
    backward_h = result.tensors["backward.h"].first_failure
    assert (backward_h.step, backward_h.batch) == (T - 1 - STEP, ROW)
    merged = result.tensors["output[1]" if merge_mode is None else "output"].first_failure
    assert (merged.step, merged.batch) == (0, ROW), result.summary()
    if merge_mode == "concat":
        assert merged.unit >= U  # the backward half


@pytest.mark.parametrize("kind", BROKEN)
def test_stacked_cells_broken_in_one_cell_fail_in_that_cell(kind, rng):
    """RNN([LSTMCell, broken LSTMCell]): the second cell breaks row 1 at every step; cell0
    passes, cell1.h fails at step 0 in row 1, and so does the output."""
    cells = [keras.layers.LSTMCell(U), GarbageLSTMCell(U, kind=kind, rows=(ROW,))]
    layer = rnn(cells, rng, return_state=True)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    result = lstm_ref.compare(layer, x)
    assert result.failed and where(result.first_failure) == ("cell1.h", 0, ROW), \
        result.summary()
    assert all(t.passed for name, t in result.tensors.items() if name.startswith("cell0."))
    assert result.tensors["output"].first_failure.batch == ROW


@pytest.mark.parametrize("kind", BROKEN)
def test_stacked_cells_broken_in_the_first_cell_fail_at_its_step(kind, rng):
    cells = [GarbageLSTMCell(U, kind=kind), keras.layers.LSTMCell(U)]
    layer = rnn(cells, rng)
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    result = lstm_ref.compare(layer, x)
    assert result.failed and where(result.first_failure) == ("cell0.h", STEP, ROW), \
        result.summary()


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("broken_layer", [0, 1])
def test_a_model_with_a_broken_lstm_fails_in_that_layer_and_end_to_end(kind, broken_layer,
                                                                         rng):
    """Sequential([Input, LSTM, LSTM]) with one layer's cell broken (the first at one row
    and step, the second in one row at every step): that layer's check fails there, the
    other layer's passes (the first's NaN reaches the second as an input: it propagates),
    and the model's output fails end to end in that row."""
    broken = (GarbageLSTMCell(U, kind=kind) if broken_layer == 0
              else GarbageLSTMCell(U, kind=kind, rows=(ROW,)))
    cells = [keras.layers.LSTMCell(U), keras.layers.LSTMCell(U)]
    cells[broken_layer] = broken
    layers = [keras.layers.RNN(cell, return_sequences=True, name=f"lstm{i}")
              for i, cell in enumerate(cells)]
    model = keras.Sequential([keras.Input((T, F), batch_size=B), *layers])
    model.set_weights([rng.normal(0, 0.7, w.shape).astype("float32")
                       for w in model.get_weights()])
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    result = lstm_ref.compare(model, x)
    assert result.failed, result.summary()
    failure = result.first_failure
    step = STEP if broken_layer == 0 else 0
    assert where(failure) == (f"lstm{broken_layer}/h", step, ROW), result.summary()
    other = f"lstm{1 - broken_layer}/"
    assert all(t.passed for name, t in result.tensors.items() if name.startswith(other)), \
        result.summary()
    output = result.tensors["model/output"].first_failure
    assert (output.step, output.batch) == (step, ROW)


# ------------------------------------------------------------ values past float64


def exponential_float64(layer_of_cell, shape):
    """A float64 layer over one-unit exponential cells with no recurrence into the gates:
    c_t = c_{t-1}/2 + exp(x_t)/2, h_t = exp(c_t)/2 (x = 6.2 makes h 1e212 by step 6)."""
    def cell():
        return keras.layers.LSTMCell(1, activation="exponential", use_bias=False,
                                     dtype="float64")

    layer = layer_of_cell(cell)
    layer.build(shape)
    weights = [np.array([[0.0, 0.0, 1.0, 0.0]]), np.zeros((1, 4))]
    layer.set_weights(weights * (len(layer.get_weights()) // 2))
    return layer


def test_a_bidirectional_product_that_overflows_is_not_compared():
    """Bidirectional(merge_mode="mul") of two float64 directions near 1e200 each: every
    direction is compared, their product overflows float64 in the reference and in Keras,
    so the merged output is undetermined and the verdict INCONCLUSIVE. Without this rule:
    PASSED (inf against a bound that overflowed to inf)."""
    layer = exponential_float64(lambda cell: keras.layers.Bidirectional(
        keras.layers.RNN(cell(), return_sequences=True, dtype="float64"), merge_mode="mul",
        dtype="float64"), (1, 7, 1))
    result = lstm_ref.compare(layer, np.full((1, 7, 1), 6.2))
    assert result.inconclusive, result.summary()
    assert result.tensors["output"].not_compared == {report.UNDETERMINED: 7}
    assert all(t.compared == t.size for name, t in result.tensors.items() if name != "output")


def test_a_weight_gradient_that_overflows_is_not_compared():
    """A float64 layer whose h reaches 1e187 with a loss at every step: Keras's and the
    reference's d_recurrent_kernel overflow to inf from finite inputs, so it is undetermined
    (INCONCLUSIVE), not FAILED; every other gradient is compared and passes. Without this
    rule: FAILED (inf against a NaN bound)."""
    layer = exponential_float64(
        lambda cell: keras.layers.RNN(cell(), return_sequences=True, dtype="float64"),
        (1, 4, 1))
    result = lstm_ref.compare_gradients(layer, np.full((1, 4, 1), 6.13),
                                        d_outputs=np.ones((1, 4, 1)))
    assert result.inconclusive, result.summary()
    assert result.tensors["d_recurrent_kernel"].not_compared == {report.UNDETERMINED: 4}
    assert all(t.compared == t.size for name, t in result.tensors.items()
               if name != "d_recurrent_kernel")


def test_a_nan_input_reaching_a_bidirectional_models_whole_row_is_compared_exactly(rng):
    """A NaN in x at step 3 of the only row reaches every step of a Bidirectional's output
    (the backward direction carries it to steps 0 to 2): NaN there is the input's, to be
    compared exactly, end to end as it is layer by layer."""
    model = keras.Sequential([keras.Input((T, F), batch_size=1), keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True), name="bi")])
    model.set_weights([rng.normal(0, 0.7, w.shape).astype("float32")
                       for w in model.get_weights()])
    x = rng.uniform(-1, 1, (1, T, F)).astype("float32")
    x[0, 3, 0] = np.nan
    result = lstm_ref.compare(model, x)
    assert result.tensors["bi/output"].compared == result.tensors["bi/output"].size
    output = result.tensors["model/output"]
    assert output.compared == output.size and not output.not_compared, result.summary()


# ------------------------------------------------------------ gradients of layers of parts


@pytest.mark.parametrize("kind", BROKEN)
def test_a_bidirectional_with_a_broken_backward_gradient_fails_there(kind, rng):
    """compare_gradients of a Bidirectional whose backward layer's gradient through c_t is
    NaN, inf or garbage at one row and time step: the backward direction's dx fails there (at
    its processing step), the forward direction's gradients pass, and the input's gradient
    fails in that row."""
    forward = keras.layers.RNN(keras.layers.LSTMCell(U), return_sequences=True)
    backward = keras.layers.RNN(GradientGarbageCell(U, kind=kind), return_sequences=True,
                                go_backwards=True)
    layer = build_with_random_weights(
        keras.layers.Bidirectional(forward, backward_layer=backward), rng, (B, T, F))
    x = mark(rng.uniform(-1, 1, (B, T, F)).astype("float32"), ROW, STEP)
    assert lstm_ref.compare(layer, x).passed
    result = lstm_ref.compare_gradients(layer, x)
    assert result.failed, result.summary()
    backward_dx = result.tensors["backward.dx"].first_failure
    assert (backward_dx.step, backward_dx.batch) == (T - 1 - STEP, ROW), result.summary()
    assert all(t.passed for name, t in result.tensors.items() if name.startswith("forward.")), \
        result.summary()
    assert result.tensors["dx"].first_failure.batch == ROW


@pytest.mark.parametrize("kind", BROKEN)
def test_stacked_cells_with_a_broken_gradient_in_one_cell_fail_in_that_row(kind, rng):
    """RNN([LSTMCell, cell whose gradient through c_t is broken in row 1 at every step]):
    compare_gradients fails, first at the last step in row 1, cell1.dx among the failing."""
    cells = [keras.layers.LSTMCell(U), GradientGarbageCell(U, kind=kind, rows=(ROW,))]
    layer = rnn(cells, rng)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    assert lstm_ref.compare(layer, x).passed
    result = lstm_ref.compare_gradients(layer, x)
    failure = result.first_failure
    assert result.failed and (failure.step, failure.batch) == (T - 1, ROW), result.summary()
    assert result.tensors["cell1.dx"].first_failure.batch == ROW


@pytest.mark.parametrize("kind", BROKEN)
def test_a_model_with_a_broken_gradient_in_one_layer_fails_in_that_row(kind, rng):
    """Sequential([Input, LSTM, LSTM with a broken gradient through c_t in row 1]):
    compare_gradients fails in row 1, in that layer's dx among others."""
    layers = [keras.layers.RNN(keras.layers.LSTMCell(U), return_sequences=True, name="lstm0"),
              keras.layers.RNN(GradientGarbageCell(U, kind=kind, rows=(ROW,)),
                               return_sequences=True, name="lstm1")]
    model = keras.Sequential([keras.Input((T, F), batch_size=B), *layers])
    model.set_weights([rng.normal(0, 0.7, w.shape).astype("float32")
                       for w in model.get_weights()])
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    result = lstm_ref.compare_gradients(model, x)
    assert result.failed and result.first_failure.batch == ROW, result.summary()
    assert result.tensors["lstm1/dx"].first_failure.batch == ROW
