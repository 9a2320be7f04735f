"""Gate orders and weight layouts of Keras, PyTorch, ONNX and TF1, and exact converters. Pure NumPy.

The canonical layout is Keras's: kernel (F, 4U), recurrent_kernel (P, 4U), one bias (4U,),
gate blocks in the order i (input), f (forget), c (candidate: "g" in PyTorch, "j" in TF1),
o (output).

| layout | gate order | input weights | recurrent weights | bias | extras |
|---|---|---|---|---|---|
| keras | i f c o | kernel (F, 4U) | recurrent_kernel (U, 4U) | bias (4U) | |
| torch | i f g o | weight_ih (4U, F) | weight_hh (4U, P) | bias_ih + bias_hh | weight_hr (P, U) |
| onnx | i o f c | W (4U, F) | R (4U, U) | B (8U) = [Wb, Rb] | P (3U) = [p_i, p_o, p_f] |
| tf1 | i j f o | kernel (F + P, 4U): input rows, then h rows | | bias (4U) | w_i/f/o_diag (U), projection (U, P), forget_bias |

Moving a block or transposing is exact. Two things are not a relayout: a split bias (PyTorch,
ONNX) is summed, and a TF1 forget_bias either stays an option (exact) or is folded into the
bias (:func:`fold_forget_bias`, exact in float64). Converting back, the summed bias goes to the
input bias and the recurrent one is zero.
"""

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref.activations import Activation
from lstm_ref.errors import OptionError, ShapeError

__all__ = ["KERAS_GATE_ORDER", "GATE_ORDERS", "ONNX_PEEPHOLE_ORDER", "PEEPHOLE_ORDER",
           "Weights", "WeightsT",
           "split_gates", "join_gates", "reorder_gates", "from_torch", "to_torch", "from_onnx",
           "to_onnx", "from_tf1", "to_tf1", "to_keras", "fold_forget_bias"]

KERAS_GATE_ORDER = ("i", "f", "c", "o")
GATE_ORDERS = {"keras": KERAS_GATE_ORDER, "torch": KERAS_GATE_ORDER,
               "onnx": ("i", "o", "f", "c"), "tf1": ("i", "c", "f", "o")}
# ONNX's peephole vector P holds p_i, p_o, p_f; ours (LSTMWeights.peephole) rows i, f, o.
ONNX_PEEPHOLE_ORDER = ("i", "o", "f")
PEEPHOLE_ORDER = ("i", "f", "o")


class Weights(Protocol):
    """What the converters read of an :class:`lstm_ref.weights.LSTMWeights` (a protocol:
    LSTMWeights builds on this module, so this module cannot import it)."""

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None
    peephole: np.ndarray | None
    projection: np.ndarray | None
    forget_bias: float
    gate_clip: float | None
    cell_clip: float | None
    proj_clip: float | None
    input_forget: bool
    coupled_gates: str | None
    activation: Activation
    recurrent_activation: Activation

    @property
    def units(self) -> int: ...

    @property
    def use_bias(self) -> bool: ...

    def options(self) -> dict[str, Any]: ...

    def replace(self: "WeightsT", **changes: Any) -> "WeightsT": ...


WeightsT = TypeVar("WeightsT", bound=Weights)


def split_gates(array: ArrayLike, axis: int = -1) -> dict[str, np.ndarray]:
    """Split a Keras-layout array into its four gate blocks.

    Args:
        array: an array whose ``axis`` has length 4U, gates in Keras order i, f, c, o.
        axis: the gate axis.

    Returns:
        A dict ``{"i": ..., "f": ..., "c": ..., "o": ...}`` of views, each with U on ``axis``.
    """
    return dict(zip(KERAS_GATE_ORDER, np.split(np.asarray(array), 4, axis=axis)))


def join_gates(gates: Mapping[str, ArrayLike], axis: int = -1) -> np.ndarray:
    """Inverse of :func:`split_gates`: concatenate ``gates["i"], ["f"], ["c"], ["o"]``."""
    return np.concatenate([np.asarray(gates[name]) for name in KERAS_GATE_ORDER], axis=axis)


def reorder_gates(array: ArrayLike, source: str, target: str, axis: int = -1) -> np.ndarray:
    """The gate blocks of ``array`` along ``axis``, from layout ``source``'s order to
    ``target``'s ("keras", "torch", "onnx", "tf1")."""
    orders = [_order(source), _order(target)]
    array = np.asarray(array)
    if array.shape[axis] % 4:
        raise ShapeError(f"the gate axis must have 4 * units entries; received {array.shape[axis]} "
                         f"(shape {array.shape}, axis {axis})")
    blocks = dict(zip(orders[0], np.split(array, 4, axis=axis)))
    return np.concatenate([blocks[name] for name in orders[1]], axis=axis)


# --- PyTorch ---------------------------------------------------------------------------------

