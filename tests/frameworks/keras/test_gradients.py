"""Keras gradients (tf.GradientTape) against the reference's backward pass, step by step: the
grid, masks, go_backwards, initial states, return modes, stateful chunks, execution paths,
tf_keras, and Keras cells whose forward pass is right but whose gradient is not."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.grids import keras as grid
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from tests.frameworks.keras.helpers import (failing, require_tensorflow_backend,
                                            uniform_inputs, uniform_states)
from tests.support.grids import assert_case_passes, parametrize_cases
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras, tf = require_tensorflow_backend()

from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402

B, T, F, U = 5, 8, 3, 4
# One row of each kind: all valid, left-padded, right-padded, a hole in the middle, all masked.
PATTERNS = np.array([[1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1],
                     [1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 1, 1, 1],
                     [0, 0, 0, 0, 0, 0, 0, 0]], bool)


def gradient_cases(grid_name):
    """The small grid by default (every pair of options, small sizes); the default one under
    --grid=full. Each case runs by its own execution path, of those a gradient is taken on
    (predict gives none)."""
    from lstm_ref.frameworks.keras.gradients import EXECUTIONS

    return grid.cases("default" if grid_name == "full" else "small", executions=EXECUTIONS)


pytest_generate_tests = parametrize_cases(gradient_cases)


def test_grid_gradients_match_the_reference(case):
    report = assert_case_passes(keras_cases.run_gradient_case, case)
    assert report.tensors, report.summary()
    assert report.context["execution"] == case.execution


def layer_and_inputs(rng, **options):
    layer = build_with_random_weights(keras.layers.LSTM(U, **options), rng, (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    state = uniform_states(rng, B, U)
    return layer, x, state


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("returns", ["sequences+state", "last"])
def test_masked_rows(go_backwards, zero_output_for_mask, returns, rng):
    layer = build_with_random_weights(keras.layers.RNN(
        keras.layers.LSTMCell(U), return_sequences=returns.startswith("sequences"),
        return_state=returns.endswith("state"), go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask), rng, (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    state = uniform_states(rng, B, U)
    report = lstm_ref.compare_gradients(layer, x, initial_state=state, mask=PATTERNS)
    assert report.passed, report.summary()
    assert set(report.tensors) >= {"dh", "dc", "dx", "dh0", "dc0", "d_kernel"}


@pytest.mark.parametrize("execution", ["eager", "function", "xla"])
@pytest.mark.parametrize("with_state", [False, True])
def test_execution_paths(execution, with_state, rng):
    layer, x, state = layer_and_inputs(rng, return_sequences=True, return_state=True)
    report = lstm_ref.compare_gradients(layer, x, initial_state=state if with_state else None,
                                        execution=execution)
    assert report.passed, report.summary()


def test_given_upstream_gradients_are_used(rng):
    layer, x, _ = layer_and_inputs(rng)
    d_outputs = rng.normal(size=(B, U)).astype("float32")
    report = lstm_ref.compare_gradients(layer, x, d_outputs=d_outputs)
    assert report.passed, report.summary()
    zero = lstm_ref.compare_gradients(layer, x, d_outputs=np.zeros((B, U), "float32"))
    assert zero.passed and zero.tensors["d_kernel"].worst.expected == 0


@pytest.mark.parametrize("chunks", [[8], [3, 5], [1, 1, 6]])
def test_stateful_chunks(chunks, rng):
    layer = build_with_random_weights(keras.layers.LSTM(U, stateful=True, return_sequences=True),
                                      rng, (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    twin = lstm_ref.from_keras(layer)
    start = 0
    for size in chunks:
        report = lstm_ref.compare_gradients(layer, x[:, start:start + size])
        assert report.passed, report.summary()
        if start:  # the carried state is the chunk's initial state, and has a gradient
            assert {"dh0", "dc0"} <= set(report.tensors)
        twin(x[:, start:start + size])
        start += size
    # compare_gradients advanced the layer's state once per call, as the user's call would
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.states[1]), twin.states[1],
                               atol=1e-5)


def test_float64_layer(rng):
    layer = build_with_random_weights(keras.layers.LSTM(U, return_sequences=True,
                                                        dtype="float64"), rng, (B, T, F))
    report = lstm_ref.compare_gradients(layer, rng.uniform(-1, 1, (B, T, F)))
    assert report.passed, report.summary()
    assert report.tolerance.dtype == "float64"


def test_tf_keras_layer(rng):
    tf_keras = pytest.importorskip("tf_keras")
    layer = build_with_random_weights(tf_keras.layers.LSTM(
        U, return_sequences=True, return_state=True, recurrent_activation="hard_sigmoid"),
        rng, (B, T, F))
    x = uniform_inputs(rng, B, T, F)
    report = lstm_ref.compare_gradients(layer, x, mask=PATTERNS)
    assert report.passed, report.summary()


class GradientBugCell(keras.layers.LSTMCell):
    """An LSTMCell whose forward pass is Keras's own, with one bug in its gradient only."""

    def __init__(self, units, bug, **kwargs):
        super().__init__(units, **kwargs)
        self.bug = bug

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        recurrent_h = tf.stop_gradient(h_prev) if self.bug == "recurrent gradient dropped" else h_prev
        z = inputs @ self.kernel + recurrent_h @ self.recurrent_kernel
        z = z + (tf.stop_gradient(tf.convert_to_tensor(self.bias)) if self.bug == "bias gradient dropped" else self.bias)
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        i, f, o = (self.recurrent_activation(v) for v in (z_i, z_f, z_o))
        carried = tf.stop_gradient(c_prev) if self.bug == "no dc_t/dc_(t-1) term" else c_prev
        c = f * carried + i * self.activation(z_c)
        if self.bug == "gradient drift 1e-5 in c":
            c = drift_gradient(c)
        h = o * self.activation(c)
        return h, [h, c]


