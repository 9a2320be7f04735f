"""Deliberately wrong Keras LSTM cells, for the sensitivity tests. Imports Keras."""

import keras
from keras import ops

BUGS = ("gates i/f swapped", "bias ignored", "recurrent term dropped", "state order swapped",
        "relative drift 1e-5 in c")  # any "relative drift X in c" multiplies c by 1 + X


class BrokenLSTMCell(keras.layers.LSTMCell):
    """An LSTMCell with one bug (or none: then it is Keras's own cell, unchanged)."""

    def __init__(self, units, bug=None, **kwargs):
        super().__init__(units, **kwargs)
        self.bug = bug

    def call(self, inputs, states, training=False):
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


LAYER_BUGS = ("mask ignored", "masked outputs zeroed", "go_backwards not applied",
              "initial state ignored", "stateful state not carried")


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

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if self.bug == "mask ignored":
            mask = None
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
