"""Deliberately wrong TF1 LSTM cells and converters, for the sensitivity tests. Imports
TensorFlow and tf_keras.

BrokenTF1Cell is tf_keras's legacy LSTMCell with one bug in its call (the framework side);
the broken converters read a correct cell's variables wrongly (the twin's side). Either way
lstm_ref.compare holds the cell's own arithmetic to the reference of what the converter
read, so each must be flagged.
"""

import numpy as np
import tensorflow as tf
from tf_keras.src.layers.rnn import legacy_cells

import lstm_ref
from lstm_ref import layouts
from lstm_ref.frameworks.tf1 import cells as tf1

CELL_BUGS = ("forget_bias dropped", "kernel read as i f j o", "cell_clip after the output gate",
             "projection forgotten")


class BrokenTF1Cell(legacy_cells.LSTMCell):
    """TF1's LSTMCell (state_is_tuple, no shards) with one bug, or none: then its call is
    LSTMCell.call's arithmetic, written out."""

    def __init__(self, num_units, bug=None, **kwargs):
        super().__init__(num_units, **kwargs)
        self.bug = bug

    def get_config(self):  # the "session" execution rebuilds the cell from its config
        return {**super().get_config(), "bug": self.bug}

    def call(self, inputs, state):
        c_prev, m_prev = state
        sigmoid, act = tf.sigmoid, self._activation
        lstm_matrix = tf.nn.bias_add(tf.matmul(tf.concat([inputs, m_prev], 1), self._kernel),
                                     self._bias)
        if self.bug == "kernel read as i f j o":
            i, f, j, o = tf.split(lstm_matrix, 4, axis=1)
        else:
            i, j, f, o = tf.split(lstm_matrix, 4, axis=1)
        forget_bias = 0.0 if self.bug == "forget_bias dropped" else self._forget_bias
        if self._use_peepholes:
            c = (sigmoid(f + forget_bias + self._w_f_diag * c_prev) * c_prev
                 + sigmoid(i + self._w_i_diag * c_prev) * act(j))
        else:
            c = sigmoid(f + forget_bias) * c_prev + sigmoid(i) * act(j)
        unclipped = c
        if self._cell_clip is not None:
            c = tf.clip_by_value(c, -self._cell_clip, self._cell_clip)
        seen = unclipped if self.bug == "cell_clip after the output gate" else c
        o_in = o + self._w_o_diag * seen if self._use_peepholes else o
        m = sigmoid(o_in) * act(seen)
        if self._num_proj is not None and self.bug != "projection forgotten":
            m = tf.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = tf.clip_by_value(m, -self._proj_clip, self._proj_clip)
        return m, legacy_cells.LSTMStateTuple(c, m)


CONVERTER_BUGS = ("forget_bias dropped", "kernel read as i f j o", "projection forgotten")


def broken_weights(cell, bug):
    """The LSTMWeights a converter with ``bug`` would read from a correct TF1 cell."""
    options = tf1.options_of(cell)
    variables = {name: getattr(cell, attr).numpy() for name, attr in tf1.VARIABLES.items()
                 if getattr(cell, attr, None) is not None}
    kernel, bias = variables["kernel"], variables["bias"]
    if bug == "kernel read as i f j o":  # the blocks taken in Keras's order, j and f swapped
        kernel, bias = (layouts.reorder_gates(a, "keras", "tf1") for a in (kernel, bias))
    args = layouts.from_tf1(kernel, bias, *(variables.get(n) for n in tf1.PEEPHOLES),
                            projection=None if bug == "projection forgotten"
                            else variables.get("projection"),
                            forget_bias=0.0 if bug == "forget_bias dropped"
                            else options["forget_bias"])
    return lstm_ref.LSTMWeights(**args, activation=options["activation"],
                                cell_clip=options["cell_clip"],
                                proj_clip=options["proj_clip"] if args["projection"] is not None
                                else None)


def unfolded_keras_weights(weights):
    """A TF1 -> Keras port that forgets to fold forget_bias into the bias: [kernel,
    recurrent_kernel, bias] as a Keras LSTM's set_weights takes them."""
    return [np.asarray(weights.kernel), np.asarray(weights.recurrent_kernel),
            np.asarray(weights.bias)]
