"""The floating-point formats the reference runs in, and how it emulates the 16-bit ones.

float64 and float32 are NumPy's own arithmetic. float16 and bfloat16 are emulated the way
frameworks compute them on CPUs and GPUs: each operation is computed in float32 and its
result rounded to the 16-bit format (to nearest, ties to even), so a product or a matrix
product accumulates in float32 and only its result is rounded. (NumPy's native float16
matmul gives the same values but is far slower, and NumPy has no bfloat16 at all without
ml_dtypes, which the core does not depend on.)

bfloat16 keeps float32's 8 exponent bits and 7 of its 23 fraction bits: rounding a float32
to bfloat16 is rounding its bit pattern to the upper 16 bits, done here with integer
arithmetic. Emulated results are returned in float32 arrays (float16 ones in float16)
whose every value is exactly representable in the format.

float16 activations run in NumPy's float16, which rounds inside them too (each operation,
and Python float constants turned into float16), as a framework evaluating an activation's
formula on float16 tensors does: so an intermediate that leaves float16's small range
overflows as in a float16 framework (squareplus(365) computes 365 * 365 = 133225 > 65504:
inf, in Keras and here). bfloat16 activations are evaluated in float32 and rounded once
(bfloat16 has float32's range), as TensorFlow's fused kernels (log_softmax, selu) compute
them; its composite activations (gelu, squareplus) round inside as well, which the bfloat16
entry of lstm_ref.tolerance_table, calibrated with this emulation, bounds (the two ways of
emulating them compared: docs/findings/2026-12-03-16-bit-emulation.md).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref.errors import OptionError

__all__ = ["round_bfloat16", "Format", "perturb_float64", "perturbed_rounding", "flush_float32",
           "TINY32",
           "FLOAT64_EPS", "FORMATS",
           "PROBE_FORMATS", "name_of", "get"]


def _identity(array: np.ndarray) -> np.ndarray:
    return array


def _round_float16(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, np.float32).astype(np.float16).astype(np.float32)


def round_bfloat16(array: ArrayLike) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even), returned as float32.
    Overflow gives inf, as a float32 -> bfloat16 cast does; NaN stays NaN."""
    array = np.asarray(array, np.float32)
    bits = array.view(np.uint32)
    # Adding 0x7FFF plus the lowest kept bit, then truncating, rounds half to even.
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))))
    rounded = (rounded & np.uint32(0xFFFF0000)).view(np.float32)
    return np.where(np.isnan(array), array, rounded)


@dataclass(frozen=True)
class Format:
    """A floating-point format the reference can run in.

    Attributes:
        name: "float64", "float32", "float16" or "bfloat16".
        eps: the distance from 1 to the next value of the format (2 ** -fraction_bits).
        compute: the NumPy dtype arithmetic is done in.
        storage: the NumPy dtype results are returned in.
        round: maps a ``compute`` array to the nearest values of the format (the identity for
            NumPy's own formats).
        evaluate_as: maps a ``compute`` array to the array activations are evaluated on.
        convert: how inputs and weights are brought into the format, where that differs from
            ``round`` (a probe format whose operations round at random still converts its
            inputs and weights to the nearest value, as a framework casts them); None: by
            ``round``.
    """

    name: str
    eps: float
    compute: np.dtype
    storage: np.dtype
    round: Callable[[np.ndarray], np.ndarray]
    evaluate_as: Callable[[np.ndarray], np.ndarray]
    convert: Callable[[np.ndarray], np.ndarray] | None = None

    def to_format(self, array: np.ndarray) -> np.ndarray:
        """``array`` (of ``compute`` dtype) as an input or a weight in the format."""
        return (self.convert or self.round)(array)

    def activate(self, fn: Callable[[np.ndarray], np.ndarray], z: np.ndarray) -> np.ndarray:
        """``fn(z)``, every operation in the format, as an array of ``compute`` dtype."""
        return self.round(np.asarray(fn(self.evaluate_as(z)), self.compute))

    @property
    def emulated(self) -> bool:
        return self.round is not _identity


def _as_float16(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float16)


TINY32 = float(np.finfo(np.float32).tiny)


def flush_float32(array: ArrayLike) -> np.ndarray:
    """float32 values with the subnormal ones (|x| < 2 ** -126) flushed to zero, keeping the
    sign, as TensorFlow's CPU kernels flush the results of their arithmetic."""
    array = np.asarray(array, np.float32)
    small = np.abs(array) < TINY32
    if not small.any():
        return array
    return np.where(small, array * np.float32(0), array)


