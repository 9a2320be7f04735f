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
  the run adds :func:`activation_quantization_bound` (probes that quantize the activations as
the kernel does, as the table's probes round as a format does) to the float32 entry's.
"""

import dataclasses

import numpy as np

from lstm_ref.tolerance_table import lookup

__all__ = ["ARITHMETIC", "PROBES", "SCALE", "WEIGHTS", "activation_quantization_bound",
           "entry", "quantized"]

WEIGHTS = {
    "float32": "stored as float32: equal to the source's, bit for bit, where it is a float32 "
               "value; within half a float32 spacing where it is wider",
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
            "time, accumulated in int32: the float32 entry plus 4 times the departure of "
            "probes that quantize the activations so (activation_quantization_bound); no "
            "step drift check, as the quantization's errors need not average out",
}

# The quantization probes of an int8 (hybrid) run: (mode, values moved at random first).
PROBES = (("symmetric", False), ("asymmetric", False), ("symmetric", True),
          ("asymmetric", True), ("symmetric", True), ("asymmetric", True))
# The probes' largest departure times SCALE bounds the quantization's: a margin for the
# roundings the probes do not make. Record: docs/tflite.md, "What is measured".
SCALE = 4.0


def entry(storage):
    """(Tolerance of the run, reason) for weights stored as ``storage`` ("float32",
    "float16" or "int8")."""
    tol = lookup("float32")
    if storage == "int8":
        tol = dataclasses.replace(tol, bias_floor=None, bias_scale=None)
    return tol, ARITHMETIC[storage]


def quantized(rows, mode, rng=None):
    """``rows`` (B, N) as a hybrid kernel feeds them to an int8 product: each row quantized
    to int8 with its own scale, ``"symmetric"`` (max|row| / 127, zero point 0) or
    ``"asymmetric"`` ((max - min) / 255 over a range holding 0, with an integer zero point),
    and dequantized. With ``rng``, each value is first moved by up to a quarter step at random:
    another rounding of the same row, as a kernel rounding otherwise would give."""
    rows = np.asarray(rows, np.float64)
    if mode == "symmetric":
        step = np.abs(rows).max(axis=1, keepdims=True) / 127
    else:
        top = np.maximum(rows.max(axis=1, keepdims=True), 0)
        step = (top - np.minimum(rows.min(axis=1, keepdims=True), 0)) / 255
    step = np.where(step > 0, step, 1.0)
    moved = rows if rng is None else rows + rng.uniform(-0.25, 0.25, rows.shape) * step
    # The zero point is an integer: both grids are the multiples of their step.
    return np.round(moved / step) * step


def activation_quantization_bound(x, weights, reference, seed=0):
    """(B, T, U) per element: SCALE times the largest departure, up to each step, of probes
    that quantize every matrix product's input rows (x_t and h_{t-1}) to int8 as a hybrid
    kernel does, from the float64 reference on the same weights: ``{"h": ..., "c": ...}``,
    in processing order.

    The probes (:data:`PROBES`: symmetric and asymmetric quantization, each exact and with
    values moved by up to a quarter step at random, seeded) measure what this case's
    recurrence makes of that rounding, as the table's probes measure float rounding; the
    running maximum makes the bound non-decreasing in t, as the error it bounds. What the
    probes do not model (a projection's quantized input, the kernel's own accumulation
    order) is left to :data:`SCALE` and the float32 entry added to it.

    Args:
        x: (B, T, F) the input, in processing order.
        weights: the LSTMWeights the artifact runs.
        reference: the float64 Trace of ``x`` (from zero states).
        seed: seeds the moved probes.
    """
    from lstm_ref.reference import step

    x = np.asarray(x, np.float64)
    batch, time, _ = x.shape
    rng = np.random.default_rng(seed)
    worst = {"h": np.zeros((batch, time, weights.output_size)),
             "c": np.zeros((batch, time, weights.units))}
    for mode, moved in PROBES:
        h = np.zeros((batch, weights.output_size))
        c = np.zeros((batch, weights.units))
        for t in range(time):
            generator = rng if moved else None
            h, c, _ = step(quantized(x[:, t], mode, generator), quantized(h, mode, generator),
                           c, weights)
            for name, value in (("h", h), ("c", c)):
                gap = np.abs(value - getattr(reference, name)[:, t])
                worst[name][:, t] = np.maximum(worst[name][:, t], gap)
    return {name: SCALE * np.maximum.accumulate(value, axis=1) for name, value in worst.items()}
