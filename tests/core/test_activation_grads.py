"""lstm_ref.activation_grads: central differences, values by hand, TensorFlow's own gradients
(kinks included), large inputs and NaN, and custom callables."""

import math
import warnings

import numpy as np
import pytest

from lstm_ref import activation_grads as ag
from lstm_ref import activations as acts
from lstm_ref.errors import ActivationError, ShapeError

ELEMENTWISE = sorted(ag.ELEMENTWISE)
VECTOR = sorted(ag.VECTOR)
EPS = np.finfo(np.float64).eps

# Central differences, float64, step h = 1e-6 max(1, |z|) on |z| <= 7. The error of
# (f(z + h) - f(z - h)) / 2h is truncation h^2 |f'''| / 6 <= 49e-12 e^7 / 6 ~ 1e-8 (exponential,
# the worst; relative to f' = e^z that is 1e-11) plus rounding ~ k eps |f| / h <= 2.2e-10 k |f|
# (k ulps of error in the forward). So: rtol 1e-7 (margin 1e4 over the truncation) and an
# absolute 1e-8 max(1, |f|) for the rounding (k up to ~40), which matters only where f' ~ 0
# (mish' at -1.19, gelu' at -0.75, a saturated sigmoid).
FD_RTOL, FD_ATOL = 1e-7, 1e-8


def fd_points(name, rng, n=256):
    """Seeded z in [-7, 7] (every kink inside), none within 1e-4 of the activation's kinks:
    the step (<= 7e-6) then stays on one smooth piece."""
    z = rng.uniform(-7, 7, n)
    for kink in ag.KINKS.get(name, ()):
        z = z[np.abs(z - kink) >= 1e-4]
    return z


