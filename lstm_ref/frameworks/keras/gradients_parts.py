"""Gradients of Keras layers made of several LSTM runs against the reference's backward pass,
in one Report: Bidirectional over an LSTM (every merge mode), RNN over stacked LSTMCells, and
chain models of Input, Masking and such layers (lstm_ref.frameworks.keras.model.chain), on
Keras's TensorFlow backend and tf_keras.

Each cell of each run (a direction, a cell of a stack, a layer of a model) is one *part*: the
reference (lstm_ref.gradients) runs per part, with the upstream gradient each part receives
derived from the user's upstream gradients by the layers' documented semantics, never read
from the framework:

- Bidirectional: the merged output's gradient D splits as the merge reads its two inputs:
  concat: each direction its half; sum: D to both; ave: D / 2 to both; mul: D * y_b to the
  forward direction and D * y_f to the backward one (y the reference's outputs, as merged);
  None: each direction its own. With return_sequences the backward direction's sequence is
  flipped back to time order before the merge, so its gradient is flipped into its
  processing order. The returned states' gradients go to their own direction; the input's
  gradient is the sum of both directions'.
- Stacked cells: the last cell's output is the layer's; cell k's h_t is cell k+1's input at
  step t, so cell k's output gradient is cell k+1's input gradient (zero at a masked step,
  whose values are discarded). go_backwards reverses the input once; every cell then runs
  over the processing order.
- Models: a layer's output is the next layer's input, so its gradient is the next layer's
  input gradient. Masking multiplies its input by the mask it makes (a step is kept where any
  feature differs from mask_value), and its gradient by the same mask; an LSTM layer receives
  the mask Keras propagates (the previous one while layers return sequences).

The tolerance probes (lstm_ref.gradient_check, lstm_ref.tolerance.probe_batch) run the same
chain in the probe format: each probe's upstream comes from the probes' own forward values
and input gradients, so the rounding a framework makes in what it passes between parts is
measured with the rest. Every part is held to lstm_ref.gradient_check.gradient_expectations.
A part's loss depends on the forward pass of every part of a stack or a model, and of both
directions of a Bidirectional merged by "mul": a row that one of them cannot determine has
none of their gradients compared.

The framework's side (lstm_ref.frameworks.keras.gradient_steps): the layers' own cells
stepped under one tape give every part's dh, dc and dx at every step; the layer's or model's
own call under a tape gives the input's gradient, the initial states' and the weights'.
Report tensors, in backward order, each part named by its prefix (``forward.``,
``backward.``, ``cell0.``..., and ``<layer name>/`` inside a model): every part's dh, dc and
dx (processing order), a model's Bidirectional layers' stepped input gradient
``<name>/dx`` (time order, both directions summed), the whole call's input gradient ``dx``
(time order), then every part's dh0, dc0 (given initial states) and weights' gradients.
"""

from dataclasses import dataclass, field

import numpy as np

from lstm_ref import precision
from lstm_ref.backprop import gradients
from lstm_ref.checks import as_float_array, as_mask
from lstm_ref.engine import Expectation, check_tensors, nonfinite_reach
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.frameworks.keras import gradient_steps
from lstm_ref.bidirectional import merge, split_states
from lstm_ref.frameworks.keras.execution import call_states
from lstm_ref.frameworks.keras.model import chain, is_model, lstm_like
from lstm_ref.frameworks.keras.stacked import KerasStackedTwin, is_stacked
from lstm_ref.frameworks.keras.twin import describe, keras_of, lstm_cell, weights_of
from lstm_ref.gradient_check import (STEP_TENSORS, GradientObservation, forward_cuts,
                                     gradient_expectations, gradient_scale, source_floor,
                                     summed_expectation, tainted_rows)
from lstm_ref.reference import forward
from lstm_ref.tolerance import PROBES, probe_batch
from lstm_ref.tolerance_table import lookup

__all__ = ["EXECUTIONS", "SUPPORTED", "check_gradient_run", "Run", "LayerPlan", "is_multipart",
           "plan_layer", "plan_model", "upstream_of", "reference_gradients", "compare_gradients"]

