"""Several LSTM layers, each with one or two directions: PyTorch's ``num_layers`` and
``bidirectional``, ONNX's ``direction``, a chain of Keras LSTM layers.

Layer k reads layer k - 1's output sequence. A bidirectional layer runs its forward weights on
the sequence and its backward weights on the reversed sequence (``go_backwards``), flips the
backward outputs back to time order and concatenates the two on the last axis. A mask applies
to every layer: a masked step keeps each direction's state (for a right-padded mask, the
backward direction so starts at each row's last valid step, as PyTorch's packed sequences and
ONNX's ``sequence_lens`` do).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref.checks import as_float_array
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.reference import Trace, forward
from lstm_ref.weights import LSTMWeights

__all__ = ["StackTrace", "forward_stack"]


@dataclass
class StackTrace:
    """What :func:`forward_stack` computed.

    Attributes:
        layers: per layer, a tuple of Traces, one per direction (each in its processing
            order: the backward one in reversed time).
        outputs: (B, T, directions * output_size) of the last layer, in time order.
        final_h, final_c: lists of (B, size) arrays, one per layer and direction, in the order
            layer 0 forward, layer 0 backward, layer 1 forward... (PyTorch's h_n order).
    """

    layers: list[tuple[Trace, ...]]
    outputs: np.ndarray
    final_h: list[np.ndarray]
    final_c: list[np.ndarray]


def forward_stack(x: ArrayLike,
                  layers: Sequence[LSTMWeights | Sequence[LSTMWeights]],
                  initial_state: Sequence[Sequence[ArrayLike]] | None = None,
                  mask: ArrayLike | None = None, dtype: Any = "float64",
                  zero_output_for_mask: bool = False, keep: str = "states") -> StackTrace:
    """Run a stack of (possibly bidirectional) LSTM layers.

    Args:
        x: (batch, time, features) input.
        layers: a list with, per layer, an :class:`LSTMWeights` (one direction) or a pair
            ``(forward, backward)`` of them.
        initial_state: None (zeros), or a list of ``[h0, c0]`` pairs, one per layer and
            direction in the order of ``final_h``.
        mask: None or (batch, time) booleans, applied to every layer.
        dtype: the format to run in (see :func:`lstm_ref.forward`).
        zero_output_for_mask: masked steps output zeros (PyTorch's padding, ONNX) instead of
            repeating the previous output (Keras).
        keep: as in :func:`lstm_ref.forward` ("states" or "gates": every layer's sequences
            are needed as the next layer's input).

    Returns:
        A :class:`StackTrace`.
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise OptionError(f"layers must be a non-empty list of LSTMWeights or (forward, "
                          f"backward) pairs; received {layers!r:.80}")
    directions = [_directions(layer, index) for index, layer in enumerate(layers)]
    count = sum(len(d) for d in directions)
    states = _states(initial_state, count)
    if keep not in ("states", "gates"):
        raise OptionError(f"keep must be 'states' or 'gates' for a stack; received {keep!r}")
    y = as_float_array(x, "x", ndim=3, axes="(batch, time, features)")
    traces, finals, position = [], [], 0
    for index, pair in enumerate(directions):
        expected = sum(w.output_size for w in directions[index - 1]) if index else None
        if index and pair[0].features != expected:
            raise ShapeError(f"layer {index} takes {pair[0].features} features; layer "
                             f"{index - 1} outputs {expected}")
        runs = []
        for direction, weights in enumerate(pair):
            runs.append(forward(y, weights, initial_state=states[position], mask=mask,
                                go_backwards=direction == 1, dtype=dtype, keep=keep,
                                zero_output_for_mask=zero_output_for_mask))
            position += 1
        traces.append(tuple(runs))
        finals.extend(runs)
        outputs = [cast(np.ndarray, run.outputs) for run in runs]  # kept: keep is not "final"
        halves = [outputs[0]] + ([outputs[1][:, ::-1]] if len(outputs) == 2 else [])
        y = np.concatenate(halves, axis=-1) if len(halves) == 2 else halves[0]
    return StackTrace(layers=traces, outputs=y, final_h=[t.final_h for t in finals],
                      final_c=[t.final_c for t in finals])


def _directions(layer: object, index: int) -> tuple[LSTMWeights, ...]:
    pair = tuple(layer) if isinstance(layer, (list, tuple)) else (layer,)
    if len(pair) not in (1, 2) or not all(isinstance(w, LSTMWeights) for w in pair):
        raise OptionError(f"layers[{index}] must be an LSTMWeights or a (forward, backward) "
                          f"pair of them; received {layer!r:.80}")
    if len(pair) == 2 and (pair[0].features, pair[0].output_size) != (pair[1].features,
                                                                       pair[1].output_size):
        raise ShapeError(f"layers[{index}]: the backward weights (features "
                         f"{pair[1].features}, output_size {pair[1].output_size}) do not match "
                         f"the forward ones ({pair[0].features}, {pair[0].output_size})")
    return pair


def _states(initial_state: Sequence[Sequence[ArrayLike]] | None,
            count: int) -> list[Sequence[ArrayLike] | None]:
    if initial_state is None:
        return [None] * count
    if not isinstance(initial_state, (list, tuple)) or len(initial_state) != count:
        raise ShapeError(f"initial_state must be a list of {count} [h0, c0] pairs (one per "
                         f"layer and direction); received "
                         f"{len(initial_state) if hasattr(initial_state, '__len__') else initial_state!r}")
    return list(initial_state)
