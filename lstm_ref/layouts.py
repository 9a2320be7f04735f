"""Gate orders and layouts. Pure NumPy.

The canonical layout is Keras's: the 4U axis of kernel, recurrent_kernel and bias holds the
gates in the order i (input), f (forget), c (candidate, "g" in PyTorch, "j" in TF1), o (output).
"""

import numpy as np

KERAS_GATE_ORDER = ("i", "f", "c", "o")


def split_gates(array, axis=-1):
    """Split a Keras-layout array into its four gate blocks.

    Args:
        array: an array whose ``axis`` has length 4U, gates in Keras order i, f, c, o.
        axis: the gate axis.

    Returns:
        A dict ``{"i": ..., "f": ..., "c": ..., "o": ...}`` of views, each with U on ``axis``.
    """
    return dict(zip(KERAS_GATE_ORDER, np.split(np.asarray(array), 4, axis=axis)))


def join_gates(gates, axis=-1):
    """Inverse of :func:`split_gates`: concatenate ``gates["i"], ["f"], ["c"], ["o"]``."""
    return np.concatenate([np.asarray(gates[name]) for name in KERAS_GATE_ORDER], axis=axis)
