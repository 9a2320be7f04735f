"""A Keras-style bidirectional LSTM in the NumPy core: two directions over the same input,
merged as ``keras.layers.Bidirectional`` merges them.

    forward  = forward(x, forward_weights)                  time order
    backward = forward(x, backward_weights, go_backwards)   processing order: T-1 down to 0
    return_sequences=True:  merge(forward.outputs, backward.outputs flipped back to time order)
    return_sequences=False: merge(forward.last_output, backward.last_output)
    merge: concat (on the last axis), sum, ave, mul, or None (both, unmerged)
    states: [h_forward, c_forward, h_backward, c_backward]

Keras's Bidirectional sets each direction's ``zero_output_for_mask`` to ``return_sequences``,
which is the default here. (``lstm_ref.forward_stack`` aligns a bidirectional layer's two
directions in time at every step, as PyTorch and ONNX do: what a Keras Bidirectional returns
with ``return_sequences=False`` is the backward direction's last step, its time step 0.)
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref import precision
from lstm_ref.checks import as_bool
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.reference import Trace, forward
from lstm_ref.weights import LSTMWeights

__all__ = ["MERGE_MODES", "merge", "split_states", "BidirectionalTrace",
           "forward_bidirectional"]

MERGE_MODES = ("concat", "sum", "ave", "mul", None)


def merge(mode: str | None, y: Any, y_rev: Any) -> Any:
    """Keras's merge of the two directions' outputs (``mode`` None: the pair, unmerged)."""
    if mode == "concat":
        return np.concatenate([y, y_rev], axis=-1)
    if mode == "sum":
        return y + y_rev
    if mode == "ave":
        return (y + y_rev) / 2
    if mode == "mul":
        return y * y_rev
    if mode is None:
        return (y, y_rev)
    raise OptionError(f"merge_mode must be one of {MERGE_MODES}; received {mode!r}")


def split_states(initial_state: Sequence[ArrayLike] | None
                 ) -> tuple[list[ArrayLike] | None, list[ArrayLike] | None]:
    """[h_f, c_f, h_b, c_b] -> ([h_f, c_f], [h_b, c_b]); None -> (None, None)."""
    if initial_state is None:
        return None, None
    if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 4:
        length = len(initial_state) if hasattr(initial_state, "__len__") else "?"
        raise ShapeError("a bidirectional LSTM takes initial_state=[h_forward, c_forward, "
                         "h_backward, c_backward]; received "
                         f"{type(initial_state).__name__} of length {length}")
    return list(initial_state[:2]), list(initial_state[2:])


@dataclass
class BidirectionalTrace:
    """What :func:`forward_bidirectional` computed.

    Attributes:
        output: the merged output: (B, T, 2U) for concat with return_sequences, (B, T, U) for
            sum / ave / mul, (B, 2U) or (B, U) without return_sequences; with merge_mode None
            the pair (forward, backward), the backward one in time order.
        forward: the forward direction's Trace (time order).
        backward: the backward direction's Trace, in its processing order (time T-1 first).
    """

    output: Any
    forward: Trace
    backward: Trace

    @property
    def states(self) -> list[np.ndarray]:
        """[h_forward, c_forward, h_backward, c_backward], as the layer returns them."""
        return [self.forward.final_h, self.forward.final_c, self.backward.final_h,
                self.backward.final_c]


def forward_bidirectional(x: ArrayLike, forward_weights: LSTMWeights,
                          backward_weights: LSTMWeights, merge_mode: str | None = "concat",
                          return_sequences: bool = True,
                          initial_state: Sequence[ArrayLike] | None = None,
                          mask: ArrayLike | None = None, dtype: Any = "float64",
                          zero_output_for_mask: bool | None = None) -> BidirectionalTrace:
    """Run a bidirectional LSTM as ``keras.layers.Bidirectional(LSTM(...))`` does.

    Args:
        x: (batch, time, features) input.
        forward_weights, backward_weights: each direction's LSTMWeights.
        merge_mode: "concat", "sum", "ave", "mul" or None (see :func:`merge`).
        return_sequences: every step's merged output, or the last one's.
        initial_state: None (zeros) or [h_forward, c_forward, h_backward, c_backward].
        mask: None or (batch, time) booleans, for both directions.
        dtype: the format to run in (see :func:`lstm_ref.forward`); the merge is one more
            operation in it.
        zero_output_for_mask: masked steps output zeros; None: ``return_sequences``, as
            Keras's Bidirectional sets it.

    Returns:
        A :class:`BidirectionalTrace`.

    >>> import numpy as np, lstm_ref
    >>> rng = np.random.default_rng(0)
    >>> w = [lstm_ref.LSTMWeights(rng.normal(size=(3, 8)), rng.normal(size=(2, 8)))
    ...      for _ in range(2)]
    >>> trace = lstm_ref.forward_bidirectional(rng.normal(size=(4, 5, 3)), *w)
    >>> trace.output.shape, len(trace.states)
    ((4, 5, 4), 4)
    """
    if merge_mode not in MERGE_MODES:
        raise OptionError(f"merge_mode must be one of {MERGE_MODES}; received {merge_mode!r}")
    return_sequences = as_bool(return_sequences, "return_sequences")
    zero = (return_sequences if zero_output_for_mask is None
            else as_bool(zero_output_for_mask, "zero_output_for_mask"))
    forward_state, backward_state = split_states(initial_state)
    fmt = precision.get(dtype)
    ahead = forward(x, forward_weights, initial_state=forward_state, mask=mask, dtype=dtype,
                    zero_output_for_mask=zero)
    behind = forward(x, backward_weights, initial_state=backward_state, mask=mask,
                     go_backwards=True, dtype=dtype, zero_output_for_mask=zero)
    if return_sequences:
        y, y_rev = ahead.outputs, cast(np.ndarray, behind.outputs)[:, ::-1]  # keep="states"
    else:
        y, y_rev = ahead.last_output, behind.last_output
    merged = merge(merge_mode, y, y_rev)
    if merge_mode not in (None, "concat"):  # one more operation, rounded in the format
        with np.errstate(over="ignore", invalid="ignore"):
            merged = fmt.round(np.asarray(merged, fmt.compute)).astype(fmt.storage, copy=False)
    return BidirectionalTrace(output=merged, forward=ahead, backward=behind)
