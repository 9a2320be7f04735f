"""Derivatives of the activations (lstm_ref.activations), for the backward pass.

``vjp(activation, z, dy)`` is dL/dz given dy = dL/dy, y = activation(z): dy * f'(z) for the
elementwise activations, the full vector-Jacobian product over the last axis (the units) for
softmax, log_softmax and sparsemax. Each derivative sits next to its formula.

At a kink the derivative is the one TensorFlow 2.21's gradient gives at that very point (the
reference is compared with TensorFlow's gradients; a pre-activation of exactly 0 is common:
zero inputs, no bias). Measured with tf.GradientTape through keras.activations (float64):

| activation | point | TensorFlow's derivative |
|---|---|---|
| relu, relu6 | 0 (and 6) | 0 (ReluGrad, Relu6Grad pass x > 0, and x < 6) |
| leaky_relu | 0 | 0.2 (LeakyReluGrad: x > 0 ? 1 : slope) |
| elu, selu | 0 | 1, and scale (the right-hand slope) for selu |
| celu | 0 | 2: max(x, 0) and expm1(min(x, 0)) both pass at the tie |
| hard_sigmoid, hard_silu (Keras 3) | -3, 3 | 0 at both: relu6(x + 3) / 6, relu6 passes 0 < x + 3 < 6 only |
| hard_sigmoid_keras2, hard_tanh | the clip's bounds | the clip's slope (clip_by_value passes its bounds) |
| sparse_sigmoid, sparse_plus | -1, 1 | 0 at -1; 0.5 (and 1) at 1 (tf.where branches) |
| soft_shrink, hard_shrink | +-0.5 | 0 (the |x| > 0.5 branch is not taken) |

(``KINKS`` lists these points; the tests hold every one to TensorFlow.)
"""

import math

import numpy as np

from lstm_ref import activations as acts
from lstm_ref.errors import ActivationError

SQRT_2PI = math.sqrt(2 * math.pi)


def _sigmoid(z):
    return acts.sigmoid(z)


def d_sigmoid(z):
    s = _sigmoid(z)
    return s * (1 - s)                                    # s' = s (1 - s)


def d_tanh(z):
    return 1 - np.tanh(z) ** 2                            # tanh' = 1 - tanh^2


def d_linear(z):
    return np.ones_like(z)


def d_relu(z):
    return (z > 0).astype(z.dtype)


def d_relu6(z):
    return ((z > 0) & (z < 6)).astype(z.dtype)


def d_leaky_relu(z):
    return np.where(z > 0, 1.0, acts.LEAKY_RELU_SLOPE).astype(z.dtype)


def d_hard_sigmoid(z):
    # relu6(z + 3) / 6: slope 1/6 where 0 < z + 3 < 6 (TensorFlow's relu6 gradient passes
    # neither bound).
    return np.where((z + 3 > 0) & (z + 3 < 6), 1 / 6, 0.0).astype(z.dtype)


def d_hard_sigmoid_keras2(z):
    y = 0.2 * z + 0.5                                     # clip(0.2 z + 0.5, 0, 1)
    return np.where((y >= 0) & (y <= 1), 0.2, 0.0).astype(z.dtype)


def d_hard_silu(z):
    return acts.hard_sigmoid(z) + z * d_hard_sigmoid(z)   # (z hs(z))' = hs + z hs'


def d_hard_tanh(z):
    return ((z >= -1) & (z <= 1)).astype(z.dtype)


def d_sparse_sigmoid(z):
    return np.where(z <= -1, 0.0, np.where(z >= 1, 0.0, 0.5)).astype(z.dtype)


def d_sparse_plus(z):
    # 0 for z <= -1, (z + 1)^2 / 4 for -1 < z < 1, z for z >= 1
    return np.where(z <= -1, 0.0, np.where(z < 1, 0.5 * (z + 1), 1.0)).astype(z.dtype)


def d_softsign(z):
    return 1 / (1 + np.abs(z)) ** 2                       # (z / (1 + |z|))' = 1 / (1 + |z|)^2


def d_softplus(z):
    return _sigmoid(z)                                    # log(1 + e^z)' = sigmoid(z)


def d_log_sigmoid(z):
    return _sigmoid(-z)                                   # (-softplus(-z))' = sigmoid(-z)


def d_silu(z):
    s = _sigmoid(z)
    return s * (1 + z * (1 - s))                          # (z s)' = s + z s (1 - s)


def d_mish(z):
    t = np.tanh(acts.softplus(z))                         # (z tanh(sp(z)))' = t + z (1 - t^2) s
    return t + z * (1 - t * t) * _sigmoid(z)


