"""Running a TF1 cell over a whole sequence, as user code does.

How a whole sequence is run (``execution=``): TF 2.21 with Keras 3 installed no longer
serves ``tf.compat.v1.nn.rnn_cell.*`` (its lazy loader raises "LSTMCell is not available
with Keras 3"), so the cells come from tf_keras; ``tf.compat.v1.nn.dynamic_rnn`` still runs
them:

- "eager": dynamic_rnn called eagerly (TF2's default; its while_loop runs step by step);
- "function": dynamic_rnn inside ``tf.function`` (one graph, with grappler's rewrites);
- "session": TF1 proper: a copy of the cell (``from_config``, the variables' values loaded)
  in a ``tf.Graph``, dynamic_rnn over placeholders, run by a ``tf.compat.v1.Session``;
- "keras_rnn": ``tf_keras.layers.RNN(cell)``, which dynamic_rnn's deprecation note points
  to (return_sequences, return_state, zero_output_for_mask, so it returns what dynamic_rnn
  returns).
"""

from lstm_ref.frameworks.tensorflow.tf_keras import tensorflow_module
from lstm_ref.frameworks.tf1.cells import LSTMStateTuple, VARIABLES, legacy_cells, to_numpy

__all__ = ["EXECUTIONS", "run_sequence"]

EXECUTIONS = ("eager", "function", "session", "keras_rnn")
def run_sequence(cell, x, state, lengths, execution="eager"):
    """The cell over the whole sequence, as a user runs it (see the module docstring).

    Args:
        cell: a built TF1 LSTM cell.
        x: (batch, time, features) NumPy array in the cell's dtype.
        state: None or (c, h) NumPy arrays.
        lengths: None or (batch,) sequence_length.
        execution: one of EXECUTIONS.

    Returns:
        ``(outputs, LSTMStateTuple(c, h))`` as NumPy arrays.
    """
    runners = {"eager": _eager, "function": _function, "session": _session,
               "keras_rnn": _keras_rnn}
    outputs, (c, h) = runners[execution](cell, x, state, lengths)
    return to_numpy(outputs), LSTMStateTuple(to_numpy(c), to_numpy(h))


def _state_tuple(state):
    """(c, h) as dynamic_rnn takes it: an LSTMStateTuple of tensors (with sequence_length, it
    copies the state through finished rows with ops that NumPy arrays do not have)."""
    if state is None:
        return None
    return legacy_cells().LSTMStateTuple(*(tensorflow_module().convert_to_tensor(s) for s in state))


def _eager(cell, x, state, lengths):
    tf = tensorflow_module()
    return tf.compat.v1.nn.dynamic_rnn(cell, x, sequence_length=lengths,
                                       initial_state=_state_tuple(state), dtype=x.dtype.name)


def _function(cell, x, state, lengths):
    tf = tensorflow_module()

    # dynamic_rnn builds its tf.while_loop itself: nothing for autograph to convert.
    @tf.function(autograph=False)
    def run(x, state, lengths):
        return tf.compat.v1.nn.dynamic_rnn(cell, x, sequence_length=lengths,
                                           initial_state=_state_tuple(state), dtype=x.dtype)

    return run(x, state, lengths)


def _session(cell, x, state, lengths):
    tf = tensorflow_module()
    v1 = tf.compat.v1
    values = {attr: to_numpy(getattr(cell, attr)) for attr in VARIABLES.values()
              if getattr(cell, attr, None) is not None}
    graph = tf.Graph()
    with graph.as_default():
        copy = type(cell).from_config(cell.get_config())
        x_in = v1.placeholder(x.dtype.name, x.shape, name="x")
        feed = {x_in: x}
        state_in = lengths_in = None
        if state is not None:
            state_in = legacy_cells().LSTMStateTuple(
                *(v1.placeholder(x.dtype.name, s.shape, name=n) for s, n in zip(state, "ch")))
            feed.update(zip(state_in, state))
        if lengths is not None:
            lengths_in = v1.placeholder("int32", lengths.shape, name="sequence_length")
            feed[lengths_in] = lengths
        outputs, final = v1.nn.dynamic_rnn(copy, x_in, sequence_length=lengths_in,
                                           initial_state=state_in, dtype=x.dtype.name)
        load = [getattr(copy, attr).assign(value) for attr, value in values.items()]
        try:
            with v1.Session(graph=graph) as session:
                session.run(load)
                return session.run([outputs, tuple(final)], feed)
        finally:
            _restore_v2_class(type(cell))


def _restore_v2_class(cls):
    """Undo what building a layer in a v1 graph does to its class: tf_keras's
    LayerVersionSelector swaps the class's bases to its v1 Layer (``cls.__bases__`` is
    rewritten, for every instance), after which every cell of that class made eagerly raises
    "Your Layer or Model is in an invalid state" on its next call, until a cell of the class is
    made eagerly again. So swap them back at once, as that constructor would."""
    from tf_keras.src.engine import base_layer, base_layer_v1
    from tf_keras.src.utils import version_utils

    version_utils.swap_class(cls, base_layer.Layer, base_layer_v1.Layer, use_v2=True)


def _keras_rnn(cell, x, state, lengths):
    import tf_keras

    tf = tensorflow_module()
    # The RNN's own dtype is the cell's: with the default (float32) it would cast a float64
    # or float16 cell's inputs to float32, and the cell's matmul would refuse them.
    layer = tf_keras.layers.RNN(cell, return_sequences=True, return_state=True,
                                zero_output_for_mask=True, dtype=x.dtype.name)
    mask = None if lengths is None else tf.sequence_mask(lengths, x.shape[1])
    initial = None if state is None else [tf.convert_to_tensor(s) for s in state]
    outputs, c, h = layer(tf.convert_to_tensor(x), initial_state=initial, mask=mask)
    return outputs, (c, h)
