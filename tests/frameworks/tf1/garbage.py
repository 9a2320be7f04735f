"""A TF1 LSTMCell that is right everywhere but at one marked element, where its output and
new state are NaN, inf or garbage: what the verdict tests hold the TF1 paths to. Imports
TensorFlow and tf_keras.

The mark is in the data, as in tests/frameworks/keras/garbage.py: the cell corrupts the rows
of a step whose input's first feature is exactly MARK.
"""

import numpy as np
import tensorflow as tf
from tf_keras.src.layers.rnn import legacy_cells

__all__ = ["MARK", "KINDS", "BROKEN", "mark", "GarbageTF1Cell"]

MARK = 0.5  # exact in every float format; uniform(-1, 1) inputs never hit it
KINDS = {"nan": float("nan"), "inf": float("inf"), "garbage": 12345.0}
BROKEN = tuple(KINDS)


def mark(x, row, step):
    """A copy of ``x`` (B, T, F) with MARK at x[row, step, 0]."""
    x = np.array(x, copy=True)
    x[row, step, 0] = MARK
    return x


class GarbageTF1Cell(legacy_cells.LSTMCell):
    """TF1's LSTMCell whose output m and new state (c, m) are KINDS[kind] in a marked row at
    the marked step."""

    def __init__(self, num_units, kind="nan", **kwargs):
        super().__init__(num_units, **kwargs)
        self.kind = kind

    def get_config(self):  # the "session" execution rebuilds the cell from its config
        return {**super().get_config(), "kind": self.kind}

    def call(self, inputs, state):
        m, (c, _) = super().call(inputs, state)
        where = tf.equal(inputs[:, :1], tf.cast(MARK, inputs.dtype))
        bad = tf.cast(KINDS[self.kind], m.dtype)
        m, c = tf.where(where, bad, m), tf.where(where, bad, c)
        return m, legacy_cells.LSTMStateTuple(c, m)
