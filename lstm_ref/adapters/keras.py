"""Keras 3 adapter: the twin of a Keras LSTM, and the step-by-step observation of one.

tf_keras (Keras 2) objects go through the same code: :func:`keras_of` gives it tf_keras's
stand-in for the ``keras`` module (lstm_ref.adapters.tf_keras)."""

import numpy as np

from lstm_ref.adapters import keras_execution, require
from lstm_ref.checks import as_float_array, as_mask
from lstm_ref.engine import Observation
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.reference import forward
from lstm_ref.weights import LSTMWeights


# Activations whose float64 kernel is not float64-accurate on a Keras backend (Keras 3.15 / TF
# 2.21: gelu is float32-accurate, leaky_relu's slope is float32(0.2)); a float64 layer using
# one departs from the reference, rightly. Pinned in tests/test_keras_known_divergences.py.
FLOAT64_DEPARTURES = {"tensorflow": ("gelu", "leaky_relu")}


def _keras():
    return require("keras", "keras")


def keras_of(obj):
    """The Keras API a layer, cell or model belongs to: Keras 3's ``keras`` module, or for a
    tf_keras (Keras 2) object the stand-in lstm_ref.adapters.tf_keras.api(), which has the
    names this adapter uses (layers, activations, ops, Model...), so the code here serves both."""
    if any(cls.__module__.split(".")[0] == "tf_keras" for cls in type(obj).__mro__):
        from lstm_ref.adapters import tf_keras

        return tf_keras.api()
    return _keras()


def lstm_cell(layer):
    """The LSTMCell of a Keras LSTM or RNN(LSTMCell), or a clear error for anything else."""
    keras = keras_of(layer)
    kind = type(layer).__name__
    if not isinstance(layer, keras.layers.RNN):
        raise UnsupportedLayerError(
            f"from_keras supports keras.layers.LSTM, keras.layers.RNN(LSTMCell) and "
            f"Bidirectional over either; received {kind}")
    cell = layer.cell
    if isinstance(cell, keras.layers.StackedRNNCells):
        raise UnsupportedLayerError(
            f"{kind} {layer.name!r} runs stacked cells "
            f"({', '.join(type(c).__name__ for c in cell.cells)}): use from_keras(layer), which "
            "mirrors stacks of LSTMCells")
    if not isinstance(cell, keras.layers.LSTMCell):
        raise UnsupportedLayerError(
            f"from_keras supports keras.layers.LSTM, keras.layers.RNN(LSTMCell) and "
            f"Bidirectional over either; received {kind} {layer.name!r} over a "
            f"{type(cell).__name__}")
    if not layer.built or not cell.built:
        raise UnsupportedLayerError(
            f"{kind} {layer.name!r} is not built, so it has no weights yet; call it on an input "
            "or call layer.build((batch, time, features)) first")
    return cell


def activation_name(fn, what, keras=None):
    """The lstm_ref name of a built-in activation function of ``keras`` (Keras 3 by default),
    or a clear error."""
    keras = keras or _keras()
    if hasattr(keras, "activation_name"):  # tf_keras's stand-in: its own names and functions
        return keras.activation_name(fn, what)
    name = getattr(fn, "__name__", None)
    try:
        known = name is not None and keras.activations.get(name) is fn
    except ValueError:
        known = False
    if not known:
        raise UnsupportedLayerError(f"{what} {fn!r} is not a Keras built-in activation; "
                                    "lstm_ref cannot know what it computes")
    return name


def weights_of(cell):
    """The cell's current weights as LSTMWeights."""
    keras = keras_of(cell)
    to_numpy = keras.ops.convert_to_numpy
    return LSTMWeights(
        to_numpy(cell.kernel), to_numpy(cell.recurrent_kernel),
        to_numpy(cell.bias) if cell.use_bias else None,
        activation=activation_name(cell.activation, "activation", keras),
        recurrent_activation=activation_name(cell.recurrent_activation, "recurrent_activation",
                                             keras))


def describe_cell(cell):
    """A one-line account of an LSTMCell's options."""
    return (f"{type(cell).__name__}(units={cell.units}, activation={cell.activation.__name__}, "
            f"recurrent_activation={cell.recurrent_activation.__name__}, "
            f"use_bias={cell.use_bias})")


