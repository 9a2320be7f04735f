"""NumPy activations by Keras name.

Each function computes in the dtype of its input (NumPy 2 keeps float32 with Python float
constants), propagates NaN, and avoids overflow warnings where the exact result is finite.
The definitions follow Keras 3's TensorFlow backend (``keras/src/backend/tensorflow/nn.py``)
with each activation's default arguments, which is what an LSTM built with that name uses.

Two functions are named hard_sigmoid in the wild:
- Keras 3 ``hard_sigmoid``: relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1);
- Keras 2 / tf_keras ``hard_sigmoid``: clip(0.2 x + 0.5, 0, 1), here ``"hard_sigmoid_keras2"``.
"""

import math
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

from lstm_ref.errors import ActivationError

__all__ = ["SELU_ALPHA", "SELU_SCALE", "sigmoid", "tanh", "linear", "relu", "relu6",
           "LEAKY_RELU_SLOPE", "leaky_relu", "hard_sigmoid", "hard_sigmoid_keras2", "hard_silu",
           "hard_tanh", "sparse_sigmoid", "sparse_plus", "softsign", "softplus", "log_sigmoid",
           "silu", "mish", "elu", "celu", "selu", "gelu", "exponential", "squareplus",
           "soft_shrink", "hard_shrink", "tanh_shrink", "softmax", "log_softmax", "sparsemax",
           "ALIASES", "UNUSABLE", "NAMES", "Function", "Activation", "ActivationLike", "get"]

# SELU's constants, as in Klambauer et al. (2017) and TensorFlow's selu kernel.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.itemsize < 4:
        # float16: exp(-x) overflows from x = -11 on, where the result (down to 6e-8) is
        # still representable: exp(-|x|) never overflows, both branches are exact forms.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    # float32/float64: 1 / (1 + exp(-x)) is within a few ulp everywhere; exp(-x) overflows
    # only where the result is below the smallest normal number (x < -87 in float32), and
    # 1 / inf = 0 there. One exp, computed in place, and no branch: sigmoid is most of a
    # step's elementwise work (docs/findings/2026-12-03-activation-costs.md).
    e = np.negative(x, dtype=np.result_type(x, np.float32))
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += 1
    return np.reciprocal(e, out=e)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def linear(x: np.ndarray) -> np.ndarray:
    return x


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def relu6(x: np.ndarray) -> np.ndarray:
    return np.minimum(relu(x), 6)


# Keras's default negative_slope. (TensorFlow's LeakyRelu op holds it as a float32 attribute,
# so a float64 TensorFlow layer multiplies by 0.20000000298...: a 1.5e-8 relative departure,
# float64 only; Keras's torch backend uses 0.2.)
LEAKY_RELU_SLOPE = 0.2


def leaky_relu(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, LEAKY_RELU_SLOPE * x)


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return relu6(x + 3) / 6


def hard_sigmoid_keras2(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0, 1)


def hard_silu(x: np.ndarray) -> np.ndarray:
    return x * hard_sigmoid(x)


def hard_tanh(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -1, 1)


def sparse_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, 0.5 * (x + 1)))


def sparse_plus(x: np.ndarray) -> np.ndarray:
    return np.where(x <= -1, 0.0, np.where(x < 1, 0.25 * (x + 1) ** 2, x))


def softsign(x: np.ndarray) -> np.ndarray:
    return x / (1 + np.abs(x))


def softplus(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # logaddexp flags a NaN input; NaN out is the answer
        return np.logaddexp(0.0, x)


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -softplus(-x)


def silu(x: np.ndarray) -> np.ndarray:
    return x * sigmoid(x)


def mish(x: np.ndarray) -> np.ndarray:
    return x * np.tanh(softplus(x))


def elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def celu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.expm1(np.minimum(x, 0))


def selu(x: np.ndarray) -> np.ndarray:
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def gelu(x: np.ndarray) -> np.ndarray:
    # keras.activations.gelu defaults to approximate=False: x * Phi(x), Phi the normal CDF.
    # Phi(x) = erfc(-x / sqrt 2) / 2 keeps full relative precision in the left tail, where
    # 1 + erf(x / sqrt 2) cancels. NumPy has no erfc; math.erfc is accurate to double precision.
    return (0.5 * x * _erfc(-x / math.sqrt(2))).astype(x.dtype)


def exponential(x: np.ndarray) -> np.ndarray:
    return np.exp(x)


def squareplus(x: np.ndarray) -> np.ndarray:
    return (x + np.sqrt(x * x + 4)) / 2


def soft_shrink(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0))


