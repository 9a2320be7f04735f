"""The reference backward pass: backpropagation through time, in NumPy.

For a scalar loss L whose upstream gradients are given (d_outputs = dL/d outputs, d_final_h,
d_final_c), :func:`gradients` returns dL/d of every input: x, h0, c0 and every weight. It
reuses the forward pass: lstm_ref.forward(keep="preactivations") stores z_t = x_t W + h_{t-1}
R + b at every step, and each step's intermediates are re-derived from z_t and c_{t-1} by the
very code that computed them (reference.Cell.internals), so the forward math has one source.

One step backwards, given dh = dL/dh_t and dc = dL/dc_t (what the step returned; notation of
lstm_ref.reference, ``*`` elementwise, ' a derivative, 1[.] the clip's pass-through mask):

    h_t = clip(m @ P)            dm  = (dh * 1[h_raw]) @ P^T,     dP += m^T (dh * 1[h_raw])
    m   = o * a(c_out)           do  = dm * a(c_out),              dc += a'(c_out) dm o 1[c_t]
    o   = s(clip(z_o))           dz_o = s'(z_o) do 1[zo_raw]
    z_o += p_o * c_t             dp_o += sum_b dz_o c_t,           dc += dz_o p_o
    c_t = clip(c_raw)            dc_raw = dc * 1[c_raw]
    c_raw = f c_{t-1} + i g      df = dc_raw c_{t-1},  di = dc_raw g,  dg = dc_raw i,
                                 dc_{t-1} = dc_raw f
    f = 1 - i (input_forget)     di -= df, dz_f = 0
    i = 1 - f (cifg)             df -= di, dz_i = 0
    i, f, g = s(z_i), s(z_f), a(z_c)   dz_* = vjp of each, times 1[z*_raw]
    z_i += p_i c_{t-1} ...       dp_i += sum_b dz_i c_{t-1},  dc_{t-1} += dz_i p_i + dz_f p_f
    z = x W + h_{t-1} R + b      dh_{t-1} = dz R^T;  dW = sum_t x_t^T dz_t, dR, db, dx_t = dz W^T

A clip passes the gradient where the value lies within [-limit, limit], bounds included, as
TensorFlow's clip_by_value gradient does. Masked steps, as the forward: a masked step's new
values are discarded, so their gradient is zero and dh, dc flow past the step unchanged; its
output repeats the previous output, so that output's gradient flows on to the step whose
output it repeats (or nowhere, with zero_output_for_mask, and before the first valid step,
where the output is a constant zero).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref import activation_grads, precision
from lstm_ref.checks import as_bool, as_float_array
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.reference import Cell, Trace, forward, keras_order
from lstm_ref.weights import LSTMWeights

__all__ = ["DTYPES", "PARAMETERS", "Gradients", "gradients", "backward", "step_backward",
           "jump_arguments"]

# float64-perturbed and float32-ftz: the tolerance probes' formats (lstm_ref.precision), not
# dtypes a framework computes in.
DTYPES = ("float64", "float32", "float64-perturbed", "float32-ftz")
# The weights' gradient names, in LSTMWeights.arrays order.
PARAMETERS = ("kernel", "recurrent_kernel", "bias", "peephole", "projection")


@dataclass
class Gradients:
    """dL/d of everything the loss depends on, for upstream gradients given.

    Attributes:
        x: (B, T, F), in the time order x was given (also with go_backwards).
        h0, c0: (B, output_size), (B, units): the initial state's gradients.
        kernel, recurrent_kernel, bias, peephole, projection: the weights' gradients, shaped
            as the weights (None where the weights have none).
        dh, dc: (B, T, output_size), (B, T, units): dL/dh_t and dL/dc_t, the gradient with
            respect to what step t computed (in processing order, as Trace.h), every path to
            L included (c_t's through h_t too); zero at masked steps, whose values are
            discarded.
        dz: (B, T, 4U): dL/dz_t of the pre-activations (gate order i, f, c, o).
        dtype: the format the backward pass ran in.
        reach: for each gradient that accumulates over steps (h0, c0 and the weights), how
            much a unit error in every dz_t (or dh_t, for the projection) moves each of its
            rows: the sum over batch and steps of |the factor dz_t is multiplied by| (|x_t|
            for the kernel, |h_{t-1}| for the recurrent kernel...), shaped to broadcast
            against the gradient. lstm_ref.gradient_check bounds rounding with it.
        forward: the forward Trace the backward pass ran over (keep="preactivations").
        jumps: the arguments of the activations whose derivative jumps somewhere
            (lstm_ref.activation_grads.JUMPS), each (B, T, n) in processing order with its
            points and resolution: :func:`jump_arguments`.
    """

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None
    peephole: np.ndarray | None
    projection: np.ndarray | None
    dh: np.ndarray
    dc: np.ndarray
    dz: np.ndarray
    dtype: str
    reach: dict[str, np.ndarray] | None = None
    forward: Trace | None = None
    jumps: list[tuple[np.ndarray, tuple[float, ...], float]] | None = None

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """The weights' gradients by name, only those the weights have."""
        return {name: getattr(self, name) for name in PARAMETERS
                if getattr(self, name) is not None}


def gradients(x: ArrayLike, weights: LSTMWeights, d_outputs: ArrayLike | None = None,
              d_final_h: ArrayLike | None = None, d_final_c: ArrayLike | None = None,
              initial_state: Sequence[ArrayLike] | None = None, mask: ArrayLike | None = None,
              go_backwards: bool = False, zero_output_for_mask: bool = False,
              dtype: str = "float64", groups: int = 1, *,
              state_order: str = "hc") -> Gradients:
    """Backpropagation through time: the gradient of L = <d_outputs, outputs> + <d_final_h,
    h_T> + <d_final_c, c_T> with respect to x, the initial state and every weight.

    Args:
        x: (B, T, F), as in :func:`lstm_ref.forward`.
        weights: an LSTMWeights.
        initial_state: None or [h0, c0], as in :func:`lstm_ref.forward` (or (c0, h0) with
            ``state_order="ch"``; Gradients.h0 and .c0 are named, whatever the order).
        mask: None or (B, T) booleans, as in :func:`lstm_ref.forward`.
        d_outputs: dL/d outputs: (B, T, output_size) for every step's output in processing
            order (Trace.outputs, return_sequences=True), or (B, output_size) for the last
            output only (Trace.last_output, return_sequences=False); None for zeros.
        d_final_h: dL/d of the returned h, (B, output_size), or None.
        d_final_c: dL/d of the returned c, (B, units), or None.
        go_backwards: as in :func:`lstm_ref.forward`.
        zero_output_for_mask: as in :func:`lstm_ref.forward`.
        dtype: "float64" (the reference) or "float32" (every operation in float32, as a
            framework's backward pass computes: what tolerances are measured with), or
            "float64-perturbed" (the float64 probes: the forward's every operation and each
            step's dz, dh and dc rounded by one ulp at random, lstm_ref.precision).
        groups: split the batch into this many equal blocks and return each block's weight
            gradients separately, stacked on a new first axis (the tolerance probes, run as
            one stacked batch, need one weight gradient per probe).
        state_order: "hc" or "ch", the order of ``initial_state``, as in
            :func:`lstm_ref.forward`.

    Returns:
        A :class:`Gradients`.
    """
    if dtype not in DTYPES:
        raise OptionError(f"dtype must be one of {DTYPES} for gradients; received {dtype!r}")
    if getattr(weights, "layer_norm", None) is not None:
        raise OptionError("gradients has no backward pass for layer_norm (lstm_ref.layer_norm: "
                          "forward only); received weights with a LayerNorm")
    go_backwards = as_bool(go_backwards, "go_backwards")  # used here too, before forward's check
    trace = forward(x, weights, initial_state=initial_state, mask=mask, go_backwards=go_backwards,
                    dtype=dtype, keep="preactivations", zero_output_for_mask=zero_output_for_mask,
                    state_order=state_order)
    x = as_float_array(x, "x", ndim=3)
    batch, time, _ = x.shape
    if (isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1
            or batch % groups):
        raise OptionError(f"groups must be a positive integer dividing the batch ({batch}); "
                          f"received {groups!r}")
    fmt = precision.get(dtype)
    upstream = _upstream_arrays(d_outputs, d_final_h, d_final_c, batch, time, weights, fmt.compute)
    state = _initial_arrays(keras_order(initial_state, state_order), batch, weights, fmt.compute)
    if mask is not None:
        mask = np.asarray(mask, bool)[:, ::-1] if go_backwards else np.asarray(mask, bool)
    xs = np.asarray(x[:, ::-1] if go_backwards else x, fmt.compute)
    result = backward(xs, weights, trace, state, mask, upstream, zero_output_for_mask, fmt,
                      groups)
    result.forward = trace
    if go_backwards:  # x's gradient back in x's own time order
        result.x = result.x[:, ::-1]
    return result


def backward(xs: np.ndarray, weights: LSTMWeights, trace: Trace,
             state: Sequence[np.ndarray], mask: np.ndarray | None,
             upstream: tuple[np.ndarray, np.ndarray, np.ndarray], zero_output_for_mask: bool,
             fmt: precision.Format, groups: int = 1) -> Gradients:
    """The backward pass over a forward Trace (keep="preactivations"), in processing order
    (see :func:`gradients`, which prepares its arguments). Returns a :class:`Gradients`."""
    w, dt = weights, fmt.compute
    arrays = {name: None if a is None else a.astype(dt) for name, a in w.arrays.items()}
    kernel, recurrent_kernel = (cast(np.ndarray, arrays[name])  # never None
                                for name in ("kernel", "recurrent_kernel"))
    # keep="preactivations" stores all three
    h_seq, c_seq, pre = (cast(np.ndarray, a) for a in (trace.h, trace.c, trace.preactivations))
    cell = Cell(w, arrays, fmt)
    batch, time, _ = xs.shape
    d_out, dh_state, dc_state = upstream
    h_prev = np.concatenate([state[0][:, None], h_seq[:, :-1].astype(dt)], axis=1)
    c_prev = np.concatenate([state[1][:, None], c_seq[:, :-1].astype(dt)], axis=1)
    dh_all = np.zeros((batch, time, w.output_size), dt)
    dc_all = np.zeros((batch, time, w.units), dt)
    dz_all = np.zeros((batch, time, 4 * w.units), dt)
    extra = {"peephole": None if w.peephole is None else np.zeros((groups, 3, w.units), dt),
             "projection": None if w.projection is None else np.zeros((groups,) + w.projection.shape, dt)}
    m_total = np.zeros(w.units, dt)
    carry = np.zeros_like(dh_state)  # the gradient of an output that repeats an earlier one
    for t in range(time - 1, -1, -1):
        g_out = d_out[:, t] if mask is None else d_out[:, t] + carry  # no carry unmasked
        dh_new, dc_new = dh_state + g_out, dc_state
        if mask is not None:
            valid = mask[:, t, None]
            carry = np.where(valid, 0.0, 0.0 if zero_output_for_mask else g_out).astype(dt)
            dh_new, dc_new = np.where(valid, dh_new, 0.0), np.where(valid, dc_new, 0.0)
            dh_pass, dc_pass = np.where(valid, 0.0, dh_state), np.where(valid, 0.0, dc_state)
        parts = cell.internals(pre[:, t].astype(dt, copy=False), c_prev[:, t])
        if w.projection is not None:  # what multiplies dh_t in dP (Gradients.reach)
            m_total = m_total + np.abs(parts["m"]).sum(axis=0)
        dz = dz_all[:, t]  # step_backward writes dL/dz_t here
        dc_back, dc_total = step_backward(cell, parts, c_prev[:, t], dh_new, dc_new, extra,
                                           groups, dz)
        if fmt.emulated:  # a step's results rounded (the forward rounds every operation)
            dz[...] = fmt.round(dz)
            dc_back, dc_total = fmt.round(dc_back), fmt.round(dc_total)
        dh_all[:, t], dc_all[:, t] = dh_new, dc_total
        dh_state = fmt.round(dz @ recurrent_kernel.T)
        dc_state = dc_back
        if mask is not None:
            dh_state, dc_state = dh_state + dh_pass, dc_state + dc_pass
    xs = xs.astype(dt, copy=False)
    dx = dz_all @ kernel.T
    grouped = lambda a: a.reshape(groups, batch // groups * time, a.shape[-1])  # noqa: E731
    params = {
        # batched matmuls (BLAS), not einsum: these are the backward pass's largest products
        "kernel": np.matmul(grouped(xs).transpose(0, 2, 1), grouped(dz_all)),
        "recurrent_kernel": np.matmul(grouped(h_prev).transpose(0, 2, 1), grouped(dz_all)),
        "bias": grouped(dz_all).sum(axis=1) if w.use_bias else None, **extra}
    if groups == 1:
        params = {k: None if v is None else v[0] for k, v in params.items()}
    reach = _reach(w, arrays, xs, h_prev, c_prev, trace, batch * time, m_total)
    return Gradients(x=dx, h0=dh_state, c0=dc_state, dh=dh_all, dc=dc_all, dz=dz_all, reach=reach,
                     dtype=fmt.name, jumps=jump_arguments(w, trace), **params)


def jump_arguments(weights: LSTMWeights,
                   trace: Trace) -> list[tuple[np.ndarray, tuple[float, ...], float]]:
    """The arguments of a cell's activations whose derivative jumps (relu's 0, hard_sigmoid's
    +-3...), with their points and resolution (lstm_ref.activation_grads.JUMPS,
    JUMP_RESOLUTION): the gates' pre-activations (i, f, o for the recurrent activation, g for
    the activation) and c_t for the output activation, each (B, T, n) in processing order. A
    cell with peepholes or clipped gates is left out (its pre-activations are not the
    activations' arguments): an empty list."""
    w = weights
    if w.peephole is not None or w.gate_clip is not None or trace.preactivations is None:
        return []
    units = w.units
    z = trace.preactivations
    found = []

    def add(values: np.ndarray, activation: Any) -> None:
        points = activation_grads.JUMPS.get(activation.name)
        if points:
            found.append((values, points,
                          activation_grads.JUMP_RESOLUTION.get(activation.name, 0.0)))

    # f's argument carries forget_bias (added at call time); a gate computed as one minus the
    # other (coupled_gates) has no argument of its own.
    i = [] if w.coupled_gates == "cifg" else [z[..., :units]]
    f = [] if w.coupled_gates == "input_forget" else [z[..., units:2 * units] + w.forget_bias]
    add(np.concatenate([*i, *f, z[..., 3 * units:]], axis=-1), w.recurrent_activation)
    add(z[..., 2 * units:3 * units], w.activation)
    if trace.c is not None:
        add(trace.c, w.output_activation)
    return found


def step_backward(cell: Cell, p: dict[str, np.ndarray], c_prev: np.ndarray, dh: np.ndarray,
                   dc: np.ndarray, extra: dict[str, Any], groups: int,
                   dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dc_{t-1}, dL/dc_t) of one step, from dL/dh_t and the gradient reaching c_t from
    later steps (module docstring), dL/dz_t written into ``dz`` (B, 4U); dL/dc_t adds what
    reaches c_t through this step's h_t and o_t. Accumulates the peephole and projection
    gradients into ``extra``."""
    w = cell.w
    # The probes (any format but the reference's) differentiate tanh and sigmoid as
    # frameworks do, from the output (activation_grads.AS_COMPUTED).
    computed = cell.fmt.name != "float64"
    vjp = lambda act, z, dy: activation_grads.vjp(act, z, dy, as_computed=computed)  # noqa: E731
    group_sum = lambda a: a.reshape(groups, -1, a.shape[-1]).sum(axis=1)  # noqa: E731
    if cell.projection is not None:
        if w.proj_clip is not None:
            dh = dh * _passes(p["h_raw"], w.proj_clip)
        m = p["m"]
        extra["projection"] += np.einsum("gbu,gbp->gup", m.reshape(groups, -1, m.shape[-1]),
                                         dh.reshape(groups, -1, dh.shape[-1]))
        dm = dh @ cell.projection.T
    else:
        dm = dh
    a_out = w.output_activation(p["c_out"])
    do = dm * a_out
    dc_out = vjp(w.output_activation, p["c_out"], dm * p["o"])
    if w.gate_clip is not None:
        dc_out = dc_out * _passes(p["c_new"], w.gate_clip)
    dc = dc + dc_out
    dz_o = vjp(w.recurrent_activation, p["z_o"], do)
    dz_o = _clip_back(dz_o, p["zo_raw"], w.gate_clip)
    if cell.peephole is not None:
        extra["peephole"][:, 2] += group_sum(dz_o * p["c_new"])
        dc = dc + dz_o * cell.peephole[2]
    dc_total = dc
    if w.cell_clip is not None:
        dc = dc * _passes(p["c_raw"], w.cell_clip)
    df, di, dg = dc * c_prev, dc * p["g"], dc * p["i"]
    dc_prev = dc * p["f"]
    # A coupled gate's gradient goes to the gate it is computed from; its own
    # pre-activation (unused by the forward) gets none.
    if w.coupled_gates == "input_forget":
        di, dz_f = di - df, np.zeros_like(df)
    else:
        if w.coupled_gates == "cifg":
            df = df - di
        dz_f = _clip_back(vjp(w.recurrent_activation, p["z_f"], df),
                          p["zf_raw"], w.gate_clip)
    dz_i = (np.zeros_like(di) if w.coupled_gates == "cifg" else
            _clip_back(vjp(w.recurrent_activation, p["z_i"], di), p["zi_raw"], w.gate_clip))
    dz_c = _clip_back(vjp(w.activation, p["z_c"], dg), p["zc_raw"], w.gate_clip)
    if cell.peephole is not None:
        extra["peephole"][:, 0] += group_sum(dz_i * c_prev)
        extra["peephole"][:, 1] += group_sum(dz_f * c_prev)
        dc_prev = dc_prev + dz_i * cell.peephole[0] + dz_f * cell.peephole[1]
    units = w.units
    for k, part in enumerate((dz_i, dz_f, dz_c, dz_o)):
        dz[:, k * units:(k + 1) * units] = part
    return dc_prev, dc_total


def _reach(w: LSTMWeights, arrays: dict[str, Any], xs: np.ndarray, h_prev: np.ndarray,
           c_prev: np.ndarray, trace: Trace, count: int,
           m_total: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients.reach: per accumulated gradient, the sum of |what multiplies dz_t| (rows)."""
    total = lambda a: np.abs(a).sum(axis=(0, 1))  # noqa: E731 - over batch and steps
    reach = {"kernel": total(xs)[:, None], "recurrent_kernel": total(h_prev)[:, None],
             "bias": np.array(float(count)),
             "h0": np.abs(arrays["recurrent_kernel"]).sum(axis=1)[None, :],
             "c0": np.ones((1, w.units))}
    if w.peephole is not None:
        reach["peephole"] = np.stack([total(c_prev), total(c_prev), total(trace.c)])
        reach["c0"] = reach["c0"] + np.abs(w.peephole[:2]).sum(axis=0)
    if w.projection is not None:  # dP = sum over steps of m_t^T dh_t
        reach["projection"] = m_total[:, None]
    return reach


def _passes(value: np.ndarray, limit: float) -> np.ndarray:
    """Where clip(value, -limit, limit) passes its gradient (bounds included, as TensorFlow)."""
    return (value >= -limit) & (value <= limit)


def _clip_back(grad: np.ndarray, raw: np.ndarray, limit: float | None) -> np.ndarray:
    return grad if limit is None else grad * _passes(raw, limit)


def _upstream_arrays(d_outputs: ArrayLike | None, d_final_h: ArrayLike | None,
                     d_final_c: ArrayLike | None, batch: int, time: int, w: LSTMWeights,
                     dt: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d_out (B, T, P), dh_T (B, P), dc_T (B, U)) in dtype ``dt`` from gradients()'s
    arguments, or a clear error naming the one that does not fit."""
    d_out = np.zeros((batch, time, w.output_size), dt)
    if d_outputs is not None:
        array = as_float_array(d_outputs, "d_outputs")
        if array.shape == (batch, time, w.output_size):
            d_out[:] = array
        elif array.shape == (batch, w.output_size):
            d_out[:, -1] = array
        else:
            raise ShapeError(f"d_outputs must have shape (batch, time, output_size) = "
                             f"{(batch, time, w.output_size)} (every output) or (batch, "
                             f"output_size) = {(batch, w.output_size)} (the last output); "
                             f"received shape {array.shape}")
    finals = []
    for name, value, size in (("d_final_h", d_final_h, w.output_size),
                              ("d_final_c", d_final_c, w.units)):
        if value is None:
            finals.append(np.zeros((batch, size), dt))
            continue
        array = as_float_array(value, name)
        if array.shape != (batch, size):
            raise ShapeError(f"{name} must have shape (batch, {'output_size' if size == w.output_size else 'units'}) = "
                             f"{(batch, size)}; received shape {array.shape}")
        finals.append(array.astype(dt))
    return d_out, finals[0], finals[1]


def _initial_arrays(initial_state: Sequence[ArrayLike] | None, batch: int, w: LSTMWeights,
                    dt: np.dtype) -> tuple[np.ndarray, ...]:
    """(h0, c0) in dtype ``dt``: zeros for None, else the (validated) initial state."""
    if initial_state is None:
        return np.zeros((batch, w.output_size), dt), np.zeros((batch, w.units), dt)
    return tuple(np.asarray(s, dt) for s in initial_state)
