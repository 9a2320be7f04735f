"""Keras 3 RNN over a list of LSTMCells (StackedRNNCells): its twin and its comparison.

At every step the input goes through cell 0, cell 0's new h is cell 1's input, and so on; the
RNN's output is the last cell's h. A masked step keeps every cell's state and repeats the
output. So the reference runs the cells one after the other over the whole sequence, each on
the previous cell's h sequence (in processing order) with the same mask: at a masked step the
next cell sees the carried h instead of the discarded new one, and its step is discarded too.
States are nested as Keras nests them: [[h_0, c_0], [h_1, c_1], ...].
"""

import numpy as np

from lstm_ref.checks import as_float_array, as_mask
from lstm_ref.engine import DRIFT_NOTE, Part, compare_parts, default_entry, stack_reach
from lstm_ref.errors import ShapeError, UnsupportedLayerError
from lstm_ref.reference import forward
from lstm_ref.frameworks.keras import execution as executions
from lstm_ref.frameworks.keras.twin import describe_cell, keras_of, weights_of
from lstm_ref.frameworks.tensorflow.stepping import step_states
from lstm_ref.tolerance import probe_batch

__all__ = ["is_stacked", "KerasStackedTwin", "compare", "step_cells"]


def is_stacked(keras, layer):
    return isinstance(layer, keras.layers.RNN) and isinstance(layer.cell,
                                                               keras.layers.StackedRNNCells)


class KerasStackedTwin:
    """The reference twin of a built keras.layers.RNN([LSTMCell, ...])."""

    def __init__(self, layer):
        keras = keras_of(layer)
        for cell in layer.cell.cells:
            if not isinstance(cell, keras.layers.LSTMCell):
                raise UnsupportedLayerError(
                    f"RNN {layer.name!r} stacks a {type(cell).__name__}; lstm_ref mirrors stacks "
                    "of LSTMCells only")
        if not layer.built:
            raise UnsupportedLayerError(f"RNN {layer.name!r} is not built, so it has no weights "
                                        "yet; call it on an input or build it first")
        if layer.stateful:
            raise UnsupportedLayerError("a stateful RNN over stacked cells is not supported yet")
        self.weights = [weights_of(cell) for cell in layer.cell.cells]
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.go_backwards = layer.go_backwards
        self.zero_output_for_mask = layer.zero_output_for_mask
        self.config = {"layer": f"RNN([{', '.join(describe_cell(c) for c in layer.cell.cells)}], "
                                f"return_sequences={layer.return_sequences}, return_state="
                                f"{layer.return_state}, go_backwards={layer.go_backwards})"}

    def run(self, x, initial_state=None, mask=None, dtype="float64"):
        """One Trace per cell, in processing order."""
        states = self.states(initial_state)
        x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)")
        if mask is not None:
            mask = as_mask(mask, x.shape[0], x.shape[1])
        if self.go_backwards:  # reverse once; every cell then runs forward on processing order
            x, mask = x[:, ::-1], None if mask is None else mask[:, ::-1]
        traces = []
        for index, (weights, state) in enumerate(zip(self.weights, states)):
            last = index == len(self.weights) - 1
            trace = forward(x, weights, initial_state=state, mask=mask, dtype=dtype,
                            zero_output_for_mask=self.zero_output_for_mask and last)
            traces.append(trace)
            x = trace.h
        return traces

    def __call__(self, inputs, initial_state=None, mask=None, training=None, dtype="float64"):
        traces = self.run(inputs, initial_state, mask, dtype)
        output = traces[-1].outputs if self.return_sequences else traces[-1].last_output
        if not self.return_state:
            return output
        return (output,) + tuple([t.final_h, t.final_c] for t in traces)

    def states(self, initial_state):
        """The initial state of every cell ([h, c] pairs, or None each), checked."""
        if initial_state is None:
            return [None] * len(self.weights)
        if len(initial_state) != len(self.weights) or any(len(s) != 2 for s in initial_state):
            raise ShapeError(f"an RNN over {len(self.weights)} LSTMCells takes initial_state="
                             "[[h_0, c_0], [h_1, c_1], ...], one pair per cell; received "
                             f"{len(initial_state)} entries")
        return [list(s) for s in initial_state]


def compare(layer, x, initial_state=None, mask=None, tolerance=None):
    """Every cell's h and c at every step (the layer's own cells, stepped), the layer's output
    and states, against the reference. Tensors: cell0.h, cell0.c, ..., output, cell0.state_h..."""
    keras = keras_of(layer)
    twin = KerasStackedTwin(layer)
    dtype = layer.compute_dtype
    x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)").astype(dtype)
    if initial_state is not None:
        initial_state = [[np.asarray(s, dtype) for s in pair] for pair in twin.states(initial_state)]
    tol, notes = tolerance, {}
    if tolerance is None:
        tol, why = default_entry(dtype, twin.weights)
        notes = {DRIFT_NOTE: why} if why else {}
    reference = twin.run(x, initial_state, mask)  # validates before the framework runs
    flat = None if initial_state is None else [s for pair in initial_state for s in pair]
    checked_mask = None if mask is None else as_mask(mask, *x.shape[:2])
    px, pflat, pmask = probe_batch(x, flat, checked_mask, tol.probe)
    pstates = None if pflat is None else [pflat[i:i + 2] for i in range(0, len(pflat), 2)]
    probes = twin.run(px, pstates, pmask, dtype=tol.probe)
    steps = step_cells(keras, layer.cell.cells, x, initial_state, mask, layer.go_backwards)
    result = executions.call(keras, layer, x, initial_state, mask)
    # Every cell runs forward over the processing order (the input reversed once).
    flip = (lambda a: a[:, ::-1]) if layer.go_backwards else (lambda a: a)  # noqa: E731
    reach = stack_reach(flip(x), [1] * len(reference), initial_state,
                        None if checked_mask is None else flip(checked_mask))
    output = result[0] if layer.return_state else result
    parts = []
    for index, (ref, probe, (h, c)) in enumerate(zip(reference, probes, steps)):
        last = index == len(reference) - 1
        actual = {"h": h, "c": c}
        if last:
            actual["output"] = output
        if layer.return_state:
            actual["state_h"], actual["state_c"] = result[1 + index]
        parts.append(Part(actual=actual, reference=ref, probe=probe, tolerance=tol,
                          prefix=f"cell{index}", return_sequences=layer.return_sequences,
                          tainted=reach[index][0], names={"output": "output"}, notes=notes))
    return compare_parts(parts, context=twin.config)


def step_cells(keras, cells, x, initial_state, mask, go_backwards):
    """Per cell, (h, c) after every step in processing order, from the layer's own cells."""
    batch = x.shape[0]
    if initial_state is None:
        initial_state = [[np.zeros((batch, cell.units), x.dtype)] * 2 for cell in cells]

    def step(inputs, flat):
        new = []
        for index, cell in enumerate(cells):
            inputs, (h, c) = cell(inputs, flat[2 * index:2 * index + 2], training=False)
            new += [h, c]
        return new

    flat = step_states(step, x, [s for pair in initial_state for s in pair], mask,
                       go_backwards, keras)
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