EXECUTIONS = ("eager", "function", "xla")
SUPPORTED = ("compare_gradients supports keras.layers.LSTM, RNN(LSTMCell), RNN over a list of "
             "LSTMCells, Bidirectional over an LSTM or RNN(LSTMCell), and chain models of "
             "Input, Masking and these layers")
# The weights' gradients a whole call gives, per cell, in this order (bias where it has one).
WEIGHTS = ("d_kernel", "d_recurrent_kernel", "d_bias")


def check_gradient_run(keras, execution):
    """Refuse a gradient comparison that cannot be observed: the gradients come from
    tf.GradientTape, so Keras must run on TensorFlow (or be tf_keras), and the whole call must
    run by one of EXECUTIONS ("predict" returns values, never a gradient)."""
    if keras.backend.backend() != "tensorflow":
        raise OptionError(f"compare_gradients uses tf.GradientTape: it needs Keras's TensorFlow "
                          f"backend (or tf_keras); Keras runs on {keras.backend.backend()!r}")
    if execution not in EXECUTIONS:
        raise OptionError(f"execution must be one of {EXECUTIONS}; received {execution!r}")


@dataclass
class Run:
    """Cells stepped together over one sequence: an LSTM, a direction of a Bidirectional, or
    a stack of cells (cell k reads cell k - 1's h at every step).

    Attributes:
        cells: the Keras cells, first to last.
        weights: their LSTMWeights.
        names: each cell's part name in reports ("" for a layer's only part).
        go_backwards: the run reads its input from the last step.
        zero_output_for_mask: the last cell's output is zero at a masked step.
    """

    cells: list
    weights: list
    names: list
    go_backwards: bool = False
    zero_output_for_mask: bool = False


@dataclass
class LayerPlan:
    """One layer of a chain: what its runs are and how their results are returned.

    Attributes:
        kind: "lstm", "stacked", "bidirectional" or "masking".
        prefix: the prefix of its tensors in reports ("" alone, "<name>/" inside a model).
        runs: its Runs (two for a Bidirectional: forward, backward; none for Masking).
        merge_mode: a Bidirectional's merge.
        return_sequences, return_state: as the layer's.
        mask_value: a Masking layer's.
        description: one line for reports.
    """

    kind: str
    prefix: str = ""
    runs: list = field(default_factory=list)
    merge_mode: str | None = None
    return_sequences: bool = True
    return_state: bool = False
    mask_value: float = 0.0
    description: str = ""

    def parts(self):
        """(run index, cell index, report prefix) of every part."""
        return [(r, k, self.prefix + (f"{name}." if name else ""))
                for r, run in enumerate(self.runs) for k, name in enumerate(run.names)]


def is_multipart(keras, layer):
    """Whether ``layer`` is checked here: a model, a Bidirectional, or stacked cells."""
    return (is_model(keras, layer) or isinstance(layer, keras.layers.Bidirectional)
            or is_stacked(keras, layer))


def plan_layer(keras, layer, prefix=""):
    """The LayerPlan of one LSTM layer of any kind, or a one-line error for what is not
    supported (stateful layers here: their carried state is an input no part observes)."""
    if not lstm_like(keras, layer):
        raise UnsupportedLayerError(f"{SUPPORTED}; received {type(layer).__name__} "
                                    f"{layer.name!r}")
    subs = [layer]
    if isinstance(layer, keras.layers.Bidirectional):
        subs = [layer.forward_layer, layer.backward_layer]
    for sub in subs:
        if getattr(sub, "stateful", False):
            raise UnsupportedLayerError(
                f"compare_gradients does not support stateful layers inside a Bidirectional, "
                f"a stack of cells or a model; {type(layer).__name__} {layer.name!r} is "
                f"stateful (a stateful LSTM or RNN(LSTMCell) alone is supported)")
    if isinstance(layer, keras.layers.Bidirectional):
        runs = []
        for name, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
            if is_stacked(keras, sub):
                raise UnsupportedLayerError(f"{SUPPORTED}; received Bidirectional "
                                            f"{layer.name!r} over stacked cells")
            cell = lstm_cell(sub)
            runs.append(Run([cell], [weights_of(cell)], [name], sub.go_backwards,
                            sub.zero_output_for_mask))
        lines = "; ".join(describe(sub)["layer"] for sub in subs)
        return LayerPlan("bidirectional", prefix, runs, layer.merge_mode,
                         layer.return_sequences, layer.return_state,
                         description=f"Bidirectional(merge_mode={layer.merge_mode!r}) of {lines}")
    if is_stacked(keras, layer):
        twin = KerasStackedTwin(layer)
        cells = list(layer.cell.cells)
        run = Run(cells, twin.weights, [f"cell{k}" for k in range(len(cells))],
                  layer.go_backwards, layer.zero_output_for_mask)
        return LayerPlan("stacked", prefix, [run], return_sequences=layer.return_sequences,
                         return_state=layer.return_state, description=twin.config["layer"])
    cell = lstm_cell(layer)
    run = Run([cell], [weights_of(cell)], [""], layer.go_backwards, layer.zero_output_for_mask)
    return LayerPlan("lstm", prefix, [run], return_sequences=layer.return_sequences,
                     return_state=layer.return_state, description=describe(layer)["layer"])