def step(z):
    h = 1e-6 * np.maximum(1, np.abs(z))
    return z + h, z - h  # (z + h) - (z - h) is the step as represented: the denominator


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_differences(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    z = fd_points(name, rng)
    f = acts.get(name)
    up, down = step(z)
    numeric = (f(up) - f(down)) / (up - down)
    error = np.abs(ag.derivative(name, z) - numeric)
    bound = FD_RTOL * np.abs(numeric) + FD_ATOL * np.maximum(1, np.abs(f(z)))
    assert (error <= bound).all(), (z[error > bound], error[error > bound])
    dy = rng.normal(size=z.shape)  # and vjp is dy * f'
    np.testing.assert_array_equal(ag.vjp(name, z, dy), dy * ag.derivative(name, z))


def sparsemax_kink_distance(z):
    """min |z_j - tau| per row: 0 where an element enters or leaves the support."""
    y = acts.sparsemax(z)
    support = y > 0
    tau = np.sum(np.where(support, z - y, 0), -1, keepdims=True) / support.sum(-1, keepdims=True)
    return np.abs(z - tau).min(axis=-1)


@pytest.mark.parametrize("name", VECTOR)
def test_vjp_matches_a_finite_difference_jacobian(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    z = rng.uniform(-3, 3, (64, 5))
    if name == "sparsemax":
        z = z[sparsemax_kink_distance(z) >= 1e-4]
    dy = rng.normal(size=z.shape)
    f = acts.get(name)
    numeric = np.empty_like(z)
    for j in range(z.shape[-1]):  # column j of dy^T J by a central difference in z_j
        up, down = z.copy(), z.copy()
        up[:, j], down[:, j] = step(z[:, j])
        numeric[:, j] = np.sum(dy * (f(up) - f(down)), -1) / (up[:, j] - down[:, j])
    error = np.abs(ag.vjp(name, z, dy) - numeric)
    # as above, the rounding now of sum_i dy_i f_i(z)
    scale = np.maximum(1, np.sum(np.abs(dy * f(z)), -1, keepdims=True))
    assert (error <= FD_RTOL * np.abs(numeric) + FD_ATOL * scale).all()


@pytest.mark.parametrize("name, z, expected", [
    ("sigmoid", 0, 0.25), ("sigmoid", 2, math.exp(-2) / (1 + math.exp(-2)) ** 2),
    ("tanh", 0, 1), ("tanh", 1, 1 / math.cosh(1) ** 2), ("linear", 5, 1), ("relu", -1, 0),
    ("relu", 2, 1), ("relu6", 7, 0), ("leaky_relu", -3, 0.2), ("hard_sigmoid", 0, 1 / 6),
    ("hard_sigmoid", 4, 0), ("hard_sigmoid_keras2", 0, 0.2), ("hard_silu", 0, 0.5),
    ("hard_silu", 1, 2 / 3 + 1 / 6), ("hard_tanh", 0.5, 1), ("sparse_sigmoid", 0, 0.5),
    ("sparse_plus", 0, 0.5), ("softsign", 1, 0.25), ("softplus", 0, 0.5),
    ("log_sigmoid", 0, 0.5), ("silu", 0, 0.5), ("mish", 0, 0.6),  # tanh(log 2) = 3/5
    ("elu", -1, math.exp(-1)), ("celu", -1, math.exp(-1)), ("selu", 1, acts.SELU_SCALE),
    ("selu", -1, acts.SELU_SCALE * acts.SELU_ALPHA * math.exp(-1)), ("gelu", 0, 0.5),
    ("gelu", 1, 1.0833154705876864),  # Phi(1) + phi(1) = 0.8413447460685429 + 0.2419707245...
    ("exponential", 1, math.e), ("squareplus", 0, 0.5), ("squareplus", -1.5, 0.2),
    ("soft_shrink", 1, 1), ("hard_shrink", 0.2, 0), ("tanh_shrink", 0, 0),
], ids=lambda v: v if isinstance(v, str) else None)
def test_derivative_by_hand(name, z, expected):
    assert ag.derivative(name, np.array([z], float))[0] == pytest.approx(expected, rel=4 * EPS,
                                                                         abs=1e-300)


@pytest.mark.parametrize("name, z, dy, expected", [
    ("softmax", [0, 0], [1, 0], [0.25, -0.25]),  # y = (1/2, 1/2): J = diag(y) - y y^T
    ("log_softmax", [0, 0, 0], [1, 0, 0], [2 / 3, -1 / 3, -1 / 3]),  # J = I - 1 y^T
    ("sparsemax", [0, 0], [1, 0], [0.5, -0.5]),  # support {0, 1}: dy - mean(dy)
    ("sparsemax", [1, 0], [1, 0], [0, 0]),  # y = (1, 0): a single-element support is constant
], ids=["softmax", "log_softmax", "sparsemax", "sparsemax-one-element"])
def test_vjp_by_hand(name, z, dy, expected):
    np.testing.assert_allclose(ag.vjp(name, np.array([z], float), np.array([dy], float)),
                               [expected], rtol=4 * EPS, atol=4 * EPS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ELEMENTWISE + VECTOR)
def test_large_inputs_are_finite_without_warnings_and_nan_propagates(name, dtype):
    z = np.array([[1e3, -1e3, 1e30, -1e30], [0.5, np.nan, -0.5, 2]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dz = ag.vjp(name, z, np.ones_like(z))
    assert dz.dtype == dtype
    if name == "exponential":  # e^z itself is inf there (as the forward): no warning, though
        assert np.isposinf(dz[0, [0, 2]]).all() and (dz[0, [1, 3]] == 0).all()
    else:
        assert np.isfinite(dz[0]).all(), dz[0]
    # A NaN pre-activation: NaN in its place (a NaN in a row of softmax & co.: the row).
    assert np.isnan(dz[1, 1]) and (np.isnan(dz[1]).all() if name in VECTOR else
                                   np.isfinite(dz[1, [0, 2, 3]]).all())


def test_custom_callables_have_no_derivative():
    def twice(x):
        return 2 * x
    assert not ag.has_gradient(twice) and ag.has_gradient("tanh") and ag.has_gradient(None)
    with pytest.raises(ActivationError, match=r"'twice' is a custom callable.*gradients need "
                                              r"one of the named activations \(celu, elu, "):
        ag.vjp(twice, np.zeros(2), np.ones(2))
    with pytest.raises(ActivationError, match="custom callable"):  # a name is not enough
        ag.derivative(acts.Activation("tanh", twice), np.zeros(2))
    with pytest.raises(ActivationError, match="Jacobian, not an elementwise derivative"):
        ag.derivative("softmax", np.zeros((1, 3)))
    with pytest.raises(ShapeError, match=r"dy has shape \(3,\), z has \(2,\)"):
        ag.vjp("tanh", np.zeros(2), np.ones(3))


# --- against TensorFlow's own gradients (tf.GradientTape through keras.activations) ---------

# float64: 4 eps relative, plus 32 eps |dy| absolute: TensorFlow forms 1 - y^2 (TanhGrad),
# y (1 - y) (SigmoidGrad) from the output, which is absolutely, not relatively, accurate where
# the derivative is small (ours is within a few ulps of mpmath). Exceptions on TF 2.21: gelu,
# whose float64 forward is only float32-accurate, so its derivative is held to ~1e-7;
# leaky_relu, whose slope is float32(0.2) = 0.20000000298 (1.5e-8 relative). The errors seen
# against these bounds: docs/findings/2026-12-03-test-margins.md.
TF_TOL = {"gelu": (1e-7, 1e-7), "leaky_relu": (2e-8, 0)}
TF_NAMES = ELEMENTWISE + [n for n in VECTOR if n != "sparsemax"] + [pytest.param(
    "sparsemax", marks=pytest.mark.skip(reason="Keras's TensorFlow sparsemax is wrong in the "
                                               "forward pass already"))]


def tf_gradient(name, z, dy):
    tf = pytest.importorskip("tensorflow")
    if name == "hard_sigmoid_keras2":  # Keras 2's hard_sigmoid: tf_keras
        fn = pytest.importorskip("tf_keras").activations.hard_sigmoid
    else:
        fn = pytest.importorskip("keras").activations.get(name)
    z = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = fn(z)
    return tape.gradient(y, z, output_gradients=tf.constant(dy)).numpy()


@pytest.mark.parametrize("name", TF_NAMES)
def test_matches_tensorflow_at_random_points(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    z = rng.uniform(-7, 7, (32, 8))
    dy = rng.uniform(-1, 1, z.shape)
    rtol, atol = TF_TOL.get(name, (4 * EPS, 32 * EPS))
    np.testing.assert_allclose(ag.vjp(name, z, dy), tf_gradient(name, z, dy), rtol=rtol,
                               atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ag.KINKS))
def test_matches_tensorflow_exactly_at_the_kinks(name, dtype):
    z = np.array(ag.KINKS[name], dtype)
    expected = tf_gradient(name, z, np.ones_like(z))
    # leaky_relu's float64 slope: float32(0.2) in TensorFlow; elsewhere equal, bit for bit.
    rtol = 2e-8 if (name, dtype) == ("leaky_relu", np.float64) else 0
    np.testing.assert_allclose(ag.derivative(name, z), expected, rtol=rtol, atol=0,
                               err_msg=f"{name}' at {z}")


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_as_computed_derivatives_are_taken_from_the_output_as_frameworks_take_them(name):
    z = np.array([-40.0, -3.0, -0.5, 0.0, 0.5, 3.0, 40.0])
    y = np.tanh(z) if name == "tanh" else 1 / (1 + np.exp(-z))
    framework = 1 - y * y if name == "tanh" else y * (1 - y)  # TanhGrad, SigmoidGrad
    dy = np.full_like(z, 2.0)
    computed = ag.vjp(name, z, dy, as_computed=True)
    np.testing.assert_allclose(computed, 2 * framework, rtol=1e-15, atol=0)
    exact = ag.vjp(name, z, dy)
    np.testing.assert_allclose(computed[1:-1], exact[1:-1], rtol=1e-12)
    # saturated: the framework's form cancels (y rounds to 1: 0), the exact one does not
    assert exact[-1] > 0 and abs(computed[-1] - exact[-1]) > 0.5 * exact[-1]
    assert np.isnan(ag.vjp(name, np.array([np.nan]), np.ones(1),
                           as_computed=True)).all()
