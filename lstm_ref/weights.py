"""LSTMWeights: the canonical weights of one LSTM layer (one direction), validated."""

import numpy as np

from lstm_ref import activations
from lstm_ref.checks import as_float_array, check_size
from lstm_ref.errors import ShapeError, ValueRangeError
from lstm_ref.layouts import split_gates


class LSTMWeights:
    """The weights of one LSTM in Keras's layout, gate order i, f, c, o.

    Args:
        kernel: (features, 4 * units), the input weights.
        recurrent_kernel: (units, 4 * units), the weights applied to the previous h.
        bias: (4 * units,), or None for an LSTM without bias.
        activation: the cell/output activation (Keras's ``activation``), by Keras name.
        recurrent_activation: the gate activation (Keras's ``recurrent_activation``).

    The arrays are copied and made read-only, so the weights cannot change under a twin.
    Non-finite weights are refused: they always mean a broken load, never a model.
    """

    def __init__(self, kernel, recurrent_kernel, bias=None, activation="tanh",
                 recurrent_activation="sigmoid"):
        kernel = as_float_array(kernel, "kernel", ndim=2, axes="(features, 4 * units)")
        recurrent_kernel = as_float_array(recurrent_kernel, "recurrent_kernel", ndim=2,
                                          axes="(units, 4 * units)")
        units = recurrent_kernel.shape[0]
        if units == 0:
            raise ShapeError("recurrent_kernel must have at least one unit; received shape "
                             f"{recurrent_kernel.shape}")
        check_size("recurrent_kernel", "shape", recurrent_kernel.shape, (units, 4 * units),
                   "(units, 4 * units) with units = its first dimension")
        check_size("kernel", "4 * units axis", kernel.shape[1], 4 * units,
                   f"4 * units with units = {units} from recurrent_kernel")
        if bias is not None:
            bias = as_float_array(bias, "bias", ndim=1, axes="(4 * units,)")
            check_size("bias", "length", bias.shape[0], 4 * units,
                       f"4 * units with units = {units} from recurrent_kernel")
        self.kernel = _frozen_copy(kernel, "kernel")
        self.recurrent_kernel = _frozen_copy(recurrent_kernel, "recurrent_kernel")
        self.bias = None if bias is None else _frozen_copy(bias, "bias")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)

    @property
    def units(self):
        """U, Keras's ``units`` (TF1's ``num_units``, PyTorch's ``hidden_size``)."""
        return self.recurrent_kernel.shape[0]

    @property
    def features(self):
        """F, the size of each input step."""
        return self.kernel.shape[0]

    @property
    def use_bias(self):
        return self.bias is not None

    @property
    def dtype(self):
        """The dtype the weights were given in (the widest of the three arrays)."""
        arrays = [self.kernel, self.recurrent_kernel] + ([self.bias] if self.use_bias else [])
        return np.result_type(*arrays)

    def param_count(self):
        """Number of parameters: 4 * ((F + U) * U + U) with bias, as Keras's count_params()."""
        return self.kernel.size + self.recurrent_kernel.size + (self.bias.size if self.use_bias else 0)

    def gates(self):
        """Per-gate views: ``{"i": {"kernel": (F, U), "recurrent_kernel": (U, U), "bias": (U,)}, ...}``."""
        kernels = split_gates(self.kernel)
        recurrents = split_gates(self.recurrent_kernel)
        biases = split_gates(self.bias) if self.use_bias else dict.fromkeys(kernels)
        return {name: {"kernel": kernels[name], "recurrent_kernel": recurrents[name],
                       "bias": biases[name]} for name in kernels}

    def __repr__(self):
        return (f"LSTMWeights(units={self.units}, features={self.features}, "
                f"use_bias={self.use_bias}, activation={self.activation.name!r}, "
                f"recurrent_activation={self.recurrent_activation.name!r}, dtype={self.dtype})")


def _frozen_copy(array, name):
    if not np.isfinite(array).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueRangeError(f"{name} must be finite; received {array[where]} at index {where}")
    copy = np.array(array, copy=True)
    copy.setflags(write=False)
    return copy
