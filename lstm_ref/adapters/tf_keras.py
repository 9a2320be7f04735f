"""tf_keras (Keras 2) adapter: LSTM, RNN(LSTMCell), stacked LSTMCells, Bidirectional over
these and models made of them, through the Keras 3 adapter's code; and TF1's legacy cells.

tf_keras keeps Keras 2's API, which for an LSTM is Keras 3's (kernel (F, 4U), recurrent
kernel (U, 4U), one bias, gate order i, f, c, o, states [h, c]) with two differences that
bear on what it computes:

- its ``hard_sigmoid`` is Keras 2's, clip(0.2 x + 0.5, 0, 1) (lstm_ref's
  ``"hard_sigmoid_keras2"``), not Keras 3's clip(x / 6 + 1/2, 0, 1);
- a layer can be ``time_major`` (inputs (T, B, F)): refused here (a clear error), the twins
  being batch-major.

So :func:`api` gives the Keras 3 adapter (lstm_ref.adapters.keras) a stand-in for the
``keras`` module, with tf_keras's layers and models, the few ``keras.ops`` it uses written
in TensorFlow, and tf_keras's activations by lstm_ref name; ``keras.keras_of(layer)`` picks
it for tf_keras objects. TF1's BasicLSTMCell / LSTMCell are tf_keras objects as well
(``tf_keras/src/layers/rnn/legacy_cells.py``): :func:`compare` hands them to
lstm_ref.adapters.tf1.
"""

import functools

import numpy as np

from lstm_ref.adapters import require
from lstm_ref.errors import UnsupportedLayerError

# tf_keras activation name -> lstm_ref's name, where they differ in what they compute.
ACTIVATION_NAMES = {"hard_sigmoid": "hard_sigmoid_keras2"}


def _tf_keras():
    return require("tf_keras", "tf_keras")


def _tf():
    return require("tensorflow", "tf_keras")


class _Ops:
    """The keras.ops functions the Keras 3 adapter calls, in TensorFlow (tf_keras has no ops)."""

    @staticmethod
    def convert_to_numpy(value):
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value)

    @staticmethod
    def convert_to_tensor(value, dtype=None):
        return _tf().convert_to_tensor(value, dtype=dtype)

    @staticmethod
    def zeros(shape, dtype="float32"):
        return _tf().zeros(shape, dtype=dtype)

    @staticmethod
    def where(condition, x, y):
        return _tf().where(condition, x, y)


class TFKerasAPI:
    """tf_keras as the Keras 3 adapter uses ``keras``: every attribute is tf_keras's, plus
    ``ops`` (see :class:`_Ops`) and :meth:`activation_name`."""

    __name__ = "tf_keras"
    ops = _Ops

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
    """The tf_keras stand-in for the Keras 3 adapter (see :class:`TFKerasAPI`)."""
    return TFKerasAPI(_tf_keras())


@functools.lru_cache(maxsize=None)
def tensorflow_ops():
    """TensorFlow functions that TF code passes as activations (TF1 cells default to
    ``tf.tanh``), by identity -> lstm_ref's name; each computes what lstm_ref's function of
    that name computes (tf.nn.gelu and tf.nn.leaky_relu with their defaults: exact erf,
    slope 0.2)."""
    tf = _tf()
    return {tf.math.tanh: "tanh", tf.math.sigmoid: "sigmoid", tf.nn.relu: "relu",
            tf.nn.relu6: "relu6", tf.nn.elu: "elu", tf.nn.selu: "selu",
            tf.math.softplus: "softplus", tf.math.softsign: "softsign", tf.nn.silu: "silu",
            tf.nn.gelu: "gelu", tf.nn.leaky_relu: "leaky_relu", tf.identity: "linear"}


def is_tf1_cell(obj):
    """Whether ``obj`` is one of TF1's RNN cells (tf_keras's legacy cells)."""
    from tf_keras.src.layers.rnn import legacy_cells

    return isinstance(obj, legacy_cells.RNNCell)


def check_layer(layer):
    """Refuse what the Keras 3 adapter's code would mirror wrongly in tf_keras: TF1 cells
    (they have their own twin) and time-major layers, alone or inside a Bidirectional or a
    model."""
    if is_tf1_cell(layer):
        raise UnsupportedLayerError(
            f"{type(layer).__name__} is a TF1 cell, not a Keras layer: its twin is "
            "lstm_ref.from_tf1_cell(cell), run as dynamic_rnn runs it")
    keras = api()
    inner = [layer]
    if isinstance(layer, keras.Model):
        inner = list(layer.layers)
    for sub in list(inner):
        inner += [getattr(sub, "forward_layer", None), getattr(sub, "backward_layer", None)]
    for sub in inner:
        if getattr(sub, "time_major", False):
            raise UnsupportedLayerError(
                f"{type(sub).__name__} {sub.name!r} has time_major=True; lstm_ref mirrors "
                "batch-major layers (time_major=False): transpose its input to (batch, time, "
                "features) and rebuild it without time_major")
        cell = getattr(sub, "cell", None)
        if cell is not None and is_tf1_cell(cell):
            raise UnsupportedLayerError(
                f"{type(sub).__name__} {sub.name!r} runs a TF1 {type(cell).__name__}: compare "
                "the cell itself (lstm_ref.compare(layer.cell, x, execution='keras_rnn') runs "
                "it in a tf_keras RNN), or use its twin lstm_ref.from_tf1_cell(layer.cell)")


