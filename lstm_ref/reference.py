"""The reference recurrence, in NumPy, with Keras's semantics.

For each step t (in processing order; reversed time when go_backwards):

    z   = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias       split in gate order i, f, c, o
    i   = recurrent_activation(z_i)      f = recurrent_activation(z_f)
    g   = activation(z_c)                o = recurrent_activation(z_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * activation(c_t)

with the options of LSTMWeights, where they are set (TF1's LSTMCell and ONNX's LSTM):

    z_f += forget_bias                                   (TF1, at call time)
    z_i += p_i * c_{t-1},  z_f += p_f * c_{t-1}           (peepholes)
    z_i, z_f, z_c = clip(z_*, gate_clip)                 (ONNX clip: every activation's input)
    f   = 1 - i                                 (coupled_gates="input_forget", ONNX)
    i   = 1 - f                                 (coupled_gates="cifg", TFLite / TF contrib)
    c_t = clip(c_t, cell_clip)                           (TF1 cell_clip)
    z_o += p_o * c_t;  z_o = clip(z_o, gate_clip)
    m_t = o * output_activation(clip(c_t, gate_clip))    (output_activation: ONNX's h)
    h_t = clip(m_t @ projection, proj_clip)              (TF1 num_proj, PyTorch proj_size)

With ``layer_norm`` (lstm_ref.layer_norm: TFLite, TF contrib) z has no bias; each gate's
z_k, peepholes included, is normalised over the units, scaled, and then the bias is added
(forget_bias after it); TF contrib's also normalises c_t after its clip.

Masked step (mask[b, t] False), as keras.backend.rnn does: h and c keep their previous values;
the output repeats the previous *output* (zeros before the first valid step, not h0), or is
zero when ``zero_output_for_mask``.

Non-finite values propagate as IEEE 754 says, as in the frameworks: a NaN in x at (b, t)
makes row b NaN from step t on, unless that step is masked (a masked step's new values are
discarded, as tf.where discards them).
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref import activations, layer_norm, precision
from lstm_ref.checks import as_bool, as_float_array, as_mask, check_size
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.weights import LSTMWeights

__all__ = ["DTYPES", "KEEP", "STATE_ORDERS", "FINAL_CHUNK_STEPS", "Trace", "forward", "step",
           "Cell", "keras_order"]

DTYPES = tuple(precision.FORMATS)
KEEP = ("states", "gates", "final", "preactivations")
# With keep="final" the input projection is done this many steps at a time, so memory
# stays O(batch * units) however long the sequence.
FINAL_CHUNK_STEPS = 256
# The order of an (h, c) pair: "hc" is Keras's [h, c] (and PyTorch's (h, c)), "ch" is TF1's
# LSTMStateTuple(c, h). When h and c have the same size a swapped pair has valid shapes, so
# the order is named, never guessed.
STATE_ORDERS = ("hc", "ch")


@dataclass
class Trace:
    """Everything the reference computed, in processing order.

    Attributes:
        outputs: (B, T, U), what the layer returns with return_sequences=True (None if keep="final").
        h, c: (B, T, U), the state after every step (None if keep="final").
        final_h, final_c: (B, U), the state after the last step (the layer's returned state).
        last_output: (B, U), what the layer returns with return_sequences=False.
        gates: {"i", "f", "c", "o"} -> (B, T, U) activations, only with keep="gates".
        preactivations: (B, T, 4U), z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias at
            every step (gate order i, f, c, o; before forget_bias, peepholes and clips; with
            layer_norm, without the bias, which comes after the normalisation), only with
            keep="preactivations": what the backward pass (lstm_ref.gradients) starts from.
        dtype: the name of the format the recurrence ran in ("float64", "float32", "float16"
            or "bfloat16"; bfloat16 results are float32 arrays of bfloat16 values).
    """

    outputs: np.ndarray | None
    h: np.ndarray | None
    c: np.ndarray | None
    final_h: np.ndarray
    final_c: np.ndarray
    last_output: np.ndarray
    dtype: str
    gates: dict[str, np.ndarray] | None = field(default=None)
    preactivations: np.ndarray | None = field(default=None)

    def final_state(self, state_order: str = "hc") -> tuple[np.ndarray, np.ndarray]:
        """The final state as a pair in ``state_order``: ``(final_h, final_c)`` for "hc" (what a
        Keras layer returns after its output), ``(final_c, final_h)`` for "ch" (TF1's
        LSTMStateTuple(c, h)).

        >>> import numpy as np, lstm_ref
        >>> w = lstm_ref.LSTMWeights(np.zeros((1, 8)), np.zeros((2, 8)), np.ones(8))
        >>> c, h = lstm_ref.forward(np.ones((1, 1, 1)), w).final_state("ch")
        >>> bool(c[0, 0] > h[0, 0])  # c = i * g, h = o * tanh(c): c is the larger
        True
        """
        check_state_order(state_order)
        return ((self.final_h, self.final_c) if state_order == "hc"
                else (self.final_c, self.final_h))


def forward(x: ArrayLike, weights: LSTMWeights,
            initial_state: Sequence[ArrayLike] | None = None, mask: ArrayLike | None = None,
            go_backwards: bool = False, dtype: Any = "float64", keep: str = "states",
            zero_output_for_mask: bool = False, *, state_order: str = "hc") -> Trace:
    """Run the reference LSTM over a batch-major sequence.

    Args:
        x: (batch, time, features) input.
        weights: an :class:`LSTMWeights`.
        initial_state: None (zeros) or ``[h0, c0]``, (batch, output_size) and (batch, units),
            as Keras takes it (output_size is units unless the weights have a projection); a
            ``(c0, h0)`` pair with ``state_order="ch"``.
        mask: None or (batch, time) booleans; False marks a step to skip.
        go_backwards: process the sequence from its last step to its first; every returned
            sequence is in processing order (as Keras returns it).
        dtype: "float64" (default, the reference), "float32", or "float16" / "bfloat16"
            (emulated: every operation in float32, its result rounded, see lstm_ref.precision).
        keep: "states" (outputs, h, c), "gates" (also the gate activations), "final"
            (only the last step: O(batch * units) memory) or "preactivations" (the states and
            every step's pre-activations z, for the backward pass).
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        state_order: the order of the ``initial_state`` pair: "hc" (Keras's [h, c], the
            default) or "ch" (TF1's LSTMStateTuple(c, h)); see :func:`keras_order`.
            :meth:`Trace.final_state` returns the final state in either order.

    Returns:
        A :class:`Trace`.

    Where h and c have the same size, a swapped pair cannot be told by its shapes, so the
    order is an argument, and a pair that names its fields (a namedtuple such as TF1's
    LSTMStateTuple) must agree with it:

    >>> import numpy as np, lstm_ref
    >>> w = lstm_ref.LSTMWeights(np.ones((1, 8)), np.ones((2, 8)))
    >>> h0, c0 = np.zeros((1, 2)), np.full((1, 2), 3.0)
    >>> x = np.ones((1, 1, 1))
    >>> keras = lstm_ref.forward(x, w, initial_state=[h0, c0])
    >>> tf1 = lstm_ref.forward(x, w, initial_state=(c0, h0), state_order="ch")
    >>> bool((keras.final_c == tf1.final_c).all())
    True
    """
    if not isinstance(weights, LSTMWeights):
        raise OptionError(f"weights must be an LSTMWeights; received {type(weights).__name__}")
    fmt = precision.get(dtype)
    go_backwards = as_bool(go_backwards, "go_backwards")
    zero_output_for_mask = as_bool(zero_output_for_mask, "zero_output_for_mask")
    if keep not in KEEP:
        raise OptionError(f"keep must be one of {KEEP}; received {keep!r}")
    x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)")
    batch, time, features = x.shape
    if time == 0:
        raise ShapeError(f"x must have at least one time step; received shape {x.shape}")
    if batch == 0:
        raise ShapeError(f"x must have at least one row (batch, the first axis); received "
                         f"shape {x.shape}")
    check_size("x", "features (last axis)", features, weights.features,
               "the kernel's first dimension")
    h, c = _initial_state(keras_order(initial_state, state_order), batch, weights, state_order)
    if mask is not None:
        mask = as_mask(mask, batch, time)
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        h, c = (fmt.to_format(np.asarray(a, fmt.compute)) for a in (h, c))
        return _run(x, h, c, weights, mask, fmt, keep, zero_output_for_mask)


def step(x_t: ArrayLike, h_prev: ArrayLike, c_prev: ArrayLike, weights: LSTMWeights,
         dtype: Any = "float64") -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """One cell step without masking: returns ``(h, c, gates)`` for (batch, features) x_t."""
    x_t = as_float_array(x_t, "x_t", ndim=2, axes="(batch, features)")
    trace = forward(x_t[:, None, :], weights, [h_prev, c_prev], dtype=dtype, keep="gates")
    gates = trace.gates or {}  # keep="gates": always there
    return trace.final_h, trace.final_c, {k: v[:, 0] for k, v in gates.items()}


def _run(x: np.ndarray, h: np.ndarray, c: np.ndarray, w: LSTMWeights, mask: np.ndarray | None,
         fmt: precision.Format, keep: str, zero_output_for_mask: bool) -> Trace:
    batch, time, _ = x.shape
    dt = fmt.compute
    # The weights are read-only: in a native format they are used as they are where their
    # dtype already is the format's.
    arrays = {name: None if a is None else fmt.to_format(a.astype(dt, copy=not _native(fmt)))
              for name, a in w.arrays.items()}
    cell = Cell(w, arrays, fmt)
    # With layer_norm the bias is added after the normalisation, in the cell.
    project_arrays = arrays if w.layer_norm is None else {**arrays, "bias": None}
    store = keep != "final"
    seq = {"outputs": np.empty((batch, time, w.output_size), dt),
           "h": np.empty((batch, time, w.output_size), dt),
           "c": np.empty((batch, time, w.units), dt)} if store else {}
    gates = {g: np.empty((batch, time, w.units), dt) for g in "ifco"} if keep == "gates" else None
    pre = np.empty((batch, time, 4 * w.units), dt) if keep == "preactivations" else None
    chunks = (_project(x[:, start:start + chunk], project_arrays, fmt)
              for chunk in [time if store else FINAL_CHUNK_STEPS]
              for start in range(0, time, chunk))
    if _native(fmt) and w.layer_norm is None:
        h, c, output = _run_native(chunks, h, c, cell, arrays, mask, seq, gates, pre,
                                   zero_output_for_mask)
    else:
        h, c, output = _run_rounded(chunks, h, c, cell, arrays, mask, seq, gates, pre,
                                    zero_output_for_mask)

    def stored(a: np.ndarray) -> np.ndarray:
        return a.astype(fmt.storage, copy=False)

    sequences = {name: stored(a) for name, a in seq.items()}
    return Trace(outputs=sequences.get("outputs"), h=sequences.get("h"),
                 c=sequences.get("c"), final_h=stored(h), final_c=stored(c),
                 last_output=stored(output), dtype=fmt.name,
                 gates=None if gates is None else {k: stored(v) for k, v in gates.items()},
                 preactivations=None if pre is None else stored(pre))


def _native(fmt: precision.Format) -> bool:
    """Whether ``fmt`` is NumPy's own arithmetic (float64, float32): no rounding after an
    operation and activations evaluated on the compute dtype itself, so a step may compute
    into preallocated buffers (``out=``) and skip the rounding calls."""
    return not fmt.emulated and fmt.evaluate_as is fmt.round


def _run_rounded(chunks: Iterator[np.ndarray], h: np.ndarray, c: np.ndarray, cell: "Cell",
                 arrays: dict[str, np.ndarray | None], mask: np.ndarray | None,
                 seq: dict[str, np.ndarray], gates: dict[str, np.ndarray] | None,
                 pre: np.ndarray | None,
                 zero_output_for_mask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recurrence through :meth:`Cell.__call__`, every operation's result rounded to the
    format: the emulated formats and layer_norm. Returns the final h, c and output."""
    r = cell.r
    recurrent_kernel = cast(np.ndarray, arrays["recurrent_kernel"])  # never None
    batch = h.shape[0]
    dt = recurrent_kernel.dtype
    store = bool(seq)
    output = np.zeros((batch, cell.w.output_size), dt)
    z = np.empty((batch, 4 * cell.w.units), dt)
    t = 0
    for projected in chunks:
        for xw in projected:
            # z = x_t W + b (projected) + h R: the matmul writes into z, the sum is in place.
            z = r(np.add(xw, r(np.matmul(h, recurrent_kernel, out=z)), out=z))
            h_new, c_new, step_gates = cell(z, c)
            if pre is not None:
                pre[:, t] = z
            if mask is None:
                h, c, output = h_new, c_new, h_new
            else:
                valid = mask[:, t, None]
                h = np.where(valid, h_new, h)
                c = np.where(valid, c_new, c)
                output = np.where(valid, h_new, 0.0 if zero_output_for_mask else output)
            if store:
                seq["outputs"][:, t], seq["h"][:, t], seq["c"][:, t] = output, h, c
            if gates is not None:
                for name, value in step_gates.items():
                    gates[name][:, t] = value
            t += 1
    return h, c, output


def _run_native(chunks: Iterator[np.ndarray], h: np.ndarray, c: np.ndarray, cell: "Cell",
                arrays: dict[str, np.ndarray | None], mask: np.ndarray | None,
                seq: dict[str, np.ndarray], gates: dict[str, np.ndarray] | None,
                pre: np.ndarray | None,
                zero_output_for_mask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recurrence in NumPy's own arithmetic, the same operations as
    :meth:`Cell.internals` on the same operands in the same order, computed into buffers
    allocated once (see :func:`_native_step`). Returns the final h, c and output.

    The first step multiplies the initial h as it was given (a product's summation order
    can depend on its operand's memory layout); every later h is a C-contiguous buffer,
    as the freshly allocated h of a step-by-step computation is."""
    w = cell.w
    batch, dt = h.shape[0], c.dtype
    store = bool(seq)
    step = _native_step(cell, arrays, batch, dt)
    # Stored (``store``) only where the caller asked for sequences: then all three are there.
    seq_out, seq_h, seq_c = (seq[k] if store else np.empty(0) for k in ("outputs", "h", "c"))
    gate_seqs = None if gates is None else [gates[k] for k in "ifco"]
    # h and c buffers: a step reads the previous state and writes the new one; unmasked,
    # the new state may overwrite the old in place (h is read only by the first product,
    # c only before its new value is written); masked, the previous state is still needed
    # where the step is masked, so two buffers alternate. The initial state is never
    # written (it may be the caller's array).
    h_next = np.empty((batch, w.output_size), dt)
    c_next = np.empty((batch, w.units), dt)
    if mask is None:
        c = np.array(c, dt, order="C")
        t = 0
        for projected in chunks:
            for xw in projected:
                step(h, c, xw, h_next, c, None if pre is None else pre[:, t],
                     None if gate_seqs is None else [g[:, t] for g in gate_seqs])
                h = h_next
                if store:
                    seq_h[:, t] = h
                    seq_c[:, t] = c
                t += 1
        if store:
            np.copyto(seq_out, seq_h)
        return h, c, h
    # Keras's masked step: h and c keep their previous values where mask[b, t] is False;
    # the output repeats the previous output there (or is zero).
    valid = np.ascontiguousarray(mask.T)[:, :, None]  # (T, B, 1): valid[t] contiguous
    invalid = ~valid
    every: list[bool] = np.all(valid, axis=(1, 2)).tolist()
    none: list[bool] = (~np.any(valid, axis=(1, 2))).tolist()
    # A step masked in every row changes nothing but the output: it is skipped unless its
    # gates or pre-activations are kept.
    skip = gates is None and pre is None
    h_initial, c_initial = h, c
    h_spare = np.empty_like(h_next)
    c_spare = np.empty_like(c_next)
    output = np.zeros((batch, w.output_size), dt)
    t = 0
    for projected in chunks:
        for xw in projected:
            if not (skip and none[t]):
                step(h, c, xw, h_next, c_next, None if pre is None else pre[:, t],
                     None if gate_seqs is None else [g[:, t] for g in gate_seqs])
                if every[t]:
                    np.copyto(output, h_next)
                else:
                    if zero_output_for_mask:
                        np.copyto(output, h_next)
                        np.copyto(output, 0.0, where=invalid[t])
                    else:
                        np.copyto(output, h_next, where=valid[t])
                    np.copyto(h_next, h, where=invalid[t])
                    np.copyto(c_next, c, where=invalid[t])
                # The new state becomes the current one; the previous state's buffer (never
                # the initial state) is the next step's to write.
                h, h_next = h_next, (h_spare if h is h_initial else h)
                c, c_next = c_next, (c_spare if c is c_initial else c)
            elif zero_output_for_mask:
                output.fill(0.0)
            if store:
                seq_out[:, t] = output
                seq_h[:, t] = h
                seq_c[:, t] = c
            t += 1
    return h, c, output


# Activations whose every element depends on that element alone, by function: one call may
# cover several gates' pre-activations at once (softmax-like ones work on a row's units, so
# they are called on one gate's (batch, units) block, and a custom callable is too).
_ELEMENTWISE_FUSABLE = (activations.sigmoid, activations.tanh)
# The largest batch * units at which the recurrent activation is applied to all four gate
# blocks at once (see _native_step): measured break-even of three calls' overhead against a
# block's work, about 3,000 elements on a 2-core AVX-512 Xeon.
_FUSE_ALL_GATES = 2048


def _into(fn: Callable[[np.ndarray], np.ndarray],
          dt: np.dtype) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``apply(z, out)``: ``fn(z)`` as Format.activate computes it in a native format (the
    function's result as an array of ``dt``), in ``out`` where it can be computed there
    (sigmoid and tanh), else a new array (returned either way)."""
    if fn is activations.sigmoid and dt.itemsize >= 4:
        one = dt.type(1)

        def sigmoid(z: np.ndarray, out: np.ndarray) -> np.ndarray:
            # activations.sigmoid's operations, in the same order, in ``out``.
            np.negative(z, out=out)
            np.exp(out, out=out)
            np.add(out, one, out=out)
            return np.reciprocal(out, out=out)
        return sigmoid
    if fn is activations.tanh:
        return lambda z, out: np.tanh(z, out=out)
    return lambda z, out: np.asarray(fn(z), dt)


def _native_step(cell: "Cell", arrays: dict[str, np.ndarray | None], batch: int,
                 dt: np.dtype) -> Callable[..., None]:
    """One step of :meth:`Cell.internals` (without layer_norm) in a native format, as a
    function ``step(h, c, xw, h_new, c_new, pre_t, gates_t)``: from the previous h and c
    and this step's x_t W + b (``xw``, (batch, 4 * units)), it writes the new h and c into
    ``h_new`` and ``c_new`` (``c_new`` may be ``c`` itself), z into ``pre_t`` and the gates
    i, f, g, o into the four arrays of ``gates_t`` (where those are not None).

    Every result is the one Cell.internals computes, bit for bit: the same operations, with
    operands in the same order (a NaN's payload comes from the first operand); an
    elementwise operation's result does not depend on how its operands are laid out.

    After the sum x_t W + b + h R, z is copied gate-major, (4, batch, units), so every
    later operation runs over contiguous memory: on a (batch, units) block of a
    (batch, 4 * units) row-major z NumPy loops row by row, up to twice as slow, and that
    copy costs about what one such operation loses."""
    w = cell.w
    units = w.units
    recurrent_kernel = cast(np.ndarray, arrays["recurrent_kernel"])
    hr = np.empty((batch, 4 * units), dt)  # h R, as the product writes it, then z
    hr_by_gate = hr.reshape(batch, 4, units).transpose(1, 0, 2)
    z = np.empty((4, batch, units), dt)
    z_i, z_f, z_c, z_o = z
    z_ifc = z[:3]
    ract, act, oact = (a.fn for a in (w.recurrent_activation, w.activation,
                                      w.output_activation))
    apply_r, apply_g, apply_h = (_into(fn, dt) for fn in (ract, act, oact))
    peephole, projection = cell.peephole, cell.projection
    forget_bias = cell.forget_bias
    clip, cell_clip, proj_clip = w.gate_clip, w.cell_clip, w.proj_clip
    coupled = w.coupled_gates
    # An elementwise recurrent activation may cover several gates in one call: i and f are
    # adjacent in z; where o's pre-activation is final before c_t is (no peepholes), one call
    # over all four blocks (its value on the c block, and on a coupled pair's unused gate,
    # is not used) saves the calls' overhead where that outweighs the c block's work
    # (small batch * units).
    fusable = ract in _ELEMENTWISE_FUSABLE
    fused = fusable and peephole is None and batch * units <= _FUSE_ALL_GATES
    fused_pair = fusable and not fused and coupled is None
    # sigmoid and tanh are computed in place, in z (which nothing reads after); a fused call
    # overwrites the c block, so g is computed first, in its own buffer.
    g_out = np.empty((batch, units), dt) if fused else z_c
    tmp = np.empty((batch, units), dt)
    coupled_out = None if coupled is None else np.empty((batch, units), dt)
    c_clipped = None if clip is None else np.empty((batch, units), dt)
    m = None if projection is None else np.empty((batch, units), dt)
    one = dt.type(1)

    def step(h: np.ndarray, c: np.ndarray, xw: np.ndarray, h_new: np.ndarray,
             c_new: np.ndarray, pre_t: np.ndarray | None,
             gates_t: list[np.ndarray] | None) -> None:
        np.matmul(h, recurrent_kernel, out=hr)
        np.add(xw, hr, out=hr)
        if pre_t is not None:
            pre_t[...] = hr
        np.copyto(z, hr_by_gate)
        if forget_bias is not None:
            np.add(z_f, forget_bias, out=z_f)
        if peephole is not None:
            p_i, p_f, _ = peephole
            np.multiply(p_i, c, out=tmp)
            np.add(z_i, tmp, out=z_i)
            np.multiply(p_f, c, out=tmp)
            np.add(z_f, tmp, out=z_f)
        if clip is not None:
            np.clip(z if peephole is None else z_ifc, -clip, clip,
                    out=z if peephole is None else z_ifc)
        g = apply_g(z_c, g_out)
        if fused:
            if g is not g_out:  # an activation's result may be its input (linear): kept
                np.copyto(g_out, g)
                g = g_out
            apply_r(z, z)
            i, f, o = z_i, z_f, z_o
        elif fused_pair:
            apply_r(z[:2], z[:2])
            i, f = z_i, z_f
        elif coupled == "cifg":
            f = apply_r(z_f, z_f)
        else:
            i = apply_r(z_i, z_i)
            if coupled is None:
                f = apply_r(z_f, z_f)
        if coupled == "cifg":
            i = np.subtract(one, f, out=coupled_out)
        elif coupled == "input_forget":
            f = np.subtract(one, i, out=coupled_out)
        np.multiply(f, c, out=c_new)
        np.multiply(i, g, out=tmp)
        np.add(c_new, tmp, out=c_new)
        if cell_clip is not None:
            np.clip(c_new, -cell_clip, cell_clip, out=c_new)
        if not fused:
            if peephole is not None:
                np.multiply(peephole[2], c_new, out=tmp)
                np.add(z_o, tmp, out=z_o)
                if clip is not None:
                    np.clip(z_o, -clip, clip, out=z_o)
            o = apply_r(z_o, z_o)
        c_out = c_new if clip is None else np.clip(c_new, -clip, clip, out=c_clipped)
        m_out = h_new if m is None else m  # m exists where there is a projection
        np.multiply(o, apply_h(c_out, tmp), out=m_out)
        if projection is not None:
            np.matmul(m_out, projection, out=h_new)
            if proj_clip is not None:
                np.clip(h_new, -proj_clip, proj_clip, out=h_new)
        if gates_t is not None:
            for stored, value in zip(gates_t, (i, f, g, o)):
                stored[...] = value

    return step


def _project(x: np.ndarray, arrays: dict[str, np.ndarray | None],
             fmt: precision.Format) -> np.ndarray:
    """x_t @ kernel + bias for every step of ``x`` (batch, steps, features) as one matmul,
    time-major: (steps, batch, 4U), each step's block contiguous. x is converted to the
    format here, a chunk at a time, so keep="final" holds O(batch * units) whatever T."""
    batch, steps, features = x.shape
    time_major = np.empty((steps, batch, features), fmt.compute)  # converted in one copy
    np.copyto(time_major, x.transpose(1, 0, 2))
    x = fmt.to_format(time_major.reshape(steps * batch, features))
    projected = fmt.round(x @ arrays["kernel"])
    if arrays["bias"] is not None:
        projected = fmt.round(np.add(projected, arrays["bias"], out=projected))
    return projected.reshape(steps, batch, -1)


class Cell:
    """One step from the pre-activations z = x_t W + h_{t-1} R + b: the module docstring's
    equations, each operation rounded to the format (``r``)."""

    def __init__(self, w: LSTMWeights, arrays: dict[str, np.ndarray | None],
                 fmt: precision.Format) -> None:
        self.w, self.fmt, self.r = w, fmt, fmt.round
        self.peephole = arrays["peephole"]
        self.projection = arrays["projection"]
        self.forget_bias = None if not w.forget_bias else fmt.to_format(
            np.asarray(w.forget_bias, fmt.compute))
        self.norm = None if w.layer_norm is None else layer_norm.Applied(
            w.layer_norm, arrays["bias"], fmt.to_format, fmt.compute, fmt.round)

    def __call__(self, z: np.ndarray,
                 c: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        parts = self.internals(z, c)
        return parts["h"], parts["c_new"], {"i": parts["i"], "f": parts["f"],
                                            "c": parts["g"], "o": parts["o"]}

    def internals(self, z: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
        """Every intermediate of one step, by name: the clipped pre-activations z_i, z_f, z_c,
        z_o (zo_raw before its clip), the gates i, f, g, o, c_raw (before cell_clip), c_new,
        c_out (c_new as fed to the output activation), m = o * output_activation(c_out), h_raw
        (m @ projection, before proj_clip) and h. lstm_ref.gradients differentiates these."""
        w, r, units = self.w, self.r, self.w.units
        z_i, z_f, z_c, z_o = (z[:, k * units:(k + 1) * units] for k in range(4))
        norm = self.norm
        if self.forget_bias is not None and norm is None:
            z_f = r(z_f + self.forget_bias)
        if self.peephole is not None:
            z_i = r(z_i + r(self.peephole[0] * c))
            z_f = r(z_f + r(self.peephole[1] * c))
        if norm is not None:  # the bias, then forget_bias, after the normalisation
            z_i, z_f, z_c = (norm.gate(v, k) for k, v in enumerate((z_i, z_f, z_c)))
            if self.forget_bias is not None:
                z_f = r(z_f + self.forget_bias)
        p = {"zi_raw": z_i, "zf_raw": z_f, "zc_raw": z_c}
        z_i, z_f, z_c = (self.gate_clip(v) for v in (z_i, z_f, z_c))
        # A coupled pair computes one gate and takes the other as 1 - it (the other's
        # pre-activation is unused).
        if w.coupled_gates == "cifg":
            f = self.fmt.activate(w.recurrent_activation, z_f)
            i = r(1 - f)
        else:
            i = self.fmt.activate(w.recurrent_activation, z_i)
            f = r(1 - i) if w.input_forget else self.fmt.activate(w.recurrent_activation, z_f)
        g = self.fmt.activate(w.activation, z_c)
        c_raw = c_new = r(r(f * c) + r(i * g))
        if w.cell_clip is not None:
            c_new = np.clip(c_new, -w.cell_clip, w.cell_clip)
        if norm is not None:
            c_new = norm.cell(c_new)
        if self.peephole is not None:
            z_o = r(z_o + r(self.peephole[2] * c_new))
        if norm is not None:
            z_o = norm.gate(z_o, 3)
        p.update(z_i=z_i, z_f=z_f, z_c=z_c, zo_raw=z_o, z_o=self.gate_clip(z_o), i=i, f=f, g=g,
                 c_raw=c_raw, c_new=c_new, c_out=self.gate_clip(c_new))
        p["o"] = o = self.fmt.activate(w.recurrent_activation, p["z_o"])
        p["m"] = h_new = r(o * self.fmt.activate(w.output_activation, p["c_out"]))
        if self.projection is not None:
            h_new = r(h_new @ self.projection)
            p["h_raw"] = h_new
            if w.proj_clip is not None:
                h_new = np.clip(h_new, -w.proj_clip, w.proj_clip)
        p["h"] = h_new
        return p

    def gate_clip(self, value: np.ndarray) -> np.ndarray:
        limit = self.w.gate_clip
        return value if limit is None else np.clip(value, -limit, limit)


def check_state_order(state_order: Any) -> str:
    """``state_order`` itself, or an OptionError naming what it may be."""
    if not isinstance(state_order, str) or state_order not in STATE_ORDERS:
        raise OptionError(f"state_order must be 'hc' (Keras's [h, c]) or 'ch' (TF1's "
                          f"LSTMStateTuple(c, h)); received {state_order!r}")
    return state_order


def keras_order(state: Sequence[ArrayLike] | None,
                state_order: str = "hc") -> Sequence[ArrayLike] | None:
    """A state pair given in ``state_order`` ("hc" or "ch") as ``[h, c]`` (None stays None).

    A pair whose fields are named h and c (a namedtuple: TF1's LSTMStateTuple has fields
    ``("c", "h")``) must be in the order it is said to be in: an OptionError otherwise, since
    where h and c have the same size nothing else would show the swap. Other pairs are taken
    in ``state_order``; their sizes are checked where they are used.
    """
    check_state_order(state_order)
    if state is None:
        return None
    fields = getattr(state, "_fields", None)
    if isinstance(fields, tuple) and sorted(fields) == ["c", "h"] and (
            "".join(fields) != state_order):
        raise OptionError(
            f"the state is a {type(state).__name__}{fields}, {fields[0]} first, but "
            f"state_order={state_order!r} reads {state_order[0]} first: pass "
            f"state_order={''.join(fields)!r}")
    if state_order == "ch" and isinstance(state, (list, tuple)) and len(state) == 2:
        return [state[1], state[0]]
    return state


def _initial_state(initial_state: Sequence[ArrayLike] | None, batch: int,
                   weights: LSTMWeights, state_order: str = "hc") -> list[np.ndarray]:
    """[h0, c0] checked, from the state already in Keras's order (errors name the index the
    caller used, in ``state_order``)."""
    h_at, c_at = (0, 1) if state_order == "hc" else (1, 0)
    sizes = {f"initial_state[{h_at}] (h0)": weights.output_size,
             f"initial_state[{c_at}] (c0)": weights.units}
    if initial_state is None:
        return [np.zeros((batch, size)) for size in sizes.values()]
    if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
        pair = "a list [h0, c0]" if state_order == "hc" else "a pair (c0, h0) (state_order='ch')"
        raise ShapeError(f"initial_state must be {pair} of two (batch, units) arrays; "
                         f"received {type(initial_state).__name__} of length "
                         f"{len(initial_state) if hasattr(initial_state, '__len__') else '?'}")
    states = []
    for (name, size), value in zip(sizes.items(), initial_state):
        array = as_float_array(value, name, ndim=2, axes="(batch, units)")
        check_size(name, "shape", array.shape, (batch, size),
                   "(batch, units) from x and the weights" if size == weights.units else
                   "(batch, output_size) from x and the weights' projection")
        states.append(array)
    return states