def plan_model(keras, model):
    """The LayerPlans of a chain model of Input, Masking and LSTM layers, or a one-line error
    naming the first layer that is neither."""
    plans = []
    for layer in chain(keras, model):
        if isinstance(layer, keras.layers.Masking):
            plans.append(LayerPlan("masking", f"{layer.name}/", mask_value=layer.mask_value,
                                   description=f"Masking(mask_value={layer.mask_value})"))
        elif lstm_like(keras, layer):
            plans.append(plan_layer(keras, layer, f"{layer.name}/"))
        else:
            raise UnsupportedLayerError(
                f"compare_gradients(model) backpropagates through chain models of Input, "
                f"Masking and LSTM layers; model {model.name!r} has {type(layer).__name__} "
                f"{layer.name!r}")
    if plans[-1].kind == "masking":
        raise UnsupportedLayerError(f"model {model.name!r} ends in Masking, not an LSTM layer")
    return plans


def upstream_of(plan, batch, time, dtype, d_outputs=None, d_states=None, seed=0):
    """The upstream gradients of what the last layer returns, flattened in Keras's order (the
    output, or both outputs with merge_mode=None, then the states with return_state), in
    ``dtype``; those not given are drawn from a normal distribution seeded by ``seed``.

    Args:
        plan: the last layer's LayerPlan.
        d_outputs: shaped as the output, or [d_forward, d_backward] with merge_mode=None.
        d_states: with return_state, one array per returned state, flat (a Bidirectional's
            [d_h_forward, d_c_forward, d_h_backward, d_c_backward]) or nested as Keras
            returns them ([[d_h, d_c], ...] for stacked cells).
    """
    width = gradient_steps.output_size(plan)
    out = (batch, time) if plan.return_sequences else (batch,)
    two = plan.kind == "bidirectional" and plan.merge_mode is None
    shapes = [out + (run.cells[-1].units,) for run in plan.runs] if two else [out + (width,)]
    state_shapes = [(batch, cell.units) for run in plan.runs for cell in run.cells
                    for _ in ("h", "c")]
    outputs = [None] * len(shapes)
    if d_outputs is not None:
        if two:
            if not isinstance(d_outputs, (list, tuple)) or len(d_outputs) != 2:
                raise ShapeError("d_outputs must be [d_forward, d_backward] for a "
                                 "Bidirectional with merge_mode=None; received "
                                 f"{type(d_outputs).__name__}")
            outputs = list(d_outputs)
        else:
            outputs = [d_outputs]
    states = [None] * len(state_shapes) if plan.return_state else []
    if d_states is not None:
        if not plan.return_state:
            raise OptionError("d_states was given, but the layer has return_state=False: its "
                              "states are not returned, so no loss can depend on them")
        states = _flatten(d_states)
        if len(states) != len(state_shapes):
            raise ShapeError(f"d_states must hold {len(state_shapes)} arrays (d_h, d_c of "
                             f"every cell, in Keras's order); received {len(states)}")
    rng = np.random.default_rng(seed)
    result = []
    for name, values, expected in (("d_outputs", outputs, shapes),
                                   ("d_states", states, state_shapes)):
        for value, shape in zip(values, expected):
            array = rng.normal(size=shape) if value is None else as_float_array(value, name)
            if array.shape != shape:
                raise ShapeError(f"{name} must have the shapes of what the layer returns, "
                                 f"{expected}; received shape {array.shape}")
            result.append(array.astype(dtype))
    return result