def from_torch(weight_ih: ArrayLike, weight_hh: ArrayLike, bias_ih: ArrayLike | None = None,
               bias_hh: ArrayLike | None = None,
               weight_hr: ArrayLike | None = None) -> dict[str, Any]:
    """LSTMWeights arguments from one direction of one layer of torch.nn.LSTM's parameters
    (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, weight_hr_l{k})."""
    weight_ih, weight_hh = np.asarray(weight_ih), np.asarray(weight_hh)
    if (bias_ih is None) != (bias_hh is None):
        raise OptionError("torch.nn.LSTM has both biases or neither; received only "
                          f"{'bias_ih' if bias_hh is None else 'bias_hh'}")
    bias = None
    if bias_ih is not None:
        bias = np.asarray(bias_ih, np.float64) + np.asarray(bias_hh, np.float64)
    return {"kernel": weight_ih.T, "recurrent_kernel": weight_hh.T, "bias": bias,
            "projection": None if weight_hr is None else np.asarray(weight_hr).T}


def to_torch(weights: Weights) -> dict[str, np.ndarray]:
    """One direction's torch.nn.LSTM parameters (weight_ih, weight_hh, bias_ih, bias_hh,
    weight_hr; absent ones omitted) from LSTMWeights; the bias goes to bias_ih."""
    _refuse(weights, "torch", ("peephole", "cell_clip", "gate_clip", "coupled_gates",
                               "proj_clip", "output_activation", "layer_norm"),
            activation="tanh", recurrent_activation="sigmoid")
    weights = fold_forget_bias(weights)
    params = {"weight_ih": weights.kernel.T, "weight_hh": weights.recurrent_kernel.T}
    if weights.bias is not None:
        params["bias_ih"] = weights.bias
        params["bias_hh"] = np.zeros_like(weights.bias)
    if weights.projection is not None:
        params["weight_hr"] = weights.projection.T
    return params


# --- ONNX ------------------------------------------------------------------------------------

def from_onnx(W: ArrayLike, R: ArrayLike, B: ArrayLike | None = None,
              P: ArrayLike | None = None) -> dict[str, Any]:
    """LSTMWeights arguments from one direction of an ONNX LSTM: W (4U, F), R (4U, U),
    B (8U,) = [Wb, Rb] and P (3U,) = [p_i, p_o, p_f], gates in order i, o, f, c."""
    W, R = np.asarray(W), np.asarray(R)
    bias = None
    if B is not None:
        B = np.asarray(B, np.float64)
        if B.shape != (2 * W.shape[0],):
            raise ShapeError(f"ONNX B must have shape (8 * hidden_size,) = ({2 * W.shape[0]},) "
                             f"for one direction; received {B.shape}")
        wb, rb = np.split(B, 2)
        bias = reorder_gates(wb + rb, "onnx", "keras")
    peephole = None
    if P is not None:
        blocks = dict(zip(ONNX_PEEPHOLE_ORDER, np.split(np.asarray(P), 3)))
        peephole = np.stack([blocks[name] for name in PEEPHOLE_ORDER])
    return {"kernel": reorder_gates(W, "onnx", "keras", axis=0).T,
            "recurrent_kernel": reorder_gates(R, "onnx", "keras", axis=0).T,
            "bias": bias, "peephole": peephole}


