"""tf_keras (Keras 2) seen through the Keras 3 API, and TensorFlow ops used as activations.

tf_keras keeps Keras 2's API, which for an LSTM is Keras 3's (kernel (F, 4U), recurrent
kernel (U, 4U), one bias, gate order i, f, c, o, states [h, c]) with two differences that
bear on what it computes:

- its ``hard_sigmoid`` is Keras 2's, clip(0.2 x + 0.5, 0, 1) (lstm_ref's
  ``"hard_sigmoid_keras2"``), not Keras 3's clip(x / 6 + 1/2, 0, 1);
- a layer can be ``time_major`` (inputs (T, B, F)): refused (lstm_ref.frameworks.keras.keras2),
  the twins being batch-major.

So :func:`api` gives the Keras package (lstm_ref.frameworks.keras) a stand-in for the
``keras`` module, with tf_keras's layers and models, the few ``keras.ops`` it uses written in
TensorFlow, and tf_keras's activations by lstm_ref name. TF1's BasicLSTMCell / LSTMCell are
tf_keras objects as well (``tf_keras/src/layers/rnn/legacy_cells.py``, lstm_ref.frameworks.tf1),
whose activations may be TensorFlow ops (:func:`tensorflow_ops`).
"""

import functools

import numpy as np

from lstm_ref._optional import require
from lstm_ref.errors import UnsupportedLayerError

__all__ = ["ACTIVATION_NAMES", "TFKerasOps", "TFKerasAPI", "api", "tensorflow_ops", "is_tf1_cell",
           "is_tf_keras", "tf_keras_module", "tensorflow_module"]

# tf_keras activation name -> lstm_ref's name, where they differ in what they compute.
ACTIVATION_NAMES = {"hard_sigmoid": "hard_sigmoid_keras2"}


def tf_keras_module():
    """tf_keras, or FrameworkMissingError naming the extra."""
    return require("tf_keras", "tf_keras")


def tensorflow_module():
    """TensorFlow, or FrameworkMissingError naming the extra."""
    return require("tensorflow", "tf_keras")


class TFKerasOps:
    """The keras.ops functions the Keras package calls, in TensorFlow (tf_keras has no ops)."""

    @staticmethod
    def convert_to_numpy(value):
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value)

    @staticmethod
    def convert_to_tensor(value, dtype=None):
        return tensorflow_module().convert_to_tensor(value, dtype=dtype)

    @staticmethod
    def zeros(shape, dtype="float32"):
        return tensorflow_module().zeros(shape, dtype=dtype)

    @staticmethod
    def where(condition, x, y):
        return tensorflow_module().where(condition, x, y)


class TFKerasAPI:
    """tf_keras as the Keras package uses ``keras``: every attribute is tf_keras's, plus
    ``ops`` (see :class:`TFKerasOps`) and :meth:`activation_name`."""

    __name__ = "tf_keras"
    ops = TFKerasOps

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def activation_name(self, fn, what):
        """lstm_ref's name of a tf_keras built-in activation (``hard_sigmoid`` is Keras 2's)
        or of a TensorFlow op used as one (``tf.tanh``, ``tf.nn.relu``...), or a clear error.

        Args:
            fn: the activation function the layer or cell holds.
            what: the argument's name, for the error message.
        """
        name = getattr(fn, "__name__", None)
        try:
            known = name is not None and self._module.activations.get(name) is fn
        except ValueError:
            known = False
        if known:
            return ACTIVATION_NAMES.get(name, name)
        ops = tensorflow_ops()
        if fn in ops:
            return ops[fn]
        raise UnsupportedLayerError(
            f"{what} {fn!r} is neither a tf_keras built-in activation nor one of the TensorFlow "
            f"ops {sorted(set(ops.values()))}; lstm_ref cannot know what it computes")


@functools.lru_cache(maxsize=None)
def api():
    """The tf_keras stand-in for the Keras package (see :class:`TFKerasAPI`)."""
    return TFKerasAPI(tf_keras_module())


@functools.lru_cache(maxsize=None)
def tensorflow_ops():
    """TensorFlow functions that TF code passes as activations (TF1 cells default to
    ``tf.tanh``), by identity -> lstm_ref's name; each computes what lstm_ref's function of
    that name computes (tf.nn.gelu and tf.nn.leaky_relu with their defaults: exact erf,
    slope 0.2)."""
    tf = tensorflow_module()
    return {tf.math.tanh: "tanh", tf.math.sigmoid: "sigmoid", tf.nn.relu: "relu",
            tf.nn.relu6: "relu6", tf.nn.elu: "elu", tf.nn.selu: "selu",
            tf.math.softplus: "softplus", tf.math.softsign: "softsign", tf.nn.silu: "silu",
            tf.nn.gelu: "gelu", tf.nn.leaky_relu: "leaky_relu", tf.identity: "linear"}


def is_tf_keras(obj):
    """Whether ``obj`` is a tf_keras object (its class, or a base class, comes from tf_keras)."""
    return any(cls.__module__.split(".")[0] == "tf_keras" for cls in type(obj).__mro__)


def is_tf1_cell(obj):
    """Whether ``obj`` is one of TF1's RNN cells (tf_keras's legacy cells)."""
    from tf_keras.src.layers.rnn import legacy_cells

    return isinstance(obj, legacy_cells.RNNCell)
