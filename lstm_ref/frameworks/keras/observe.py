"""One Keras LSTM observed: its own cell stepped (h_t and c_t at every step) and the whole
layer run by an execution path; which kernels it ran; the state a stateful layer carries."""

import numpy as np

from lstm_ref.checks import as_float_array, as_mask
from lstm_ref.engine import Observation, check_inputs, compare_parts, observation_part
from lstm_ref.errors import OptionError
from lstm_ref.frameworks.keras.checks import arithmetic_of, check_keras_observation
from lstm_ref.frameworks.keras import execution as executions
from lstm_ref.frameworks.keras.twin import (KerasLSTMTwin, check_state_batch, keras_of,
                                            layer_states)
from lstm_ref.frameworks.tensorflow.stepping import step_states

__all__ = ["compare_lstm", "compare_from_zero_state", "observe", "prepare_inputs",
           "runs_cudnn", "gpu_visible", "step_cell", "carried_states", "restore_states"]


def compare_lstm(layer, x, initial_state=None, mask=None, tolerance=None, execution="eager"):
    """Step-by-step comparison of one Keras LSTM or RNN(LSTMCell): a Report. ``execution``
    picks how the whole layer is run (lstm_ref.frameworks.keras.execution)."""
    observation = observe(layer, x, initial_state=initial_state, mask=mask, execution=execution)
    return check_keras_observation(observation, tolerance)


def compare_from_zero_state(layer, x, mask=None, tolerance=None, execution="eager"):
    """A stateful LSTM (or each half of a stateful Bidirectional) run from the state it
    carries, against the reference run from zero states: what the layer must compute after
    ``layer.reset_state()`` / ``reset_states()``, or when new. Returns a Report (a
    Bidirectional's tensors named forward.* and backward.*).

    compare() starts the reference from the state read from the layer, so a reset that leaves
    a state behind would be agreed with; here the zeros come from Keras's documented
    semantics, not from the layer. Each layer runs once, advancing its state as one call
    would. A Bidirectional's halves are each run by their own call (the layers its call runs),
    its merge is not.
    """
    if not hasattr(layer, "forward_layer"):
        return check_keras_observation(observe(layer, x, mask=mask, execution=execution,
                                               from_zero_state=True), tolerance)
    parts, context = [], {"layer": f"Bidirectional(merge_mode={layer.merge_mode!r}), each half "
                                   "from zero states, by its own call"}
    for prefix, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
        obs = observe(sub, x, mask=mask, execution=execution, from_zero_state=True)
        parts.append(observation_part(obs, tolerance, prefix))
        context[f"{prefix} layer"] = obs.context["layer"]
        context.setdefault("versions", obs.context["versions"])
    return compare_parts(parts, context=context)


def observe(layer, x, initial_state=None, mask=None, execution="eager", from_zero_state=False):
    """Run ``layer`` twice: its own cell one step at a time (for h_t and c_t at every step) and
    the whole layer (its outputs and returned states), the latter by ``execution`` (see
    lstm_ref.frameworks.keras.execution). Returns an Observation.

    ``from_zero_state``: a stateful layer called without an initial state runs from the state
    it carries, and the reference (and the stepped cell) from zeros instead of from the state
    read from the layer (:func:`compare_from_zero_state`).
    """
    keras = keras_of(layer)
    twin = KerasLSTMTwin(layer)
    dtype = layer.compute_dtype
    x, initial_state, mask, own_state = prepare_inputs(layer, twin, x, initial_state, mask,
                                                       from_zero_state)
    x = executions.as_fed(keras, execution, x)  # what the layer computes on, on that path
    if initial_state is not None and not own_state:
        initial_state = [executions.as_fed(keras, execution, s) for s in initial_state]
    h, c = step_cell(keras, layer.cell, x, initial_state, mask, layer.go_backwards)
    result = executions.call(keras, layer, x, None if own_state else initial_state, mask,
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
                       layer_path="cudnn" if runs_cudnn(keras, layer) else None,
                       arithmetic=arithmetic_of(keras, layer))


def prepare_inputs(layer, twin, x, initial_state, mask, from_zero_state=False):
    """The inputs as the layer computes with them (its compute dtype), validated by the
    reference with clear messages before the framework sees anything; a stateful layer
    called without an initial state starts from the state it carries (``own_state``), which
    the returned initial state is: read from the layer, or zeros with ``from_zero_state``.
    Returns ``(x, initial_state, mask, own_state)``."""
    dtype = layer.compute_dtype
    x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)").astype(dtype)
    if mask is not None:
        mask = as_mask(mask, x.shape[0], x.shape[1])
    own_state = initial_state is None and layer.stateful  # the layer starts from its own state
    if from_zero_state and not own_state:
        raise OptionError(f"from_zero_state needs a stateful layer called without an initial "
                          f"state; received stateful={layer.stateful}, initial_state "
                          f"{'given' if initial_state is not None else 'None'}")
    if own_state:
        check_state_batch(twin.states, x.shape)
        initial_state = twin.states
        if from_zero_state:
            initial_state = [np.zeros((x.shape[0], twin.weights.units), dtype)] * 2
    if initial_state is not None:
        initial_state = [as_float_array(s, f"initial_state[{i}]", ndim=2).astype(dtype)
                         for i, s in enumerate(initial_state)]
    check_inputs(x, twin.weights, initial_state, mask)
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


def step_cell(keras, cell, x, initial_state, mask, go_backwards):
    """h and c after every step, in processing order, from the layer's own cell."""
    batch = x.shape[0]
    if initial_state is None:
        initial_state = [np.zeros((batch, cell.units), x.dtype) for _ in range(2)]
    return tuple(step_states(lambda x_t, states: cell(x_t, states, training=False)[1], x,
                             initial_state, mask, go_backwards, keras))


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
