"""Assertions for downstream test suites: hold your own LSTM layers to the reference.

    from lstm_ref.testing import assert_lstm_equivalent

    def test_encoder_lstm():
        assert_lstm_equivalent(model.get_layer("encoder"))          # random inputs, seeded

The pytest plugin (lstm_ref.pytest_plugin, loaded by pytest once lstm-ref is installed) adds
the ``lstm_ref_check`` fixture, which does the same with a seed taken from the test's id, and
lists every check, the fixture's and direct calls alike, in pytest's summary (through
:func:`recording`). For unittest, ``tf.test.TestCase`` and absl's ``parameterized.TestCase``,
the :class:`LSTMAssertions` mixin does what the fixture does::

    class EncoderTest(LSTMAssertions, unittest.TestCase):
        def test_encoder(self):
            layer = keras.layers.LSTM(16)
            layer.build((4, 20, 8))              # its weights seeded from the test's id
            self.assertLSTMEquivalent(layer)     # so are its inputs
"""

import contextlib
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref.api import assert_equivalent, assert_gradients_equivalent
from lstm_ref.errors import OptionError
from lstm_ref.report import Report
from lstm_ref.tolerance import Tolerance

__all__ = ["assert_lstm_equivalent", "random_input", "recording", "seed_of", "seed_frameworks",
           "with_reproducer", "LSTMAssertions"]

# unittest leaves the frames of modules that define this out of a failure's traceback.
__unittest = True

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


def seed_of(test_id: str) -> int:
    """The seed of a test's random draws, from its id alone (pytest's node id, unittest's
    ``TestCase.id()``): the same alone, under ``-k`` and under pytest-xdist."""
    return zlib.crc32(test_id.encode())


def seed_frameworks(seed: int) -> None:
    """Seed the random draws of the frameworks already imported (none is imported here): a
    layer built after this draws the same weights on every run of the test."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.set_random_seed(seed)  # Python's, NumPy's and the backend's
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:  # tf_keras and TF1 cells draw from TensorFlow's
        tensorflow.random.set_seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def with_reproducer(message: str, seed: int, command: str) -> str:
    """A check's failure message ended with its seed and the command that re-runs it alone."""
    return (f"{message}\nseed: {seed} (from the test's id; the frameworks' own random draws "
            f"seeded too)\nreproduce: {command}")


class LSTMAssertions:
    """Assertions for ``unittest.TestCase`` and its kin (``tf.test.TestCase``, absl's
    ``parameterized.TestCase``): mix it in before the TestCase class.

    ``setUp`` seeds the frameworks already imported from the test's id (so the layer a test
    builds has the same weights on every run) and every check draws its inputs from the same
    seed; a failure is the report (first failing step, tensor, batch, unit, both values, the
    error and the bound), then the seed and a ``python -m unittest`` line that re-runs the
    test alone.

    >>> import unittest
    >>> class Example(LSTMAssertions, unittest.TestCase):
    ...     def test_nothing(self):
    ...         pass
    >>> Example("test_nothing").lstm_ref_seed == seed_of(Example("test_nothing").id())
    True
    """

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        seed_frameworks(self.lstm_ref_seed)

    @property
    def lstm_ref_seed(self) -> int:
        """This test's seed (:func:`seed_of` its id)."""
        return seed_of(self.id())  # type: ignore[attr-defined]

    def _reproducing(self, check: Callable[[], Any], seed: int) -> Any:
        try:
            return check()
        except AssertionError as exc:
            raise self.failureException(  # type: ignore[attr-defined]
                with_reproducer(str(exc), seed, f"python -m unittest {self.id()}")  # type: ignore[attr-defined]
            ) from None

    def assertLSTMEquivalent(self, layer: object, x: ArrayLike | None = None,  # noqa: N802
                             **options: Any) -> Report | tuple[Report, Report]:
        """:func:`assert_lstm_equivalent` with this test's seed (unless ``seed=`` is given)."""
        seed = options.setdefault("seed", self.lstm_ref_seed)
        return self._reproducing(lambda: assert_lstm_equivalent(layer, x, **options), seed)

    def assertLSTMGradientsEquivalent(self, layer: object, x: ArrayLike | None = None,  # noqa: N802
                                      **options: Any) -> tuple[Report, Report]:
        """The forward and the gradients (``gradients=True``), with this test's seed."""
        options["gradients"] = True
        return cast(tuple[Report, Report], self.assertLSTMEquivalent(layer, x, **options))

    def assertLSTMReportPassed(self, report: Report) -> Report:  # noqa: N802
        """A report (of a grid case, of ``lstm_ref.compare``) must have PASSED: its summary
        otherwise (a grid case's names its seed and how to rebuild it), and the command that
        re-runs this test alone."""
        if report.passed:
            return report
        raise self.failureException(  # type: ignore[attr-defined]
            f"{report.summary()}\nrerun: python -m unittest {self.id()}")  # type: ignore[attr-defined]

