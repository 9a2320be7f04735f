"""Deliberately wrong Keras LSTM cells and layers, for the sensitivity and coverage tests.
Imports Keras."""

import keras
import numpy as np
from keras import ops

BUGS = ("gates i/f swapped", "bias ignored", "recurrent term dropped", "state order swapped",
        "relative drift 1e-5 in c")  # any "relative drift X in c" multiplies c by 1 + X
# Bugs only some sizes, paths or options reach, as real kernels have them: a vectorised
# kernel whose tail (the lanes past the last full block of 8, behind at least one full block)
# drops the bias, per unit or per batch row; a dropout mask applied at inference by
# implementation 2 only.
COVERAGE_BUGS = ("tail units lose their bias", "tail rows lose their bias",
                 "dropout at inference in implementation 2")
BLOCK = 8


def tail(size, block=BLOCK):
    """The indices a kernel blocked by ``block`` leaves to its tail: those past the last full
    block, when there is one (none up to ``block``, none for an exact multiple)."""
    full = size // block * block
    return list(range(full, size)) if full else []


class BrokenLSTMCell(keras.layers.LSTMCell):
    """An LSTMCell with one bug (or none: then it is Keras's own cell, unchanged)."""

    def __init__(self, units, bug=None, **kwargs):
        super().__init__(units, **kwargs)
        self.bug = bug

    def call(self, inputs, states, training=False):
        if self.bug == "dropout at inference in implementation 2":
            if self.implementation == 2 and self.dropout and not training:
                inputs = keras.random.dropout(inputs, self.dropout, seed=self.seed)
            return super().call(inputs, states, training=training)
        if self.bug in ("tail units lose their bias", "tail rows lose their bias"):
            return self.tail_call(inputs, states)
        drift = self.bug is not None and self.bug.startswith("relative drift")
        if self.bug in (None, "state order swapped") or drift:
            h, (h, c) = super().call(inputs, states, training=training)
            if self.bug == "state order swapped":
                return h, [c, h]
            if drift:
                return h, [h, c * (1 + float(self.bug.split()[2]))]
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

    def tail_call(self, inputs, states):
        """The cell's step with the bias dropped in the tail: of the units (the same for every
        gate) or of the batch rows."""
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            if self.bug == "tail units lose their bias":
                keep = np.ones(self.units, self.compute_dtype)
                keep[tail(self.units)] = 0
                z = z + self.bias * ops.convert_to_tensor(np.tile(keep, 4), self.compute_dtype)
            else:
                batch = ops.shape(inputs)[0]
                full = batch // BLOCK * BLOCK
                rows = ops.arange(batch)
                in_tail = ops.logical_and(rows >= full, full > 0)
                keep = ops.cast(ops.logical_not(in_tail), self.compute_dtype)
                z = z + ops.expand_dims(keep, 1) * self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i, f, o = (self.recurrent_activation(v) for v in (z_i, z_f, z_o))
        c = f * c_prev + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, [h, c]


LAYER_BUGS = ("mask ignored", "masked outputs zeroed", "go_backwards not applied",
              "initial state ignored", "stateful state not carried",
              # only on the eager path (the while_loop run op by op), only going backwards:
              # the mask is applied in time order to the reversed sequence
              "eager go_backwards mask in time order",
              # reset_state() / reset_states() leave the carried state as it was
              "reset does not clear")


@keras.saving.register_keras_serializable(package="lstm_ref_tests")
class BrokenLSTM(keras.layers.LSTM):
    """A keras.layers.LSTM whose call has one bug in the layer's own logic (or none). Its
    attributes still say what it should do, so a twin built from it expects the right thing.
    Serializable with its bug, so that a Bidirectional's copy of it keeps the bug."""

    def __init__(self, units, bug=None, **kwargs):
        super().__init__(units, **kwargs)
        self.bug = bug

    def get_config(self):
        return {**super().get_config(), "bug": self.bug}

    def reset_state(self):
        if self.bug != "reset does not clear":
            super().reset_state()

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if self.bug == "mask ignored":
            mask = None
        if (self.bug == "eager go_backwards mask in time order" and self.go_backwards
                and mask is not None and executing_eagerly()):
            mask = ops.flip(mask, axis=1)
        if self.bug == "initial state ignored":
            initial_state = None
        if self.bug == "stateful state not carried":
            self.reset_state()
        saved = self.zero_output_for_mask, self.go_backwards
        if self.bug == "masked outputs zeroed":
            self.zero_output_for_mask = True
        if self.bug == "go_backwards not applied":
            self.go_backwards = False
        try:
            return super().call(sequences, initial_state=initial_state, mask=mask,
                                training=training)
        finally:
            self.zero_output_for_mask, self.go_backwards = saved


def executing_eagerly():
    """Whether the call runs op by op (not traced into a graph: tf.function, XLA, predict)."""
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return tf.executing_eagerly()


class UnflippedBidirectional(keras.layers.Bidirectional):
    """A Bidirectional that forgets to flip the backward sequence back to time order."""

    def call(self, sequences, initial_state=None, mask=None, training=None):
        self.return_sequences = False  # the flip happens only when this is True
        try:
            return super().call(sequences, initial_state=initial_state, mask=mask,
                                training=training)
        finally:
            self.return_sequences = True


class MaskLosingMasking(keras.layers.Masking):
    """A Masking layer that zeroes the padded steps but does not pass the mask on."""

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        outputs = super().call(inputs)
        try:
            outputs._keras_mask = None  # eager tensors carry the mask along: drop it
        except AttributeError:
            pass
        return outputs
