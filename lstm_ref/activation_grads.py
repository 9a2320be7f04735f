"""Derivatives of the activations (lstm_ref.activations), for the backward pass.

``vjp(activation, z, dy)`` is dL/dz given dy = dL/dy, y = activation(z): dy * f'(z) for the
elementwise activations, the full vector-Jacobian product over the last axis (the units) for
softmax, log_softmax and sparsemax. ``derivative(activation, z)`` is f'(z) itself (elementwise
activations only). One function per activation, its formula in a comment; each computes in
z's dtype without overflow for large |z| (the cancelling forms 1 - s, 1 - tanh^2, 1 + z/h are
rewritten exactly), and a NaN in z gives NaN (TensorFlow's gradients differ there: below).

Kinks. At a point where the derivative jumps we give what TensorFlow 2.21's own gradient gives
at exactly that point (tf.GradientTape through keras.activations.<name>, TensorFlow backend;
Keras 2's hard_sigmoid through tf_keras), since the reference's gradients are compared with
TensorFlow's and a pre-activation of exactly 0 is common (zero inputs, no bias). Measured in
float64 and float32; the two agree at every kink:

    activation             kink      TF's f'   why (the TensorFlow op that decides)
    relu                   0         0         ReluGrad passes x > 0
    relu6                  0, 6      0, 0      Relu6Grad passes 0 < x < 6
    leaky_relu             0         0.2       LeakyReluGrad: x > 0 ? 1 : slope
    elu                    0         1         EluGrad: y > 0 ? 1 : y + 1 (both sides are 1)
    selu                   0         scale     SeluGrad takes the right-hand slope
    celu                   0         2 (!)     max(x, 0) + expm1(min(x, 0)): Maximum's and
                                               Minimum's gradients both pass a tie to x
    hard_sigmoid (Keras 3) -3, 3     0, 0      relu6(x + 3) / 6: Relu6Grad on x + 3
    hard_silu              -3, 3     0, 1      x * hard_sigmoid(x): hs(x) + x * 0
    hard_sigmoid_keras2    -2.5, 2.5 0.2, 0.2  clip_by_value passes its bounds
    hard_tanh              -1, 1     1, 1      clip_by_value passes its bounds
    sparse_sigmoid         -1, 1     0, 0      tf.where: x <= -1 -> 0, x >= 1 -> 1
    sparse_plus            -1, 1     0, 1      tf.where: x <= -1 -> 0, x >= 1 -> x
    soft_shrink            +-0.5     0         tf.where(|x| > 0.5, ...): not taken at 0.5
    hard_shrink            +-0.5     0         likewise

TensorFlow oddities (measured, TF 2.21 / Keras 3.15, CPU):
- celu'(0) = 2 although celu (alpha = 1) is C^1 with slope 1 on both sides; we give 2 too.
- leaky_relu's slope is the float32 attribute 0.2 even in float64: 0.20000000298023224
  (1.5e-8 relative); we keep the exact 0.2 as the forward does (activations.LEAKY_RELU_SLOPE).
- NaN: TensorFlow's comparison-based gradients send NaN to a branch: relu, relu6, hard_sigmoid,
  hard_tanh, celu, soft/hard_shrink give 0; leaky_relu 0.2; elu 1; selu scale; sparse_sigmoid
  0.5. We propagate NaN instead (a NaN pre-activation has no derivative).
- float32 squareplus'(1e30) is 0.5 in TensorFlow (x * x overflows); ours is 1.
- float64 gelu is only float32-accurate in TensorFlow (see tests/core/test_activations.py).
"""

import math

import numpy as np

from lstm_ref import activations as acts
from lstm_ref.errors import ActivationError, ShapeError

__all__ = ["KINKS", "JUMPS", "JUMP_RESOLUTION", "d_sigmoid", "d_tanh", "d_linear", "d_relu", "d_relu6", "d_leaky_relu",
           "d_hard_sigmoid", "d_hard_sigmoid_keras2", "d_hard_silu", "d_hard_tanh",
           "d_sparse_sigmoid", "d_sparse_plus", "d_softsign", "d_softplus", "d_log_sigmoid",
           "d_silu", "d_mish", "d_elu", "d_celu", "d_selu", "d_gelu", "d_exponential",
           "d_squareplus", "d_soft_shrink", "d_hard_shrink", "d_tanh_shrink", "ELEMENTWISE",
           "AS_COMPUTED",
           "vjp_softmax", "vjp_log_softmax", "vjp_sparsemax", "VECTOR", "NAMES", "has_gradient",
           "derivative", "vjp"]