def describe(layer):
    """The options of a layer that bear on what it computes, for reports and reproducers."""
    cell = layer.cell
    keras = keras_of(layer)
    return {
        "layer": f"{type(layer).__name__}({_cell_note(layer)}units={cell.units}, activation="
                 f"{cell.activation.__name__}, recurrent_activation="
                 f"{cell.recurrent_activation.__name__}, use_bias={cell.use_bias}, "
                 f"return_sequences={layer.return_sequences}, return_state={layer.return_state}, "
                 f"go_backwards={layer.go_backwards}, stateful={layer.stateful}, "
                 f"unroll={layer.unroll}, implementation={cell.implementation}, "
                 f"use_cudnn={getattr(layer, 'use_cudnn', 'n/a')}, dtype={layer.dtype_policy.name})",
        "versions": f"{keras.__name__} {keras.__version__} (backend "
                    f"{keras.backend.backend()}), "
                    f"numpy {np.__version__}",
    }


def _cell_note(layer):
    cell = type(layer.cell)
    if cell is keras_of(layer).layers.LSTMCell:
        return ""
    return f"cell={cell.__module__}.{cell.__qualname__}, "


class KerasLSTMTwin:
    """The reference twin of a built Keras LSTM or RNN(LSTMCell).

    Called like the layer (``twin(inputs, initial_state=None, mask=None, training=None)``), it
    returns what the layer returns (the output, or ``(output, h, c)`` with return_state), as
    float64 NumPy arrays computed by the reference (``dtype=`` runs it in another precision).
    A stateful twin keeps its own state.
    """

    def __init__(self, layer):
        cell = lstm_cell(layer)
        self.weights = weights_of(cell)
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.go_backwards = layer.go_backwards
        self.zero_output_for_mask = layer.zero_output_for_mask
        self.stateful = layer.stateful
        self.dropout = cell.dropout
        self.recurrent_dropout = cell.recurrent_dropout
        self.dtype = layer.compute_dtype
        self.config = describe(layer)
        self.states = layer_states(layer)

    def __call__(self, inputs, initial_state=None, mask=None, training=None, dtype="float64"):
        if training and (self.dropout or self.recurrent_dropout):
            raise OptionError(
                f"training=True with dropout={self.dropout}, recurrent_dropout="
                f"{self.recurrent_dropout} draws random masks: no reference can reproduce it; "
                "call with training=False (dropout is a no-op at inference)")
        if initial_state is None and self.stateful and self.states is not None:
            _check_state_batch(self.states, np.shape(inputs))
            initial_state = self.states
        trace = forward(inputs, self.weights, initial_state=initial_state, mask=mask,
                        go_backwards=self.go_backwards, dtype=dtype,
                        zero_output_for_mask=self.zero_output_for_mask)
        if self.stateful:
            self.states = [trace.final_h, trace.final_c]
        output = trace.outputs if self.return_sequences else trace.last_output
        return (output, trace.final_h, trace.final_c) if self.return_state else output

    def reset_states(self):
        """Forget the carried state, as the layer's reset_state(): the next call starts at zeros."""
        self.states = None


def from_keras(layer):
    """The twin of a built Keras 3 LSTM, RNN(LSTMCell) (a :class:`KerasLSTMTwin`),
    Bidirectional over one, RNN over stacked LSTMCells, or a model made of these (with Input
    and Masking layers)."""
    from lstm_ref.adapters import keras_model, keras_stacked

    keras = keras_of(layer)
    if keras_model.is_model(keras, layer):
        return keras_model.KerasModelTwin(layer)
    if isinstance(layer, keras.layers.Bidirectional):
        from lstm_ref.adapters.keras_bidirectional import KerasBidirectionalTwin

        return KerasBidirectionalTwin(layer)
    if keras_stacked.is_stacked(keras, layer):
        return keras_stacked.KerasStackedTwin(layer)
    return KerasLSTMTwin(layer)


