"""Assertions for downstream test suites: hold your own LSTM layers to the reference.

    from lstm_ref.testing import assert_lstm_equivalent

    def test_encoder_lstm():
        assert_lstm_equivalent(model.get_layer("encoder"))          # random inputs, seeded

The pytest plugin (lstm_ref.pytest_plugin, loaded by pytest once lstm-ref is installed) adds
the ``lstm_ref_check`` fixture, which does the same with a seed taken from the test's id, and
lists every check, the fixture's and direct calls alike, in pytest's summary (through
:func:`recording`).
"""

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref.api import assert_equivalent, assert_gradients_equivalent
from lstm_ref.errors import OptionError
from lstm_ref.report import Report
from lstm_ref.tolerance import Tolerance

__all__ = ["assert_lstm_equivalent", "random_input", "recording"]

# Who is told of each check's outcome (worst error/bound, or None for a failure): the pytest
# plugin, around each test.
RECORDER: ContextVar[Callable[[float | None], None] | None] = ContextVar("RECORDER",
                                                                        default=None)


@contextlib.contextmanager
def recording(record: Callable[[float | None], None]) -> Iterator[None]:
    """Within the block, every :func:`assert_lstm_equivalent` calls ``record`` with its
    outcome: the worst error/bound of the check, or None if it failed."""
    token = RECORDER.set(record)
    try:
        yield
    finally:
        RECORDER.reset(token)


def assert_lstm_equivalent(layer: object, x: ArrayLike | None = None, *, batch: int = 2,
                           time: int = 9, seed: int = 0,
                           initial_state: Sequence[Any] | None = None,
                           mask: ArrayLike | None = None, gradients: bool = False,
                           tolerance: Tolerance | None = None,
                           **options: Any) -> Report | tuple[Report, Report]:
    """Assert that ``layer`` computes what the reference computes, step by step.

    Args:
        layer: anything ``lstm_ref.compare`` takes (a Keras or tf_keras LSTM, Bidirectional or
            model, a torch.nn.LSTM, a TF1 cell, an ONNX model), built.
        x: the input, or None to draw one uniformly in [-1, 1) of shape (batch, time,
            features) from ``seed`` (Keras layers and torch.nn.LSTM; torch's layout followed).
        batch, time, seed: the drawn input's sizes and seed.
        initial_state, mask, tolerance, **options: as in ``lstm_ref.compare``.
        gradients: also compare the gradients (``lstm_ref.compare_gradients``; Keras LSTMs).

    Returns:
        The Report (with ``gradients``, a pair: the forward Report and the gradient Report).

    Raises:
        AssertionError: with the report's summary (first failing step, tensor, batch, unit,
            the error and the tolerance, then a reproducer) if the layer departs.
    """
    __tracebackhide__ = True  # a failure points at the caller
    record = RECORDER.get() or (lambda outcome: None)
    if x is None:
        x = random_input(layer, batch, time, seed)
    try:
        report = assert_equivalent(layer, x, initial_state=initial_state, mask=mask,
                                   tolerance=tolerance, **options)
        if not gradients:
            record(report.worst_ratio)
            return report
        gradient_report = assert_gradients_equivalent(
            layer, x, initial_state=initial_state, mask=mask, seed=seed)
    except AssertionError:
        record(None)
        raise
    record(max(report.worst_ratio, gradient_report.worst_ratio))
    return report, gradient_report


def random_input(layer: Any, batch: int, time: int, seed: int) -> np.ndarray:
    """A seeded uniform input for a Keras layer or a torch.nn.LSTM, in its layout."""
    rng = np.random.default_rng(seed)
    torch_input = getattr(layer, "input_size", None)
    if torch_input is not None and hasattr(layer, "batch_first"):
        shape = (batch, time, torch_input) if layer.batch_first else (time, batch, torch_input)
        return rng.uniform(-1, 1, shape).astype(np.float32)
    features = _keras_features(layer)
    if features is None:
        raise OptionError(f"cannot draw an input for a {type(layer).__qualname__}: pass x= "
                          "(random inputs are drawn for Keras layers and torch.nn.LSTM)")
    return rng.uniform(-1, 1, (batch, time, features)).astype(np.float32)


def _keras_features(layer: Any) -> int | None:
    """The input size of a Keras layer (LSTM, RNN, Bidirectional, stacked cells) or model."""
    cell = getattr(layer, "cell", None) or getattr(getattr(layer, "forward_layer", None),
                                                   "cell", None)
    cells = getattr(cell, "cells", None)  # stacked cells: the first one reads the input
    kernel = getattr(cells[0] if cells else cell, "kernel", None)
    if kernel is not None:
        return int(kernel.shape[0])
    inputs = getattr(layer, "inputs", None)  # a model: its (batch, time, features) input
    if inputs and len(inputs[0].shape) == 3:
        return int(inputs[0].shape[-1])
    return None
