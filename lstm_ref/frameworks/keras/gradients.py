"""Gradients of a Keras LSTM (TensorFlow backend, or tf_keras), observed with tf.GradientTape.

Two backward passes, as lstm_ref.frameworks.keras.observe sees the forward one in two runs:
- the layer's own cell stepped eagerly under one tape, every step's (h_t, c_t) kept, so the
  tape gives dL/dh_t and dL/dc_t at every step (what lstm_ref.gradients calls dh, dc;
  lstm_ref.frameworks.keras.gradient_steps);
- the whole layer under a tape, by ``execution`` ("eager", "function" or "xla"): dL/dx, the
  initial state's and every weight's gradient.

The loss is L = <d_outputs, output> (+ <d_final_h, h_T> + <d_final_c, c_T> with
return_state): the layer's return structure, each part weighted by an upstream gradient,
given or drawn at random (seeded) in the layer's compute dtype.
"""

import numpy as np

from lstm_ref.checks import as_float_array
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.frameworks.keras.gradient_steps import (flat_result, stepped_gradients,
                                                      whole_gradients)
from lstm_ref.frameworks.keras.gradients_parts import (EXECUTIONS, SUPPORTED, LayerPlan, Run,
                                                       check_gradient_run)
from lstm_ref.frameworks.keras.observe import prepare_inputs
from lstm_ref.frameworks.keras.twin import KerasLSTMTwin, describe, keras_of, lstm_cell
from lstm_ref.gradient_check import GradientObservation, check_gradient_observation

__all__ = ["EXECUTIONS", "compare_gradients", "observe_gradients", "upstream_for",
           "check_gradient_observation"]


def compare_gradients(layer, x, initial_state=None, mask=None, d_outputs=None, d_states=None,
                      tolerance=None, execution="eager", seed=0):
    """Gradients of a Keras LSTM / RNN(LSTMCell) against lstm_ref.gradients: a Report."""
    observation = observe_gradients(layer, x, initial_state, mask, d_outputs, d_states,
                                    execution, seed)
    return check_gradient_observation(observation, tolerance)


def observe_gradients(layer, x, initial_state=None, mask=None, d_outputs=None, d_states=None,
                      execution="eager", seed=0):
    """Run both backward passes (module docstring); returns a GradientObservation."""
    keras = keras_of(layer)
    check_gradient_run(keras, execution)
    if not isinstance(layer, keras.layers.RNN):
        raise UnsupportedLayerError(f"{SUPPORTED}; received {type(layer).__name__}")
    cell = lstm_cell(layer)
    dtype = layer.compute_dtype
    if dtype not in ("float32", "float64"):
        raise OptionError(f"gradients are compared for float32 and float64 layers; this layer "
                          f"computes in {dtype!r}")
    twin = KerasLSTMTwin(layer)
    x, initial_state, mask, own_state = prepare_inputs(layer, twin, x, initial_state, mask)
    own_state = own_state and initial_state is not None  # a fresh stateful layer: zeros
    upstream = upstream_for(layer, x.shape, d_outputs, d_states, seed)
    options = {"go_backwards": layer.go_backwards,
               "zero_output_for_mask": layer.zero_output_for_mask}
    import tensorflow as tf

    dh, dc = _stepped(tf, layer, cell, twin.weights, x, initial_state, mask, upstream, options)
    totals = _whole_layer(tf, layer, cell, x, initial_state, mask, upstream, execution,
                          own_state)
    if layer.go_backwards:
        totals["dx"] = totals["dx"][:, ::-1]
    return GradientObservation(
        actual={"dh": dh, "dc": dc, **totals}, weights=twin.weights, x=x, upstream=upstream,
        initial_state=initial_state, mask=mask, options=options, dtype=dtype,
        context={**describe(layer), "execution": execution, "upstream seed": seed})


