"""What a TFLite artifact is held to, by how it stores its weights, each with its reason.

The reference runs on the weights the artifact holds, dequantized to float64, with the
source's semantics; two checks follow:

- the weights: every dequantized weight is within the rounding of its storage format of the
  source's (:data:`WEIGHTS`): a planted or corrupted weight, a swapped gate, fails here
  whatever the arithmetic;
- the run: float32 and float16-stored weights are computed in float32 (the converter widens
  float16 weights with DEQUANTIZE before the op), so the run is held to the table's float32
  entry. Int8 weights (dynamic range) run hybrid kernels that also quantize the activations
  fed to every matrix product (the input and h, each row to int8 at run time): the bound of
  the run adds :func:`activation_quantization_bound` to the float32 entry's.
"""

import dataclasses

import numpy as np

from lstm_ref.errors import UnsupportedLayerError
from lstm_ref.tolerance_table import lookup

__all__ = ["ARITHMETIC", "LIPSCHITZ", "WEIGHTS", "activation_quantization_bound", "entry"]

WEIGHTS = {
    "float32": "stored as the source's float32: equal, bit for bit",
    "float16": "rounded to nearest float16: within half the spacing of float16 at the stored "
               "value",
    "int8": "q = round(w / scale) with the stored scale (per tensor or per channel): within "
            "half a scale, plus the float32 rounding of w / scale (128 ulps of q)",
}

ARITHMETIC = {
    "float32": "float32 arithmetic on float32 weights: the table's float32 entry",
    "float16": "float16 weights widened to float32 before the op, then float32 arithmetic: "
               "the table's float32 entry, the reference running on the widened weights",
    "int8": "hybrid kernels: int8 weights times activations quantized per row to int8 at run "
            "time, accumulated in int32: the float32 entry plus a worst-case bound of that "
            "quantization carried through the recurrence (activation_quantization_bound); "
            "no step drift check, as the quantization's errors need not average out",
}

# Lipschitz constants of the activations the bound carries errors through.
LIPSCHITZ = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "relu6": 1.0, "linear": 1.0}


def entry(storage):
    """(Tolerance of the run, reason) for weights stored as ``storage`` ("float32",
    "float16" or "int8")."""
    tol = lookup("float32")
    if storage == "int8":
        tol = dataclasses.replace(tol, bias_floor=None, bias_scale=None)
    return tol, ARITHMETIC[storage]


def activation_quantization_bound(x, weights, trace):
    """(B, T, U) bounds on what quantizing the activations of every matrix product to int8
    can move h, c and (with a projection) the projected h, relative to the exact arithmetic
    on the same weights: ``{"h": ..., "c": ..., "m": ...}`` in processing order.

    Each product's input row (x_t, h_{t-1}, and the projection's input) is quantized with a
    step of at most max|row| / 127 (symmetric: exactly that; asymmetric: (max - min) / 255
    with 0 in range, no larger), so each of its elements moves by at most half of it. The
    bound carries that through one step with the activations' Lipschitz constants and exact
    product rules (|a'b' - ab| <= |a' - a| |b'| + |a| |b' - b|), including the errors already
    in h and c: it is a worst case (every rounding aligned), not an estimate.

    Args:
        x: (B, T, F) the input, in processing order.
        weights: the LSTMWeights the artifact runs.
        trace: the float64 reference Trace on ``x`` with ``keep="gates"``.
    """
    w = weights
    names = (w.activation.name, w.recurrent_activation.name, w.output_activation.name)
    unknown = [n for n in names if n not in LIPSCHITZ]
    if unknown:
        raise UnsupportedLayerError(f"no dynamic-range bound for activation(s) {unknown}: the "
                                    f"bound knows {sorted(LIPSCHITZ)}")
    l_gate, l_cell, l_out = (LIPSCHITZ[n] for n in (names[1], names[0], names[2]))
    x = np.asarray(x, np.float64)
    batch, time, _ = x.shape
    units = w.units
    col = lambda m: np.abs(m).sum(axis=0)
    k_sum, r_sum = col(w.kernel), col(w.recurrent_kernel)
    r_abs = np.abs(w.recurrent_kernel)
    peep = np.zeros((3, units)) if w.peephole is None else np.abs(w.peephole)
    gates = trace.gates
    dh = np.zeros((batch, w.output_size))
    dc = np.zeros((batch, units))
    h_prev = np.zeros((batch, w.output_size))
    c_prev = np.zeros((batch, units))
    out = {"h": np.empty((batch, time, w.output_size)), "c": np.empty((batch, time, units))}
    for t in range(time):
        half_x = np.abs(x[:, t]).max(axis=1, keepdims=True) / 254
        half_h = (np.abs(h_prev) + dh).max(axis=1, keepdims=True) / 254
        dz = half_x * k_sum + half_h * r_sum + dh @ r_abs
        dz_i, dz_f, dz_g, dz_o = np.split(dz, 4, axis=1)
        dz_i = dz_i + peep[0] * dc
        dz_f = dz_f + peep[1] * dc
        i, f, g, o = (gates[k][:, t] for k in ("i", "f", "c", "o"))
        d_f = l_gate * dz_f
        d_i = d_f if getattr(w, "coupled_gates", None) == "cifg" else l_gate * dz_i
        if w.input_forget:
            d_f = d_i
        d_g = l_cell * dz_g
        dc = d_f * (np.abs(c_prev) + dc) + np.abs(f) * dc + d_i * (np.abs(g) + d_g) + np.abs(i) * d_g
        c_t = trace.c[:, t]
        d_o = l_gate * (dz_o + peep[2] * dc)
        act = np.abs(w.output_activation(c_t))
        dm = d_o * (act + l_out * dc) + np.abs(o) * l_out * dc
        if w.projection is not None:
            m = np.abs(o * w.output_activation(c_t))
            half_m = (m + dm).max(axis=1, keepdims=True) / 254
            dm = half_m * col(w.projection) + dm @ np.abs(w.projection)
        dh = dm
        out["h"][:, t], out["c"][:, t] = dh, dc
        h_prev, c_prev = trace.h[:, t], c_t
    return out
