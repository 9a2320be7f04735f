"""Layer-normalised LSTMs: TF contrib's LayerNormBasicLSTMCell and TFLite's layer-norm LSTM.

Both normalise each gate's pre-activation over the units of a row,
norm(v) = (v - mean(v)) / sqrt(var(v) + epsilon), and add the bias after it:

    z_k = x_t W_k + h_{t-1} R_k  (+ p_k * c with peepholes)       k = i, f, c, o; no bias
    z_k = norm(z_k) * gain_k + bias_k   (+ forget_bias for f)     then the gates as usual
    c_t = f * c_{t-1} + i * g
    c_t = norm(c_t) * cell_gain + cell_shift                       (contrib only)
    h_t = o * activation(c_t)

- TFLite (``LayerNorm.tflite``): gain_k are the ``{input,forget,cell,output}_layer_norm_
  coefficients``, bias_k the gate biases, epsilon 1e-8 (lstm_eval.cc's kLayerNormEpsilon);
  i and f see the peephole of c_{t-1}, o of c_t, all before the normalisation; c is not
  normalised.
- TF contrib (``LayerNormBasicLSTMCell``, ``LayerNorm.tf_contrib``): gain_k and bias_k are
  the gamma and beta of its "input", "forget", "transform" (= c) and "output" norms (its
  matmul has no bias of its own when it normalises); forget_bias is added after the
  normalisation; the new c is normalised with the "state" gamma and beta, and that
  normalised c is both the state and what h is made from; epsilon 1e-12
  (tf.contrib.layers.layer_norm's variance_epsilon). No peepholes, clips or projection.

The mean and variance are over the units of one row, in two passes (a framework's one-pass
variance differs from it by rounding only). lstm_ref.reference calls :class:`Applied`;
lstm_ref.gradients refuses layer-normalised weights.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref.checks import as_float_array, check_size
from lstm_ref.errors import OptionError, ValueRangeError

__all__ = ["TFLITE_EPSILON", "TF_CONTRIB_EPSILON", "Applied", "LayerNorm", "normalize"]

TFLITE_EPSILON = 1e-8
TF_CONTRIB_EPSILON = 1e-12


class LayerNorm:
    """The normalisation of a layer-normalised LSTM (``LSTMWeights(layer_norm=...)``).

    Args:
        gain: (4, units), the gain of each gate's normalised pre-activation, rows in Keras
            gate order i, f, c, o.
        epsilon: added to the variance (TFLITE_EPSILON, TF_CONTRIB_EPSILON).
        cell_gain, cell_shift: None (c is not normalised), or (units,) each: the new c is
            normalised and scaled, and the result is the state.

    The shift of each gate is LSTMWeights' bias, added after the normalisation.

    >>> import numpy as np, lstm_ref
    >>> from lstm_ref.layer_norm import LayerNorm
    >>> norm = LayerNorm.tflite(np.ones((4, 2)))
    >>> w = lstm_ref.LSTMWeights(np.ones((1, 8)), np.ones((2, 8)), np.zeros(8), layer_norm=norm)
    >>> # every gate's pre-activation is the same on both units: normalised to 0
    >>> lstm_ref.forward(np.ones((1, 1, 1)), w, keep="gates").gates["i"].tolist()
    [[[0.5, 0.5]]]
    """

    def __init__(self, gain: ArrayLike, epsilon: float, cell_gain: ArrayLike | None = None,
                 cell_shift: ArrayLike | None = None) -> None:
        gain = as_float_array(gain, "gain", ndim=2, axes="(4, units)")
        check_size("gain", "first dimension", gain.shape[0], 4, "one row per gate i, f, c, o")
        try:
            eps = float(epsilon)
        except (TypeError, ValueError) as exc:
            raise OptionError(f"epsilon must be a number; received {epsilon!r}") from exc
        if not (np.isfinite(eps) and eps > 0):
            raise ValueRangeError(f"epsilon must be finite and positive (a constant row would "
                                  f"divide 0 by 0); received {epsilon!r}")
        if (cell_gain is None) != (cell_shift is None):
            raise OptionError("cell_gain and cell_shift come together (c normalised) or not at "
                              f"all; received only {'cell_gain' if cell_shift is None else 'cell_shift'}")
        self.gain = _frozen(gain, "gain")
        self.epsilon = eps
        self.cell_gain = self.cell_shift = None
        if cell_gain is not None and cell_shift is not None:
            arrays = [as_float_array(a, n, ndim=1, axes="(units,)")
                      for a, n in ((cell_gain, "cell_gain"), (cell_shift, "cell_shift"))]
            for array, name in zip(arrays, ("cell_gain", "cell_shift")):
                check_size(name, "shape", array.shape, (self.units,),
                           f"(units,) with units = {self.units} from gain")
            self.cell_gain, self.cell_shift = (_frozen(a, n) for a, n in
                                               zip(arrays, ("cell_gain", "cell_shift")))

    @classmethod
    def tflite(cls, gain: ArrayLike) -> "LayerNorm":
        """TFLite's layer-norm LSTM: ``gain`` (4, units) from its four layer-norm coefficient
        tensors (with CIFG, the input row is unused: zeros do), epsilon 1e-8, c not
        normalised."""
        return cls(gain, TFLITE_EPSILON)

    @classmethod
    def tf_contrib(cls, gain: ArrayLike, cell_gain: ArrayLike,
                   cell_shift: ArrayLike) -> "LayerNorm":
        """TF contrib's LayerNormBasicLSTMCell: ``gain`` (4, units) from the gammas of its
        "input", "forget", "transform", "output" norms (Keras order i, f, c, o: "transform"
        is c); the "state" norm's gamma and beta; epsilon 1e-12. The gates' betas are the
        LSTMWeights' bias."""
        return cls(gain, TF_CONTRIB_EPSILON, cell_gain, cell_shift)

    @property
    def units(self) -> int:
        return self.gain.shape[1]

    @property
    def normalizes_cell(self) -> bool:
        return self.cell_gain is not None

    def __eq__(self, other: object) -> bool:
        """Equal when every array and epsilon are (as LSTMWeights.options compares options)."""
        if not isinstance(other, LayerNorm):
            return NotImplemented
        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            return (a is None and b is None) or (
                a is not None and b is not None and np.array_equal(a, b))

        return (self.epsilon == other.epsilon and same(self.gain, other.gain)
                and same(self.cell_gain, other.cell_gain)
                and same(self.cell_shift, other.cell_shift))

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: compared, not hashed

    def __repr__(self) -> str:
        return (f"LayerNorm(units={self.units}, epsilon={self.epsilon:g}, "
                f"normalizes_cell={self.normalizes_cell})")


