"""Places where the installed Keras computes something other than what its documentation
defines, found by this suite. Each test asserts the suite *flags* the divergence while it
exists, and that the case passes once Keras fixes it, so neither state can go unnoticed.

- sparsemax (Keras 3.15, TensorFlow backend): its threshold sums the cumulative sums over the
  support instead of taking the one at k, so rows do not sum to 1 (sparsemax([0.5, 0.2, 0.1,
  -1]) gives [0.167, 0, 0, 0]; by hand it is [0.567, 0.267, 0.167, 0]).
- masked leading steps on Keras's JAX backend: with an initial state, the output at masked
  steps before the first valid one is h0 (the TensorFlow backend, and the reference, give zeros:
  the "previous output" starts at zero).
- 16-bit LSTMs cannot be built with Keras's default initializers: the orthogonal recurrent
  initializer needs a QR decomposition, which TensorFlow lacks for bfloat16 and torch (CPU)
  for float16 and bfloat16 (keras-team/keras#16927). Set recurrent_initializer.
- float64 off TensorFlow (Keras 3.15, torch backend; JAX without x64): keras.ops.matmul
  computes float64 matrices in float32 (result_type maps float64 to float32,
  keras-team/keras#23704), so a float64 LSTM is only float32-accurate.
- leaky_relu in float64 (TensorFlow 2.21): the LeakyRelu op holds its slope as a float32
  attribute, 0.20000000298, so a float64 LSTM with leaky_relu departs by 1.5e-8 relative.
- unrolled, go_backwards, zero_output_for_mask (Keras 3.15, TensorFlow backend; found by the
  soak, tests/soak/test_soak.py): keras.src.backend.tensorflow.rnn's unrolled branch zeroes the
  returned sequence, which is in processing order, with the mask in time order, so the wrong
  steps are zeroed (the while_loop path is right; Bidirectional(LSTM(unroll=True),
  return_sequences=True) over a padded batch inherits it). h and c are right.
- elu and selu in float32 (TensorFlow 2.21): computed as exp(x) - 1 rather than expm1(x), so
  for small negative x the relative error is about eps / |x| (elu(-1e-4) is off by some 1800
  ulps of its value; celu, which uses expm1, is within an ulp). An LSTM's h = o * elu(c) then
  departs relatively as much where c is small: within every element's bound (elu's error is
  within an ulp of 1, absolutely), beyond the step drift's, so the drift check is off for them
  (lstm_ref.tolerance_table.DRIFT_EXEMPT; found by the soak).
- gelu in float64 (TensorFlow 2.21): tf.nn.gelu(approximate=False) is accurate only to about
  1e-7 relative in float64 (gelu(-1): -0.158655258, exactly -0.158655254), so a float64 LSTM
  with gelu departs from a float64 reference; in float32 it is within float32 rounding.
"""

import traceback

import numpy as np
import pytest

from lstm_ref.grids.keras import Case
from tests.frameworks.keras.helpers import keras_float64_matmul_is_float64

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")
tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="about TensorFlow's own float64 kernels (other backends multiply float64 matrices "
           "in float32: test_a_float64_lstm_computes_in_float64)")


def keras_sparsemax_is_right():
    row = keras.ops.convert_to_numpy(keras.activations.sparsemax(
        keras.ops.convert_to_tensor(np.array([[0.5, 0.2, 0.1, -1.0]]), dtype="float64")))
    return np.allclose(row, [[0.5 + 0.2 / 3, 0.2 + 0.2 / 3, 0.1 + 0.2 / 3, 0.0]])


def keras_float64_gelu_is_exact():
    x = keras.ops.convert_to_tensor(np.array([-1.0]), dtype="float64")
    value = keras.ops.convert_to_numpy(keras.activations.gelu(x))[0]
    return abs(value - -0.15865525393145705) < 1e-15


def run(case, dtype="float32"):
    from lstm_ref.frameworks.keras import cases as keras_cases

    # use_cudnn=False: these are about the plain kernels' arithmetic, also on a GPU.
    return keras_cases.run_case(case, dtype=dtype, use_cudnn=False)


def test_sparsemax_lstm():
    report = run(Case(7, 3, 2, 9, activation="sparsemax"))
    if keras_sparsemax_is_right():
        assert report.passed, report.summary()
    else:
        assert not report.passed and report.first_failing_step == 0, report.summary()


@tensorflow_only
def test_float64_gelu_lstm():
    report = run(Case(7, 3, 2, 9, activation="gelu"), dtype="float64")
    if keras_float64_gelu_is_exact():
        assert report.passed, report.summary()
    else:
        assert not report.passed, report.summary()
        assert report.first_failure.error < 1e-6  # float32-sized, not a wrong formula


def keras_float64_leaky_relu_slope():
    x = keras.ops.convert_to_tensor(np.array([-1.0]), dtype="float64")
    return -float(keras.ops.convert_to_numpy(keras.activations.leaky_relu(x))[0])