def _flatten(nested):
    if isinstance(nested, (list, tuple)):
        return [item for entry in nested for item in _flatten(entry)]
    return [nested]


# The reference: forward through the layers, then backward, in one format.

def _forward_walk(plans, x, states, masks, dtype):
    """Per plan: (its input, the mask it receives (a Masking plan: makes), its Traces per run
    per cell). ``masks``: per plan, the masks to use (the probes use the reference's), or
    None to derive them from the values reaching each Masking layer."""
    fmt = precision.get(dtype)
    y, mask, walked = np.asarray(x, fmt.compute), None, []
    for index, plan in enumerate(plans):
        if plan.kind == "masking":
            made = masks[index] if masks is not None else np.any(y != plan.mask_value, axis=-1)
            walked.append((y, made, None))
            y, mask = y * made[..., None].astype(y.dtype), made
            continue
        received = masks[index] if masks is not None else mask
        traces = [_run_forward(run, y, received, _states(states, index, r), dtype)
                  for r, run in enumerate(plan.runs)]
        walked.append((y, received, traces))
        y = _layer_outputs(plan, traces, fmt)[0]
        mask = received if plan.return_sequences else None
    return walked


def _states(states, index, run):
    return None if states is None or states[index] is None else states[index][run]


def _processing(run, array):
    """A (B, T, ...) array in the run's processing order (None stays None); also back to
    time order, reversing being its own inverse."""
    if array is None or not run.go_backwards:
        return array
    return array[:, ::-1]


def _run_forward(run, y, mask, states, dtype):
    inputs, ms, traces = _processing(run, y), _processing(run, mask), []
    for k, weights in enumerate(run.weights):
        last = k == len(run.weights) - 1
        trace = forward(inputs, weights, initial_state=None if states is None else states[k],
                        mask=ms, dtype=dtype,
                        zero_output_for_mask=run.zero_output_for_mask and last)
        traces.append(trace)
        inputs = trace.h
    return traces


def _merge_inputs(plan, traces):
    """What the layer's merge reads: each run's output as returned (the backward one flipped
    back to time order with return_sequences)."""
    seqs = [t[-1].outputs if plan.return_sequences else t[-1].last_output for t in traces]
    if plan.kind == "bidirectional" and plan.return_sequences:
        seqs[1] = seqs[1][:, ::-1]
    return seqs


def _layer_outputs(plan, traces, fmt):
    seqs = _merge_inputs(plan, traces)
    if plan.kind != "bidirectional":
        return seqs
    if plan.merge_mode is None:
        return seqs
    merged = merge(plan.merge_mode, *seqs)
    if plan.merge_mode != "concat":  # an arithmetic merge rounds once in the format
        merged = fmt.round(np.asarray(merged, fmt.compute))
    return [merged]


def _backward_walk(plans, walked, states, upstream, dtype, groups):
    """Per plan, per run, per cell: Gradients; the first layer's input gradient; per plan,
    the gradients of its output(s). The last plan's upstream is ``upstream`` (flattened as
    it returns), every other plan's output gradient the next plan's input gradient."""
    fmt = precision.get(dtype)
    last = plans[-1]
    count = 2 if last.kind == "bidirectional" and last.merge_mode is None else 1
    outputs, finals = upstream[:count], upstream[count:]
    grads, received = [None] * len(plans), [None] * len(plans)
    for index in range(len(plans) - 1, -1, -1):
        plan = plans[index]
        y, mask, traces = walked[index]
        received[index] = outputs
        if plan.kind == "masking":
            d_input = outputs[0] * mask[..., None].astype(outputs[0].dtype)
        else:
            grads[index], d_input = _layer_backward(plan, y, mask, _state_list(states, index),
                                                    traces, outputs, finals, fmt, groups)
        outputs, finals = [d_input], []
    return grads, outputs[0], received


def _state_list(states, index):
    return None if states is None else states[index]