def perturb_float64(array: ArrayLike) -> np.ndarray:
    """Each float64 value moved by one ulp, up or down, or kept, as its own two lowest bits
    say: 01 becomes 10 and 10 becomes 01 (half the values move, a quarter each way); 00 and
    11 stay. The lowest bits of a computed result are as good as random, so this rounds
    every operation's result at random by one ulp, with no state (the same value always
    moves the same way, so a run does not depend on what ran before it). Only the two
    lowest bits change, never the exponent: zeros, infinities, NaNs and the largest finite
    values stay what they are."""
    bits = np.ascontiguousarray(array, np.float64).view(np.int64)
    flip = np.right_shift(bits, 1)  # in place from here on: one ulp costs a pass or two
    np.bitwise_xor(flip, bits, out=flip)
    np.bitwise_and(flip, 1, out=flip)  # 1 where the two lowest bits differ
    np.multiply(flip, 3, out=flip)
    np.bitwise_xor(flip, bits, out=flip)
    return flip.view(np.float64)


def perturbed_rounding(fmt: Format, low_bit: int) -> Callable[[np.ndarray], np.ndarray]:
    """The rounding of 16-bit ``fmt`` (float32 results) followed by perturb_float64's move
    at the format's own last place: each rounded value moved by one ulp of the format, up or
    down, or kept, as its two lowest kept bits (``low_bit`` and the next of the float32 bit
    pattern: 16 for bfloat16, 13 for float16) say. A framework that rounds in other places
    (TensorFlow's graph rounds x W + b once where eager rounds the product and the sum, an ulp
    of terms larger than a cancelling result) departs by such ulps at any operation; probes
    that round only where the reference does and differ only by their inputs do not see how
    far a chaotic case carries that. As for float64, the exponent never changes, and zeros,
    infinities, NaNs and the largest finite values stay. A float16 subnormal, whose last
    place lies above bit 13, is rounded again (its move is at most an ulp there too)."""
    shift, pair = np.uint32(low_bit), np.uint32(3 << low_bit)

    def rounding(array: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(fmt.round(array), np.float32).view(np.uint32)
        flip = np.bitwise_and(np.bitwise_xor(bits >> shift, bits >> (shift + 1)), 1)
        return fmt.round(np.bitwise_xor(bits, flip * pair).view(np.float32))

    return rounding


F64, F32, F16 = np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16)
FLOAT64_EPS = 2.0 ** -52
FORMATS = {
    "float64": Format("float64", FLOAT64_EPS, F64, F64, _identity, _identity),
    "float32": Format("float32", 2.0 ** -23, F32, F32, _identity, _identity),
    "float16": Format("float16", 2.0 ** -10, F32, F16, _round_float16, _as_float16),
    "bfloat16": Format("bfloat16", 2.0 ** -7, F32, F32, round_bfloat16, _identity),
}
# Formats only the tolerance probes run in (lstm_ref.tolerance), not offered as a dtype.
# float64 probes of a float64 layer compute what the reference computes, bit for bit, so they
# see no rounding; this one rounds every operation's result by one ulp at random, as a
# framework computing in another order does (Monte Carlo arithmetic, Parker 1997). Like any
# format's rounding it also applies to the weights as the reference converts them.
PROBE_FORMATS = {
    "float64-perturbed": Format("float64-perturbed", FLOAT64_EPS, F64, F64, perturb_float64,
                                _identity),
    # float32 whose results flush to zero below the smallest normal, as TensorFlow's kernels
    # flush them: a state decaying to 1e-39 is 0 there, which flips the derivative of an
    # activation with a kink at 0 (relu, relu6...) against the reference's; probes that flush
    # see that flip, and the gradient's bound covers it. For any framework it is a rounding
    # of at most 2 ** -126, within float32's own.
    "float32-ftz": Format("float32-ftz", 2.0 ** -23, F32, F32, flush_float32, _identity),
}
# The 16-bit formats with every operation's result moved by one of their ulps at random, as
# float64-perturbed: their layers' probes (see perturbed_rounding).
PROBE_FORMATS.update({
    f"{name}-perturbed": Format(f"{name}-perturbed", FORMATS[name].eps, F32, FORMATS[name].storage,
                                perturbed_rounding(FORMATS[name], low_bit),
                                FORMATS[name].evaluate_as, convert=FORMATS[name].round)
    for name, low_bit in (("float16", 13), ("bfloat16", 16))})


def name_of(dtype: Any) -> str:
    """The format name of a NumPy dtype, a dtype name, or a framework dtype with a ``name``
    (ml_dtypes' bfloat16, a TensorFlow DType...); the name is returned even if unknown."""
    if isinstance(dtype, str):
        return dtype
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def get(dtype: Any) -> Format:
    """The :class:`Format` of ``dtype`` (a Format, a name or a dtype), or OptionError."""
    if isinstance(dtype, Format):
        return dtype
    name = name_of(dtype)
    if name in PROBE_FORMATS:
        return PROBE_FORMATS[name]
    if name not in FORMATS:
        raise OptionError(f"dtype must be one of {tuple(FORMATS)}; received {name!r}")
    return FORMATS[name]
