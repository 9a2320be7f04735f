"""The pytest plugin and lstm_ref.testing, as a downstream project uses them (pytester runs
the README's example test in a fresh pytest)."""

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.support.downstream import SWAPPED_GATES_CELL

pytest_plugins = ["pytester"]
README = Path(__file__).resolve().parents[2] / "README.md"


def downstream_example():
    """The README's example downstream test file (the block after 'conftest-free')."""
    text = README.read_text()
    return re.search(r"# tests/test_my_lstm.py\n(.*?)```", text, re.S).group(1)


def run(pytester, source, *args):
    pytester.makepyfile(test_my_lstm=source)
    installed = any(e.value == "lstm_ref.pytest_plugin" for e in entry_points(group="pytest11"))
    return pytester.runpytest(*(() if installed else ("-p", "lstm_ref.pytest_plugin")), *args)


def test_the_plugin_is_registered_as_an_entry_point():
    assert any(e.name == "lstm_ref" and e.value == "lstm_ref.pytest_plugin"
               for e in entry_points(group="pytest11"))


def test_the_readme_example_passes_and_is_summarised(pytester):
    pytest.importorskip("keras")
    result = run(pytester, downstream_example(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    # the fixture's check and the direct assert_lstm_equivalent call alike
    result.stdout.fnmatch_lines(["*lstm_ref: 2 LSTM checks in 2 tests, 0 failed; closest to its "
                                 "tolerance: *error/bound 0.*"])


SWAPPED_GATES = SWAPPED_GATES_CELL + '''


def test_custom_cell(lstm_ref_check):
    layer = keras.layers.RNN(SwappedGates(4), return_sequences=True)
    layer.build((2, 9, 3))
    lstm_ref_check(layer)


def test_another(lstm_ref_check):
    keras.random.uniform((3,))  # draws from Keras's global generator: the next test's differ
'''


def test_a_wrong_layer_fails_with_the_report(pytester):
    pytest.importorskip("keras")
    source = SWAPPED_GATES
    result = run(pytester, source, "-p", "no:cacheprovider", "-k", "custom_cell")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAILED at step 0, tensor *",
                                 "*lstm_ref: 1 LSTM check in 1 test, 1 failed*",
                                 "lstm_ref: failed check in test_my_lstm.py::test_custom_cell"])


def test_a_failure_reproduces_identically_and_alone(pytester):
    """The layer's own weights are drawn by Keras, seeded by the fixture from the test's id:
    three runs fail at the same step, tensor, row and unit with the same numbers, and the
    ``reproduce:`` line runs that test alone to the same failure."""
    pytest.importorskip("keras")
    failures = []
    for order in (["-p", "no:randomly"], ["-k", "another or custom_cell"], []):
        result = run(pytester, SWAPPED_GATES, "-p", "no:cacheprovider", *order)
        text = result.stdout.str()
        failures.append(re.search(r"FAILED at step .*", text).group(0))
        assert re.search(r"seed: \d+ \(from the test's id", text), text
    assert failures[0] == failures[1] == failures[2], failures
    command = re.search(r"reproduce: python -m pytest '(.+?)'", text).group(1)
    alone = run(pytester, SWAPPED_GATES, "-p", "no:cacheprovider", command)
    alone.assert_outcomes(failed=1)
    assert re.search(r"FAILED at step .*", alone.stdout.str()).group(0) == failures[0]
    assert "pytest_plugin.py" not in text  # the plugin's frames are hidden


def test_seeds_come_from_the_test_id(pytester):
    source = '''
def test_a(lstm_ref_rng):
    print("draw", lstm_ref_rng.integers(1 << 30))

def test_b(lstm_ref_rng):
    print("draw", lstm_ref_rng.integers(1 << 30))
'''
    first = run(pytester, source, "-s", "-p", "no:cacheprovider")
    again = run(pytester, source, "-s", "-p", "no:cacheprovider", "-k", "test_b")
    draws = re.findall(r"draw \d+", first.stdout.str())
    assert len(set(draws)) == 2
    assert re.findall(r"draw \d+", again.stdout.str()) == draws[1:]


def test_marker_is_registered(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.lstm_ref:*"])


def test_an_input_that_cannot_be_drawn_is_a_clear_error():
    from lstm_ref.errors import OptionError
    from lstm_ref.testing import random_input

    with pytest.raises(OptionError, match="cannot draw an input for a object: pass x="):
        random_input(object(), 2, 9, 0)