def _layer_backward(plan, y, mask, states, traces, outputs, finals, fmt, groups):
    cast = lambda a: np.asarray(a, fmt.compute)  # noqa: E731
    if plan.kind == "bidirectional":
        merged = _merge_inputs(plan, traces)
        if plan.merge_mode is None:
            per_run = [cast(o) for o in outputs]
        else:
            d = cast(outputs[0])
            if plan.merge_mode == "concat":
                split = plan.runs[0].cells[-1].units
                per_run = [d[..., :split], d[..., split:]]
            elif plan.merge_mode == "sum":
                per_run = [d, d]
            elif plan.merge_mode == "ave":
                per_run = [d / 2, d / 2]
            else:  # mul: each direction's gradient is D times the other's output
                per_run = [fmt.round(cast(d * merged[1])), fmt.round(cast(d * merged[0]))]
        if plan.return_sequences:  # back into the backward direction's processing order
            per_run[1] = per_run[1][:, ::-1]
    else:
        per_run = [cast(outputs[0])]
    result, d_input, position = [], None, 0
    for r, run in enumerate(plan.runs):
        size = 2 * len(run.cells)
        run_finals = finals[position:position + size] if finals else None
        position += size
        grads, d_xs = _run_backward(run, y, mask, None if states is None else states[r],
                                    traces[r], per_run[r], run_finals, fmt, groups)
        d_time = _processing(run, d_xs)
        d_input = d_time if d_input is None else fmt.round(d_input + d_time)
        result.append(grads)
    return result, d_input


def _run_backward(run, y, mask, states, traces, d_outputs, finals, fmt, groups):
    xs, ms = _processing(run, y), _processing(run, mask)
    count = len(run.weights)
    grads, upstream = [None] * count, d_outputs
    for k in range(count - 1, -1, -1):
        inputs = xs if k == 0 else traces[k - 1].h
        grads[k] = gradients(
            inputs, run.weights[k], d_outputs=upstream,
            d_final_h=None if finals is None else finals[2 * k],
            d_final_c=None if finals is None else finals[2 * k + 1],
            initial_state=None if states is None else states[k], mask=ms,
            zero_output_for_mask=run.zero_output_for_mask and k == count - 1,
            dtype=fmt.name, groups=groups)
        upstream = grads[k].x
    return grads, upstream


def reference_gradients(plans, x, states, masks, upstream, dtype="float64", groups=1):
    """The reference's backward pass through a chain of layers, in ``dtype``.

    Args:
        plans: the LayerPlans, first to last.
        x: (B, T, F) input of the first layer.
        states: None, or per plan: None or per run, per cell, [h0, c0].
        masks: per plan, the mask it receives (a Masking plan: the one it makes), or None to
            derive a model's masks from its Masking layers.
        upstream: the flattened upstream gradients of the last layer (:func:`upstream_of`).
        groups: as lstm_ref.gradients (PROBES for the stacked probe run).

    Returns:
        ``(grads, d_input, masks, received)``: per plan (None for Masking), per run, per
        cell, its lstm_ref.backprop.Gradients; the gradient of ``x``; the masks used, per
        plan; the gradients of each plan's output(s) (as it returns them).
    """
    walked = _forward_walk(plans, x, states, masks, dtype)
    grads, d_input, received = _backward_walk(plans, walked, states, upstream, dtype, groups)
    return grads, d_input, [mask for _, mask, _ in walked], received