def from_keras(layer):
    """The twin of a built tf_keras LSTM, RNN(LSTMCell), RNN over stacked LSTMCells,
    Bidirectional over one of these, or a model made of them: the Keras 3 adapter's twins
    (lstm_ref.adapters.keras.from_keras), with tf_keras's weights and activations."""
    from lstm_ref.adapters import keras as keras_adapter

    check_layer(layer)
    return keras_adapter.from_keras(layer)


def compare(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Step-by-step comparison of a tf_keras layer or model (see
    lstm_ref.adapters.keras.compare: ``execution=`` "eager", "function", "xla" or "predict"),
    or of a TF1 cell (see lstm_ref.adapters.tf1.compare). Returns a Report."""
    if is_tf1_cell(layer):
        from lstm_ref.adapters import tf1

        return tf1.compare(layer, x, initial_state=initial_state, mask=mask,
                           tolerance=tolerance, **options)
    from lstm_ref.adapters import keras as keras_adapter

    check_layer(layer)
    return keras_adapter.compare(layer, x, initial_state=initial_state, mask=mask,
                                 tolerance=tolerance, **options)


def missing_activations(case):
    """The activations of a lstm_ref.grid Case that tf_keras does not have (the full grid
    names every Keras 3 activation), as a sorted list; empty when the case can run."""
    known = _tf_keras().activations
    return sorted({name for name in (case.activation, case.recurrent_activation)
                   if not callable(getattr(known, name, None))})


def build_case_layer(case, dtype="float32", cell=None, **layer_options):
    """A tf_keras LSTM for a lstm_ref.grid Case (its activation names are tf_keras's, so
    "hard_sigmoid" is Keras 2's), built, with the case's random per-gate weights set.

    Args:
        case: a :class:`lstm_ref.grid.Case`.
        dtype: the layer's dtype or dtype policy ("float32", "float64", "mixed_float16"...).
        cell: a tf_keras LSTMCell (or subclass) to wrap in tf_keras.layers.RNN instead of
            building an LSTM; the case gives sizes, weights and the RNN's options.
        **layer_options: further tf_keras.layers.LSTM arguments.
    """
    keras = _tf_keras()
    missing = missing_activations(case)
    if missing:
        raise UnsupportedLayerError(f"tf_keras {keras.__version__} has no activation "
                                    f"{', '.join(missing)} (case {case.id})")
    arrays = case.arrays()
    common = dict(return_sequences=case.return_sequences, return_state=case.return_state,
                  go_backwards=case.go_backwards, unroll=case.unroll, dtype=dtype)
    if cell is None:
        layer = keras.layers.LSTM(case.units, activation=case.activation,
                                  recurrent_activation=case.recurrent_activation,
                                  use_bias=case.use_bias, implementation=case.implementation,
                                  **common, **layer_options)
    else:
        layer = keras.layers.RNN(cell, **common)
    layer.build((case.batch, case.time, case.features))
    weights = [arrays["kernel"], arrays["recurrent_kernel"]]
    weights += [arrays["bias"]] if case.use_bias else []
    layer.set_weights([w.astype(layer.dtype) for w in weights])
    return layer


def run_case(case, dtype="float32", cell=None, tolerance=None, execution=None,
             **layer_options):
    """Build the case's tf_keras layer and compare it with the reference (as
    lstm_ref.adapters.keras.run_case does for Keras 3); the Report's context names the case
    and its seed, so a failure reproduces alone. ``execution`` None: a tf.function
    (keras_execution.fast_execution)."""
    from lstm_ref.adapters import keras_execution
    from lstm_ref.adapters.keras import keras_of, observe
    from lstm_ref.engine import check_observation

    layer = build_case_layer(case, dtype=dtype, cell=cell, **layer_options)
    if execution is None:
        execution = keras_execution.fast_execution(keras_of(layer), layer, case.time)
    arrays = case.arrays()
    observation = observe(layer, arrays["x"], initial_state=arrays["initial_state"],
                          execution=execution)
    observation.context = {
        "case": case.id, "seed": case.seed, **observation.context,
        "reproduce": f"lstm_ref.adapters.tf_keras.run_case(lstm_ref.grid.Case("
                     f"**{case.as_dict()}), dtype={dtype!r}, execution={execution!r})"}
    return check_observation(observation, tolerance)


def compare_gradients(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Gradients of a tf_keras LSTM or RNN(LSTMCell) (see lstm_ref.adapters.keras_gradients)."""
    from lstm_ref.adapters import keras as keras_adapter

    check_layer(layer)
    return keras_adapter.compare_gradients(layer, x, initial_state, mask, tolerance, **options)
