"""Keras LSTM layers differentiated under tf.GradientTape, two ways, for
lstm_ref.frameworks.keras.gradients_parts:

- *stepped*: every cell of every run (a layer, a direction of a Bidirectional, a stack of
  cells) called eagerly one step at a time, as keras.backend.rnn calls it (a masked step
  keeps every state and repeats the output, or gives zeros with zero_output_for_mask), the
  runs merged and chained as the layers are, under one tape: the gradient of the loss with
  respect to what each cell computed at every step (h_t and c_t: the tensors the cell
  returned, so c_t's gradient includes the path through h_t, as lstm_ref.gradients's dc)
  and to what it read (x_t: a copy of its own, so a cell of a stack gets only its own part);
- *whole*: the layer's or the model's own call under a tape (eager, or a tf.function): the
  input's, the initial states' and the weights' gradients.

The loss is ``sum_i <upstream_i, r_i>`` over what the last layer returns, flattened in
Keras's order (the output, or both outputs without a merge, then the states).

A *plan* describes the layers (lstm_ref.frameworks.keras.gradients_parts.LayerPlan): its
``kind`` ("lstm", "stacked", "bidirectional" or "masking"), ``runs`` (each with ``cells``,
``go_backwards``, ``zero_output_for_mask``), ``merge_mode``, ``return_sequences`` and
``return_state``.
"""

import numpy as np

__all__ = ["stepped_gradients", "output_size", "whole_gradients", "flat_result"]