@tf.custom_gradient
def drift_gradient(value):
    return tf.identity(value), lambda upstream: upstream * (1 + 1e-5)


GRADIENT_BUGS = {  # bug -> the tensors that must flag it
    "no dc_t/dc_(t-1) term": {"dc", "dh", "d_kernel"},
    "bias gradient dropped": {"d_bias"},
    "recurrent gradient dropped": {"dh", "d_kernel"},
    # A 1e-5 relative drift reaches the weights' sums too, but whether it exceeds their floor
    # (relative to the adjoints, not to the sum's own, possibly cancelled, value) depends on
    # the inputs: there it must at least move the sum closer to its bound.
    "gradient drift 1e-5 in c": {"dc"},
}


@pytest.mark.parametrize("bug", GRADIENT_BUGS)
def test_gradient_bugs_are_flagged(bug, rng):
    def layer(cell_bug):
        keras.utils.set_random_seed(3)
        built = keras.layers.RNN(GradientBugCell(U, cell_bug), return_sequences=True)
        return build_with_random_weights(built, np.random.default_rng(3), (B, T, F))

    x = uniform_inputs(rng, B, T, F)
    healthy = lstm_ref.compare_gradients(layer(None), x)
    assert healthy.passed, healthy.summary()
    assert lstm_ref.compare(layer(bug), x).passed  # the forward pass is right
    report = lstm_ref.compare_gradients(layer(bug), x)
    assert not report.passed
    assert GRADIENT_BUGS[bug] <= failing(report), report.summary()
    assert "FAILED at" in report.summary()
    if bug == "gradient drift 1e-5 in c":
        assert (report.tensors["d_kernel"].worst_ratio
                > 2 * healthy.tensors["d_kernel"].worst_ratio), report.summary()


def test_the_first_failure_is_the_latest_step(rng):
    keras.utils.set_random_seed(3)
    layer = build_with_random_weights(keras.layers.RNN(
        GradientBugCell(U, "no dc_t/dc_(t-1) term"), return_sequences=True), rng, (B, T, F))
    report = lstm_ref.compare_gradients(layer, uniform_inputs(rng, B, T, F))
    # dc_T-1 has no later step to lose a term from; the first departure is at step T - 2
    assert report.first_failing_step == T - 2, report.summary()
    assert report.tensors["dc"].passed is False


