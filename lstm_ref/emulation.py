"""One step of a Keras LSTMCell as TensorFlow computes it in a 16-bit format, operation by
operation: what the exact step check (lstm_ref.step_check) holds a 16-bit layer to.

TensorFlow computes a float16 or bfloat16 operation in float32 and rounds its result to the
format once (a matrix product accumulates in float32 and is rounded once); its composite
activations are several such operations. Keras's LSTMCell orders them so (keras/src/layers/
rnn/lstm.py):

    implementation 2:  z = ((x @ kernel) + (h @ recurrent_kernel)) + bias
    implementation 1:  z_g = ((x @ kernel_g) + bias_g) + (h @ recurrent_kernel_g), per gate g
    i, f, o = recurrent_activation(z_i, z_f, z_o);  g = activation(z_c)
    c = (f * c_prev) + (i * g);  h = o * activation(c)

each operation's result rounded to the format. The activations, as TensorFlow evaluates them
on 16-bit tensors (each verified against TensorFlow on every finite value of both formats):

    sigmoid        e / (1 + e), e = exp(x)            (1 where e overflows)
    hard_sigmoid   relu6(x + 3) / 6
    softsign       x / (1 + |x|)
    tanh, relu     the exact function, rounded once
    linear         the identity

(tanh rounded once differs from TensorFlow's for two float16 values, +-0.0284, where its
float32 approximation rounds the other way: the check allows one ulp for that.) bfloat16
keeps float32's exponent, and TensorFlow's CPU kernels flush float32 subnormals to zero:
so does the emulation, for bfloat16. Activations not listed have no emulation here: the
exact check does not apply to a cell that uses one.
"""

import numpy as np

from lstm_ref import precision
from lstm_ref.errors import OptionError

__all__ = ["FORMATS", "ACTIVATIONS", "TINY", "LARGEST", "emulates", "activation_values",
           "keras_step"]

FORMATS = ("float16", "bfloat16")
ACTIVATIONS = ("sigmoid", "hard_sigmoid", "softsign", "tanh", "relu", "linear")
# The smallest normal number of each format: below it, bfloat16 results are flushed to zero.
TINY = {"float16": 2.0 ** -14, "bfloat16": 2.0 ** -126}
# The largest finite number of each format.
LARGEST = {"float16": 65504.0, "bfloat16": (2 - 2.0 ** -7) * 2.0 ** 127}


def emulates(activation, recurrent_activation, fmt):
    """Whether :func:`keras_step` emulates a cell with these activations in ``fmt``."""
    return fmt in FORMATS and {activation, recurrent_activation} <= set(ACTIVATIONS)


class _Arithmetic:
    """Float32 operations rounded to the format (and flushed, for bfloat16)."""

    def __init__(self, fmt):
        self.format = precision.get(fmt)
        self.flush = fmt == "bfloat16"

    def __call__(self, value):
        value = self.format.round(np.asarray(value, np.float32))
        if self.flush:
            value = np.where(np.abs(value) < TINY["bfloat16"], np.float32(0) * value, value)
        return value.astype(np.float32, copy=False)

    def activate(self, name, x):
        r = self
        x = np.asarray(x, np.float32)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if name == "sigmoid":
                e = r(np.exp(x))
                return np.where(np.isinf(e), np.float32(1), r(e / r(np.float32(1) + e)))
            if name == "hard_sigmoid":
                return r(r(np.clip(r(x + np.float32(3)), 0, 6)) / np.float32(6))
            if name == "softsign":
                return r(x / r(np.float32(1) + np.abs(x)))
            if name == "tanh":
                return r(np.tanh(x.astype(np.float64)))
            if name == "relu":
                return r(np.maximum(x, np.float32(0)))
            if name == "linear":  # the identity: its input, as it is
                return x
        raise OptionError(f"no 16-bit emulation of activation {name!r}; emulated: "
                          f"{', '.join(ACTIVATIONS)}")


def activation_values(name, x, fmt):
    """An activation of (N,) values of the format, as TensorFlow evaluates it in ``fmt``."""
    r = _Arithmetic(fmt)
    return r.activate(name, r.format.round(np.asarray(x, np.float32)))


def keras_step(x, h, c, weights, implementation, fmt):
    """One LSTMCell step for every row, as TensorFlow computes it in ``fmt``.

    Args:
        x: (N, F) inputs; h, c: (N, U) the previous states, all values of the format.
        weights: the cell's LSTMWeights (rounded to the format as the layer casts them).
        implementation: the cell's (1 or 2).
        fmt: "float16" or "bfloat16".

    Returns:
        ``(h, c)``, (N, U) float32 arrays of values of the format.
    """
    if fmt not in FORMATS:
        raise OptionError(f"fmt must be one of {FORMATS}; received {fmt!r}")
    if implementation not in (1, 2):
        raise OptionError(f"implementation must be 1 or 2; received {implementation!r}")
    r = _Arithmetic(fmt)
    x, h, c = (r(np.asarray(a, np.float64)) for a in (x, h, c))
    kernel, recurrent = r(weights.kernel), r(weights.recurrent_kernel)
    bias = None if weights.bias is None else r(weights.bias)
    units = weights.units
    with np.errstate(over="ignore", invalid="ignore"):
        if implementation == 2:
            z = r(r(x @ kernel) + r(h @ recurrent))
            if bias is not None:
                z = r(z + bias)
            gates = [z[:, g * units:(g + 1) * units] for g in range(4)]
        else:
            gates = []
            for g in range(4):
                block = slice(g * units, (g + 1) * units)
                x_g = r(x @ kernel[:, block])
                if bias is not None:
                    x_g = r(x_g + bias[block])
                gates.append(r(x_g + r(h @ recurrent[:, block])))
        gate = weights.recurrent_activation.name
        act = weights.activation.name
        i, f, o = (r.activate(gate, z) for z in (gates[0], gates[1], gates[3]))
        c_new = r(r(f * c) + r(i * r.activate(act, gates[2])))
        h_new = r(o * r.activate(act, c_new))
    return h_new, c_new