def to_onnx(weights: Weights) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One direction of an ONNX LSTM's inputs (W, R, B, P; absent ones omitted) and the
    attributes the weights need (clip, input_forget) from LSTMWeights; the bias goes to Wb.
    ONNX couples only f = 1 - i (``input_forget``): weights coupled the other way,
    ``coupled_gates="cifg"`` (i = 1 - f), are refused.

    gate_clip becomes ``clip``, which the spec applies to every activation's input, c_t before
    h included; onnxruntime 1.32 leaves that c_t unclipped, so where |c_t| exceeds the clip the
    converted model, run by onnxruntime, departs from these weights' reference (see
    lstm_ref.frameworks.onnx.twin)."""
    _refuse(weights, "onnx", ("cell_clip", "projection", "proj_clip", "layer_norm"))
    if weights.coupled_gates == "cifg":
        raise OptionError("onnx has no equivalent of coupled_gates='cifg' (i = 1 - f; ONNX's "
                          "input_forget is f = 1 - i): these weights cannot be converted to the "
                          "onnx layout without changing the LSTM")
    weights = fold_forget_bias(weights)
    arrays = {"W": reorder_gates(weights.kernel.T, "keras", "onnx", axis=0),
              "R": reorder_gates(weights.recurrent_kernel.T, "keras", "onnx", axis=0)}
    if weights.bias is not None:
        arrays["B"] = np.concatenate([reorder_gates(weights.bias, "keras", "onnx"),
                                      np.zeros_like(weights.bias)])
    if weights.peephole is not None:
        rows = dict(zip(PEEPHOLE_ORDER, weights.peephole))
        arrays["P"] = np.concatenate([rows[name] for name in ONNX_PEEPHOLE_ORDER])
    attributes: dict[str, Any] = {"hidden_size": weights.units,
                                  "input_forget": int(weights.input_forget)}
    if weights.gate_clip is not None:
        attributes["clip"] = weights.gate_clip
    return arrays, attributes


# --- TF1 -------------------------------------------------------------------------------------

def from_tf1(kernel: ArrayLike, bias: ArrayLike | None = None, w_i_diag: ArrayLike | None = None,
             w_f_diag: ArrayLike | None = None, w_o_diag: ArrayLike | None = None,
             projection: ArrayLike | None = None, forget_bias: float = 0.0) -> dict[str, Any]:
    """LSTMWeights arguments from a TF1 BasicLSTMCell / LSTMCell's variables: kernel
    (F + P, 4U) with the input's rows first, then h's (P = num_proj or num_units), gates in
    order i, j, f, o; the peephole diagonals; the projection kernel (U, P); forget_bias,
    which stays an option (added at call time, as TF1 does)."""
    kernel = np.asarray(kernel)
    units = kernel.shape[1] // 4
    output_size = units if projection is None else np.asarray(projection).shape[1]
    features = kernel.shape[0] - output_size
    if kernel.ndim != 2 or kernel.shape[1] % 4 or features < 1:
        raise ShapeError(f"a TF1 LSTM kernel is (features + {output_size}, 4 * units); "
                         f"received shape {kernel.shape}")
    diagonals = (w_i_diag, w_f_diag, w_o_diag)
    if any(d is None for d in diagonals) and not all(d is None for d in diagonals):
        raise OptionError("TF1 peepholes come as w_i_diag, w_f_diag and w_o_diag together")
    reordered = reorder_gates(kernel, "tf1", "keras")
    return {"kernel": reordered[:features], "recurrent_kernel": reordered[features:],
            "bias": None if bias is None else reorder_gates(bias, "tf1", "keras"),
            "peephole": (None if w_i_diag is None
                         else np.stack([np.asarray(d) for d in diagonals])),
            "projection": projection, "forget_bias": forget_bias}


def to_tf1(weights: Weights) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A TF1 LSTMCell's variables (kernel, bias, w_i/f/o_diag, projection; absent ones
    omitted) and its options (forget_bias, cell_clip, proj_clip) from LSTMWeights."""
    _refuse(weights, "tf1", ("gate_clip", "coupled_gates", "output_activation", "layer_norm"),
            recurrent_activation="sigmoid")
    variables = {"kernel": reorder_gates(np.concatenate([weights.kernel,
                                                         weights.recurrent_kernel]),
                                         "keras", "tf1")}
    variables["bias"] = (np.zeros(4 * weights.units) if weights.bias is None
                         else reorder_gates(weights.bias, "keras", "tf1"))
    if weights.peephole is not None:
        variables.update(zip(("w_i_diag", "w_f_diag", "w_o_diag"), weights.peephole))
    if weights.projection is not None:
        variables["projection"] = weights.projection
    options = {"forget_bias": weights.forget_bias, "cell_clip": weights.cell_clip,
               "proj_clip": weights.proj_clip}
    return variables, options


# --- Keras and shared ------------------------------------------------------------------------

def to_keras(weights: Weights) -> list[np.ndarray]:
    """[kernel, recurrent_kernel, bias] (bias only if used) as a Keras LSTM's set_weights
    takes them; a forget_bias is folded into the bias."""
    _refuse(weights, "keras", ("peephole", "cell_clip", "gate_clip", "coupled_gates",
                               "projection", "proj_clip", "output_activation", "layer_norm"))
    weights = fold_forget_bias(weights)
    bias = [] if weights.bias is None else [weights.bias]
    return [weights.kernel, weights.recurrent_kernel, *bias]


def fold_forget_bias(weights: WeightsT) -> WeightsT:
    """The same LSTM with its forget_bias added to the forget block of the bias (a zero bias
    is created if there was none): what Keras's unit_forget_bias and PyTorch expect."""
    if not weights.forget_bias:
        return weights
    bias = np.zeros(4 * weights.units) if weights.bias is None else np.array(weights.bias, np.float64)
    bias[weights.units:2 * weights.units] += weights.forget_bias
    return weights.replace(bias=bias, forget_bias=0.0)


def _refuse(weights: Weights, target: str, unsupported: tuple[str, ...],
            activation: str | None = None, recurrent_activation: str | None = None) -> None:
    """OptionError if the weights use an option, or activations, the target cannot express."""
    options = weights.options()
    present = [f"{name}={options[name]!r}" if isinstance(options[name], str) else name
               for name in unsupported if name in options]
    for name, required in (("activation", activation),
                           ("recurrent_activation", recurrent_activation)):
        if required is not None and getattr(weights, name).name != required:
            present.append(f"{name}={getattr(weights, name).name!r} (it has {required} only)")
    if present:
        raise OptionError(f"{target} has no equivalent of {', '.join(present)}: these weights "
                          f"cannot be converted to the {target} layout without changing the LSTM")


def _order(layout: str) -> tuple[str, ...]:
    if layout not in GATE_ORDERS:
        raise OptionError(f"layout must be one of {tuple(GATE_ORDERS)}; received {layout!r}")
    return GATE_ORDERS[layout]
