"""The equivalence grid: every case's Keras 3 LSTM against the reference, step by step.

``--grid=small|default|full`` picks the grid (lstm_ref.grid). A failure's message is the
report: first failing step, tensor, batch, unit, both values, the error and the tolerance,
then the case id, seed, layer config and versions.
"""

import pytest

from lstm_ref.grids import keras as grid

pytestmark = pytest.mark.keras


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        cases = grid.cases(metafunc.config.getoption("--grid"))
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def test_keras_lstm_matches_the_reference(case):
    from lstm_ref.frameworks.keras import cases as keras_cases

    report = keras_cases.run_case(case)
    assert report.passed, report.summary()