_erfc = np.vectorize(math.erfc, otypes=[np.float64])  # as activations.gelu
_SQRT_2PI = math.sqrt(2 * math.pi)

# Points where a derivative jumps, by activation (the table above; the tests hold every one to
# TensorFlow's gradient and keep finite differences away from them).
KINKS = {"relu": (0,), "relu6": (0, 6), "leaky_relu": (0,), "elu": (0,), "selu": (0,),
         "celu": (0,), "hard_sigmoid": (-3, 3), "hard_silu": (-3, 3),
         "hard_sigmoid_keras2": (-2.5, 2.5), "hard_tanh": (-1, 1), "sparse_sigmoid": (-1, 1),
         "sparse_plus": (-1, 1), "soft_shrink": (-0.5, 0.5), "hard_shrink": (-0.5, 0.5)}

# Of those, the points where the derivative itself jumps (elu's, celu's and sparse_plus's
# derivatives are continuous there): an argument within rounding of one leaves the side, and
# so the derivative, to the order a framework rounds in (lstm_ref.gradient_check).
JUMPS = {name: points for name, points in KINKS.items()
         if name not in ("elu", "celu", "sparse_plus")}
# Where TensorFlow picks the side from a value computed with an absolute rounding, not from
# the argument itself: how far (in eps of the format) the argument may lie from the point
# and still land on either side. relu6(x + 3) decides on x + 3 (an ulp of 3); selu's
# gradient decides on its output, alpha * (exp(x) - 1), which is 0 for |x| below an ulp of 1.
JUMP_RESOLUTION = {"hard_sigmoid": 3.0, "hard_silu": 3.0, "hard_sigmoid_keras2": 2.5,
                   "selu": 1.0}


def _step(condition, z, inside, outside=0.0):
    """A piecewise-constant derivative in z's dtype: ``inside`` where condition, else
    ``outside``."""
    return np.where(condition, inside, outside).astype(z.dtype)


# --- elementwise: f'(z) ------------------------------------------------------------------

def d_sigmoid(z):
    # s' = s (1 - s) = s(z) s(-z) = e / (1 + e)^2, e = exp(-|z|) <= 1: no cancellation in
    # 1 - s, no overflow.
    e = np.exp(-np.abs(z))
    return e / (1 + e) ** 2


def d_tanh(z):
    # tanh' = 1 - tanh^2 = 4 e / (1 + e)^2, e = exp(-2|z|) (taken as exp(-|z|)^2, which
    # underflows to 0 instead of overflowing -2|z|).
    e = np.exp(-np.abs(z)) ** 2
    return 4 * e / (1 + e) ** 2


def d_linear(z):
    return np.ones_like(z)                                   # z' = 1


def d_relu(z):
    return _step(z > 0, z, 1.0)                              # 1 for z > 0; 0 at 0 (TF)


def d_relu6(z):
    return _step((z > 0) & (z < 6), z, 1.0)                  # 1 on (0, 6); 0 at 0 and 6 (TF)


def d_leaky_relu(z):
    return _step(z > 0, z, 1.0, acts.LEAKY_RELU_SLOPE)       # 1 for z > 0, slope for z <= 0


def d_hard_sigmoid(z):
    # relu6(z + 3) / 6: 1/6 where 0 < z + 3 < 6 (z + 3 as the forward computes it); 0 at the
    # bounds, as TensorFlow's Relu6Grad.
    u = z + 3
    return _step((u > 0) & (u < 6), z, 1 / 6)


def d_hard_sigmoid_keras2(z):
    # clip(0.2 z + 0.5, 0, 1): 0.2 where 0 <= 0.2 z + 0.5 <= 1, bounds included (clip_by_value)
    u = 0.2 * z + 0.5
    return _step((u >= 0) & (u <= 1), z, 0.2)


def d_hard_silu(z):
    return acts.hard_sigmoid(z) + z * d_hard_sigmoid(z)      # (z hs(z))' = hs(z) + z hs'(z)


def d_hard_tanh(z):
    return _step((z >= -1) & (z <= 1), z, 1.0)               # clip(z, -1, 1): 1 on [-1, 1]


def d_sparse_sigmoid(z):
    return _step((z > -1) & (z < 1), z, 0.5)                 # (z + 1) / 2 on (-1, 1): 1/2


def d_sparse_plus(z):
    # 0 for z <= -1; (z + 1)^2 / 4 -> (z + 1) / 2 on (-1, 1); z -> 1 for z >= 1
    return np.where(z <= -1, 0.0, np.where(z < 1, 0.5 * (z + 1), 1.0)).astype(z.dtype)


