"""A Keras LSTM cell with a small systematic drift from a chosen step on: the planted bug of the
drift check (lstm_ref.bias). Imports Keras.

A cell does not know which step it computes, so the step is marked in the input: feature 0
is 0 before the step the drift starts at and 1 from it on (in processing order), and the
kernel's row of feature 0 is zero, so the marker changes nothing in the true math and the
reference, given the same input, computes what a faithful layer does. The broken cell then
scales h or c of every step by ``1 + drift * inputs[:, 0]``: 1 before the start, 1 + drift
from it on. The scale is applied inside the step's last operation (c = f * c_prev + i * g,
h = o * activation(c)), taken in float64 and rounded once to the cell's dtype, as a kernel
computing that operation slightly wrong would: so the drift is ``drift`` on average over the
elements, in any format, not ``drift`` rounded to the format first (a float32 1 + 1e-6 is
1 + 8 ulps; a float16 value scaled by 1 + 1e-4 after rounding stays what it was).

Where the bug sits (``where``): "everywhere" (a wrong cell: every run of it), "layer" (only
in the layer's own run, by whichever execution path: a bug of that path's kernel, which
lstm_ref's stepping of the cell does not share, so only what the layer returns can show it),
or "stepped" (only where the cell is called on its own, as lstm_ref steps it). A layer built
by :func:`build_marked_layer` tells its cell when it runs it.
"""

import keras
import numpy as np
from keras import ops

__all__ = ["DRIFTING", "WHERE", "LayerRNN", "bug_active", "DriftLSTMCell", "marker",
           "marked_inputs", "build_marked_layer"]

# The tensors the cell can drift in.
DRIFTING = ("h", "c")
WHERE = ("everywhere", "layer", "stepped")


class LayerRNN(keras.layers.RNN):
    """keras.layers.RNN whose cell knows (``cell.in_layer``) while the layer's call runs it,
    eagerly or while a graph of it is traced."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self.cell.in_layer = True
        try:
            return super().call(sequences, initial_state=initial_state, mask=mask,
                                training=training)
        finally:
            self.cell.in_layer = False


def bug_active(cell):
    """Whether a cell with a placed bug (``cell.where``, one of WHERE) computes it in this
    call."""
    if cell.where == "everywhere":
        return True
    return (cell.where == "layer") == bool(getattr(cell, "in_layer", False))


class DriftLSTMCell(keras.layers.LSTMCell):
    """Keras's LSTMCell, with ``tensor`` ("h" or "c") of every step scaled by
    ``1 + drift * inputs[:, 0]`` (feature 0: the marker, :func:`marked_inputs`) where the bug
    is active (``where``, :func:`bug_active`). Inactive, or with drift 0, it is Keras's own
    cell. A drifted h is also the step's output.

    Active, it computes Keras's step (keras.layers.LSTMCell.call at inference, both
    implementations) operation by operation, each rounded to the cell's dtype as Keras's are;
    subclasses change :meth:`pre_activations` to plant other bugs there.
    """

    def __init__(self, units, tensor="c", drift=0.0, where="everywhere", **kwargs):
        super().__init__(units, **kwargs)
        if tensor not in DRIFTING:
            raise ValueError(f"tensor must be one of {DRIFTING}; received {tensor!r}")
        if where not in WHERE:
            raise ValueError(f"where must be one of {WHERE}; received {where!r}")
        self.tensor, self.drift, self.where = tensor, float(drift), where
        self.in_layer = False

    def planted(self):
        """Whether this call computes a planted bug (here: a drift)."""
        return bool(self.drift) and bug_active(self)

    def call(self, inputs, states, training=False):
        if not self.planted():
            return super().call(inputs, states, training=training)
        h_prev, c_prev = states
        z_i, z_f, z_c, z_o = self.pre_activations(inputs, h_prev)
        i, f, o = (self.recurrent_activation(z) for z in (z_i, z_f, z_o))
        wide = lambda v: ops.cast(v, "float64")  # noqa: E731
        scale = 1.0 + self.drift * wide(inputs[:, 0:1])
        c_scale, h_scale = (scale, 1.0) if self.tensor == "c" else (1.0, scale)
        c = ops.cast((wide(f * c_prev) + wide(i * self.activation(z_c))) * c_scale, c_prev.dtype)
        h = ops.cast(wide(o) * wide(self.activation(c)) * h_scale, c_prev.dtype)
        return h, [h, c]

    def pre_activations(self, inputs, h_prev):
        """z_i, z_f, z_c, z_o as keras.layers.LSTMCell sums them: implementation 2,
        ``(x @ kernel + h @ recurrent_kernel) + bias``; implementation 1, per gate,
        ``(x @ kernel_g + bias_g) + h @ recurrent_kernel_g``."""
        if self.implementation != 1:
            z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
            if self.use_bias:
                z = z + self.bias
            return ops.split(z, 4, axis=1)
        kernels = ops.split(self.kernel, 4, axis=1)
        recurrent = ops.split(self.recurrent_kernel, 4, axis=1)
        biases = ops.split(self.bias, 4, axis=0) if self.use_bias else [None] * 4
        gates = []
        for kernel, recurrent_kernel, bias in zip(kernels, recurrent, biases):
            x_g = ops.matmul(inputs, kernel)
            x_g = x_g if bias is None else x_g + bias
            gates.append(x_g + ops.matmul(h_prev, recurrent_kernel))
        return gates


def marker(batch, time, start, go_backwards=False):
    """(batch, time) the marker feature: 1 from processing step ``start`` on, 0 before; in time
    order (going backwards, processing step p reads time step time - 1 - p)."""
    on = (np.arange(time) >= start).astype(np.float64)
    on = on[::-1] if go_backwards else on
    return np.broadcast_to(on, (batch, time)).copy()


def marked_inputs(case, start):
    """A grid Case's seeded arrays with the marker as feature 0 (drift from processing step
    ``start`` on; 0: every step) and the kernel's row of feature 0 zero."""
    arrays = case.arrays()
    x = arrays["x"].copy()
    x[:, :, 0] = marker(case.batch, case.time, start, case.go_backwards)
    kernel = arrays["kernel"].copy()
    kernel[0] = 0.0
    return {**arrays, "x": x, "kernel": kernel}


def build_marked_layer(case, arrays, cell, dtype="float32"):
    """A :class:`LayerRNN` over ``cell`` with a grid Case's RNN options (returns,
    go_backwards, unroll), built, with the weights of ``arrays`` (:func:`marked_inputs`)."""
    layer = LayerRNN(cell, return_sequences=case.return_sequences,
                     return_state=case.return_state, go_backwards=case.go_backwards,
                     unroll=case.unroll, dtype=dtype)
    layer.build((case.batch, case.time, case.features))
    weights = [arrays["kernel"], arrays["recurrent_kernel"]]
    weights += [arrays["bias"]] if case.use_bias else []
    layer.set_weights([w.astype(layer.variable_dtype) for w in weights])
    return layer
