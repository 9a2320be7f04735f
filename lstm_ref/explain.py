"""``lstm-ref explain``: every tensor of an LSTM with its shape, the parameter count, and one
step drawn as text: the answer to "what is num_units?".

Shapes come from an LSTMWeights of the asked sizes (so the count is the reference's own
``param_count``, equal to Keras's ``count_params()``), not from a second copy of the formulas.
"""

from typing import cast

import numpy as np

from lstm_ref.errors import OptionError
from lstm_ref.weights import LSTMWeights

__all__ = ["DIAGRAM", "EQUATIONS", "MAX_WEIGHT_BYTES", "step_diagram", "weights_for", "explain",
           "parameter_count"]

# explain builds the weights it counts: sizes whose float64 weights would take more than this
# are refused up front, with the memory they would need, instead of failing deep in NumPy.
MAX_WEIGHT_BYTES = 2 * 1024 ** 3

DIAGRAM = """\
      x_t (B, {F})          h_(t-1) (B, {P})
         |                       |
         @ kernel ({F}, {G})        @ recurrent_kernel ({P}, {G})
         +-----------+-----------+ + bias ({G})
                     |"""
# (equation, shape of its result): one step after the matmuls
EQUATIONS = (("z = [z_i | z_f | z_c | z_o], {U} each", "(B, {G})"),
             ("i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)", "(B, {U}) each"),
             ("g = tanh(z_c)", "(B, {U})"),
             ("c_t = f * c_(t-1) + i * g", "(B, {U})"),
             ("h_t = o * tanh(c_t){projection}", "(B, {P})"))


def step_diagram(features: int, units: int, output_size: int, projection: object) -> str:
    """One step drawn as text, with the shape of every intermediate."""
    sizes = dict(F=features, P=output_size, U=units, G=4 * units,
                 projection=" @ projection" if projection else "")
    lines = ["one step t (gates in Keras order i, f, c, o; TF1 calls c \"j\", PyTorch \"g\"):",
             "", DIAGRAM.format(**sizes)]
    lines += [f"   {eq.format(**sizes):<56} {shape.format(**sizes)}" for eq, shape in EQUATIONS]
    return "\n".join(lines)


def _sizes(units: int, features: int, batch: int | None, time: int | None,
           proj: int | None) -> None:
    for name, value in (("units", units), ("features", features), ("batch", batch),
                        ("time", time), ("proj", proj)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise OptionError(f"{name} must be a positive integer; received {value!r}")
    if proj is not None and proj >= units:
        raise OptionError(f"proj must be smaller than units (PyTorch's 0 < proj_size < "
                          f"hidden_size); received proj={proj}, units={units}")
    output = proj or units
    size = 8 * (4 * units * (features + output + 1) + (units * proj if proj else 0))
    if size > MAX_WEIGHT_BYTES:
        raise OptionError(f"units={units}, features={features}: the weights explain builds to "
                          f"count would take {size / 1024 ** 3:.3g} GiB of float64; at most "
                          f"{MAX_WEIGHT_BYTES / 1024 ** 3:g} GiB")


def weights_for(units: int, features: int, proj: int | None = None) -> LSTMWeights:
    """Zero LSTMWeights of the given sizes (with a bias; a projection if ``proj``)."""
    output = proj or units
    return LSTMWeights(np.zeros((features, 4 * units)), np.zeros((output, 4 * units)),
                       np.zeros(4 * units), projection=None if proj is None
                       else np.zeros((units, proj)))


def explain(units: int, features: int, batch: int | None = None, time: int | None = None,
            bidirectional: bool = False, proj: int | None = None) -> str:
    """The text ``lstm-ref explain`` prints.

    Args:
        units: U (Keras ``units``, TF1 ``num_units``, PyTorch ``hidden_size``).
        features: F, the size of each input step.
        batch, time: B and T, or None to show them as letters.
        bidirectional: two directions, outputs concatenated.
        proj: None, or P < U: h is projected to P units (TF1 ``num_proj``, PyTorch
            ``proj_size``; Keras has no projection).

    Returns:
        A multi-line string.
    """
    _sizes(units, features, batch, time, proj)
    w = weights_for(units, features, proj)
    directions = 2 if bidirectional else 1
    b, t = batch or "B", time or "T"
    p = w.output_size
    bias = cast(np.ndarray, w.bias)  # weights_for gives a bias
    rows: list[tuple[str, str | tuple[int | str, ...], str]] = [
        ("kernel", w.kernel.shape, "input weights, gate blocks side by side: i, f, c, o"),
        ("recurrent_kernel", w.recurrent_kernel.shape, "applied to h_(t-1)"),
        ("bias", bias.shape, "one per gate and unit (PyTorch splits it: b_ih + b_hh)")]
    if w.projection is not None:
        rows.append(("projection", w.projection.shape, "h_t = (o * tanh(c_t)) @ projection"))
    rows += [("x", (b, t, features), "input: batch, time steps, features"),
             ("h_t, h0", (b, p), "hidden state = the output of each step"),
             ("c_t, c0", (b, units), "cell state (memory): units values per row"),
             ("output, return_sequences=True", (b, t, directions * p),
              "every h_t" + (", both directions concatenated" if bidirectional else "")),
             ("output, return_sequences=False", (b, directions * p), "the last h_t")]
    states = "[output, h_f, c_f, h_b, c_b]" if bidirectional else "[output, h_T, c_T]"
    rows.append(("return_state=True", states, "what the layer returns"))
    width = max(len(name) for name, _, _ in rows)
    per_direction = w.param_count()
    lines = [f"LSTM: units U = {units} (TF1 num_units, PyTorch hidden_size), features F = "
             f"{features}" + (f", proj P = {proj} (TF1 num_proj, PyTorch proj_size)" if proj else "")
             + (", bidirectional" if bidirectional else ""),
             "units is the size of the state (of h and c), not the number of time steps.", ""]
    lines += [f"{name:<{width}}  {_shape(shape):<16} {note}" for name, shape, note in rows]
    formula = "4 * ((F + P) * U + U) + U * P" if proj else "4 * ((F + U) * U + U)"
    lines += ["", f"parameters: {formula} = {per_direction}"
              + (f" per direction, {directions * per_direction} in all" if bidirectional else "")
              + ("" if proj else " (Keras count_params())"),
              f"(PyTorch counts {4 * units} more per direction: it keeps two bias vectors, "
              "b_ih and b_hh)", ""]
    lines.append(step_diagram(features, units, p, proj))
    return "\n".join(lines)


def parameter_count(units: int, features: int, bidirectional: bool = False,
                    proj: int | None = None) -> int:
    """The parameter count explain() prints in all (both directions)."""
    _sizes(units, features, None, None, proj)
    return (2 if bidirectional else 1) * weights_for(units, features, proj).param_count()


def _shape(shape: str | tuple[int | str, ...]) -> str:
    if isinstance(shape, str):
        return shape
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")
