"""The Keras grid and the layer's semantics as a unittest suite, for TensorFlow-style test
trees (``unittest``, ``tf.test.main()``, ``bazel test``, absl) as well as pytest:

    python -m unittest lstm_ref.conformance                   # the default grid, float32
    LSTM_REF_GRID=small LSTM_REF_DTYPE=mixed_float16 python -m unittest lstm_ref.conformance
    python -m pytest --pyargs lstm_ref.conformance            # the same tests, under pytest

It needs the keras extra and ``parameterized``; it imports nothing else of the test tree, so a
team can copy this file into its own. ``KerasGrid`` has one test per grid case, named after the
case id (``test_case_units7_features3_...``): each builds the case's layer with its seeded
weights, runs it by the case's own execution path and must PASS (lstm_ref.grids.keras). The
semantic checks hold masks (left-, right-, middle-padded and fully masked rows), a stateful
layer and its reset, every Bidirectional merge mode, every execution path and the float64 and
mixed-precision dtypes to the reference. A failure is the report (step, tensor, batch, unit,
both values, the error and the bound) with the seed and the command that re-runs it alone.

Environment: ``LSTM_REF_GRID`` (small, default, full) and ``LSTM_REF_DTYPE`` (float32,
float64, float16, bfloat16, mixed_float16, mixed_bfloat16).
"""

import logging
import os
import unittest

import numpy as np
from parameterized import parameterized

from lstm_ref.grids.parameters import expand_parameters, run
from lstm_ref.testing import LSTMAssertions

__all__ = ["GRID", "DTYPE", "KerasGrid", "KerasSemantics"]

GRID = os.environ.get("LSTM_REF_GRID", "default")
DTYPE = os.environ.get("LSTM_REF_DTYPE", "float32")
# Each grid case traces its own tf.function: TensorFlow's retracing warnings say nothing here.
if logging.getLogger("tensorflow").level == logging.NOTSET:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _case_name(func, number, params):
    """The test's name: the function's, then the case id made safe for a method name."""
    return f"{func.__name__}_{parameterized.to_safe_name(params.args[0])}"


class KerasGrid(LSTMAssertions, unittest.TestCase):
    """One test per case of the Keras grid ``GRID`` in ``DTYPE``."""

    @parameterized.expand(expand_parameters("keras", GRID, DTYPE), name_func=_case_name)
    def test_case(self, case_id, case, dtype):
        import keras

        from lstm_ref.frameworks.keras.backend_cases import known_divergence, unavailable

        backend = keras.backend.backend()
        why = unavailable(case, backend)
        if why:
            self.skipTest(why)
        known = known_divergence(case, backend)
        if known:  # strict: the day Keras fixes it, this test says so by failing
            reason, raises = known
            with self.assertRaises(raises or AssertionError, msg=f"known divergence fixed? "
                                                                 f"{reason}"):
                self.assertLSTMReportPassed(run(case, dtype))
            return
        report = self.assertLSTMReportPassed(run(case, dtype))
        self.assertEqual(report.context["execution"], case.execution)


class KerasSemantics(LSTMAssertions, unittest.TestCase):
    """What the grid's pairs do not reach on their own: each semantic alone, on one layer."""

    def setUp(self):
        super().setUp()
        import keras

        self.keras = keras
        self.rng = np.random.default_rng(self.lstm_ref_seed)

    def inputs(self, batch=4, time=7, features=3):
        return self.rng.uniform(-1, 1, (batch, time, features)).astype("float32")

    def test_masks_of_every_kind(self):
        mask = np.ones((4, 7), bool)
        mask[0, 4:] = False  # right-padded
        mask[1, :3] = False  # left-padded
        mask[2, 2:5] = False  # a hole in the middle
        mask[3] = False  # fully masked
        for go_backwards in (False, True):
            layer = self.keras.layers.LSTM(5, return_sequences=True, return_state=True,
                                           go_backwards=go_backwards)
            layer.build((4, 7, 3))
            self.assertLSTMEquivalent(layer, self.inputs(), mask=mask)

    def test_a_stateful_layer_and_its_reset(self):
        layer = self.keras.layers.LSTM(5, stateful=True, return_sequences=True)
        layer.build((2, 7, 3))
        x = self.inputs(batch=2)
        layer(x)  # carries a state now: the check runs from it
        self.assertLSTMEquivalent(layer, x)
        layer.reset_states()
        state = [np.asarray(self.keras.ops.convert_to_numpy(s)) for s in layer.states]
        self.assertFalse(any(s.any() for s in state), "reset_states() left a state")
        self.assertLSTMEquivalent(layer, x)

    def test_bidirectional_in_every_merge_mode(self):
        for merge_mode in ("concat", "sum", "mul", "ave", None):
            layer = self.keras.layers.Bidirectional(
                self.keras.layers.LSTM(4, return_sequences=True), merge_mode=merge_mode)
            layer.build((4, 7, 3))
            self.assertLSTMEquivalent(layer, self.inputs())

    def test_every_execution_path(self):
        from lstm_ref.frameworks.keras.execution import EXECUTIONS

        graphs = self.keras.backend.backend() == "tensorflow"
        for execution in EXECUTIONS:
            if execution in ("function", "xla") and not graphs:
                continue
            layer = self.keras.layers.LSTM(6, return_sequences=True)
            layer.build((4, 7, 3))
            self.assertLSTMEquivalent(layer, self.inputs(), execution=execution)

    def test_float64_and_mixed_precision(self):
        for dtype in ("float64", "mixed_float16", "mixed_bfloat16"):
            # glorot_uniform: the default orthogonal initializer needs a QR decomposition that
            # TensorFlow lacks in bfloat16 (keras-team/keras#16927)
            layer = self.keras.layers.LSTM(5, return_sequences=True, dtype=dtype,
                                           recurrent_initializer="glorot_uniform")
            layer.build((4, 7, 3))
            self.assertLSTMEquivalent(layer, self.inputs().astype(layer.compute_dtype))


if __name__ == "__main__":
    unittest.main()