def test_bad_input(rng):
    layer, x, _ = layer_and_inputs(rng, return_state=True)
    with pytest.raises(ShapeError, match=r"d_outputs must have the shape .*\(5, 4\).*\(5, 8, 4\)"):
        lstm_ref.compare_gradients(layer, x, d_outputs=np.zeros((B, T, U), "float32"))
    with pytest.raises(ShapeError, match=r"d_states must be \[d_h, d_c\]"):
        lstm_ref.compare_gradients(layer, x, d_states=[np.zeros((B, U))])
    with pytest.raises(OptionError, match="execution must be one of"):
        lstm_ref.compare_gradients(layer, x, execution="predict")
    plain, x, _ = layer_and_inputs(rng)
    with pytest.raises(OptionError, match="return_state=False"):
        lstm_ref.compare_gradients(plain, x, d_states=[np.zeros((B, U))] * 2)
    gru = keras.layers.GRU(U)
    gru.build((B, T, F))
    with pytest.raises(UnsupportedLayerError, match="GRU"):
        lstm_ref.compare_gradients(gru, x)
    half = build_with_random_weights(keras.layers.LSTM(U, dtype="float16",
                                                       recurrent_initializer="glorot_uniform"),
                                     rng, (B, T, F))
    with pytest.raises(OptionError, match="float16"):
        lstm_ref.compare_gradients(half, x)


def test_float64_log_softmax_exploding_gradients_pass():
    """A float64 calibration case (bench/calibrate_gradients.py): log_softmax with tanh gates,
    the forward growing 4x a step, gradients of 1e16 to 1e22, rows right-padded to 22, 10, 35
    and 16 steps. The gates saturate, and TensorFlow differentiates tanh as 1 - y^2, which
    cancels there: an ulp of 1 against a far smaller derivative. It failed 9.8-fold while the
    probes differentiated exactly; they now differentiate as frameworks do
    (lstm_ref.activation_grads.AS_COMPUTED) and see that rounding."""
    case = grid.Case(16, 8, 4, 45, activation="log_softmax", recurrent_activation="tanh",
                     initial_state=True, implementation=1, returns="sequences+state")
    mask = np.arange(case.time)[None] < np.array([22, 10, 35, 16])[:, None]
    layer = keras_cases.build_case_layer(case, dtype="float64")
    arrays = case.arrays()
    report = lstm_ref.compare_gradients(layer, arrays["x"], initial_state=arrays["initial_state"],
                                        mask=mask, seed=case.seed)
    assert report.passed, report.summary()


def test_float64_sparse_plus_exploding_gradients_pass():
    """A float64 calibration case (bench/calibrate_gradients.py --dtype float64, case 317):
    sparse_plus with sigmoid gates going backwards, rows right-padded to 42 and 51 of 58
    steps, dx growing to 3e3 toward the first steps. TensorFlow's sigmoid gradient y (1 - y)
    cancels where a gate saturates; with probes differentiating exactly the framework departed
    2e4 ulps, 48 times the bound, on every execution path."""
    case = grid.Case(14, 5, 2, 58, activation="sparse_plus", recurrent_activation="sigmoid",
                     go_backwards=True, unroll=True, implementation=2,
                     returns="sequences+state", mask="left", execution="xla", dropout=0.3,
                     recurrent_dropout=0.4)
    mask = np.arange(case.time)[None] < np.array([42, 51])[:, None]
    layer = keras_cases.build_case_layer(case, dtype="float64")
    arrays = case.arrays()
    report = lstm_ref.compare_gradients(layer, arrays["x"], initial_state=arrays["initial_state"],
                                        mask=mask, seed=case.seed, execution="eager")
    assert report.passed, report.summary()
