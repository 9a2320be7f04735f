"""Keras 3 Bidirectional(LSTM): its twin, and its step-by-step comparison.

Keras runs the forward layer and the backward layer (go_backwards=True) on the same input,
flips the backward output back to time order when it returns sequences, merges the two
(concat, sum, ave, mul, or None: both), and returns the states as
[h_forward, c_forward, h_backward, c_backward]. Bidirectional sets each layer's
zero_output_for_mask to return_sequences.
"""

import numpy as np

from lstm_ref.bidirectional import merge, split_states
from lstm_ref.engine import Expectation, compare_parts, observation_part
from lstm_ref.frameworks.keras.execution import call_states
from lstm_ref.frameworks.keras.observe import carried_states, observe, restore_states
from lstm_ref.frameworks.keras.twin import KerasLSTMTwin, keras_of

__all__ = ["merge_bound", "KerasBidirectionalTwin", "compare"]

def merge_bound(mode, y, y_rev, bound, bound_rev, eps):
    """The bound on the merged output, from each direction's bound: |d(a + b)| <= |da| + |db|,
    |d(a b)| <= |b| |da| + |a| |db| + |da| |db|; plus the merge's own rounding (one ulp)."""
    if mode == "concat":
        return np.concatenate([bound, bound_rev], axis=-1)
    merged = merge(mode, y, y_rev)
    own = eps * np.abs(merged)
    if mode == "sum":
        return bound + bound_rev + own
    if mode == "ave":
        return (bound + bound_rev) / 2 + own
    return np.abs(y_rev) * bound + np.abs(y) * bound_rev + bound * bound_rev + own


class KerasBidirectionalTwin:
    """The reference twin of a built keras.layers.Bidirectional over an LSTM: called like the
    layer, it returns what the layer returns, as float64 NumPy arrays."""

    def __init__(self, layer):
        self.forward = KerasLSTMTwin(layer.forward_layer)
        self.backward = KerasLSTMTwin(layer.backward_layer)
        self.merge_mode = layer.merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    @property
    def weights(self):
        """(forward LSTMWeights, backward LSTMWeights)."""
        return self.forward.weights, self.backward.weights

    def __call__(self, inputs, initial_state=None, mask=None, training=None, dtype="float64"):
        forward_state, backward_state = split_states(initial_state)
        y = self.forward(inputs, forward_state, mask, training, dtype)
        y_rev = self.backward(inputs, backward_state, mask, training, dtype)
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        output = merge(self.merge_mode, y, y_rev)
        if not self.return_state:
            return output
        return output + states if self.merge_mode is None else (output,) + states

    def reset_states(self):
        self.forward.reset_states()
        self.backward.reset_states()


def compare(layer, x, initial_state=None, mask=None, tolerance=None):
    """Both directions step by step (each layer's own cell), each direction's own call, and the
    Bidirectional call (merged output, four states), against the reference. Returns a Report
    whose tensors are named forward.*, backward.* (steps in that layer's processing order)
    and output (time order)."""
    keras = keras_of(layer)
    KerasBidirectionalTwin(layer)  # validates both layers with the twin's clear errors
    # Each direction is observed by running it alone, then the Bidirectional runs both: a
    # stateful layer's carried state is put back in between, so it advances once, as in the
    # user's own call.
    carried = carried_states(layer)
    forward_state, backward_state = split_states(initial_state)
    context = {"layer": f"Bidirectional(merge_mode={layer.merge_mode!r}, return_sequences="
                        f"{layer.return_sequences}, return_state={layer.return_state})",
               "steps": "output and forward.*: time order; backward.*: the backward layer's "
                        "processing order (time reversed)"}
    parts = []
    for prefix, sub, state in (("forward", layer.forward_layer, forward_state),
                               ("backward", layer.backward_layer, backward_state)):
        obs = observe(sub, x, initial_state=state, mask=mask)
        part = observation_part(obs, tolerance, prefix)
        # The stepped cell and the direction's own call; the states come from the
        # Bidirectional's call below.
        part.actual = {name: obs.actual[name] for name in ("h", "c", "output")}
        part.return_sequences = layer.return_sequences
        if part.layer_tolerance is not None:  # cuDNN ran the layer: its outputs, its entry
            context[f"tolerance of the {prefix} layer's {obs.layer_path} outputs"] = \
                part.layer_tolerance.describe()
        parts.append(part)
        context[f"{prefix} layer"] = obs.context["layer"]
        context.setdefault("versions", obs.context["versions"])
    restore_states(carried)
    result = layer(obs.x, initial_state=call_states(keras, initial_state), mask=mask,
                   training=False)
    result = [keras.ops.convert_to_numpy(r)
              for r in (result if isinstance(result, (tuple, list)) else [result])]
    outputs = result[:2] if layer.merge_mode is None else result[:1]
    if layer.return_state:
        states = result[len(outputs):]
        for part, (state_h, state_c) in zip(parts, (states[:2], states[2:])):
            part.actual.update(state_h=state_h, state_c=state_c)
    names = ["output"] if layer.merge_mode is not None else ["output[0]", "output[1]"]
    tol = parts[0].tolerance
    return compare_parts(parts, lambda expected: _merged(layer, expected, tol),
                         dict(zip(names, outputs)), context)


def _merged(layer, expected, tol):
    """The Expectation of the merged output(s), from each direction's output Expectation."""
    forward, backward = expected[0]["output"], expected[1]["output"]
    if layer.return_sequences:  # Keras flips the backward sequence back to time order
        backward = backward.flipped()
    if layer.merge_mode is None:
        return {"output[0]": forward, "output[1]": backward}
    if layer.merge_mode == "concat":
        return {"output": Expectation.concatenate([forward, backward])}
    y, y_rev = forward.values, backward.values
    return {"output": forward.derived(
        merge(layer.merge_mode, y, y_rev),
        merge_bound(layer.merge_mode, y, y_rev, forward.bound, backward.bound, tol.eps),
        backward)}
