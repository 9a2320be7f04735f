"""Derivatives of every activation (lstm_ref.activation_grads): central differences, values by
hand, TensorFlow's own gradients (kinks included), extremes, and a custom callable."""

import warnings

import numpy as np
import pytest

from lstm_ref import activation_grads as ag
from lstm_ref import activations as acts
from lstm_ref.errors import ActivationError

NAMES = sorted(set(ag.ELEMENTWISE) | set(ag.VECTOR))
# Central differences, step H on values of order 1: truncation H^2 |f'''| / 6 ~ 1e-11 and
# rounding eps |f| / H ~ 2e-11; 1e-8 leaves a margin of ~500 (exponential on [-3, 3]: f''' e^3).
H = 1e-5
FD_TOL = 1e-8


def points(name, rng, n=64):
    """Seeded points in [-3, 3] at least 1e-3 from the activation's kinks (so the central
    difference sees one smooth piece)."""
    z = rng.uniform(-3, 3, n)
    for kink in ag.KINKS.get(name, ()):
        z = np.where(np.abs(z - kink) < 1e-3, z + 2e-3, z)
    return z


@pytest.mark.parametrize("name", NAMES)
def test_vjp_matches_central_differences(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    z = points(name, rng).reshape(8, 8)  # the last axis: the units, for the vector ones
    dy = rng.normal(size=z.shape)
    fn = acts.get(name)
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[index] += H
        down[index] -= H
        numeric[index] = np.sum(dy * (fn(up) - fn(down))) / (2 * H)
    np.testing.assert_allclose(ag.vjp(name, z, dy), numeric, atol=FD_TOL * np.abs(numeric).max(),
                               rtol=0)


@pytest.mark.parametrize("name, z, expected", [
    ("sigmoid", 0.0, 0.25), ("tanh", 0.0, 1.0), ("linear", 5.0, 1.0), ("relu", -1.0, 0.0),
    ("relu", 2.0, 1.0), ("hard_sigmoid", 0.0, 1 / 6), ("hard_sigmoid_keras2", 0.0, 0.2),
    ("softsign", 1.0, 0.25), ("softplus", 0.0, 0.5), ("log_sigmoid", 0.0, 0.5),
    ("silu", 0.0, 0.5), ("elu", -1.0, np.exp(-1)), ("exponential", 1.0, np.e),
    ("squareplus", 0.0, 0.5), ("gelu", 0.0, 0.5), ("tanh_shrink", 0.0, 0.0),
    ("sparse_plus", 0.0, 0.5), ("leaky_relu", -3.0, 0.2),
])
def test_derivative_by_hand(name, z, expected):
    assert ag.derivative(name, np.array([z]))[0] == pytest.approx(expected, rel=1e-15, abs=1e-300)


def test_softmax_jacobian_by_hand():
    # softmax of [0, 0]: y = [1/2, 1/2], J = diag(y) - y y^T = [[1/4, -1/4], [-1/4, 1/4]]
    np.testing.assert_allclose(ag.vjp("softmax", np.zeros((1, 2)), np.array([[1.0, 0.0]])),
                               [[0.25, -0.25]], rtol=1e-15)


@pytest.mark.parametrize("name", sorted(ag.ELEMENTWISE))
def test_extremes_are_finite_without_warnings(name):
    z = np.array([-1e30, -1e3, -50.0, 50.0, 1e3])
    if name == "exponential":
        z = z[:-2]  # e^z itself overflows there: the derivative is inf, as the forward is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = ag.derivative(name, z)
        assert np.isfinite(d).all(), (name, d)


def test_float32_in_float32_out():
    assert ag.vjp("gelu", np.ones(3, np.float32), np.ones(3, np.float32)).dtype == np.float32


def test_a_custom_callable_has_no_derivative():
    with pytest.raises(ActivationError, match=r"'twice' has no derivative.*named activations"):
        ag.vjp(lambda_named("twice"), np.zeros(2), np.ones(2))
    assert ag.has_gradient("tanh")
    with pytest.raises(ActivationError, match="Jacobian, not an elementwise derivative"):
        ag.derivative("softmax", np.zeros((1, 3)))


def lambda_named(name):
    def fn(x):
        return 2 * x
    fn.__name__ = name
    return fn


# TensorFlow's gradients: float64 agrees to a few eps, but gelu (TensorFlow's float64 gelu is
# float32-accurate: tests/test_keras_known_divergences.py) and leaky_relu (slope float32(0.2)).
TF_RTOL = {"gelu": 1e-6, "leaky_relu": 2e-8}  # measured: gelu 1.3e-7


def tf_gradient(name, z, dy):
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if name == "hard_sigmoid_keras2":
        fn = pytest.importorskip("tf_keras").activations.hard_sigmoid
    else:
        fn = keras.activations.get(name)
    z = tf.constant(z, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = fn(z)
    return tape.gradient(y, z, output_gradients=tf.constant(dy, tf.float64)).numpy()


@pytest.mark.parametrize("name", [n for n in NAMES if n != "sparsemax"])
def test_matches_tensorflow_at_random_points_and_at_kinks(name):
    # (Keras 3.15's TensorFlow sparsemax is wrong in the forward pass already.)
    rng = np.random.default_rng(7)
    z = points(name, rng, 32).reshape(4, 8)
    kinks = np.array(ag.KINKS.get(name, ()) + (0.0,), dtype=float)
    dy = rng.normal(size=z.shape)
    np.testing.assert_allclose(ag.vjp(name, z, dy), tf_gradient(name, z, dy),
                               rtol=TF_RTOL.get(name, 1e-14), atol=1e-15)
    if name not in ag.VECTOR:
        np.testing.assert_allclose(ag.derivative(name, kinks),
                                   tf_gradient(name, kinks, np.ones_like(kinks)),
                                   rtol=TF_RTOL.get(name, 1e-14), atol=0, err_msg=f"{name} at {kinks}")