def _sources(plans, grads, received, forward_tol, tol):
    """Per plan (None for Masking), per run, per cell: the (B, T) size, in its processing
    order, of the gradients its upstream gradient is computed from (None where the upstream
    is the user's, exact), for lstm_ref.gradient_check.source_floor.

    A cell of a stack reads the next cell's dx, a layer of a model the next layer's input
    gradient: their rounding is relative to those parts' scale (gradient_scale, which
    carries their own sources). A Bidirectional merged by "mul" gives each direction D times
    the other direction's output y: the forward pass's floor in y (``forward_tol``: atol +
    rtol |y|) times |D|, and D's own source times |y|."""
    result = [None] * len(plans)
    above = None  # the size of what the current plan's output gradient is computed from
    for index in range(len(plans) - 1, -1, -1):
        plan = plans[index]
        if plan.kind == "masking":  # its gradient is the mask times its output's: the same
            continue
        per_run = [above] * len(plan.runs)
        if plan.kind == "bidirectional" and plan.merge_mode == "mul":
            d = np.abs(np.asarray(received[index][0], np.float64))
            seqs = [g[-1].forward for g in grads[index]]
            ys = [np.abs(t.outputs if plan.return_sequences else t.last_output) for t in seqs]
            if plan.return_sequences:
                ys[1] = ys[1][:, ::-1]
            per_run = []
            for other in (ys[1], ys[0]):
                size = (d * (forward_tol.atol + forward_tol.rtol * other)).max(axis=-1)
                size = size / tol.atol
                if above is not None:
                    size = np.maximum(size, above * other.max(axis=-1))
                per_run.append(size)
        scales, sources = [], []
        for r, run in enumerate(plan.runs):
            source = per_run[r]
            if source is not None:
                if source.ndim == 1:  # the last output only: the run's last step
                    last = np.zeros(grads[index][r][-1].dh.shape[:2])
                    last[:, -1] = source
                    source = last
                elif r == 1:  # a Bidirectional returning sequences
                    source = source[:, ::-1]  # time order -> the backward run's processing order
            cells = [None] * len(run.cells)
            for k in range(len(run.cells) - 1, -1, -1):
                cells[k] = source
                source = gradient_scale(grads[index][r][k], source)
            sources.append(cells)
            scales.append(_processing(run, source))  # the input gradient's size, time order
        result[index] = sources
        above = np.maximum.reduce(scales)
    return result


def _reaches(plans, x, states, masks):
    """Per plan, per run, per cell: the (B, T) steps, in its processing order, that a
    non-finite input reaches (lstm_ref.engine.nonfinite_reach, carried along the chain)."""
    bad = ~np.isfinite(np.asarray(x, np.float64)).all(axis=2)
    result = []
    for index, plan in enumerate(plans):
        if plan.kind == "masking":
            result.append(None)
            continue
        runs = []
        for r, run in enumerate(plan.runs):
            inputs, ms, cells = _processing(run, bad), _processing(run, masks[index]), []
            run_states = _states(states, index, r)
            for k in range(len(run.cells)):
                inputs = nonfinite_reach(inputs, None if run_states is None else run_states[k],
                                         ms)
                cells.append(inputs)
            runs.append(cells)
        result.append(runs)
        bad = runs[0][-1]
        if plan.kind == "bidirectional" and plan.return_sequences:
            bad = bad | runs[1][-1][:, ::-1]
    return result


def _input_expectation(plan, expectations, eps):
    """The Expectation of a layer's input gradient (time order) from its parts' dx."""
    per_run = []
    for r, run in enumerate(plan.runs):
        dx = expectations[(r, 0)]["dx"]
        per_run.append(dx.flipped() if run.go_backwards else dx)
    return per_run[0] if len(per_run) == 1 else summed_expectation(*per_run, eps)


def _masked(expectation, mask):
    """A gradient multiplied by a Masking layer's mask (exact: zero where masked)."""
    e = expectation
    return Expectation(e.values * mask[:, :, None], e.steps, e.bound, e.status, e.axes)


