"""Step-by-step comparison of a Flax NNX LSTM (an nnx.RNN over a cell, or a cell) with the
reference.

Everything compared comes from Flax's own code:

- h_t and c_t after every step: the RNN's cell called by hand, one step at a time, on the
  input in the RNN's processing order (with ``reverse``, each row's first ``seq_lengths``
  steps reversed, as Flax documents it: the order is derived here, not asked of Flax);
- the RNN's own call with ``return_carry=True``: its outputs (compared in processing order:
  with ``reverse`` and ``keep_order`` they are put back into it by the same derived
  permutation) and its final carry ``(c, h)``, which with ``seq_lengths`` is held to the
  reference's state after row b's step ``seq_lengths[b] - 1``.

The reference runs every step (Flax masks nothing: padded steps are computed on the padding),
in float64, with the tolerance entry of the cell's dtype (float32, or float64 under
``jax_enable_x64``) scaled by probes in that format.

Matrix products run under ``jax.default_matmul_precision(precision)``, "highest" by default:
the float32 entry holds float32 products. On CPU every precision setting gives the same bits
(XLA's CPU dot computes float32 whatever it is asked); GPUs and TPUs take "default" as
TF32 or bfloat16 passes, which no float32 bound covers. ``precision=None`` observes under the
caller's own setting (``jax.config.jax_default_matmul_precision``), which the report names.

Report tensors: ``h``, ``c`` (processing order), ``output`` (processing order), ``carry.h``,
``carry.c`` (the returned carry).
"""

import contextlib

import numpy as np

from lstm_ref.checks import as_mask, lengths_mask, mask_lengths
from lstm_ref.engine import Observation, check_observation, compare_parts, observation_part
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.frameworks.flax.twin import (FlaxCellTwin, FlaxRNNTwin, check_module, flipped,
                                           jax_modules, to_numpy, carry_states)

__all__ = ["PRECISIONS", "compare", "compare_cell", "precision_context", "as_input"]

# What ``precision=`` takes: None (the caller's setting) or a jax.default_matmul_precision name.
PRECISIONS = (None, "highest", "float32", "high", "tensorfloat32", "default", "bfloat16")


def precision_context(precision):
    """The context the framework's calls run in, and the line the report shows for it."""
    jax, _ = jax_modules()
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {PRECISIONS}; received {precision!r}")
    if precision is None:
        setting = jax.config.jax_default_matmul_precision
        return contextlib.nullcontext(), f"the caller's ({setting}) on {jax.default_backend()}"
    return jax.default_matmul_precision(precision), f"{precision} on {jax.default_backend()}"


def as_input(value, name, dtype):
    """``value`` as a NumPy array of the cell's compute dtype (what Flax is given)."""
    return to_numpy(value, name).astype(dtype)


def compare(layer, x, initial_state=None, mask=None, tolerance=None, seq_lengths=None,
            time_major=None, reverse=None, keep_order=None, precision="highest"):
    """Run a flax.nnx.RNN over an LSTM cell step by step and whole, and compare with the
    reference (a cell goes to :func:`compare_cell`).

    Args:
        layer: a flax.nnx.RNN over an nnx.LSTMCell / OptimizedLSTMCell, or such a cell.
        x: (B, T, F), or (T, B, F) with time_major; cast to the cell's dtype.
        initial_state: None (zeros) or the carry ``(c, h)`` as Flax takes it, each (B, U).
        mask: None or (B, T) right-padded booleans: the rows' seq_lengths.
        tolerance: a Tolerance instead of the table's entry for the cell's dtype.
        seq_lengths, time_major, reverse, keep_order: as nnx.RNN's call takes them (None: the
            RNN's own).
        precision: see the module docstring.

    Returns:
        A :class:`lstm_ref.report.Report`.
    """
    jax, nnx = jax_modules()
    check_module(layer)
    if not isinstance(layer, nnx.RNN):
        given = [n for n, v in (("seq_lengths", seq_lengths), ("time_major", time_major),
                                ("reverse", reverse), ("keep_order", keep_order)) if v is not None]
        if given:
            raise OptionError(f"{', '.join(given)} apply to nnx.RNN; a cell is stepped with "
                              "mask= only")
        return compare_cell(layer, x, initial_state, mask, tolerance, precision)
    if mask is not None and seq_lengths is not None:
        raise OptionError("pass mask= or seq_lengths=, not both")
    context_manager, precision_line = precision_context(precision)
    twin = FlaxRNNTwin(layer)
    opts = twin.options(time_major, reverse, keep_order, True)
    dtype = twin.dtype
    given = as_input(x, "x", dtype)
    carry = initial_state
    if isinstance(initial_state, (tuple, list)):
        carry = tuple(as_input(s, f"initial_state[{i}]", dtype)
                      for i, s in enumerate(initial_state))
    if mask is not None:
        shape = given.shape[1::-1] if opts["time_major"] else given.shape[:2]
        seq_lengths = mask_lengths(mask, *shape, minimum=1,
                                   why="Flax's RNN takes seq_lengths (at least 1)")
    x64, states, lengths, index = twin.canonical(given, carry, seq_lengths,
                                                 opts["time_major"], opts["reverse"])
    processing = flipped(x64, index)
    with context_manager:
        stepped = _stepped(layer.cell, processing, states, dtype)
        called_carry, outputs = layer(
            jax.numpy.asarray(given), initial_carry=None if carry is None else
            tuple(jax.numpy.asarray(s) for s in carry),
            seq_lengths=None if lengths is None else jax.numpy.asarray(lengths),
            return_carry=True, time_major=opts["time_major"], reverse=opts["reverse"],
            keep_order=opts["keep_order"])
    outputs = to_numpy(outputs, "outputs")
    outputs = outputs.transpose(1, 0, 2) if opts["time_major"] else outputs
    if opts["reverse"] and opts["keep_order"]:
        outputs = flipped(outputs, index)  # back to processing order (the flip is an involution)
    c_n, h_n = (to_numpy(s, n) for s, n in zip(called_carry, ("carry c", "carry h")))
    names = {"state_h": "carry.h", "state_c": "carry.c"}
    context = {**twin.config, "options": str(opts), "matmul precision": precision_line,
               "steps": "processing order (with reverse: each row's first seq_lengths steps "
                        "reversed); carry.h / carry.c: the returned carry (c, h)"}
    first = {"h": stepped["h"], "c": stepped["c"], "output": outputs}
    if lengths is None:
        first.update(state_h=h_n, state_c=c_n)
    parts = [observation_part(Observation(actual=first, weights=twin.weights, x=processing,
                                          initial_state=states, dtype=dtype),
                              tolerance, names=names)]
    if lengths is not None:
        context["seq_lengths"] = lengths.tolist()
        # The carry is the state after step seq_lengths - 1: the reference's run with the
        # later steps masked (a masked step keeps the state) ends in it.
        mask64 = lengths_mask(lengths, *x64.shape[:2], "seq_lengths", minimum=1)
        parts.append(observation_part(Observation(actual={"state_h": h_n, "state_c": c_n},
                                                  weights=twin.weights, x=processing,
                                                  initial_state=states, mask=mask64,
                                                  dtype=dtype),
                                      tolerance, names=names))
    return compare_parts(parts, context=context)