@tensorflow_only
def test_float64_leaky_relu_lstm():
    report = run(Case(7, 3, 2, 9, activation="leaky_relu"), dtype="float64")
    if keras_float64_leaky_relu_slope() == 0.2:
        assert report.passed, report.summary()
    else:  # TensorFlow's LeakyRelu holds its slope as a float32 attribute: 0.2 * (1 + 1.5e-8)
        assert keras_float64_leaky_relu_slope() == float(np.float32(0.2))
        assert not report.passed and report.first_failing_step == 0, report.summary()
        # 1.5e-8 relative in each leaky_relu, two of them by h at step 0: not a wrong formula.
        assert report.first_failure.error < 1e-7 * abs(report.first_failure.expected)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_16_bit_lstm_with_its_default_initializers(dtype, rng):
    import lstm_ref

    layer = keras.layers.LSTM(3, return_sequences=True, dtype=dtype)
    try:
        layer.build((2, 5, 2))
    except Exception as exc:  # noqa: BLE001 - each backend raises its own type
        # The orthogonal recurrent initializer's QR has no kernel in this dtype (TensorFlow:
        # "Qr" for bfloat16; torch on CPU: "geqrf_cpu" for both; JAX on CPU: "Unsupported
        # dtype", raised inside keras.ops.qr, LAPACK's geqrf having no 16-bit target);
        # keras-team/keras#16927, closed, still so in Keras 3.15.
        frames = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
        assert "qr" in str(exc).lower() or "qr" in frames, exc
        return
    x = rng.uniform(-1, 1, (2, 5, 2))
    lstm_ref.assert_equivalent(layer, x)


def test_a_float64_lstm_computes_in_float64():
    report = run(Case(7, 3, 2, 9, initial_state=True), dtype="float64")
    if keras_float64_matmul_is_float64():
        assert report.passed, report.summary()
    else:
        # Keras 3.15 off TensorFlow: result_type maps float64 to float32 (as JAX does without
        # x64), so keras.ops.matmul multiplies a float64 LSTM's matrices in float32
        # (keras-team/keras#23704): float32-sized errors from step 0.
        assert keras.backend.backend() != "tensorflow"
        assert not report.passed and report.first_failing_step == 0, report.summary()
        assert report.first_failure.error < 1e-6


def test_leading_masked_outputs_with_an_initial_state(rng):
    from tests.support.helpers import build_with_random_weights

    import lstm_ref

    layer = build_with_random_weights(keras.layers.LSTM(3, return_sequences=True), rng, (2, 5, 2))
    x = rng.uniform(-1, 1, (2, 5, 2)).astype("float32")
    state = [rng.uniform(-1, 1, (2, 3)).astype("float32") for _ in range(2)]
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    report = lstm_ref.compare(layer, x, initial_state=state, mask=mask)
    if keras.backend.backend() == "jax":
        assert not report.passed and report.first_failure.tensor == "output"
        assert report.first_failure.actual == pytest.approx(float(state[0][0, report.first_failure.unit]))
    else:
        assert report.passed, report.summary()


def unrolled_backward_lstm(unroll):
    layer = keras.layers.LSTM(1, unroll=unroll, go_backwards=True, return_sequences=True,
                              zero_output_for_mask=True)
    layer.build((1, 2, 1))
    layer.set_weights([np.full(w.shape, 0.5, "float32") for w in layer.get_weights()])
    return layer


def keras_unrolled_backward_zeroing_is_right():
    # Step 1 is masked: processed first, its output is zero; step 0's output is h, not zero.
    x, mask = np.ones((1, 2, 1), "float32"), np.array([[True, False]])
    outputs = [keras.ops.convert_to_numpy(unrolled_backward_lstm(unroll)(x, mask=mask))
               for unroll in (True, False)]
    return np.array_equal(*outputs)


@tensorflow_only
def test_unrolled_backward_lstm_zeroing_masked_outputs(rng):
    import lstm_ref

    x = rng.uniform(-1, 1, (3, 6, 1)).astype("float32")
    mask = np.arange(6) < np.array([[6], [4], [2]])  # right-padded rows
    report = lstm_ref.compare(unrolled_backward_lstm(unroll=True), x, mask=mask)
    if keras_unrolled_backward_zeroing_is_right():
        assert report.passed, report.summary()
    else:
        assert not report.passed, report.summary()
        assert report.first_failure.tensor == "output", report.summary()
        assert all(report.tensors[name].passed for name in ("h", "c")), report.summary()
    assert lstm_ref.compare(unrolled_backward_lstm(unroll=False), x, mask=mask).passed


def tensorflow_elu_relative_error_in_ulps(name):
    """The float32 elu's (or selu's) relative error at x = -1e-4, in ulps of float32."""
    from lstm_ref import activations

    x = np.float32(-1e-4)
    got = float(keras.ops.convert_to_numpy(keras.activations.get(name)(
        keras.ops.convert_to_tensor(np.array([x]), dtype="float32")))[0])
    exact = float(activations.get(name)(np.array([x], np.float64))[0])
    return abs(got - exact) / abs(exact) / np.finfo(np.float32).eps


@tensorflow_only
@pytest.mark.parametrize("name", ["elu", "selu"])
def test_float32_elu_cancels_for_small_negative_inputs(name):
    """While TensorFlow computes exp(x) - 1, the step drift check stays off for these
    activations; once it is accurate, the exemption should go (this test fails then)."""
    from lstm_ref.tolerance_table import DRIFT_EXEMPT

    assert tensorflow_elu_relative_error_in_ulps(name) > 100
    assert name in DRIFT_EXEMPT