def d_elu(z):
    return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))).astype(z.dtype)


def d_celu(z):
    # max(z, 0) + expm1(min(z, 0)): at 0 both terms pass the gradient (TensorFlow's
    # Maximum/Minimum gradients send a tie to x), so TensorFlow's derivative there is 2.
    return ((z >= 0) + np.where(z <= 0, np.exp(np.minimum(z, 0)), 0.0)).astype(z.dtype)


def d_selu(z):
    # TensorFlow's SeluGrad gives the right-hand slope (scale) at 0
    return acts.SELU_SCALE * np.where(z >= 0, 1.0, acts.SELU_ALPHA * np.exp(np.minimum(z, 0))
                                      ).astype(z.dtype)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def d_gelu(z):
    # (z Phi(z))' = Phi(z) + z phi(z), Phi by erfc as in activations.gelu
    phi = np.exp(-0.5 * np.minimum(z * z, 1e300)) / SQRT_2PI
    return (0.5 * _erfc(-z / math.sqrt(2)) + z * phi).astype(z.dtype)


def d_exponential(z):
    return np.exp(z)


def d_squareplus(z):
    return (1 + z / np.sqrt(z * z + 4)) / 2              # ((z + sqrt(z^2 + 4)) / 2)'


def d_soft_shrink(z):
    return (np.abs(z) > 0.5).astype(z.dtype)


def d_hard_shrink(z):
    return (np.abs(z) > 0.5).astype(z.dtype)


def d_tanh_shrink(z):
    return np.tanh(z) ** 2                                # (z - tanh z)' = tanh^2


ELEMENTWISE = {name.removeprefix("d_"): fn for name, fn in list(globals().items())
               if name.startswith("d_") and callable(fn)}


def _vjp_softmax(z, dy):
    y = acts.softmax(z)                                   # J = diag(y) - y y^T
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def _vjp_log_softmax(z, dy):
    return dy - acts.softmax(z) * np.sum(dy, axis=-1, keepdims=True)   # J = I - 1 y^T


def _vjp_sparsemax(z, dy):
    # On the support S (y > 0): dz = dy - mean over S of dy; 0 off it (Martins & Astudillo).
    support = acts.sparsemax(z) > 0
    count = np.maximum(support.sum(axis=-1, keepdims=True), 1)
    mean = np.sum(np.where(support, dy, 0), axis=-1, keepdims=True) / count
    return np.where(support, dy - mean, 0).astype(z.dtype)


VECTOR = {"softmax": _vjp_softmax, "log_softmax": _vjp_log_softmax, "sparsemax": _vjp_sparsemax}
# Points where a derivative jumps, by activation (tests hold each to TensorFlow's gradient).
KINKS = {"relu": (0,), "relu6": (0, 6), "leaky_relu": (0,), "elu": (0,), "selu": (0,),
         "celu": (0,), "hard_sigmoid": (-3, 3), "hard_silu": (-3, 3),
         "hard_sigmoid_keras2": (-2.5, 2.5), "hard_tanh": (-1, 1), "sparse_sigmoid": (-1, 1),
         "sparse_plus": (-1, 1), "soft_shrink": (-0.5, 0.5), "hard_shrink": (-0.5, 0.5)}


def has_gradient(activation):
    """Whether the backward pass knows ``activation``'s derivative."""
    name = acts.get(activation).name
    return name in ELEMENTWISE or name in VECTOR


def derivative(activation, z):
    """f'(z) of an elementwise activation, in z's dtype."""
    activation = acts.get(activation)
    if activation.name in VECTOR:
        raise ActivationError(f"{activation.name} acts on the whole units axis: it has a "
                              "Jacobian, not an elementwise derivative; use vjp()")
    _check(activation)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return np.asarray(ELEMENTWISE[activation.name](np.asarray(z)), np.asarray(z).dtype)


def vjp(activation, z, dy):
    """dL/dz = dy times the Jacobian of ``activation`` at ``z`` (shape of z, in z's dtype)."""
    activation = acts.get(activation)
    _check(activation)
    z = np.asarray(z)
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        if activation.name in VECTOR:
            return np.asarray(VECTOR[activation.name](z, dy), z.dtype)
        return np.asarray(dy * ELEMENTWISE[activation.name](z), z.dtype)


def _check(activation):
    known = acts._BY_NAME.get(activation.name)
    if known is None or known is not activation.fn:
        raise ActivationError(
            f"activation {activation.name!r} has no derivative here: gradients need one of "
            f"the named activations ({', '.join(sorted(ELEMENTWISE) + sorted(VECTOR))})")
