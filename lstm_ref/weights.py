"""LSTMWeights: the canonical weights of one LSTM layer (one direction), validated."""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref import activations, layouts
from lstm_ref.activations import ActivationLike
from lstm_ref.checks import as_float_array, check_size
from lstm_ref.errors import OptionError, ShapeError, ValueRangeError
from lstm_ref.layer_norm import LayerNorm

__all__ = ["COUPLED_GATES", "PEEPHOLE_ORDER", "LSTMWeights"]

PEEPHOLE_ORDER = ("i", "f", "o")
# The two ways frameworks couple the input and forget gates (LSTMWeights' ``coupled_gates``):
# one gate is computed, the other is one minus it, and the other's weights are unused.
COUPLED_GATES = ("input_forget", "cifg")


class LSTMWeights:
    """The weights of one LSTM in Keras's layout, gate order i, f, c, o, and the options that
    change its equations (see lstm_ref.reference for where each acts).

    Args:
        kernel: (features, 4 * units), the input weights.
        recurrent_kernel: (output_size, 4 * units), the weights applied to the previous h
            (output_size = units, or the projection's size).
        bias: (4 * units,), or None for an LSTM without bias.
        activation: the cell/output activation (Keras's ``activation``), by Keras name.
        recurrent_activation: the gate activation (Keras's ``recurrent_activation``).
        peephole: None, or (3, units): the diagonal peephole weights of gates i, f, o (TF1's
            ``w_i_diag, w_f_diag, w_o_diag``; ONNX's P reordered): i and f see c_{t-1}, o sees c_t.
        cell_clip: None, or c_t is clipped to [-cell_clip, cell_clip] (TF1's ``cell_clip``).
        gate_clip: None, or every gate's pre-activation and the c_t fed to the output
            activation are clipped to [-gate_clip, gate_clip] (ONNX's ``clip`` as the spec
            words it; c_t is kept). onnxruntime 1.32 does not clip the c_t fed to the output
            activation: lstm_ref.from_onnx mirrors that by default (its ``semantics``).
        forget_bias: added to the forget gate's pre-activation at call time (TF1's
            ``forget_bias``, 1.0 there by default; 0 in Keras, which folds it into the bias).
        coupled_gates: None (independent gates), or which gate is computed from the other:
            "input_forget" couples f = 1 - i (ONNX's ``input_forget``: the f blocks and the f
            peephole are unused); "cifg" couples i = 1 - f (TFLite's ``use_cifg``, which has
            no input-gate tensors, and TF contrib's CoupledInputForgetGateLSTMCell: the i
            blocks and the i peephole are unused; f keeps forget_bias). The two are not
            interchangeable by renaming blocks: 1 - sigmoid(z) is sigmoid(-z), so one would
            have to negate the computed gate's weights, which only holds for a symmetric
            recurrent activation and not to the last ulp.
        input_forget: True is ``coupled_gates="input_forget"`` (kept: the older name).
        layer_norm: None, or a :class:`lstm_ref.layer_norm.LayerNorm`: every gate's
            pre-activation is normalised over the units before the bias is added (TFLite's
            layer-norm LSTM, TF contrib's LayerNormBasicLSTMCell, which also normalises c);
            forward only: lstm_ref.gradients refuses it.
        projection: None, or (units, output_size): h_t = (o * activation(c_t)) @ projection
            (TF1's ``num_proj``, PyTorch's ``proj_size`` with weight_hr transposed).
        proj_clip: None, or the projected h_t is clipped to [-proj_clip, proj_clip]. Without a
            projection it is kept but does nothing, as TF1's LSTMCell and TFLite's LSTM accept
            and ignore it (it is not among :meth:`options`, and a layout that lacks it does
            not refuse it).
        output_activation: the activation applied to c_t for h_t (ONNX's h); None: the same
            as ``activation`` (Keras, TF1, PyTorch).

    The arrays are copied and made read-only, so the weights cannot change under a twin.
    Non-finite weights are refused: they always mean a broken load, never a model.
    """

    def __init__(self, kernel: ArrayLike, recurrent_kernel: ArrayLike,
                 bias: ArrayLike | None = None, activation: ActivationLike = "tanh",
                 recurrent_activation: ActivationLike = "sigmoid", *,
                 peephole: ArrayLike | None = None, cell_clip: float | None = None,
                 gate_clip: float | None = None, forget_bias: float = 0.0,
                 input_forget: bool = False, projection: ArrayLike | None = None,
                 proj_clip: float | None = None,
                 output_activation: ActivationLike = None,
                 coupled_gates: str | None = None, layer_norm: LayerNorm | None = None) -> None:
        kernel = as_float_array(kernel, "kernel", ndim=2, axes="(features, 4 * units)")
        recurrent_kernel = as_float_array(recurrent_kernel, "recurrent_kernel", ndim=2,
                                          axes="(output_size, 4 * units)")
        if projection is None:
            units = recurrent_kernel.shape[0]
            if units == 0:
                raise ShapeError("recurrent_kernel must have at least one unit; received shape "
                                 f"{recurrent_kernel.shape}")
            check_size("recurrent_kernel", "shape", recurrent_kernel.shape, (units, 4 * units),
                       "(units, 4 * units) with units = its first dimension")
        else:
            projection = as_float_array(projection, "projection", ndim=2,
                                        axes="(units, output_size)")
            units, output_size = projection.shape
            if units == 0 or output_size == 0:
                raise ShapeError(f"projection must be (units, output_size), both at least 1; "
                                 f"received shape {projection.shape}")
            check_size("recurrent_kernel", "shape", recurrent_kernel.shape,
                       (output_size, 4 * units),
                       "(output_size, 4 * units) from the projection's (units, output_size)")
        check_size("kernel", "4 * units axis", kernel.shape[1], 4 * units,
                   f"4 * units with units = {units} from recurrent_kernel")
        if bias is not None:
            bias = as_float_array(bias, "bias", ndim=1, axes="(4 * units,)")
            check_size("bias", "length", bias.shape[0], 4 * units,
                       f"4 * units with units = {units} from recurrent_kernel")
        if peephole is not None:
            peephole = as_float_array(peephole, "peephole", ndim=2, axes="(3, units)")
            check_size("peephole", "shape", peephole.shape, (3, units),
                       f"(3, units) for gates i, f, o with units = {units}")
        self.kernel = _frozen_copy(kernel, "kernel")
        self.recurrent_kernel = _frozen_copy(recurrent_kernel, "recurrent_kernel")
        self.bias = None if bias is None else _frozen_copy(bias, "bias")
        self.peephole = None if peephole is None else _frozen_copy(peephole, "peephole")
        self.projection = None if projection is None else _frozen_copy(projection, "projection")
        self.cell_clip = _clip_value(cell_clip, "cell_clip")
        self.gate_clip = _clip_value(gate_clip, "gate_clip")
        self.proj_clip = _clip_value(proj_clip, "proj_clip")
        self.forget_bias = _finite_float(forget_bias, "forget_bias")
        if layer_norm is not None:
            if not isinstance(layer_norm, LayerNorm):
                raise OptionError(f"layer_norm must be None or an lstm_ref.layer_norm.LayerNorm; "
                                  f"received {type(layer_norm).__name__}")
            check_size("layer_norm", "units", layer_norm.units, units,
                       f"units = {units} from recurrent_kernel")
        self.layer_norm = layer_norm
        self.coupled_gates = _coupled_gates(coupled_gates, input_forget)
        # True exactly for ONNX's coupling f = 1 - i (the older boolean, still read by callers).
        self.input_forget = self.coupled_gates == "input_forget"
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.output_activation = (self.activation if output_activation is None
                                  else activations.get(output_activation))

    @property
    def units(self) -> int:
        """U, Keras's ``units`` (TF1's ``num_units``, PyTorch's ``hidden_size``): the size of c."""
        return self.recurrent_kernel.shape[1] // 4

    @property
    def output_size(self) -> int:
        """The size of h: ``units``, or the projection's size (TF1's ``num_proj``, PyTorch's
        ``proj_size``)."""
        return self.recurrent_kernel.shape[0]

    @property
    def features(self) -> int:
        """F, the size of each input step."""
        return self.kernel.shape[0]

    @property
    def use_bias(self) -> bool:
        return self.bias is not None

    @property
    def arrays(self) -> dict[str, np.ndarray | None]:
        """The weight arrays, by name (None for the absent ones)."""
        return {"kernel": self.kernel, "recurrent_kernel": self.recurrent_kernel,
                "bias": self.bias, "peephole": self.peephole, "projection": self.projection}

    @property
    def dtype(self) -> np.dtype:
        """The dtype the weights were given in (the widest of the arrays)."""
        return np.result_type(*(a for a in self.arrays.values() if a is not None))

    def options(self) -> dict[str, Any]:
        """The options that differ from a plain Keras LSTM, by name (empty for a plain one)."""
        defaults = {"peephole": None, "cell_clip": None, "gate_clip": None, "forget_bias": 0.0,
                    "coupled_gates": None, "projection": None, "proj_clip": None,
                    "layer_norm": None}
        changed = {}
        for name, default in defaults.items():
            value = getattr(self, name)
            if (value is not None) if default is None else (value != default):
                changed[name] = value
        if self.projection is None:  # proj_clip acts on the projection only
            changed.pop("proj_clip", None)
        if self.output_activation is not self.activation:
            changed["output_activation"] = self.output_activation.name
        return changed

    def replace(self, **changes: Any) -> "LSTMWeights":
        """A copy with some arguments changed (validated as a new LSTMWeights)."""
        arguments = {"kernel": self.kernel, "recurrent_kernel": self.recurrent_kernel,
                     "bias": self.bias, "activation": self.activation,
                     "recurrent_activation": self.recurrent_activation,
                     "peephole": self.peephole, "cell_clip": self.cell_clip,
                     "gate_clip": self.gate_clip, "forget_bias": self.forget_bias,
                     "coupled_gates": self.coupled_gates, "projection": self.projection,
                     "proj_clip": self.proj_clip, "layer_norm": self.layer_norm,
                     "output_activation": None if self.output_activation is self.activation
                     else self.output_activation}
        unknown = sorted(set(changes) - set(arguments) - {"input_forget"})
        if unknown:
            raise OptionError(f"LSTMWeights has no argument(s) {unknown}")
        # The constructor derives ONNX's coupling from input_forget; a "cifg" coupling stays
        # (and meets input_forget=True with the constructor's error).
        if ("input_forget" in changes and "coupled_gates" not in changes
                and self.coupled_gates == "input_forget"):
            arguments["coupled_gates"] = None
        return LSTMWeights(**{**arguments, **changes})

    def param_count(self) -> int:
        """Number of parameters: 4 * ((F + U) * U + U) with bias, as Keras's count_params()
        (plus 3U with peepholes, U * P with a projection, whose h then has size P, and a
        layer_norm's gains and shifts). The unused blocks of coupled gates are counted: they
        are stored, though TFLite's CIFG has no tensors for them."""
        norm = self.layer_norm
        extra = 0 if norm is None else norm.gain.size + (
            0 if norm.cell_gain is None else 2 * norm.cell_gain.size)
        return sum(a.size for a in self.arrays.values() if a is not None) + extra

    def to_keras(self) -> list[np.ndarray]:
        """[kernel, recurrent_kernel, bias] for a Keras LSTM's set_weights (see
        lstm_ref.layouts.to_keras; a forget_bias is folded into the bias)."""
        return layouts.to_keras(self)

    def to_torch_state_dict(self, layer: int = 0,
                            reverse: bool = False) -> dict[str, np.ndarray]:
        """torch.nn.LSTM's parameters for layer ``layer`` (the backward direction if
        ``reverse``), named as its state_dict names them: weight_ih_l0, ..._reverse."""
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        return {f"{name}{suffix}": array for name, array in layouts.to_torch(self).items()}

    def to_onnx(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """An ONNX LSTM's inputs for this one direction, with the num_directions axis:
        ``({"W": (1, 4U, F), "R": ..., "B": ..., "P": ...}, attributes)`` (see
        lstm_ref.layouts.to_onnx)."""
        arrays, attributes = layouts.to_onnx(self)
        return {name: array[None] for name, array in arrays.items()}, attributes

    def to_tf1(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """A TF1 LSTMCell's variables and options (see lstm_ref.layouts.to_tf1)."""
        return layouts.to_tf1(self)

    def gates(self) -> dict[str, dict[str, np.ndarray | None]]:
        """Per-gate views: ``{"i": {"kernel": (F, U), "recurrent_kernel": (P, U), "bias": (U,)}, ...}``."""
        kernels = layouts.split_gates(self.kernel)
        recurrents = layouts.split_gates(self.recurrent_kernel)
        biases: dict[str, np.ndarray | None] = dict.fromkeys(kernels)
        if self.bias is not None:
            biases.update(layouts.split_gates(self.bias))
        return {name: {"kernel": kernels[name], "recurrent_kernel": recurrents[name],
                       "bias": biases[name]} for name in kernels}

    def __repr__(self) -> str:
        extra = "".join(f", {name}={'...' if isinstance(value, np.ndarray) else repr(value)}"
                        for name, value in self.options().items())
        size = f", output_size={self.output_size}" if self.projection is not None else ""
        return (f"LSTMWeights(units={self.units}, features={self.features}{size}, "
                f"use_bias={self.use_bias}, activation={self.activation.name!r}, "
                f"recurrent_activation={self.recurrent_activation.name!r}{extra}, "
                f"dtype={self.dtype})")


def _frozen_copy(array: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(array).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueRangeError(f"{name} must be finite; received {array[where]} at index {where}")
    copy = np.array(array, copy=True)
    copy.setflags(write=False)
    return copy


def _finite_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{name} must be a number; received {value!r}") from exc
    if not np.isfinite(number):
        raise ValueRangeError(f"{name} must be finite; received {value!r}")
    return number


def _coupled_gates(coupled_gates: Any, input_forget: Any) -> str | None:
    """LSTMWeights' coupled_gates from its two spellings, or an OptionError naming the argument."""
    if not isinstance(input_forget, (bool, np.bool_)):
        raise OptionError(f"input_forget must be True or False; received {input_forget!r}")
    if coupled_gates is not None and coupled_gates not in COUPLED_GATES:
        raise OptionError(f"coupled_gates must be None, 'input_forget' (f = 1 - i, ONNX) or "
                          f"'cifg' (i = 1 - f, TFLite); received {coupled_gates!r}")
    if input_forget and coupled_gates not in (None, "input_forget"):
        raise OptionError(f"input_forget=True means coupled_gates='input_forget' (f = 1 - i); "
                          f"received also coupled_gates={coupled_gates!r}: give one of them")
    return "input_forget" if input_forget else coupled_gates


def _clip_value(value: Any, name: str) -> float | None:
    if value is None:
        return None
    number = _finite_float(value, name)
    if number <= 0:
        raise ValueRangeError(f"{name} must be positive (it clips to [-{name}, {name}]); "
                              f"received {value!r}")
    return number