def stepped_gradients(tf, plans, x, states, masks, upstream):
    """The stepped backward pass of a chain of layers (module docstring).

    Args:
        tf: TensorFlow.
        plans: the layers, first to last.
        x: (B, T, F) NumPy input of the first layer, in the layers' compute dtype.
        states: per plan: None (zeros), or per run, per cell, [h0, c0] NumPy arrays.
        masks: per plan, the (B, T) boolean mask it receives (for a "masking" plan: the mask
            it makes, applied as a multiplication), or None.
        upstream: NumPy arrays, one per tensor the last layer returns (flattened).

    Returns:
        Per plan (None for "masking"): ``{"dx": (B, T, F) gradient of the layer's input,
        "runs": [[{"dh", "dc", "dx"} per cell] per run]}``, each (B, T, .) in the run's
        processing order (a cell's dx: the gradient of what it read at each step).
    """
    seen = []  # per plan: (its input, per run, per cell, {"x", "h", "c"}: one tensor a step)
    with tf.GradientTape() as tape:
        y, result = tf.constant(x), None
        for plan, mask, state in zip(plans, masks, states):
            if plan.kind == "masking":
                y = y * tf.constant(mask[..., None].astype(x.dtype))
                seen.append(None)
                continue
            y = tf.identity(y)
            tape.watch(y)
            runs = [_run(tf, tape, run, y, mask, None if state is None else state[index])
                    for index, run in enumerate(plan.runs)]
            seen.append((y, [cells for _, _, _, cells in runs]))
            result = _returned(tf, plan, runs)
            y = result[0]
        loss = _loss(tf, upstream, result)
    flat = []
    for entry in seen:
        if entry is not None:
            flat.append(entry[0])
            flat += [t for run in entry[1] for cell in run for name in ("h", "c", "x")
                     for t in cell[name]]
    grads = iter(g.numpy() for g in tape.gradient(
        loss, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    result = []
    for entry in seen:
        if entry is None:
            result.append(None)
            continue
        dx = next(grads)
        runs = [[{f"d{name}": np.stack([next(grads) for _ in cell[name]], axis=1)
                  for name in ("h", "c", "x")} for cell in run] for run in entry[1]]
        result.append({"dx": dx, "runs": runs})
    return result


def output_size(plan):
    """The last axis of what a layer plan returns as its output."""
    units = [run.cells[-1].units for run in plan.runs]
    if plan.kind == "bidirectional" and plan.merge_mode == "concat":
        return sum(units)
    return units[0]


def _returned(tf, plan, runs):
    """What one layer returns, flattened (its output(s), then its states with return_state),
    from its runs' results."""
    if plan.kind == "bidirectional":
        (forward, forward_last, forward_states, _), backward = runs
        if plan.return_sequences:  # Keras flips the backward sequence back to time order
            a, b = forward, tf.reverse(backward[0], [1])
        else:
            a, b = forward_last, backward[1]
        outputs = _merge(tf, plan.merge_mode, a, b)
        finals = forward_states + backward[2]
    else:
        sequence, last, finals, _ = runs[0]
        outputs = [sequence if plan.return_sequences else last]
    return outputs + (finals if plan.return_state else [])


def _merge(tf, mode, a, b):
    if mode == "concat":
        return [tf.concat([a, b], axis=-1)]
    if mode == "sum":
        return [a + b]
    if mode == "ave":
        return [(a + b) / 2]
    if mode == "mul":
        return [a * b]
    return [a, b]


def _run(tf, tape, run, y, mask, states):
    """One run of stacked cells over y (B, T, F), stepped as keras.backend.rnn steps it.
    Returns the output sequence (B, T, U) in processing order, the last output, the final
    states [h, c, ...], and per cell the tensors of every step: {"x": what it read (its own
    watched copy), "h", "c": what it returned}."""
    batch, time = y.shape[0], y.shape[1]
    order = range(time - 1, -1, -1) if run.go_backwards else range(time)
    if states is None:
        old = [[tf.zeros((batch, cell.units), y.dtype)] * 2 for cell in run.cells]
    else:
        old = [[tf.constant(s) for s in pair] for pair in states]
    output = zero_output = tf.zeros((batch, run.cells[-1].units), y.dtype)
    seen = [{"x": [], "h": [], "c": []} for _ in run.cells]
    outputs = []
    for t in order:
        inputs, new = y[:, t], []
        for cell, (h, c), record in zip(run.cells, old, seen):
            inputs = tf.identity(inputs)
            tape.watch(inputs)
            _, (h_new, c_new) = cell(inputs, [h, c], training=False)
            for name, value in (("x", inputs), ("h", h_new), ("c", c_new)):
                record[name].append(value)
            new.append([h_new, c_new])
            inputs = h_new
        if mask is None:
            old, output = new, inputs
        else:
            keep = tf.constant(mask[:, t, None])
            old = [[tf.where(keep, n, s) for n, s in zip(pair, before)]
                   for pair, before in zip(new, old)]
            output = tf.where(keep, inputs, zero_output if run.zero_output_for_mask else output)
        outputs.append(output)
    return tf.stack(outputs, axis=1), output, [s for pair in old for s in pair], seen


def _loss(tf, upstream, result):
    loss = 0
    for weight, value in zip(upstream, result):
        loss += tf.reduce_sum(tf.constant(weight) * value)
    return loss


def flat_result(tf, result):
    """What a layer or model returned, flattened in Keras's order (nested states too)."""
    return tf.nest.flatten(result)


def whole_gradients(tf, call, x, states, sources, upstream, execution="eager"):
    """The gradients of the loss through a layer's or model's own call.

    Args:
        tf: TensorFlow.
        call: ``call(x, states)`` -> what the layer returns, flattened (:func:`flat_result`);
            ``states`` the list of initial-state tensors (empty for none).
        x: (B, T, F) NumPy input.
        states: list of NumPy initial states (may be empty).
        sources: the variables whose gradients are wanted (the weights; a stateful layer's
            carried state variables, which the tape watches as it does trainable ones).
        upstream: NumPy arrays, one per tensor returned.
        execution: "eager", "function" or "xla" (tf.function, jit_compile for "xla").

    Returns:
        (dx, [d state], [d source]) as NumPy arrays; zeros where the loss does not reach.
    """
    def run(x, states):
        with tf.GradientTape() as tape:
            tape.watch(x)
            tape.watch(states)
            tape.watch([s for s in sources if isinstance(s, tf.Variable) and not s.trainable])
            loss = _loss(tf, upstream, call(x, states))
        targets = [x, *states, *sources]
        # None for a source the loss does not reach (UnconnectedGradients.ZERO fails on
        # Keras 3 variables, whose dtype is a string): zeros, as the reference gives.
        grads = tape.gradient(loss, targets)
        return [tf.zeros(t.shape, x.dtype) if g is None else g for t, g in zip(targets, grads)]

    if execution != "eager":
        run = tf.function(run, jit_compile=execution == "xla")
    grads = [g.numpy() for g in run(tf.constant(x), [tf.constant(s) for s in states])]
    return grads[0], grads[1:1 + len(states)], grads[1 + len(states):]
