"""Source text of downstream test files, as a user writes them: what the plugin and the
unittest harness tests run in a fresh pytest or unittest."""

__all__ = ["SWAPPED_GATES_CELL"]

# A Keras cell with a realistic bug (gates i and f swapped): a layer of it must fail.
SWAPPED_GATES_CELL = '''
import keras
from keras import ops


class SwappedGates(keras.layers.LSTMCell):
    def call(self, inputs, states, training=False):
        h, c = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        c = self.recurrent_activation(z_i) * c + self.recurrent_activation(z_f) * ops.tanh(z_c)
        h = self.recurrent_activation(z_o) * ops.tanh(c)
        return h, [h, c]
'''
