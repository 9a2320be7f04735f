"""The Flax equivalence grid: every case's nnx.RNN (LSTMCell or OptimizedLSTMCell) against the
reference, step by step, in float32 and in float64 (under jax.enable_x64); and the grid itself
(all pairs covered, ids, seeds, per-gate draws).

``--grid=small|default|full`` picks the grid (lstm_ref.grids.flax). A failure's message is
the report: first failing step and tensor, both values, the error and the tolerance, then the
case id, seed, module and a reproducer.
"""

from collections import OrderedDict
from itertools import combinations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nnx = pytest.importorskip("flax.nnx")
pytest.importorskip("allpairspy")

from lstm_ref.frameworks.flax import cases as flax_cases  # noqa: E402
from lstm_ref.grids import GRIDS  # noqa: E402
from lstm_ref.grids import flax as grid_flax  # noqa: E402
from tests.support.grids import (assert_case_passes, assert_every_pair_covered,  # noqa: E402
                                 assert_ids_and_seeds_are_unique,
                                 every_combination, sizes_of)


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        name = metafunc.config.getoption("--grid")
        params = [pytest.param(case, dtype, id=f"{dtype}-{case.id}")
                  for dtype in grid_flax.DTYPES for case in grid_flax.cases(name)]
        metafunc.parametrize("case,dtype", params)


def test_flax_rnn_matches_the_reference(case, dtype):
    report = assert_case_passes(flax_cases.run_case, case, dtype)
    assert report.tolerance.dtype == dtype
    assert report.context["case"] == case.id and "reproduce" in report.context
    # Not vacuous: every tensor compared at every step, the carry included.
    assert set(report.tensors) >= {"h", "c", "output", "carry.h", "carry.c"}
    assert all(t.compared == t.size for t in report.tensors.values()), report.summary()


def test_float64_errors_are_at_float64_rounding(grid_name):
    """float64 under x64 computes in float64: its worst error is a millionth of float32's
    (on the small grid's first two cases: the grid tests hold every case to its dtype's
    bound already)."""
    worst = {}
    for dtype in grid_flax.DTYPES:
        reports = [flax_cases.run_case(case, dtype) for case in grid_flax.cases("small")[:2]]
        assert all(r.passed for r in reports)
        worst[dtype] = max(t.worst.error for r in reports for t in r.tensors.values())
    assert 0 < worst["float64"] < worst["float32"] * 1e-6, worst


GRID_PARAMETERS = {name: OrderedDict(sizes, **grid_flax.OPTIONS) for name, sizes in
                   (("small", grid_flax.SMALL_FLAX_SIZES), ("default", grid_flax.FLAX_SIZES),
                    ("full", grid_flax.FLAX_SIZES))}


@pytest.mark.parametrize("name", GRIDS)
def test_every_pair_of_values_is_covered(name):
    assert_every_pair_covered(name, grid_flax.cases(name), GRID_PARAMETERS[name])


def test_full_grid_has_every_combination_of_sizes():
    sizes = sizes_of(grid_flax.cases("full"), grid_flax.FLAX_SIZES)
    assert sizes == every_combination(grid_flax.FLAX_SIZES)


def test_sizes_straddle_vector_widths_and_sequences_are_long():
    assert {9, 17, 33} <= set(grid_flax.FLAX_SIZES["units"])
    assert 9 in grid_flax.FLAX_SIZES["batch"] and max(grid_flax.FLAX_SIZES["time"]) > 200


@pytest.mark.parametrize("name", GRIDS)
def test_ids_are_unique_and_seeds_come_from_ids(name):
    assert_ids_and_seeds_are_unique(grid_flax.cases(name))


def test_case_draws_are_seeded_per_gate():
    case = grid_flax.FlaxCase(7, 3, 2, 9, cell="OptimizedLSTMCell", reverse=True,
                              initial_carry=True, seq_lengths=True)
    a, b = case.arrays(), case.arrays()
    assert all(np.array_equal(a[k], b[k]) for k in ("x", "kernel", "recurrent_kernel", "bias"))
    assert case.id == "OptimizedLSTMCell-units7-features3-batch2-time9-reverse-initial_carry-seq_lengths"
    for name in ("kernel", "recurrent_kernel", "bias"):
        blocks = np.split(a[name], 4, axis=-1)
        assert all(not np.allclose(blocks[i], blocks[j]) for i, j in combinations(range(4), 2))
    assert a["carry"][0].shape == (2, 7) and a["seq_lengths"].max() == 9
    rnn = flax_cases.build_module(case)
    assert isinstance(rnn.cell, nnx.OptimizedLSTMCell) and rnn.reverse


def test_reproducer_rebuilds_the_case():
    case = grid_flax.cases("small")[1]
    report = flax_cases.run_case(case)
    import lstm_ref.frameworks.flax.cases  # noqa: F401 - the reproducer names them
    import lstm_ref.grids.flax  # noqa: F401

    again = eval(report.context["reproduce"], {"lstm_ref": lstm_ref})
    assert again.summary() == report.summary()
