"""The ONNX equivalence grid: every case's LSTM node, run in onnxruntime, against the reference
step by step (lstm_ref.grids.onnx, lstm_ref.frameworks.onnx.cases). ``--grid=small|default|full`` picks the grid; a failure's
message is the report, with the case id, seed, node attributes, versions and a reproducer."""

import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("allpairspy")

from lstm_ref.frameworks.onnx import cases as onnx_cases
from lstm_ref.grids import onnx as grid_onnx  # noqa: E402
from tests.support.grids import (assert_case_passes, every_combination,  # noqa: E402
                                 parametrize_cases, sizes_of)

pytest_generate_tests = parametrize_cases(grid_onnx.cases)


def test_onnx_lstm_matches_the_reference(case):
    report = assert_case_passes(onnx_cases.run_case, case)
    assert report.context["reproduce"].startswith("lstm_ref.frameworks.onnx.cases.run_case(")


def test_the_grid_covers_every_pair_of_options(grid_name):
    """All pairs of option values meet in some case, and every activation set and every one
    of the eleven ONNX activations is used."""
    from itertools import combinations

    cases = grid_onnx.cases(grid_name)
    options = grid_onnx.FULL_OPTIONS if grid_name == "full" else grid_onnx.OPTIONS
    for (a, values_a), (b, values_b) in combinations(options.items(), 2):
        seen = {(getattr(c, a), getattr(c, b)) for c in cases}
        assert seen >= {(x, y) for x in values_a for y in values_b}, (a, b)
    from lstm_ref.frameworks.onnx.activations import NAMES

    used = {act[0] for key in {c.activations for c in cases} for act in grid_onnx.ACTIVATIONS[key]}
    assert used == set(NAMES)
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.seed == grid_onnx.Case(**c.as_dict()).seed for c in cases)


@pytest.mark.full
def test_the_full_grid_has_every_size():
    sizes = sizes_of(grid_onnx.cases("full"), grid_onnx.FULL_SIZES)
    assert sizes >= every_combination(grid_onnx.FULL_SIZES)
