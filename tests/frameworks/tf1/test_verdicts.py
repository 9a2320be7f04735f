"""The verdict of the TF1 paths held to a cell that returns NaN, inf or garbage at one row
and step: stepped (h, c) and run over the sequence by every execution (output, final state),
it must be FAILED there, not PASSED nor INCONCLUSIVE; the unbroken cell passes. The cell is
tests/frameworks/tf1/garbage.py's."""

import numpy as np
import pytest

pytest.importorskip("tf_keras")

import lstm_ref  # noqa: E402
from lstm_ref.frameworks.tf1.runners import EXECUTIONS  # noqa: E402
from tests.frameworks.tf1.garbage import BROKEN, GarbageTF1Cell, mark  # noqa: E402

pytestmark = [pytest.mark.filterwarnings(r"ignore:`tf\.nn\.rnn_cell\..*` is deprecated"),
              pytest.mark.filterwarnings(r"ignore:`layer\.updates` will be removed")]

U, F, B, T = 4, 3, 3, 6
ROW, STEP = 1, 3


def garbage_cell(rng, kind, **options):
    cell = GarbageTF1Cell(U, kind=kind, **options)
    cell.build((B, F))
    for variable in cell.variables:
        variable.assign(rng.normal(0, 0.6, variable.shape).astype("float32"))
    return cell


def where(failure):
    return failure.tensor, failure.step, failure.batch


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("execution", EXECUTIONS)
def test_a_tf1_cell_broken_at_one_element_fails_there(kind, execution, rng):
    """Stepped and run whole: h fails first at that row and step; the whole run's output
    and final state fail in that row; the same cell on unmarked input passes."""
    cell = garbage_cell(rng, kind, use_peepholes=True)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    assert lstm_ref.compare(cell, x, execution=execution).passed
    result = lstm_ref.compare(cell, mark(x, ROW, STEP), execution=execution)
    assert result.failed and where(result.first_failure) == ("h", STEP, ROW), result.summary()
    assert where(result.tensors["output"].first_failure) == ("output", STEP, ROW)
    assert result.tensors["state_c"].first_failure.batch == ROW


@pytest.mark.parametrize("kind", BROKEN)
def test_a_tf1_cell_broken_in_a_row_past_its_length_is_not_compared_there(kind, rng):
    """Past a row's sequence_length dynamic_rnn does not run the cell: a mark there breaks
    nothing, and the check passes; a mark inside the length fails."""
    cell = garbage_cell(rng, kind)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    lengths = np.array([T, STEP, T])  # row 1 ends before STEP
    passed = lstm_ref.compare(cell, mark(x, ROW, STEP), sequence_length=lengths)
    assert passed.passed, passed.summary()
    lengths[ROW] = STEP + 1
    failed = lstm_ref.compare(cell, mark(x, ROW, STEP), sequence_length=lengths)
    assert failed.failed and where(failed.first_failure) == ("h", STEP, ROW), failed.summary()
