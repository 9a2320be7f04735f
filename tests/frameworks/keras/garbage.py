"""Keras LSTM cells that are right everywhere but at one marked element, where they return NaN,
inf or garbage, and a cell whose gradient through c_{t-1} is cut: what the verdict tests hold
every Keras path to. Imports Keras and TensorFlow.

The mark is in the data: a cell corrupts the rows of a step whose input's first feature is
exactly MARK. A test writes MARK at x[b, t, 0] to break row b at step t only, in every
execution (eager, graph, XLA) alike, with no step counter to keep. A cell deeper in a stack
never sees x: it is given the rows to break at every step instead.
"""

import keras
import numpy as np
import tensorflow as tf

__all__ = ["MARK", "KINDS", "BROKEN", "mark", "GarbageLSTMCell", "GarbageLSTM",
           "GradientGarbageCell", "CutCarryCell"]

# Exactly representable in float16, float32 and float64; uniform(-1, 1) inputs never hit it.
MARK = 0.5
# What a broken cell returns at the marked element.
KINDS = {"nan": float("nan"), "inf": float("inf"), "garbage": 12345.0, "zero": 0.0}
# The kinds every verdict path is held to.
BROKEN = ("nan", "inf", "garbage")


def mark(x, row, step):
    """A copy of ``x`` (B, T, F) with MARK at x[row, step, 0]: the element a garbage cell
    breaks."""
    x = np.array(x, copy=True)
    x[row, step, 0] = MARK
    return x


def _marked(inputs, rows=None):
    """(B, 1) booleans: the rows whose input at this step carries the mark, or ``rows``."""
    if rows is not None:
        return tf.reduce_any(tf.range(tf.shape(inputs)[0])[:, None] == list(rows), axis=1,
                             keepdims=True)
    return tf.equal(inputs[:, :1], tf.cast(MARK, inputs.dtype))


def _gates(cell, inputs, h_prev):
    """An LSTMCell's gates i, f, o and candidate g at one step, as Keras computes them."""
    z = tf.matmul(inputs, cell.kernel) + tf.matmul(h_prev, cell.recurrent_kernel)
    if cell.use_bias:
        z = z + cell.bias
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    i, f, o = (cell.recurrent_activation(v) for v in (z_i, z_f, z_o))
    return i, f, o, cell.activation(z_c)


class _MarkedCell(keras.layers.LSTMCell):
    """Keras's LSTMCell that knows which rows a subclass breaks, and how: KINDS[kind] in the
    rows whose input carries the mark, or in ``rows`` at every step (both saved in its
    config)."""

    def __init__(self, units, kind="nan", rows=None, **kwargs):
        super().__init__(units, **kwargs)
        self.kind = kind
        self.rows = None if rows is None else tuple(rows)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "rows": self.rows}


@keras.saving.register_keras_serializable(package="lstm_ref_garbage")
class GarbageLSTMCell(_MarkedCell):
    """Keras's LSTMCell, except that its new h and c (what it returns and carries) are
    KINDS[kind] in a marked row at the marked step, or in ``rows`` at every step. Every
    other row is computed, and differentiated, as the LSTMCell's."""

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        i, f, o, g = _gates(self, inputs, h_prev)
        where = _marked(inputs, self.rows)
        bad = tf.cast(KINDS[self.kind], inputs.dtype)
        c = tf.where(where, bad, f * c_prev + i * g)
        h = tf.where(where, bad, o * self.activation(c))
        return h, [h, c]


@keras.saving.register_keras_serializable(package="lstm_ref_garbage")
class GradientGarbageCell(_MarkedCell):
    """Keras's LSTMCell with a right forward pass; in the backward pass the gradient that
    flows through c_t (into the gates, x_t and c_{t-1}) is KINDS[kind] in a marked row at
    the marked step, or in ``rows`` at every step."""

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        i, f, o, g = _gates(self, inputs, h_prev)
        c = _corrupt_gradient(f * c_prev + i * g, _marked(inputs, self.rows), KINDS[self.kind])
        h = o * self.activation(c)
        return h, [h, c]


def _corrupt_gradient(value, where, bad):
    @tf.custom_gradient
    def identity(v):
        def grad(upstream):
            return tf.where(where, tf.cast(bad, upstream.dtype), upstream)
        return tf.identity(v), grad

    return identity(value)


class CutCarryCell(keras.layers.LSTMCell):
    """Keras's LSTMCell with a right forward pass whose gradient through c_{t-1} is cut
    (c_{t-1} enters c_t under tf.stop_gradient): dc_t carries nothing to dc_{t-1}."""

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        i, f, o, g = _gates(self, inputs, h_prev)
        c = f * tf.stop_gradient(c_prev) + i * g
        h = o * self.activation(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="lstm_ref_garbage")
class GarbageLSTM(keras.layers.LSTM):
    """keras.layers.LSTM whose own output is KINDS[kind] at the marked element (row b, time
    t); its cell is Keras's, right: only what the whole layer returns is wrong."""

    def __init__(self, units, kind="nan", **kwargs):
        super().__init__(units, **kwargs)
        self.kind = kind

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}

    def call(self, sequences, initial_state=None, mask=None, training=False):
        result = super().call(sequences, initial_state=initial_state, mask=mask,
                              training=training)
        output = result[0] if self.return_state else result
        where = tf.equal(sequences[..., :1], tf.cast(MARK, sequences.dtype))  # time order
        if self.go_backwards:  # the returned sequence is in processing order
            where = tf.reverse(where, [1])
        if not self.return_sequences:
            where = tf.reduce_any(where, axis=1)
        output = tf.where(where, tf.cast(KINDS[self.kind], output.dtype), output)
        return [output, *result[1:]] if self.return_state else output
