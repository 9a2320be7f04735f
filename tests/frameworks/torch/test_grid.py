"""The PyTorch equivalence grid: every case's torch.nn.LSTM against the reference, step by step,
in float32 and float64 (and, on the small grid, float16 and bfloat16; every dtype on the whole
grid with --grid=full); and the grid itself (all pairs covered, ids, seeds, per-gate draws).

``--grid=small|default|full`` picks the grid (lstm_ref.grids.torch). A failure's message is
the report: first failing step and tensor (layer, direction), both values, the error and the
tolerance, then the case id, seed, module and a reproducer. ``lstm-ref verify --framework
torch --dtype float64`` prints the worst figures.
"""

from collections import OrderedDict
from itertools import combinations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# torch warns once that oneDNN has no projections (it then runs its native LSTM): expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning")
pytest.importorskip("allpairspy")

from lstm_ref.grids import GRIDS
from lstm_ref.frameworks.torch import cases as torch_cases
from lstm_ref.grids import torch as grid_torch  # noqa: E402
from lstm_ref.grids.sweep import run_cases, summarize, summary_lines  # noqa: E402
from tests.frameworks.torch.broken import one_torch_thread  # noqa: E402, F401 - autouse fixture
from tests.support.grids import (assert_case_passes, assert_every_pair_covered,  # noqa: E402
                                 assert_ids_and_seeds_are_unique,
                                 every_combination, sizes_of)

# float16 / bfloat16 on the small grid in the default run (the whole grid with --grid=full).
DTYPES = {"float32": None, "float64": None, "float16": "small", "bfloat16": "small"}


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        name = metafunc.config.getoption("--grid")
        params = []
        for dtype, grid in DTYPES.items():
            params += [pytest.param(case, dtype, id=f"{dtype}-{case.id}")
                       for case in grid_torch.cases(grid if grid and name != "full" else name)]
        metafunc.parametrize("case,dtype", params)


def test_torch_lstm_matches_the_reference(case, dtype):
    report = assert_case_passes(torch_cases.run_case, case, dtype)
    assert report.tolerance.dtype == dtype
    assert report.context["case"] == case.id and "reproduce" in report.context


def test_worst_figures_over_the_grid(grid_name, capsys):
    """The worst |error| and error/bound per dtype (printed with -s); torch float64 stays within
    the float64 entry, i.e. at rounding level."""
    worst = {}
    for dtype in ("float32", "float64"):
        cases = grid_torch.cases("small" if grid_name != "full" else "default")
        runs = run_cases("torch", cases, dtype)
        lines = summary_lines(summarize(runs))
        with capsys.disabled():
            print("\n" + "\n".join(lines))
        assert all(r.report is not None and r.report.passed for r in runs), lines
        worst[dtype] = max(t.worst.error for r in runs for t in r.report.tensors.values())
    assert worst["float64"] < worst["float32"] * 1e-6


GRID_PARAMETERS = {name: OrderedDict(sizes, **grid_torch.OPTIONS) for name, sizes in
                   (("small", grid_torch.SMALL_TORCH_SIZES), ("default", grid_torch.TORCH_SIZES),
                    ("full", grid_torch.TORCH_SIZES))}


@pytest.mark.parametrize("name", GRIDS)
def test_every_pair_of_values_is_covered(name):
    def value(case, key):
        return bool(case.proj_size) if key == "proj" else getattr(case, key)

    # A projection needs hidden_size > 1: that one pair cannot be.
    assert_every_pair_covered(name, grid_torch.cases(name), GRID_PARAMETERS[name], value,
                              impossible={("hidden_size", 1, "proj", True)})


def test_full_grid_has_every_combination_of_sizes():
    sizes = sizes_of(grid_torch.cases("full"), grid_torch.TORCH_SIZES)
    assert sizes == every_combination(grid_torch.TORCH_SIZES)


@pytest.mark.parametrize("name", GRIDS)
def test_ids_are_unique_and_seeds_come_from_ids(name):
    cases = grid_torch.cases(name)
    assert_ids_and_seeds_are_unique(cases)
    assert all(0 <= c.proj_size < c.hidden_size for c in cases)


def test_case_draws_are_seeded_per_gate_and_per_direction():
    case = grid_torch.TorchCase(7, 3, 2, 9, num_layers=2, bidirectional=True, proj_size=3,
                                initial_state=True, packed=True)
    a, b = case.arrays(), case.arrays()
    assert all(np.array_equal(a["params"][k], b["params"][k]) for k in a["params"])
    assert case.id == "hidden7-input3-batch2-time9-layers2-bidirectional-proj3-initial_state-packed"
    blocks = np.split(a["params"]["weight_ih_l0"], 4)
    assert all(not np.allclose(blocks[i], blocks[j]) for i, j in combinations(range(4), 2))
    assert not np.allclose(a["params"]["weight_ih_l1"], a["params"]["weight_ih_l1_reverse"])
    assert a["params"]["weight_ih_l1"].shape == (28, 6)  # layer 1 reads both directions' h
    assert a["params"]["weight_hr_l0"].shape == (3, 7)
    assert a["initial_state"][0].shape == (4, 2, 3) and a["initial_state"][1].shape == (4, 2, 7)
    assert a["lengths"].max() == 9 and a["lengths"].min() >= 1
    module = torch_cases.build_module(case, "float64")
    assert isinstance(module, torch.nn.LSTM) and not module.training
    x, hx, lengths = torch_cases.module_inputs(case, "float64")
    assert tuple(x.shape) == (9, 2, 3) and hx[0].dtype == torch.float64


def test_reproducer_rebuilds_the_case():
    case = grid_torch.cases("small")[1]
    report = torch_cases.run_case(case)
    import lstm_ref.frameworks.torch.cases  # noqa: F401 - the reproducer names them
    import lstm_ref.grids.torch  # noqa: F401

    again = eval(report.context["reproduce"], {"lstm_ref": lstm_ref})
    assert again.summary() == report.summary()