def normalize(v: np.ndarray, epsilon: float,
              r: Callable[[np.ndarray], np.ndarray] = lambda a: a) -> np.ndarray:
    """(v - mean) / sqrt(var + epsilon) over the last axis, each operation's result
    rounded by ``r`` (a precision.Format's ``round``)."""
    mean = r(np.mean(v, axis=-1, keepdims=True))
    d = r(v - mean)
    var = r(np.mean(r(d * d), axis=-1, keepdims=True))
    return r(d / r(np.sqrt(r(var + epsilon))))


class Applied:
    """A LayerNorm in a run's format, with the bias it adds after normalising: what
    lstm_ref.reference.Cell calls. ``gate(z, k)``: gate k's (0..3 for i, f, c, o)
    pre-activation normalised, scaled and shifted; ``cell(c)``: the new c normalised
    (unchanged where the LayerNorm does not normalise c)."""

    def __init__(self, norm: LayerNorm, bias: np.ndarray | None, to_format: Callable[[Any], Any],
                 compute: np.dtype, r: Callable[[np.ndarray], np.ndarray]) -> None:
        self.norm, self.r = norm, r
        units = norm.units
        self.gain = to_format(norm.gain.astype(compute))
        self.bias = (None if bias is None
                     else [bias[k * units:(k + 1) * units] for k in range(4)])
        self.cell_gain = self.cell_shift = None
        if norm.cell_gain is not None and norm.cell_shift is not None:
            self.cell_gain = to_format(norm.cell_gain.astype(compute))
            self.cell_shift = to_format(norm.cell_shift.astype(compute))

    def gate(self, z: np.ndarray, k: int) -> np.ndarray:
        r = self.r
        out = r(normalize(z, self.norm.epsilon, r) * self.gain[k])
        return out if self.bias is None else r(out + self.bias[k])

    def cell(self, c: np.ndarray) -> np.ndarray:
        if self.cell_gain is None:
            return c
        r = self.r
        return r(r(normalize(c, self.norm.epsilon, r) * self.cell_gain) + self.cell_shift)


def _frozen(array: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(array).all():
        raise ValueRangeError(f"layer_norm {name} must be finite")
    copy = np.array(array, np.float64, copy=True)
    copy.setflags(write=False)
    return copy
