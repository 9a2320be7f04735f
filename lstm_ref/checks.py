"""Input validation shared by the core: every error names the argument, the expected and
the received value."""

from typing import Any

import numpy as np

from lstm_ref.errors import DTypeError, OptionError, ShapeError, ValueRangeError

__all__ = ["describe", "as_float_array", "check_size", "as_mask", "lengths_mask", "mask_lengths",
           "as_bool"]


def describe(value: object) -> str:
    """A short description of ``value`` for error messages: its type, shape and dtype."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    return f"{type(value).__name__} {value!r:.60}"


def as_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (Python's or NumPy's), else OptionError: a string such as
    "False" is truthy, and taking it would silently do the opposite of what was meant.

    >>> as_bool(np.True_, "go_backwards")
    True
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise OptionError(f"{name} must be a bool (True or False); received {describe(value)}")


def as_float_array(value: Any, name: str, ndim: int | None = None,
                   axes: str | None = None) -> np.ndarray:
    """``value`` as a NumPy floating-point array, or a clear error.

    Args:
        value: anything ``np.asarray`` accepts (NumPy arrays, framework tensors, lists).
        name: the argument's name, used in error messages.
        ndim: the required number of dimensions, or None.
        axes: names of the dimensions, used to explain ``ndim`` (e.g. "(batch, time, features)").

    Returns:
        The array, not copied when it already is a floating NumPy array.
    """
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything that cannot become an array
        raise DTypeError(f"{name} must be a floating-point array; received {describe(value)} "
                         f"that NumPy cannot convert ({exc})") from exc
    if array.dtype.name == "bfloat16":  # ml_dtypes' (frameworks' bfloat16): exact in float32
        array = array.astype(np.float32)
    if array.dtype.kind != "f" or array.dtype.itemsize > 8:
        raise DTypeError(f"{name} must be a floating-point array (bfloat16, float16, float32 or "
                         f"float64); received dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        expected = f"{ndim} dimensions" + (f" {axes}" if axes else "")
        raise ShapeError(f"{name} must have {expected}; received shape {array.shape}")
    return array


def check_size(name: str, axis_name: str, received: object, expected: object, why: str) -> None:
    """Raise ShapeError unless ``received == expected``; ``why`` says where ``expected`` comes from."""
    if received != expected:
        raise ShapeError(f"{name} has {axis_name} {received}; expected {expected} ({why})")


def as_mask(mask: Any, batch: int, time: int) -> np.ndarray:
    """A (batch, time) boolean mask from a bool or 0/1 integer array, or a clear error."""
    array = np.asarray(mask)
    if array.dtype.kind not in "biu":
        raise DTypeError(f"mask must be a boolean array (or integers 0/1); received dtype {array.dtype}")
    if array.shape != (batch, time):
        raise ShapeError(f"mask must have shape (batch, time) = {(batch, time)}; "
                         f"received shape {array.shape}")
    if array.dtype.kind != "b":
        if not np.isin(array, (0, 1)).all():
            raise ValueRangeError("mask of integer dtype must hold only 0 and 1; received values "
                                  f"{np.unique(array)[:8].tolist()}")
        array = array.astype(bool)
    return array


def lengths_mask(lengths: object, batch: int, time: int, name: str = "lengths",
                 minimum: int = 0, why: str = "") -> np.ndarray:
    """Per-row valid lengths as the right-padded (batch, time) mask they stand for (True: a
    valid step), or a clear error: ``lengths`` is (batch,) whole numbers (integers, or floats
    without a fraction, as the frameworks cast them), each in [minimum, time]; ``why`` says
    where ``minimum`` comes from."""
    array = np.asarray(lengths)
    if array.dtype.kind == "f" and np.array_equal(array, np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{name} must be integers (whole numbers); received dtype "
                         f"{array.dtype} {array.tolist()!r:.80}")
    check_size(name, "shape", array.shape, (batch,), "(batch,): one length per row")
    if array.size and (array.min() < minimum or array.max() > time):
        reason = f"; {why}" if why else ""
        raise ValueRangeError(f"{name} must lie in [{minimum}, {time}] (the input's {time} "
                              f"time steps{reason}); received {array.tolist()}")
    return np.arange(time)[None, :] < array[:, None]


def mask_lengths(mask: object, batch: int, time: int, minimum: int = 0,
                 why: str = "") -> np.ndarray:
    """The per-row lengths of a right-padded (batch, time) mask (each row: valid steps, then
    padding), each at least ``minimum``, or a clear error naming the first row that is not;
    ``why`` says what needs such a mask."""
    mask = as_mask(mask, batch, time)
    lengths = mask.sum(axis=1)
    wrong = (mask != (np.arange(time)[None, :] < lengths[:, None])).any(axis=1)
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise OptionError(f"{why + ': ' if why else ''}the mask must be right-padded (each "
                          f"row: valid steps, then padding); mask row {row} is "
                          f"{mask[row].astype(int).tolist()}")
    if lengths.size and lengths.min() < minimum:
        row = int(np.argmin(lengths))
        raise ValueRangeError(f"every row of the mask needs at least {minimum} valid step(s)"
                              f"{' (' + why + ')' if why else ''}; mask row {row} has "
                              f"{int(lengths[row])}")
    return lengths
