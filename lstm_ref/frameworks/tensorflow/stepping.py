"""A framework's own cell stepped over a sequence, one step at a time: how the framework
packages see every step's state (h_t and c_t), which a layer's call does not return.

On TensorFlow, float32 and float64 sequences of GRAPH_MIN_STEPS steps or more run as one
``tf.function`` (a ``tf.while_loop`` with the cell traced once), because stepping a Keras
cell eagerly costs a Python round trip per step. The graph runs the same cell code, the ops
as the cell wrote them: TensorFlow's graph optimizer (Grappler) is off while the loop is
built and first run, so the stepped states are what the cell's own operations compute, as
eagerly, not a rewrite of them (it would also cost more than the loop's run: it optimizes
each new graph). The layer's own run keeps every optimization a user's code gets. 16-bit
cells, shorter sequences, and Keras's torch and JAX backends step eagerly.

A masked step keeps every state, as keras.backend.rnn and dynamic_rnn's sequence_length do.
"""

import contextlib

import numpy as np

from lstm_ref.frameworks.tensorflow.tf_keras import TFKerasOps

__all__ = ["GRAPH_MIN_STEPS", "SIXTEEN_BIT", "step_states"]

SIXTEEN_BIT = ("float16", "bfloat16")

# From this many steps on, a traced graph is faster than eager steps (tracing costs what
# several dozen eager steps do: docs/findings/2026-12-03-execution-paths.md). Below it,
# short sequences step eagerly.
GRAPH_MIN_STEPS = 32


def step_states(step, x, states, mask=None, go_backwards=False, keras=None, graph=None):
    """Run ``step`` over the time axis of ``x`` and return every state after every step.

    Args:
        step: ``step(x_t, states) -> new_states``: one call of the cell, states as a list of
            (batch, size) tensors, in the order the cell takes them.
        x: (batch, time, features) NumPy array, in the dtype the cell computes in.
        states: the initial states, a list of (batch, size) arrays or tensors.
        mask: None or (batch, time) booleans; False marks a step that keeps the state.
        go_backwards: step from the last time step to the first.
        keras: the Keras module whose backend runs the cell, or None for TensorFlow itself
            (TF1 cells); a backend other than TensorFlow, or fewer than GRAPH_MIN_STEPS steps,
            steps eagerly.
        graph: None runs the loop as one graph where it can (above); False steps eagerly
            always (the same kernels, one call a step: what the graph is held to).

    Returns:
        One (batch, time, size) NumPy array per state, in processing order.
    """
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if mask is not None:
        mask = np.asarray(mask, bool)
    on_tensorflow = keras is None or keras.backend.backend() == "tensorflow"
    # In 16-bit formats TensorFlow's graph optimizer rewrites a cell's operations (fusing
    # them, dropping roundings between them): a graph step would not compute what the cell's
    # operations define, which eager execution does and the exact step check
    # (lstm_ref.step_check) holds them to. So 16-bit cells step eagerly.
    if (graph is None and on_tensorflow and x.shape[1] >= GRAPH_MIN_STEPS
            and x.dtype.name not in SIXTEEN_BIT):
        return _graph(step, x, states, mask)
    return _eager(keras.ops if keras is not None else TFKerasOps, step, x, states, mask)


def _graph(step, x, states, mask):
    import tensorflow as tf

    dtype = x.dtype.name
    time = x.shape[1]
    xs = tf.convert_to_tensor(np.ascontiguousarray(np.swapaxes(x, 0, 1)), dtype)
    valid = None if mask is None else tf.convert_to_tensor(np.swapaxes(mask, 0, 1)[..., None])
    states = [tf.convert_to_tensor(s, dtype) for s in states]

    @tf.function(autograph=False)
    def loop(xs, states, valid):
        def body(t, states, seen):
            new = list(step(xs[t], list(states)))
            if valid is not None:
                new = [tf.where(valid[t], n, s) for n, s in zip(new, states)]
            return t + 1, new, [a.write(t, n) for a, n in zip(seen, new)]

        seen = [tf.TensorArray(dtype, size=time) for _ in states]
        _, _, seen = tf.while_loop(lambda t, *_: t < time, body, (tf.constant(0), states, seen))
        return [a.stack() for a in seen]

    with _unoptimized(tf):
        stacked = loop(xs, states, valid)
    return [np.swapaxes(a.numpy(), 0, 1) for a in stacked]


@contextlib.contextmanager
def _unoptimized(tf):
    """Grappler off for the graphs instantiated inside (a function is optimized when it is
    first called), back as it was after."""
    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": options.get("disable_meta_optimizer", False)})


def _eager(ops, step, x, states, mask):
    dtype = x.dtype.name
    # An explicit dtype: Keras's torch backend would turn float64 NumPy arrays into float32.
    states = [ops.convert_to_tensor(s, dtype=dtype) for s in states]
    seen = [[] for _ in states]
    for t in range(x.shape[1]):
        new = list(step(ops.convert_to_tensor(x[:, t], dtype=dtype), states))
        if mask is not None:
            valid = ops.convert_to_tensor(mask[:, t, None])
            new = [ops.where(valid, n, s) for n, s in zip(new, states)]
        states = new
        for values, state in zip(seen, states):
            values.append(state)
    # Read back after the loop: on a backend that dispatches asynchronously (JAX), a read per
    # step would wait for every step before dispatching the next.
    return [np.stack([ops.convert_to_numpy(v) for v in values], axis=1) for values in seen]