def d_softsign(z):
    # (z / (1 + |z|))' = 1 / (1 + |z|)^2, squared after the division (no overflow)
    return (1 / (1 + np.abs(z))) ** 2


def d_softplus(z):
    return acts.sigmoid(z)                                   # log(1 + e^z)' = s(z)


def d_log_sigmoid(z):
    return acts.sigmoid(-z)                                  # (-softplus(-z))' = s(-z)


def d_silu(z):
    # (z s(z))' = s + z s (1 - s) = s(z) (1 + z s(-z))
    return acts.sigmoid(z) * (1 + z * acts.sigmoid(-z))


def d_mish(z):
    # (z tanh(u))' = t + z (1 - t^2) s(z), u = softplus(z) >= 0, t = tanh(u), u' = s(z);
    # 1 - t^2 = 4 e / (1 + e)^2 with e = exp(-2u) <= 1, as in d_tanh.
    u = acts.softplus(z)
    e = np.exp(-u) ** 2
    return np.tanh(u) + z * (4 * e / (1 + e) ** 2) * acts.sigmoid(z)


def d_elu(z):
    # z for z > 0, expm1(z) for z <= 0: 1, and exp(z) (exp(min(z, 0)) never overflows)
    return np.where(z > 0, 1, np.exp(np.minimum(z, 0))).astype(z.dtype)


def d_celu(z):
    # max(z, 0) + expm1(min(z, 0)): 1[z >= 0] + exp(z) 1[z <= 0]. At 0 both terms pass the
    # gradient (TensorFlow's Maximum/Minimum gradients send a tie to z): 2 there, as TF.
    return ((z >= 0) + np.where(z <= 0, np.exp(np.minimum(z, 0)), 0)).astype(z.dtype)


def d_selu(z):
    # scale * (z for z > 0, alpha expm1(z) for z <= 0): scale, scale alpha exp(z); at 0 the
    # right-hand slope (scale), as TensorFlow's SeluGrad.
    left = acts.SELU_ALPHA * np.exp(np.minimum(z, 0))
    return (acts.SELU_SCALE * np.where(z >= 0, 1, left)).astype(z.dtype)


def d_gelu(z):
    # (z Phi(z))' = Phi(z) + z phi(z), Phi(z) = erfc(-z / sqrt 2) / 2 as in activations.gelu,
    # phi(z) = exp(-z^2 / 2) / sqrt(2 pi). |z| is capped at 40 inside phi (exp(-800) is 0 in
    # float64 already) so that z^2 cannot overflow.
    phi = np.exp(-0.5 * np.minimum(np.abs(z), 40) ** 2) / _SQRT_2PI
    return (0.5 * _erfc(-z / math.sqrt(2)) + z * phi).astype(z.dtype)


def d_exponential(z):
    # (e^z)' = e^z; it overflows to inf where e^z itself does (as the forward), quietly.
    with np.errstate(over="ignore"):
        return np.exp(z)


def d_squareplus(z):
    # ((z + h) / 2)' = (1 + z / h) / 2, h = sqrt(z^2 + 4) = hypot(z, 2) (no overflow). For
    # z < 0, 1 + z/h cancels; exactly, (1 - |z|/h) / 2 = 2 / (h (h + |z|)) =: g, and
    # f'(z) = g for z < 0, 1 - g for z >= 0 (f'(z) + f'(-z) = 1).
    a = np.abs(z)
    h = np.hypot(a, 2)
    g = 2 / h / (h + a)
    return np.where(z < 0, g, 1 - g).astype(z.dtype)


def d_soft_shrink(z):
    return _step(np.abs(z) > 0.5, z, 1.0)                    # z -+ 0.5 for |z| > 0.5: 1


def d_hard_shrink(z):
    return _step(np.abs(z) > 0.5, z, 1.0)                    # z for |z| > 0.5: 1


def d_tanh_shrink(z):
    return np.tanh(z) ** 2                                   # (z - tanh z)' = tanh^2


ELEMENTWISE = {name.removeprefix("d_"): fn for name, fn in list(globals().items())
               if name.startswith("d_") and callable(fn)}


# --- over the last axis: dz = J^T dy ------------------------------------------------------

