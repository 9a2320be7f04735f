"""Input validation shared by the core: every error names the argument, the expected and
the received value."""

from typing import Any

import numpy as np

from lstm_ref.errors import DTypeError, ShapeError, ValueRangeError

__all__ = ["describe", "as_float_array", "check_size", "as_mask"]


def describe(value: object) -> str:
    """A short description of ``value`` for error messages: its type, shape and dtype."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    return f"{type(value).__name__} {value!r:.60}"


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