def hard_shrink(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) > 0.5, x, 0.0)


def tanh_shrink(x: np.ndarray) -> np.ndarray:
    return x - np.tanh(x)


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def sparsemax(x: np.ndarray) -> np.ndarray:
    """Martins & Astudillo (2016), over the last axis (the units)."""
    with np.errstate(invalid="ignore"):  # a NaN in a row makes the row NaN, without a warning
        z = np.sort(x, axis=-1)[..., ::-1]
        cumsum = np.cumsum(z, axis=-1)
        k = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
        support = 1 + k * z > cumsum
        k_max = np.maximum(np.sum(support, axis=-1, keepdims=True), 1)
        tau = (np.take_along_axis(cumsum, k_max - 1, axis=-1) - 1) / k_max.astype(x.dtype)
        return np.maximum(x - tau, 0)


_BY_NAME = {
    fn.__name__: fn
    for fn in (sigmoid, tanh, linear, relu, relu6, leaky_relu, hard_sigmoid,
               hard_sigmoid_keras2, hard_silu, hard_tanh, sparse_sigmoid, sparse_plus,
               softsign, softplus, log_sigmoid, silu, mish, elu, celu, selu, gelu,
               exponential, squareplus, soft_shrink, hard_shrink, tanh_shrink, softmax,
               log_softmax, sparsemax)
}
# Keras's own aliases.
ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
# Keras activations that cannot stand in an LSTM with their defaults, and why.
UNUSABLE = {
    "glu": "it halves the last axis, so the gate would no longer have `units` values",
    "threshold": "it has required arguments (threshold, default_value) and no default form",
}
NAMES = tuple(sorted(_BY_NAME))
# An activation as a NumPy function: an array in, an array of its shape out.
Function = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """An activation resolved from a name: the canonical name and the NumPy function."""

    name: str
    fn: Function

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)

    @property
    def is_named(self) -> bool:
        """Whether this is one of the named activations (:data:`NAMES`) with its own
        function, not a custom callable that merely shares a name.

        >>> get("tanh").is_named, Activation("tanh", lambda x: x).is_named
        (True, False)
        """
        return _BY_NAME.get(self.name) is self.fn


# What :func:`get` resolves: a Keras name, an Activation, a NumPy function, or None (linear).
ActivationLike = str | Activation | Function | None


def get(identifier: ActivationLike) -> Activation:
    """Resolve an activation given as a Keras name, None (linear) or a NumPy callable.

    Args:
        identifier: a name such as "tanh", "swish" or "hard_sigmoid_keras2"; None for linear;
            or an :class:`Activation`; or a callable taking and returning a NumPy array
            (named after its ``__name__``), for activations Keras does not ship.

    Returns:
        An :class:`Activation`.

    Raises:
        ActivationError: an unknown name, or a Keras activation an LSTM cannot use.
    """
    if isinstance(identifier, Activation):
        return identifier
    if identifier is None:
        return Activation("linear", linear)
    if isinstance(identifier, str):
        name = ALIASES.get(identifier, identifier)
        if name in _BY_NAME:
            return Activation(name, _BY_NAME[name])
        if name in UNUSABLE:
            raise ActivationError(f"activation {identifier!r} cannot be used in an LSTM: "
                                  f"{UNUSABLE[name]}")
        raise ActivationError(f"unknown activation {identifier!r}; expected one of "
                              f"{', '.join(NAMES + tuple(ALIASES))}, None, or a NumPy callable")
    if callable(identifier):
        return Activation(getattr(identifier, "__name__", repr(identifier)), identifier)
    raise ActivationError(f"activation must be a name, None or a callable; "
                          f"received {type(identifier).__name__} {identifier!r}")