def compare(layer, x, initial_state=None, mask=None, tolerance=None, execution="eager"):
    """Step-by-step comparison of a Keras LSTM, RNN(LSTMCell) or Bidirectional: a Report.
    ``execution`` picks how the whole layer is run (lstm_ref.adapters.keras_execution)."""
    from lstm_ref.adapters import keras_model, keras_stacked
    from lstm_ref.engine import check_observation

    keras = keras_of(layer)
    if keras_model.is_model(keras, layer):
        if initial_state is not None or mask is not None:
            raise UnsupportedLayerError("compare(model, x) takes the model's input alone; masks "
                                        "come from its own Masking/Embedding layers")
        return keras_model.compare(layer, x, tolerance)
    if isinstance(layer, keras.layers.Bidirectional):
        from lstm_ref.adapters import keras_bidirectional

        return keras_bidirectional.compare(layer, x, initial_state, mask, tolerance)
    if keras_stacked.is_stacked(keras, layer):
        return keras_stacked.compare(layer, x, initial_state, mask, tolerance)
    observation = observe(layer, x, initial_state=initial_state, mask=mask, execution=execution)
    return check_observation(observation, tolerance)


def observe(layer, x, initial_state=None, mask=None, execution="eager"):
    """Run ``layer`` twice: its own cell one step at a time (for h_t and c_t at every step) and
    the whole layer (its outputs and returned states), the latter by ``execution`` (see
    lstm_ref.adapters.keras_execution). Returns an Observation."""
    keras = keras_of(layer)
    twin = KerasLSTMTwin(layer)
    dtype = layer.compute_dtype
    x, initial_state, mask, own_state = prepare_inputs(layer, twin, x, initial_state, mask)
    h, c = _step_cell(keras, layer.cell, x, initial_state, mask, layer.go_backwards)
    result = keras_execution.call(keras, layer, x, None if own_state else initial_state, mask,
                                  execution)
    actual = {"h": h, "c": c}
    if layer.return_state:
        actual.update(zip(("output", "state_h", "state_c"), result))
    else:
        actual["output"] = result
    return Observation(actual=actual, weights=twin.weights, x=x, initial_state=initial_state,
                       mask=mask, options={"go_backwards": layer.go_backwards,
                                           "zero_output_for_mask": layer.zero_output_for_mask},
                       dtype=dtype, context={**twin.config, "execution": execution},
                       layer_path="cudnn" if runs_cudnn(keras, layer) else None)


def prepare_inputs(layer, twin, x, initial_state, mask):
    """The inputs as the layer computes with them (its compute dtype), validated by the
    reference with clear messages before the framework sees anything; a stateful layer
    called without an initial state starts from the state it carries (``own_state``).
    Returns ``(x, initial_state, mask, own_state)``."""
    dtype = layer.compute_dtype
    x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)").astype(dtype)
    if mask is not None:
        mask = as_mask(mask, x.shape[0], x.shape[1])
    own_state = initial_state is None and layer.stateful  # the layer starts from its own state
    if own_state:
        _check_state_batch(twin.states, x.shape)
        initial_state = twin.states
    if initial_state is not None:
        initial_state = [as_float_array(s, f"initial_state[{i}]", ndim=2).astype(dtype)
                         for i, s in enumerate(initial_state)]
    forward(x, twin.weights, initial_state=initial_state, mask=mask, keep="final")
    return x, initial_state, mask, own_state


def runs_cudnn(keras, layer):
    """Whether the whole layer may run cuDNN kernels: a keras.layers.LSTM with use_cudnn True or
    "auto", options cuDNN supports (tanh, sigmoid, a bias, not unrolled, no recurrent
    dropout), a backend with a cuDNN path, and a GPU it sees. (When Keras falls back, e.g. for
    a mask that is not right-padded, the looser cuDNN bound still holds.)"""
    cell = getattr(layer, "cell", None)
    # tf_keras has no use_cudnn: its LSTM takes cuDNN whenever the options allow.
    if not isinstance(layer, keras.layers.LSTM) or getattr(layer, "use_cudnn", "auto") is False:
        return False
    if not (cell.activation is keras.activations.tanh and cell.use_bias and not layer.unroll
            and cell.recurrent_activation is keras.activations.sigmoid
            and not cell.recurrent_dropout):
        return False
    return gpu_visible(keras)


def gpu_visible(keras):
    """Whether the Keras backend in use sees a GPU (TensorFlow, torch or JAX)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    return False


def _step_cell(keras, cell, x, initial_state, mask, go_backwards):
    """h and c after every step, in processing order, from the layer's own cell."""
    from lstm_ref.adapters.stepping import step_states

    batch = x.shape[0]
    if initial_state is None:
        initial_state = [np.zeros((batch, cell.units), x.dtype) for _ in range(2)]
    return tuple(step_states(lambda x_t, states: cell(x_t, states, training=False)[1], x,
                             initial_state, mask, go_backwards, keras))


