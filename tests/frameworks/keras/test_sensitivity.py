"""Sensitivity through the whole pipeline: Keras layers with a deliberately wrong cell go
through compare() like any user's layer, and each bug is flagged where it first shows."""

import pytest

from lstm_ref.grids.keras import Case
from tests.support.sensitivity import FIRST_SHOWS, assert_flagged_where_it_first_shows

pytestmark = pytest.mark.keras

CASES = [Case(7, 3, 2, 9, returns="sequences+state"),
         Case(32, 16, 5, 40, activation="relu", returns="last"),
         Case(2, 1, 1, 9, recurrent_activation="hard_sigmoid", go_backwards=True)]


def run(case, bug):
    from lstm_ref.frameworks.keras import cases as keras_cases
    from tests.frameworks.keras.broken import BrokenLSTMCell

    cell = BrokenLSTMCell(case.units, bug=bug, activation=case.activation,
                          recurrent_activation=case.recurrent_activation)
    return keras_cases.run_case(case, cell=cell)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_unbroken_subclass_passes(case):
    report = run(case, None)
    assert report.passed, report.summary()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("bug", sorted(FIRST_SHOWS))
def test_each_broken_keras_cell_is_flagged(case, bug):
    report = run(case, bug)
    assert_flagged_where_it_first_shows(report, bug)
    # The layer's own outputs fail too, not only the stepped cell.
    assert not report.tensors["output"].passed or bug == "relative drift 1e-5 in c"