def vjp_softmax(z, dy):
    # y = softmax(z), J = diag(y) - y y^T (symmetric): dz = y * (dy - <dy, y>)
    y = acts.softmax(z)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def vjp_log_softmax(z, dy):
    # y = z - logsumexp(z), J = I - 1 softmax(z)^T: dz = dy - softmax(z) sum(dy)
    return dy - acts.softmax(z) * np.sum(dy, axis=-1, keepdims=True)


def vjp_sparsemax(z, dy):
    # y = max(z - tau, 0), S = {y > 0}: J = diag(s) - s s^T / |S| (s the 0/1 indicator of S),
    # so dz = s * (dy - mean of dy over S) (Martins & Astudillo 2016, eq. 14).
    y = acts.sparsemax(z)
    s = (y > 0).astype(z.dtype)
    mean = np.sum(s * dy, axis=-1, keepdims=True) / np.maximum(np.sum(s, -1, keepdims=True), 1)
    return np.where(np.isnan(y), y, s * (dy - mean))         # a NaN row of y: NaN


VECTOR = {"softmax": vjp_softmax, "log_softmax": vjp_log_softmax,
          "sparsemax": vjp_sparsemax}
NAMES = tuple(sorted(ELEMENTWISE.keys() | VECTOR.keys()))
assert set(NAMES) == set(acts.NAMES), "every activation needs its derivative here"


# --- the API ----------------------------------------------------------------------------

def has_gradient(activation):
    """Whether ``activation`` (an Activation or a name) has a derivative here: the named
    activations do, custom callables do not."""
    return acts.get(activation).is_named


def derivative(activation, z):
    """f'(z) of an elementwise activation, in z's dtype (float arrays; others as float64).

    Raises:
        ActivationError: a custom callable, or softmax / log_softmax / sparsemax (they mix
            the units: use :func:`vjp`).
    """
    activation = _resolve(activation)
    if activation.name in VECTOR:
        raise ActivationError(f"{activation.name} acts on the whole units axis: it has a "
                              "Jacobian, not an elementwise derivative; use vjp()")
    z = _as_float(z)
    d = ELEMENTWISE[activation.name](z)
    return np.where(np.isnan(z), z, d).astype(z.dtype)      # NaN in, NaN out


def _tanh_as_computed(z):
    t = np.tanh(z)
    return 1 - t * t                                         # TanhGrad: 1 - y^2


def _sigmoid_as_computed(z):
    s = acts.sigmoid(z)
    return s * (1 - s)                                       # SigmoidGrad: y (1 - y)


# The derivatives frameworks compute from the activation's output (TensorFlow's TanhGrad and
# SigmoidGrad, torch's tanh_backward and sigmoid_backward): 1 - y^2 and y (1 - y) cancel where
# y saturates, an ulp of 1 against a result that may be far smaller. The reference's own are
# exact (above); the tolerance probes use these (vjp's ``as_computed``), so that the bound
# sees the rounding a framework's backward pass makes there.
AS_COMPUTED = {"tanh": _tanh_as_computed, "sigmoid": _sigmoid_as_computed}


def vjp(activation, z, dy, as_computed=False):
    """The vector-Jacobian product of ``activation`` at pre-activations ``z``: dL/dz given
    dy = dL/dy, y = activation(z).

    Args:
        activation: an :class:`lstm_ref.activations.Activation`, or a name (activations.get).
        z, dy: arrays of the same shape (..., units). Elementwise activations act
            elementwise; softmax, log_softmax and sparsemax over the last axis.

    Returns:
        dL/dz, shaped as z, in z's dtype (float64 or float32).

    Raises:
        ActivationError: a custom callable (no derivative is known for it).
        ShapeError: z and dy differ in shape.
    """
    activation = _resolve(activation)
    z = _as_float(z)
    dy = np.asarray(dy)
    if dy.shape != z.shape:
        raise ShapeError(f"vjp: dy has shape {dy.shape}, z has {z.shape}; they must match")
    dy = dy.astype(z.dtype, copy=False)
    if activation.name in VECTOR:
        return np.asarray(VECTOR[activation.name](z, dy), z.dtype)
    if as_computed and activation.name in AS_COMPUTED:
        return dy * np.where(np.isnan(z), z, AS_COMPUTED[activation.name](z)).astype(z.dtype)
    return dy * derivative(activation, z)


def _resolve(activation):
    activation = acts.get(activation)
    if not has_gradient(activation):
        raise ActivationError(
            f"activation {activation.name!r} is a custom callable and has no derivative here: "
            f"gradients need one of the named activations ({', '.join(NAMES)})")
    return activation


def _as_float(z):
    z = np.asarray(z)
    return z if z.dtype.kind == "f" else z.astype(np.float64)