def layer_states(layer):
    """NumPy copies of a stateful layer's carried states, or None (not stateful, or none yet)."""
    states = getattr(layer, "states", None) if getattr(layer, "stateful", False) else None
    if not states or any(s is None for s in states):
        return None
    to_numpy = keras_of(layer).ops.convert_to_numpy
    return [to_numpy(s) for s in states]


def carried_states(layer):
    """What a stateful layer (or each half of a Bidirectional) carries now, to put back with
    :func:`restore_states` after running it more often than the user's call would."""
    subs = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [layer]
    return [(sub, layer_states(sub)) for sub in subs]


def restore_states(carried):
    """Put back what :func:`carried_states` saved (a layer that carried nothing: as it is)."""
    for layer, states in carried:
        if states is not None:
            for variable, value in zip(layer.states, states):
                variable.assign(value)


def _check_state_batch(states, input_shape):
    if states is not None and len(input_shape) >= 1 and states[0].shape[0] != input_shape[0]:
        raise ShapeError(f"this stateful LSTM carries a state for batch size {states[0].shape[0]}; "
                         f"received inputs of shape {tuple(input_shape)}")


def build_case_layer(case, dtype="float32", cell=None, **layer_options):
    """A Keras LSTM for a grid Case, built, with the case's random per-gate weights set.

    Args:
        case: a :class:`lstm_ref.grid.Case`.
        dtype: the layer's dtype or dtype policy ("float32", "bfloat16", "mixed_float16"...).
        cell: an LSTMCell (or subclass) to wrap in keras.layers.RNN instead of building an
            LSTM; its own options apply, the case gives sizes, weights and the RNN's options.
        **layer_options: further keras.layers.LSTM arguments (e.g. use_cudnn=True).
    """
    keras = _keras()
    arrays = case.arrays()
    common = dict(return_sequences=case.return_sequences, return_state=case.return_state,
                  go_backwards=case.go_backwards, unroll=case.unroll, dtype=dtype)
    if cell is None:
        if dtype in ("float16", "bfloat16"):
            # Keras 3.15's default orthogonal initializer needs a QR decomposition, which
            # TensorFlow has no bfloat16 kernel for, and torch (CPU) neither a float16 nor a
            # bfloat16 one: such an LSTM cannot even be built with its defaults. The case's
            # weights replace the initial values anyway.
            layer_options.setdefault("recurrent_initializer", "glorot_uniform")
        layer = keras.layers.LSTM(case.units, activation=case.activation,
                                  recurrent_activation=case.recurrent_activation,
                                  use_bias=case.use_bias, implementation=case.implementation,
                                  **common, **layer_options)
    else:
        layer = keras.layers.RNN(cell, **common)
    layer.build((case.batch, case.time, case.features))
    weights = [arrays["kernel"], arrays["recurrent_kernel"]]
    weights += [arrays["bias"]] if case.use_bias else []
    layer.set_weights([w.astype(layer.variable_dtype) for w in weights])
    return layer


def run_case(case, dtype="float32", cell=None, tolerance=None, execution=None,
             **layer_options):
    """Build the case's layer and compare it with the reference; the Report's context names
    the case and its seed, so a failure reproduces alone. ``execution`` None runs the layer
    by keras_execution.fast_execution (a tf.function on TensorFlow)."""
    from lstm_ref.engine import check_observation

    layer = build_case_layer(case, dtype=dtype, cell=cell, **layer_options)
    if execution is None:
        execution = keras_execution.fast_execution(keras_of(layer), layer, case.time)
    arrays = case.arrays()
    observation = observe(layer, arrays["x"], initial_state=arrays["initial_state"],
                          execution=execution)
    observation.context = {
        "case": case.id, "seed": case.seed, **observation.context,
        "reproduce": f"lstm_ref.adapters.keras.run_case(lstm_ref.grid.Case(**{case.as_dict()}), "
                     f"dtype={dtype!r}, execution={execution!r})"}
    return check_observation(observation, tolerance)


def compare_gradients(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Gradients of a Keras LSTM or RNN(LSTMCell) against the reference's backward pass
    (lstm_ref.adapters.keras_gradients): a Report."""
    from lstm_ref.adapters import keras_gradients

    return keras_gradients.compare_gradients(layer, x, initial_state, mask,
                                             tolerance=tolerance, **options)
