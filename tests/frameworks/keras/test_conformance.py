"""The grid under unittest, tf.test and absl: the documentation's two downstream files run as
written, a planted bug fails them with the report, its seed and a reproduce line (the same on
every run), and lstm_ref.conformance's semantic checks pass."""

import importlib.util
import re
import sys
import unittest
from pathlib import Path

import pytest

from tests.support.downstream import SWAPPED_GATES_CELL

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")
pytest.importorskip("parameterized")

PAGE = Path(__file__).resolve().parents[3] / "docs" / "unittest.md"


def downstream(name):
    """The documentation's example file ``name`` (its first line is ``# name``)."""
    for code in re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S):
        if code.startswith(f"# {name}\n"):
            return code
    raise AssertionError(f"docs/unittest.md has no example file {name}")


def run_file(tmp_path, name, source):
    """Import ``source`` as module ``name`` from a file and run its tests with unittest."""
    path = tmp_path / name
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
        ids = [test.id() for test in _tests(suite)]  # a suite lets go of its tests as they run
        result = unittest.TestResult()
        suite.run(result)
        result.ids = ids
    finally:
        del sys.modules[path.stem]
    return result


def _tests(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _tests(test)
        else:
            yield test


@pytest.mark.parametrize("name, tests", [("my_lstm_test.py", 4), ("test_my_grid.py", 3)])
def test_the_documented_downstream_files_run_and_pass(name, tests, tmp_path):
    if name == "my_lstm_test.py" and keras.backend.backend() != "tensorflow":
        pytest.skip("tf.test.TestCase needs TensorFlow")
    result = run_file(tmp_path, name, downstream(name))
    # the small grid's three one-unit cases (tf.test.TestCase brings a test_session of its own)
    ids = [i for i in result.ids if not i.endswith(".test_session")]
    assert len(ids) == tests and all("units1" in i for i in ids if "grid" in i), ids
    assert result.wasSuccessful(), result.failures + result.errors


BROKEN = SWAPPED_GATES_CELL + '''
import unittest

from lstm_ref.testing import LSTMAssertions


class Broken(LSTMAssertions, unittest.TestCase):
    def test_custom_cell(self):
        keras.random.uniform((3,))  # the global generator moves: the seeding must not care
        layer = keras.layers.RNN(SwappedGates(4), return_sequences=True)
        layer.build((2, 9, 3))
        self.assertLSTMEquivalent(layer)
'''


def test_a_planted_bug_fails_with_the_report_the_same_on_every_run(tmp_path):
    messages = []
    for _ in range(3):
        result = run_file(tmp_path, "broken_test.py", BROKEN)
        assert len(result.failures) == 1 and not result.errors, result.errors
        messages.append(result.failures[0][1])
    lines = [re.search(r"FAILED at step .*", m).group(0) for m in messages]
    assert lines[0] == lines[1] == lines[2], lines
    text = messages[0]
    assert re.search(r"seed: \d+ \(from the test's id", text), text
    assert "reproduce: python -m unittest broken_test.Broken.test_custom_cell" in text
    assert "testing.py" not in text  # lstm_ref.testing's frames are left out (__unittest)


def test_the_conformance_suites_semantic_checks_pass():
    from lstm_ref import conformance

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(conformance.KerasSemantics)
    result = unittest.TestResult()
    suite.run(result)
    assert result.testsRun == 5 and result.wasSuccessful(), result.failures + result.errors


def test_the_conformance_suite_fails_on_a_planted_keras_bug(monkeypatch):
    """Keras's own LSTMCell with gates i and f swapped: the suite's grid cases and semantic
    checks fail, each with the report and the command that re-runs it alone."""
    from keras.src.layers.rnn import lstm

    from lstm_ref import conformance

    namespace = {}
    exec(SWAPPED_GATES_CELL, namespace)  # noqa: S102 - the documented downstream source
    monkeypatch.setattr(lstm.LSTMCell, "call", namespace["SwappedGates"].call)
    candidates = [name for name in sorted(dir(conformance.KerasGrid))  # whatever the grid
                  if name.startswith("test_case_") and "_time9_" in name and "no_bias" not in name]
    grid_test = min(candidates, key=lambda name: not name.endswith("_eager"))
    suite = unittest.TestSuite([conformance.KerasGrid(grid_test),
                                conformance.KerasSemantics("test_masks_of_every_kind")])
    result = unittest.TestResult()
    suite.run(result)
    assert len(result.failures) == 2 and not result.errors, result.errors
    for test, message in result.failures:
        assert "FAILED at step" in message and f"python -m unittest {test.id()}" in message
