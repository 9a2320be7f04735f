"""A TF1 cell observed: stepped one call at a time (c_t and h_t at every step) and run over
the whole sequence (lstm_ref.frameworks.tf1.runners), compared with the reference.

Built cells: a TF1 cell creates its variables on its first call (dynamic_rnn's, or
``cell(x_t, state)``). :func:`from_tf1_cell` needs them (they are what a twin mirrors) and
refuses an unbuilt cell; :func:`compare` runs the cell anyway, so it builds an unbuilt one
the way dynamic_rnn would, by calling it on a zero step of x's width, in the cell's dtype or,
if it has none, x's (its weights are then its initializers' draws).
"""

import numpy as np

from lstm_ref.checks import as_float_array
from lstm_ref.engine import Observation, check_inputs, check_observation
from lstm_ref.errors import OptionError
from lstm_ref.frameworks.tensorflow.stepping import step_states
from lstm_ref.frameworks.tensorflow.tf_keras import tensorflow_module
from lstm_ref.frameworks.tf1.cells import (TF1CellTwin, cell_kind, legacy_cells, lengths_mask,
                                           mask_lengths)
from lstm_ref.frameworks.tf1.runners import EXECUTIONS, run_sequence

__all__ = ["compare", "observe", "step_cell"]
def compare(cell, x, initial_state=None, mask=None, tolerance=None, sequence_length=None,
            execution="eager"):
    """Run a TF1 LSTM cell step by step and over the whole sequence, and compare with the
    reference.

    Args:
        cell: a TF1 BasicLSTMCell / LSTMCell (built, or built here as dynamic_rnn would).
        x: (batch, time, features), batch-major.
        initial_state: None, or LSTMStateTuple(c, h) / a (c, h) pair.
        mask: None, or a right-padded (batch, time) mask (instead of sequence_length).
        tolerance: a Tolerance instead of the table's entry for the cell's dtype.
        sequence_length: None or (batch,) valid lengths, as dynamic_rnn takes them.
        execution: how the whole sequence runs (see the module docstring).

    Returns:
        A :class:`lstm_ref.report.Report`: h, c (the cell stepped eagerly, ``cell(x_t,
        state)``, at every step), output (the whole run's outputs), state_h, state_c (its final
        state).
    """
    observation = observe(cell, x, initial_state, mask, sequence_length, execution)
    return check_observation(observation, tolerance)


def observe(cell, x, initial_state=None, mask=None, sequence_length=None, execution="eager"):
    """Run the cell twice, stepped eagerly and over the whole sequence by ``execution``;
    returns an Observation."""
    tf = tensorflow_module()
    if execution not in EXECUTIONS:
        raise OptionError(f"execution must be one of {EXECUTIONS}; received {execution!r}")
    cell_kind(cell)
    x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)")
    batch, time, features = x.shape
    built_here = not cell.built
    if built_here:  # as dynamic_rnn's first call would: on a step of x's width and dtype
        dtype = cell.dtype or x.dtype.name
        cell(tf.zeros((1, features), dtype), cell.zero_state(1, dtype))
    twin = TF1CellTwin(cell)
    x = x.astype(twin.dtype)
    if mask is not None and sequence_length is not None:
        raise OptionError("pass mask= or sequence_length=, not both")
    if mask is not None:
        sequence_length = mask_lengths(mask, batch, time)
    lengths = None if sequence_length is None else np.asarray(sequence_length)
    # The cell gets the caller's (c, h) as given; the reference gets the twin's reading of it
    # in Keras's order: a state read in the wrong order shows as a difference, even where c
    # and h have the same size.
    tf1_state = None if initial_state is None else tuple(
        np.asarray(s, twin.dtype) for s in twin.tf1_state(initial_state, batch))
    state = twin.keras_state(tf1_state, batch)
    mask = None if lengths is None else lengths_mask(lengths, batch, time)
    # The reference validates shapes with clear messages before TensorFlow sees anything.
    check_inputs(x, twin.weights, state, mask)
    h, c = step_cell(cell, x, tf1_state, mask)
    outputs, (state_c, state_h) = run_sequence(cell, x, tf1_state, lengths, execution)
    context = {**twin.config, "execution": execution}
    if built_here:
        context["built"] = "by compare, on x (its initializers' weights)"
    if lengths is not None:
        context["sequence_length"] = lengths.tolist()
    return Observation(actual={"h": h, "c": c, "output": outputs, "state_h": state_h,
                               "state_c": state_c},
                       weights=twin.weights, x=x, initial_state=state, mask=mask,
                       options={"zero_output_for_mask": True}, dtype=twin.dtype,
                       context=context)


def step_cell(cell, x, state, mask):
    """h and c after every step from the cell's own call, ``cell(x_t, LSTMStateTuple(c,
    h))`` (in one tf.function: lstm_ref.frameworks.tensorflow.stepping); a step past a row's length keeps
    its state, as dynamic_rnn does."""
    legacy = legacy_cells()
    if state is None:
        state = cell.zero_state(x.shape[0], x.dtype.name)
    c, h = step_states(lambda x_t, s: list(cell(x_t, legacy.LSTMStateTuple(*s))[1]), x,
                       list(state), mask)
    return h, c
