"""The TF1-cell grid (lstm_ref.grids.tf1): every case's BasicLSTMCell / LSTMCell, stepped and
run whole (dynamic_rnn eagerly, in a tf.function, in a TF1 session, or in a tf_keras RNN),
against the reference; and the grid itself (all pairs, ids, seeds).

``--grid=small|default|full`` picks the grid. A failure's message is the report, with the
case id, its seed and a reproducer.
"""

import itertools
from collections import OrderedDict

import pytest

pytest.importorskip("tf_keras")

from lstm_ref.grids import select
from lstm_ref.frameworks.tf1 import cases as tf1_cases
from lstm_ref.grids import tf1 as grid_tf1  # noqa: E402
from tests.support.grids import assert_case_passes, parametrize_cases  # noqa: E402

pytestmark = [pytest.mark.filterwarnings(r"ignore:`tf\.nn\.rnn_cell\..*` is deprecated"),
              pytest.mark.filterwarnings(r"ignore:`layer\.updates` will be removed")]


pytest_generate_tests = parametrize_cases(grid_tf1.cases)


def test_tf1_cell_matches_the_reference(case):
    assert_case_passes(tf1_cases.run_case, case)


@pytest.mark.full
@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_tf1_cells_in_other_dtypes(dtype):
    """The default grid with float64 and float16 cells, each held to its own entry."""
    failed = [report.summary() for report in (tf1_cases.run_case(case, dtype)
                                              for case in grid_tf1.cases("default"))
              if not report.passed]
    assert not failed, "\n\n".join(failed)


def covered_pairs(cases, sizes, options, cell):
    columns = list(sizes) + list(options)
    seen = set()
    for case in cases:
        if case.cell != cell:
            continue
        values = {name: getattr(case, name) for name in columns}
        seen |= {(a, values[a], b, values[b]) for a, b in itertools.combinations(columns, 2)}
    return {(a, va, b, vb) for a, b in itertools.combinations(columns, 2)
            for va in OrderedDict(sizes, **options)[a] for vb in OrderedDict(sizes, **options)[b]
            } - seen


def test_default_grid_covers_every_pair_for_each_cell():
    cases = grid_tf1.cases("default")
    assert not covered_pairs(cases, grid_tf1.DEFAULT_TF1_SIZES, grid_tf1.OPTIONS, "LSTMCell")
    assert not covered_pairs(cases, grid_tf1.BASIC_SIZES, grid_tf1.BASIC_OPTIONS,
                             "BasicLSTMCell")


def test_grid_ids_are_unique_readable_and_seed_the_case():
    cases = grid_tf1.cases("default")
    ids = [case.id for case in cases]
    assert len(set(ids)) == len(ids)
    assert all(" " not in i and "=" not in i for i in ids)  # usable with pytest -k
    case = cases[3]
    assert grid_tf1.TF1Case(**case.as_dict()).seed == case.seed  # from the id alone
    first, again = case.arrays(), grid_tf1.TF1Case(**case.as_dict()).arrays()
    assert (first["x"] == again["x"]).all()
    assert select(cases, "BasicLSTMCell") and all(
        c.cell == "BasicLSTMCell" for c in select(cases, "BasicLSTMCell"))


def test_every_gate_gets_its_own_weights():
    case = grid_tf1.TF1Case(7, 3, 2, 9, use_peepholes=True, projection="smaller")
    variables = case.arrays()["variables"]
    blocks = [block for block in variables["kernel"].reshape(6, 4, 7).transpose(1, 0, 2)]
    assert all(not (a == b).all() for a, b in itertools.combinations(blocks, 2))
    assert variables["projection"].shape == (7, 3) and variables["kernel"].shape == (3 + 3, 28)