def compare_gradients(layer, x, initial_state=None, mask=None, d_outputs=None, d_states=None,
                      tolerance=None, execution="eager", seed=0):
    """Gradients of a Keras Bidirectional, stacked cells or chain model against the
    reference's backward pass, every part in one Report (module docstring).

    Args:
        layer: a built Bidirectional over an LSTM, RNN over LSTMCells, or a chain model of
            Input, Masking and LSTM layers; Keras 3 on TensorFlow, or tf_keras.
        x: (batch, time, features) input.
        initial_state: a Bidirectional's [h_f, c_f, h_b, c_b]; stacked cells' [[h_0, c_0],
            ...]; None (zeros). A model takes its input alone.
        mask: (batch, time) booleans, or None; a model's masks come from its Masking layers.
        d_outputs, d_states: the upstream gradients (:func:`upstream_of`); None: drawn from
            ``seed``.
        tolerance: a Tolerance instead of the table's gradient entry.
        execution: how the whole call runs: "eager", "function" or "xla".
        seed: seeds the upstream gradients not given.

    Returns:
        A lstm_ref Report, order "backward".
    """
    keras = keras_of(layer)
    check_gradient_run(keras, execution)
    import tensorflow as tf

    model = is_model(keras, layer)
    if model and (initial_state is not None or mask is not None):
        raise UnsupportedLayerError("compare_gradients(model, x) takes the model's input "
                                    "alone; masks come from its own Masking layers")
    plans = plan_model(keras, layer) if model else [plan_layer(keras, layer)]
    dtype = _dtype(layer, plans)
    x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)").astype(dtype)
    batch, time = x.shape[:2]
    if mask is not None:
        mask = as_mask(mask, batch, time)
    states = [None] * len(plans) if model else [_initial_states(plans[0], initial_state, dtype)]
    flat_states = [s for run in states[0] or () for pair in run for s in pair]
    upstream = upstream_of(plans[-1], batch, time, dtype, d_outputs, d_states, seed)
    tol = tolerance or lookup(dtype, "gradients")

    # The reference and its probes, each part's upstream derived along the chain.
    reference, _, masks, received = reference_gradients(
        plans, x, states, None if model else [mask], [u.astype(np.float64) for u in upstream])
    px, pflat, _ = probe_batch(x, flat_states or None, None, tol.probe)
    tile = lambda a: None if a is None else np.concatenate([a] * PROBES)  # noqa: E731
    pstates = [None] * len(plans) if pflat is None else [_nest(states[0], pflat)]
    probes, _, _, _ = reference_gradients(
        plans, px, pstates, [tile(m) for m in masks],
        [tile(u).astype(precision.get(tol.probe).compute) for u in upstream], tol.probe, PROBES)

    # The framework: the cells stepped, then the whole call.
    stepped = gradient_steps.stepped_gradients(tf, plans, x, states, masks, upstream)
    variables = [v for plan in plans for run in plan.runs for cell in run.cells
                 for v in _weights_of(cell)]
    dx, d_initial, d_weights = gradient_steps.whole_gradients(
        tf, _whole_call(tf, keras, layer, plans, mask, model), x, flat_states, variables,
        upstream, execution)
    whole = {"dx": dx, "states": iter(d_initial), "weights": iter(d_weights)}

    # Every part's Expectations, those of the input gradients, and one comparison.
    reaches = _reaches(plans, x, states, masks)
    root = GradientObservation(actual={}, weights=None, x=x, initial_state=flat_states or None,
                               upstream={f"upstream[{i}]": u for i, u in enumerate(upstream)})
    tainted = tainted_rows(root)
    cuts = {(index, r, k): forward_cuts(reference[index][r][k], probes[index][r][k],
                                        reaches[index][r][k], lookup(dtype).atol)
            for index, plan in enumerate(plans) for r, k, _ in plan.parts()}
    joined = np.logical_or.reduce(list(cuts.values()))
    # A row's loss depends on every part's forward pass, but for a Bidirectional merged
    # linearly: each direction's gradients depend on its own forward pass alone.
    alone = not model and plans[0].kind == "bidirectional" and plans[0].merge_mode != "mul"
    sources = _sources(plans, reference, received, lookup(dtype), tol)
    steps, totals, inputs = {}, {}, []
    for index, plan in enumerate(plans):
        if plan.kind == "masking":
            inputs.append(None)
            continue
        per_part = {}
        for r, k, prefix in plan.parts():
            expected = gradient_expectations(
                reference[index][r][k], probes[index][r][k], tol,
                forward_cut=cuts[(index, r, k)] if alone else joined, tainted=tainted)
            if sources[index][r][k] is not None:
                expected = source_floor(expected, reference[index][r][k], tol,
                                        sources[index][r][k])
            per_part[(r, k)] = expected
            for name in STEP_TENSORS:
                steps[prefix + name] = (expected[name], stepped[index]["runs"][r][k][name])
            names = (["dh0", "dc0"] if flat_states else [])
            names += list(WEIGHTS[:len(_weights_of(plan.runs[r].cells[k]))])
            for name in names:
                got = next(whole["states" if name in ("dh0", "dc0") else "weights"])
                totals[prefix + name] = (expected[name], np.atleast_2d(got))
        inputs.append(_input_expectation(plan, per_part, tol.eps))
        if model and plan.kind == "bidirectional":  # its stepped input gradient
            steps[plan.prefix + "dx"] = (inputs[-1], stepped[index]["dx"])
    first = next(i for i, plan in enumerate(plans) if plan.kind != "masking")
    expected_dx = inputs[first]
    for index in range(first - 1, -1, -1):  # Masking layers before the first LSTM layer
        expected_dx = _masked(expected_dx, masks[index])
    compared = {**steps, "dx": (expected_dx, whole["dx"]), **totals}
    context = {"layer": " -> ".join(p.description for p in plans),
               "versions": _versions(keras), "execution": execution, "upstream seed": seed,
               "steps": "dh, dc, dx of each part: its processing order; the input's dx: time "
                        "order"}
    if model:
        context["model"] = layer.name
    return check_tensors({name: got for name, (_, got) in compared.items()},
                         {name: e for name, (e, _) in compared.items()}, tol, time, context,
                         order="backward")


