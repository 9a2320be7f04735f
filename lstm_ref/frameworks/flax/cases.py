"""Flax grid cases (lstm_ref.grids.flax) as modules: built with the case's seeded parameters,
run and compared; each Report names the case, its seed and the line that reproduces it
alone. float64 cases run under ``jax.enable_x64(True)`` (JAX holds float32 without it)."""

import numpy as np

from lstm_ref.errors import OptionError
from lstm_ref.frameworks.flax.observe import compare
from lstm_ref.frameworks.flax.twin import CELL_GATES, jax_modules

__all__ = ["DTYPES", "build_module", "set_weights", "run_case"]

DTYPES = ("float32", "float64")


def set_weights(cell, kernel, recurrent_kernel, bias):
    """Load reference-layout weights (gate order i, f, c, o) into a Flax LSTM cell: the
    inverse of lstm_ref.frameworks.flax.twin.cell_weights, in the cell's parameter dtype."""
    jax, nnx = jax_modules()
    dtype = cell.param_dtype

    def put(param, value):
        param.set_value(jax.numpy.asarray(np.ascontiguousarray(value), dtype))

    if isinstance(cell, nnx.OptimizedLSTMCell):
        put(cell.dense_i.kernel, kernel)
        put(cell.dense_h.kernel, recurrent_kernel)
        put(cell.dense_h.bias, bias)
        return cell
    units = cell.hidden_features
    for gate, (x_side, h_side) in enumerate(CELL_GATES):
        block = slice(gate * units, (gate + 1) * units)
        put(getattr(cell, x_side).kernel, kernel[:, block])
        put(getattr(cell, h_side).kernel, recurrent_kernel[:, block])
        put(getattr(cell, h_side).bias, bias[block])
    return cell


def build_module(case, dtype="float32"):
    """The case's nnx.RNN over its cell, parameters of ``dtype`` ("float32", or "float64",
    which needs jax_enable_x64 on), with the case's weights loaded."""
    jax, nnx = jax_modules()
    if dtype not in DTYPES:
        raise OptionError(f"dtype must be one of {DTYPES}; received {dtype!r}")
    cell_class = getattr(nnx, case.cell)
    cell = cell_class(case.features, case.units, gate_fn=getattr(jax.nn, case.gate_fn),
                      activation_fn=getattr(jax.nn, case.activation_fn), param_dtype=dtype,
                      rngs=nnx.Rngs(case.seed % 2**31))
    arrays = case.arrays()
    set_weights(cell, arrays["kernel"], arrays["recurrent_kernel"], arrays["bias"])
    return nnx.RNN(cell, time_major=case.time_major, reverse=case.reverse,
                   keep_order=case.keep_order)


def run_case(case, dtype="float32", tolerance=None):
    """Build the case's RNN, compare it on the case's inputs and return the Report, whose
    context names the case, its seed and a reproducer."""
    jax, _ = jax_modules()
    with jax.enable_x64(dtype == "float64"):
        rnn = build_module(case, dtype)
        arrays = case.arrays()
        x = arrays["x"].transpose(1, 0, 2) if case.time_major else arrays["x"]
        report = compare(rnn, x, initial_state=arrays["carry"],
                         seq_lengths=arrays["seq_lengths"], tolerance=tolerance)
    report.context = case.report_context(report.context, run_case, dtype=dtype)
    return report