def upstream_for(layer, shape, d_outputs=None, d_states=None, seed=0):
    """The upstream gradients, in the layer's compute dtype, as lstm_ref.gradients takes them:
    ``d_outputs`` shaped as the layer's output, ``d_states`` = [d_h, d_c] with return_state;
    those not given are drawn from a normal distribution seeded by ``seed``."""
    batch, time = shape[:2]
    units, dtype = layer.cell.units, layer.compute_dtype
    rng = np.random.default_rng(seed)
    out_shape = (batch, time, units) if layer.return_sequences else (batch, units)
    given = {"d_outputs": (d_outputs, out_shape)}
    if layer.return_state:
        if d_states is not None and len(d_states) != 2:
            raise ShapeError(f"d_states must be [d_h, d_c] for a layer with return_state; "
                             f"received {len(d_states)} arrays")
        states = d_states or (None, None)
        given.update(d_final_h=(states[0], (batch, units)), d_final_c=(states[1], (batch, units)))
    elif d_states is not None:
        raise OptionError("d_states was given, but the layer has return_state=False: its "
                          "states are not returned, so no loss can depend on them")
    upstream = {}
    for name, (value, expected) in given.items():
        array = rng.normal(size=expected) if value is None else as_float_array(value, name)
        if array.shape != expected:
            raise ShapeError(f"{name} must have the shape of what the layer returns, "
                             f"{expected}; received shape {array.shape}")
        upstream[name] = array.astype(dtype)
    return upstream


def _flat(upstream):
    """The upstream gradients in the order of what the layer returns (its output, then h and
    c with return_state), as lstm_ref.frameworks.keras.gradient_steps takes them."""
    return [upstream[name] for name in ("d_outputs", "d_final_h", "d_final_c")
            if name in upstream]


def _stepped(tf, layer, cell, weights, x, initial_state, mask, upstream, options):
    """dL/dh_t and dL/dc_t of what the cell computed at every step, in processing order
    (the layer's cell stepped as lstm_ref.frameworks.keras.gradient_steps steps every run)."""
    run = Run([cell], [weights], [""], options["go_backwards"], options["zero_output_for_mask"])
    plan = LayerPlan("lstm", runs=[run], return_sequences=layer.return_sequences,
                     return_state="d_final_h" in upstream)
    states = [None if initial_state is None else [[list(initial_state)]]]
    part = stepped_gradients(tf, [plan], x, states, [mask], _flat(upstream))[0]["runs"][0][0]
    return part["dh"], part["dc"]


def _whole_layer(tf, layer, cell, x, initial_state, mask, upstream, execution, own_state):
    """dL/dx, dL/dh0, dL/dc0 (when the state is an input: given, or the state a stateful layer
    carries) and the weights' gradients, through the layer's own call
    (lstm_ref.frameworks.keras.gradient_steps.whole_gradients)."""
    weights = [cell.kernel, cell.recurrent_kernel] + ([cell.bias] if cell.use_bias else [])
    # A stateful layer called without an initial state starts from its state variables.
    carried = [_tensor_of(v) for v in layer.states] if own_state else []
    mask_tensor = None if mask is None else tf.constant(mask)

    def call(x, states):
        return flat_result(tf, layer(x, initial_state=states or None, mask=mask_tensor,
                                     training=False))

    states = [] if initial_state is None or own_state else list(initial_state)
    dx, d_states, d_sources = whole_gradients(tf, call, x, states, carried + weights,
                                              _flat(upstream), execution)
    result = {"dx": dx}
    if initial_state is not None:
        result["dh0"], result["dc0"] = d_sources[:2] if own_state else d_states
    names = ["d_kernel", "d_recurrent_kernel"] + (["d_bias"] if cell.use_bias else [])
    result.update(zip(names, d_sources[len(carried):]))
    return result


def _tensor_of(variable):
    """The tf.Variable behind a Keras 3 variable (tf_keras's are tf.Variables already)."""
    return getattr(variable, "value", variable)
