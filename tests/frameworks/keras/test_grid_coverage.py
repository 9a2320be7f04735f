"""What the Keras grid's coverage catches: for each class of coverage (sizes past a kernel's
full blocks, masks on each execution path going backwards, dropout set at inference in
implementation 2), a bug planted where only that coverage reaches it (tests/frameworks/keras/
broken.py), caught by the grid's own cases, and missed by the same cases without it. Were the
coverage taken out of the grid, the cases these tests select would be gone and the tests fail.
(A reset_state() that does not clear: tests/frameworks/keras/test_stateful.py.)
"""

from dataclasses import replace
from functools import partial

import pytest

from lstm_ref.grids import keras as grid

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

from tests.frameworks.keras.broken import BrokenLSTM, BrokenLSTMCell, tail  # noqa: E402
from lstm_ref.frameworks.keras.backend_cases import known_divergence, unavailable  # noqa: E402


def grid_cases(where, most=6):
    """The default grid's cases that ``where`` picks (and the backend runs as documented):
    the ``most`` shortest (fewest steps, then fewest elements), to keep the run short."""
    backend = keras.backend.backend()
    cases = [c for c in grid.cases() if where(c) and not unavailable(c, backend)
             and not known_divergence(c, backend)]
    assert cases, "the default grid has no case this coverage needs"
    return sorted(cases, key=lambda c: (c.time, c.batch * c.units * c.features))[:most]


def run_cell(case, bug, **cell_options):
    from lstm_ref.frameworks.keras import cases as keras_cases

    cell = BrokenLSTMCell(case.units, bug=bug, activation=case.activation,
                          recurrent_activation=case.recurrent_activation,
                          use_bias=case.use_bias, **cell_options)
    return keras_cases.run_case(case, cell=cell)


def sees_a_valid_step(case, rows=None):
    """Whether some row of ``rows`` (default: all) has a step the layer computes."""
    mask = case.arrays()["mask"]
    return mask is None or bool(mask[slice(None) if rows is None else rows].any())


@pytest.mark.parametrize("size", ["units", "batch"])
def test_a_bug_in_a_kernel_tail_is_caught_by_sizes_past_a_block(size):
    """The bias dropped in the tail of a kernel blocked by 8 (units, or batch rows, past the
    last full block): caught by the grid's 9, 17 and 33 wherever a tail row computes a step;
    the same cases with the size cut to 8 do not see it."""
    bug = {"units": "tail units lose their bias", "batch": "tail rows lose their bias"}[size]
    cases = grid_cases(lambda c: c.use_bias and tail(getattr(c, size)))
    expected = {c.id for c in cases
                if sees_a_valid_step(c, None if size == "units" else tail(c.batch))}
    assert expected
    reports = {c.id: run_cell(c, bug) for c in cases}
    assert {i for i, r in reports.items() if not r.passed} == expected
    for case_id in expected:
        where = reports[case_id].first_failure
        case = next(c for c in cases if c.id == case_id)
        index = where.unit if size == "units" else where.batch
        assert index in tail(getattr(case, size)), reports[case_id].summary()
    for case in cases[:2]:  # the control: no tail, nothing to see
        report = run_cell(replace(case, **{size: 8}), bug)
        assert report.passed, report.summary()


def test_a_mask_bug_of_one_execution_path_going_backwards_is_caught():
    """A layer that applies the mask in time order to the reversed sequence, only when run
    eagerly (the while_loop op by op): caught by the grid's masked go_backwards cases on the
    eager path, wherever a row's mask is not its own reverse; the same cases run as a graph
    pass."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("eager and traced paths are TensorFlow's")
    layer_class = partial(BrokenLSTM, bug="eager go_backwards mask in time order")
    cases = grid_cases(lambda c: c.go_backwards and c.mask != "none" and c.execution == "eager")
    expected = {c.id for c in cases
                if (c.arrays()["mask"] != c.arrays()["mask"][:, ::-1]).any()}
    assert expected
    from lstm_ref.frameworks.keras import cases as keras_cases

    reports = {c.id: keras_cases.run_case(c, layer_class=layer_class) for c in cases}
    assert {i for i, r in reports.items() if not r.passed} == expected
    for case_id in expected:  # the stepped cell is right; what the layer returned is not
        report = reports[case_id]
        assert report.tensors["h"].passed and report.tensors["c"].passed, report.summary()
    for case in [c for c in cases if c.id in expected and c.time < grid.SLOW_TRACE_STEPS][:2]:
        report = keras_cases.run_case(case, layer_class=layer_class, execution="function")
        assert report.passed, report.summary()


def test_dropout_applied_at_inference_by_implementation_2_is_caught():
    """A cell that applies its dropout mask at inference in implementation 2 only: caught by
    the grid's cases with dropout set in implementation 2 (recurrent_dropout would make Keras
    run implementation 1); in implementation 1 the same cases pass."""
    bug = "dropout at inference in implementation 2"
    cases = grid_cases(lambda c: c.dropout and c.implementation == 2)
    expected = {c.id for c in cases if sees_a_valid_step(c)}
    assert expected

    def run(case, implementation):
        return run_cell(case, bug, dropout=case.dropout, recurrent_dropout=case.recurrent_dropout,
                        implementation=implementation, seed=case.seed % 2**31)

    reports = {c.id: run(c, 2) for c in cases}
    assert {i for i, r in reports.items() if not r.passed} == expected
    for case in cases[:2]:
        report = run(case, 1)
        assert report.passed, report.summary()
