"""The tolerance table: one entry per dtype a framework computes in, each with a one-line
reason; how each was calibrated, with its figures, is in the documentation's calibration
records (docs/calibration/).

:func:`lookup` gives an entry, with any field overridden (as jax's test_util takes a
tolerance per dtype): ``lookup("float32", scale=16)``.
"""

import dataclasses

from lstm_ref import precision
from lstm_ref.errors import OptionError
from lstm_ref.tolerance import EPS16, EPS32, EPS64, EPSBF16, Tolerance

__all__ = ["TABLE", "CUDNN", "GRADIENTS", "DRIFT_EXEMPT", "lookup", "without_drift_check"]

TABLE = {
    "float32": Tolerance(
        "float32", atol=4 * EPS32, rtol=4 * EPS32, scale=16.0, bias_floor=4.0, bias_scale=8.0,
        reason="a faithful float32 layer's rounding, bounded per row with a margin over the "
               "worst random case; a relative drift of 1e-6 in h or c still fails. Record: "
               "docs/calibration/2026-12-03-per-row.md"),
    "float64": Tolerance(
        "float64", atol=16 * EPS64, rtol=4 * EPS64, scale=12.0, probe="float64-perturbed",
        reason="a float64 layer computes in the reference's precision, in another order: "
               "probes that move every operation's result by an ulp bound it. Record: "
               "docs/calibration/2026-12-03-per-row.md"),
    "float16": Tolerance(
        "float16", atol=2 * EPS16, rtol=4 * EPS16, scale=3.0, probe="float16-perturbed",
        horizon=0.1,
        reason="float16 and mixed_float16 layers: float32 arithmetic rounded to float16 per "
               "operation, probed with every result moved by an ulp as a framework rounding "
               "elsewhere moves it; compared while within one digit. Record: "
               "docs/calibration/2026-12-03-perturbed-probes.md"),
    "bfloat16": Tolerance(
        "bfloat16", atol=2 * EPSBF16, rtol=4 * EPSBF16, scale=3.0, probe="bfloat16-perturbed",
        horizon=0.1,
        reason="bfloat16 and mixed_bfloat16 layers: float32 arithmetic rounded to bfloat16 "
               "per operation, probed with every result moved by an ulp as a framework "
               "rounding elsewhere moves it; compared while within one digit. Record: "
               "docs/calibration/2026-12-03-perturbed-probes.md"),
}

# cuDNN's kernels are not float32-faithful; their entries, by dtype, bound what a cuDNN layer
# returns; the layer's cell, stepped, is still held to TABLE.
CUDNN = {
    "float32": Tolerance(
        "float32", atol=128 * EPS32, rtol=16 * EPS32, scale=128.0,
        reason="cuDNN's kernels depart from the reference more than float32 rounding "
               "explains, so what a cuDNN layer returns has its own, looser bound. Record: "
               "docs/calibration/2026-12-02-entries.md"),
}

# Gradients (lstm_ref.gradient_check): the same bound, with the floor relative to the size of
# the adjoints (dh, dc, dx from the last step down to t), carried through the sums for h0, c0
# and the weights, since gradients have no natural scale of 1 as h and c do; kappa runs from
# the last step down. Each gradient element is a sum over the row's units (dh_t = dz_{t+1}
# W^T), so it rounds relative to the row's adjoints: its kappa is the row's.
GRADIENTS = {
    "float32": Tolerance(
        "float32", atol=4 * EPS32, rtol=4 * EPS32, scale=16.0, relative_floor=True,
        probe="float32-ftz",
        reason="float32 gradients under a tape, probed with subnormals flushed to zero as "
               "TensorFlow's kernels flush them and tanh and sigmoid differentiated as "
               "frameworks do; the floor follows the adjoints' size. Record: "
               "docs/calibration/2026-12-03-perturbed-probes.md"),
    "float64": Tolerance(
        "float64", atol=16 * EPS64, rtol=4 * EPS64, scale=32.0, probe="float64-perturbed",
        relative_floor=True,
        reason="float64 gradients: probes that move every forward and backward operation's "
               "result by an ulp and differentiate tanh and sigmoid as frameworks do; the "
               "floor follows the adjoints' size. Record: "
               "docs/calibration/2026-12-03-perturbed-probes.md"),
}


# Activations the step drift check (lstm_ref.bias) cannot hold: a framework evaluates them
# with a systematic relative error that the probes' random roundings do not have, so a
# faithful layer drifts beyond them. The element bound still holds; the report says the
# drift was not checked and why.
DRIFT_EXEMPT = {
    "tanh_shrink": "tanh_shrink computes x - tanh(x), which cancels for small x: the "
                   "framework's tanh, within an ulp but biased, moves every step one way",
    "elu": "TensorFlow's float32 elu computes exp(x) - 1, which cancels for small negative x: "
           "a relative error of about eps / |x| there, far beyond rounding's",
    "selu": "TensorFlow's float32 selu computes exp(x) - 1, which cancels for small negative "
            "x: a relative error of about eps / |x| there, far beyond rounding's",
}


def without_drift_check(tol, activations):
    """``tol`` with its step drift check off where one of ``activations`` (names) is in
    :data:`DRIFT_EXEMPT`, and the reason (None where the check stays, or ``tol`` has none).

    >>> tol, why = without_drift_check(lookup("float32"), ["tanh_shrink", "sigmoid"])
    >>> tol.bias_floor is None and why.startswith("tanh_shrink")
    True
    """
    if tol.bias_floor is None:
        return tol, None
    reasons = [DRIFT_EXEMPT[name] for name in dict.fromkeys(activations)
               if name in DRIFT_EXEMPT]
    if not reasons:
        return tol, None
    return dataclasses.replace(tol, bias_floor=None), "; ".join(reasons)


def lookup(dtype, path=None, **overrides):
    """The table's entry for a framework's compute dtype (a NumPy/Keras dtype or its name);
    ``path="cudnn"`` for the cuDNN kernels' own entries, ``path="gradients"`` for gradients';
    ``overrides`` replace fields of the entry (``scale=16``, ``atol=1e-6``...)."""
    name = precision.name_of(dtype)
    table = {None: TABLE, "cudnn": CUDNN, "gradients": GRADIENTS}.get(path)
    if table is None:
        raise OptionError(f"path must be None, 'cudnn' or 'gradients'; received {path!r}")
    if name not in table:
        raise OptionError(f"no tolerance for dtype {name!r}{f' for {path}' if path else ''}; "
                          f"the table has {sorted(table)}")
    fields = {f.name for f in dataclasses.fields(Tolerance)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise OptionError(f"unknown tolerance field(s) {unknown}; a Tolerance has "
                          f"{sorted(fields)}")
    return dataclasses.replace(table[name], **overrides)