def _dtype(layer, plans):
    """The dtype the layer and every cell compute in, or a one-line error."""
    dtype = layer.compute_dtype
    if dtype not in ("float32", "float64"):
        raise OptionError(f"gradients are compared for float32 and float64 layers; "
                          f"{type(layer).__name__} {layer.name!r} computes in {dtype!r}")
    cells = sorted({cell.compute_dtype for plan in plans for run in plan.runs
                    for cell in run.cells})
    if cells != [dtype]:
        raise OptionError(f"{type(layer).__name__} {layer.name!r} computes in {dtype!r} but "
                          f"its cells in {cells}: give the cells the layer's dtype")
    return dtype


def _initial_states(plan, initial_state, dtype):
    """Per run, per cell, [h0, c0] as the layer computes with them, or None."""
    if initial_state is None:
        return None
    if plan.kind == "bidirectional":
        pairs = [[pair] for pair in split_states(initial_state)]
    else:
        twin_pairs = _pairs(initial_state, len(plan.runs[0].cells))
        pairs = [twin_pairs]
    return [[[as_float_array(s, f"initial_state[{r}][{k}][{i}]", ndim=2).astype(dtype)
              for i, s in enumerate(pair)] for k, pair in enumerate(run)]
            for r, run in enumerate(pairs)]


def _pairs(initial_state, count):
    if (not isinstance(initial_state, (list, tuple)) or len(initial_state) != count
            or any(not isinstance(s, (list, tuple)) or len(s) != 2 for s in initial_state)):
        received = (f"{type(initial_state).__name__} of {len(initial_state)} entries"
                    if isinstance(initial_state, (list, tuple)) else type(initial_state).__name__)
        raise ShapeError(f"an RNN over {count} LSTMCells takes initial_state=[[h_0, c_0], "
                         f"[h_1, c_1], ...], one pair per cell; received {received}")
    return [list(s) for s in initial_state]


def _nest(shape_like, flat):
    """``flat`` arrays in the nesting of ``shape_like`` (per run, per cell, [h, c])."""
    it = iter(flat)
    return [[[next(it) for _ in pair] for pair in run] for run in shape_like]


def _weights_of(cell):
    return [cell.kernel, cell.recurrent_kernel] + ([cell.bias] if cell.use_bias else [])


def _whole_call(tf, keras, layer, plans, mask, model):
    """``call(x, states)`` -> what the layer or model returns, flattened."""
    if model:
        return lambda x, states: gradient_steps.flat_result(tf, layer(x, training=False))
    mask_tensor = None if mask is None else tf.constant(mask)
    plan = plans[0]

    def call(x, states):
        initial = None
        if states:
            initial = list(states)
            if plan.kind == "stacked":
                initial = [initial[i:i + 2] for i in range(0, len(initial), 2)]
            initial = call_states(keras, initial)
        return gradient_steps.flat_result(tf, layer(x, initial_state=initial, mask=mask_tensor,
                                                    training=False))

    return call


def _versions(keras):
    import tensorflow as tf

    return (f"{keras.__name__} {keras.__version__} (TensorFlow {tf.__version__}), "
            f"numpy {np.__version__}")