def _stepped(cell, processing, states, dtype):
    """h and c after every step of ``cell`` called by hand on (B, T, F) ``processing``
    from ``states`` ([h0, c0]) or zeros."""
    return _step(cell, processing, states, dtype, None)


def _step(cell, x, states, dtype, mask):
    """h and c (B, T, U) after every step of ``cell`` called by hand on (B, T, F) ``x``,
    from ``states`` or zeros; with ``mask``, a False step keeps the carry."""
    jax, _ = jax_modules()
    jnp = jax.numpy
    batch, time, _ = x.shape
    if states is None:
        c = h = jnp.zeros((batch, cell.hidden_features), dtype)
    else:
        h, c = (jnp.asarray(s.astype(dtype)) for s in states)
    xs = jnp.asarray(x.astype(dtype))
    hs, cs = [], []
    for t in range(time):
        (c_new, h_new), _ = cell((c, h), xs[:, t])
        if mask is None:
            c, h = c_new, h_new
        else:
            keep = jnp.asarray(mask[:, t, None])
            c, h = jnp.where(keep, c_new, c), jnp.where(keep, h_new, h)
        hs.append(h)
        cs.append(c)
    # Read back once the loop has been dispatched: a read per step waits for that step, where
    # JAX would otherwise run the steps while Python dispatches the next (2.6 times faster
    # over the default grid's stepped cells).
    return {name: np.stack([np.asarray(a) for a in seen], 1).astype(np.float64)
            for name, seen in (("h", hs), ("c", cs))}


def compare_cell(cell, x, initial_state=None, mask=None, tolerance=None, precision="highest"):
    """Step a flax.nnx.LSTMCell / OptimizedLSTMCell through a sequence by hand and compare
    h_t, c_t with the reference.

    Args:
        cell: the cell.
        x: (B, T, F), or (B, F) for one step.
        initial_state: None (zeros) or the carry ``(c, h)``, each (B, U).
        mask: None or (B, T) booleans: a masked step keeps the carry (as Keras's RNN does).
        tolerance, precision: see :func:`compare`.

    Returns:
        A Report with tensors ``h`` and ``c``.
    """
    twin = FlaxCellTwin(cell)
    context_manager, precision_line = precision_context(precision)
    x64 = as_input(x, "x", twin.dtype).astype(np.float64)
    if x64.ndim == 2:
        x64 = x64[:, None]
    if x64.ndim != 3 or x64.shape[2] != twin.in_features:
        raise ShapeError(f"x must be (batch, time, {twin.in_features}) or (batch, "
                          f"{twin.in_features}) for {twin.config['module']}; received shape "
                          f"{np.shape(x)}")
    batch, time, _ = x64.shape
    states = None
    if initial_state is not None:
        given = carry_states(initial_state, batch, twin.hidden_features, "initial_state")
        states = [s.astype(twin.dtype).astype(np.float64) for s in given]
    if mask is not None:
        mask = as_mask(mask, batch, time)
    with context_manager:
        actual = _step(cell, x64, states, twin.dtype, mask)
    observation = Observation(actual=actual, weights=twin.weights, x=x64, initial_state=states,
                              mask=mask, dtype=twin.dtype,
                              context={**twin.config, "matmul precision": precision_line})
    return check_observation(observation, tolerance)
