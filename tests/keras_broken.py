"""Deliberately wrong Keras LSTM cells, for the sensitivity tests. Imports Keras."""

import keras
from keras import ops

BUGS = ("gates i/f swapped", "bias ignored", "recurrent term dropped", "state order swapped",
        "relative drift 1e-5 in c")


class BrokenLSTMCell(keras.layers.LSTMCell):
    """An LSTMCell with one bug (or none: then it is Keras's own cell, unchanged)."""

    def __init__(self, units, bug=None, **kwargs):
        super().__init__(units, **kwargs)
        self.bug = bug

    def call(self, inputs, states, training=False):
        if self.bug in (None, "state order swapped", "relative drift 1e-5 in c"):
            h, (h, c) = super().call(inputs, states, training=training)
            if self.bug == "state order swapped":
                return h, [c, h]
            if self.bug == "relative drift 1e-5 in c":
                return h, [h, c * (1 + 1e-5)]
            return h, [h, c]
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel)
        if self.bug != "recurrent term dropped":
            z = z + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias and self.bug != "bias ignored":
            z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        if self.bug == "gates i/f swapped":
            z_i, z_f = z_f, z_i
        i, f, o = (self.recurrent_activation(v) for v in (z_i, z_f, z_o))
        c = f * c_prev + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, [h, c]
