"""Keras LSTM cells whose 16-bit arithmetic is wrong in ways the element bounds cannot see:
the planted bugs of the exact step check (lstm_ref.step_check). Each computes an LSTM step
in the cell's dtype; only the roundings differ from Keras's LSTMCell."""

import keras
from keras import ops

__all__ = ["Accumulate16Cell", "MovedRoundingCell"]


class _Cell(keras.layers.LSTMCell):
    def finish(self, z, c_prev):
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i, f, o = (self.recurrent_activation(v) for v in (z_i, z_f, z_o))
        c = f * c_prev + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, [h, c]


class Accumulate16Cell(_Cell):
    """Matrix products accumulated in the 16-bit format (each partial sum rounded), as a
    kernel without a float32 accumulator computes them."""

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states

        def matmul(a, w):
            total = a[:, 0:1] * w[0]
            for k in range(1, a.shape[1]):
                total = total + a[:, k:k + 1] * w[k]
            return total

        dtype = inputs.dtype
        z = matmul(inputs, ops.cast(self.kernel, dtype)) + matmul(
            h_prev, ops.cast(self.recurrent_kernel, dtype))
        return self.finish(z + ops.cast(self.bias, dtype), c_prev)


class MovedRoundingCell(_Cell):
    """The bias added to x @ kernel before h @ recurrent_kernel: the same sums, another
    rounding between them (Keras's implementation 2 adds the bias last)."""

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        z = ops.add(ops.add(ops.matmul(inputs, self.kernel), self.bias),
                    ops.matmul(h_prev, self.recurrent_kernel))
        return self.finish(z, c_prev)
