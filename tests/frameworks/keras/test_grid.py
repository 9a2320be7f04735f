"""The equivalence grid: every case's Keras 3 LSTM against the reference, step by step, on its
own inputs, initial state and mask, run by its own execution path (lstm_ref.grids.keras), as
lstm_ref.conformance.KerasGrid (``-k units7_features3`` selects by the id, made a method name).

``--grid=small|default|full`` picks the grid. A failure's message is the report: first failing
step, tensor, batch, unit, both values, the error and the tolerance, then the case id, seed,
layer config and versions.
"""

from functools import partial

import pytest

from lstm_ref.grids import keras as grid

pytestmark = pytest.mark.keras


# The grid's cases, one test each, written once for both runners: lstm_ref.conformance's
# KerasGrid (parameterized), collected here by pytest on the grid --grid picks (conftest.py sets
# LSTM_REF_GRID) and run by `python -m unittest lstm_ref.conformance` in CI.
pytest.importorskip("keras")
pytest.importorskip("parameterized")
from lstm_ref.conformance import KerasGrid  # noqa: E402,F401


def test_the_grid_runs_every_execution_path_keras_has():
    from lstm_ref.frameworks.keras.execution import EXECUTIONS

    assert grid.EXECUTIONS == EXECUTIONS


def test_a_case_runs_with_its_mask_and_its_execution_path_through_the_registry():
    from lstm_ref.frameworks.keras import cases as keras_cases
    from lstm_ref.grids.registry import framework
    from tests.frameworks.keras.broken import BrokenLSTM

    case = grid.Case(5, 3, 6, 9, mask="all_kinds", execution="predict", initial_state=True)
    report = framework("keras").run(case)
    assert report.passed, report.summary()
    assert report.context["execution"] == "predict" and report.context["case"] == case.id
    # The layer is given the case's mask: one that ignores it fails where it matters.
    ignoring = keras_cases.run_case(case, layer_class=partial(BrokenLSTM, bug="mask ignored"))
    assert not ignoring.passed and ignoring.first_failure.tensor == "output", ignoring.summary()


def test_a_case_with_dropout_builds_a_layer_with_it():
    from lstm_ref.frameworks.keras.cases import build_case_layer

    case = grid.Case(9, 3, 9, 2, dropout=grid.DROPOUT, implementation=2)
    layer = build_case_layer(case)
    assert (layer.cell.dropout, layer.cell.recurrent_dropout) == (grid.DROPOUT, 0.0)
    assert layer.cell.implementation == 2  # dropout alone keeps implementation 2
    both = build_case_layer(grid.Case(9, 3, 9, 2, dropout=grid.DROPOUT, implementation=1,
                                      recurrent_dropout=grid.RECURRENT_DROPOUT))
    assert both.cell.recurrent_dropout == grid.RECURRENT_DROPOUT


def test_unrolled_backward_masked_cases_avoid_keras_known_zeroing_bug_by_its_default():
    """Keras's unrolled go_backwards path zeroes the wrong outputs with zero_output_for_mask
    True (a known divergence, pinned in test_known_divergences.py). The grid runs such cases
    with LSTM's default, False, where that path is right, and so compares them."""
    from lstm_ref.frameworks.keras.cases import build_case_layer

    cases = [c for c in grid.cases() if c.unroll and c.go_backwards and c.mask != "none"]
    assert cases
    assert not any(build_case_layer(c).zero_output_for_mask for c in cases)
