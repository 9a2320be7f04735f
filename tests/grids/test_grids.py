"""The case grid: all pairs covered, ids readable and unique, seeds from ids, per-gate draws."""

from collections import OrderedDict
from itertools import combinations, product

import numpy as np
import pytest

from lstm_ref.grids import GRIDS, select
from lstm_ref.grids import keras as grid
from lstm_ref.errors import OptionError

pytest.importorskip("allpairspy")

PARAMETERS = {
    "small": OrderedDict(grid.SMALL_SIZES, **grid.OPTIONS),
    "default": OrderedDict(grid.SIZES, **grid.OPTIONS),
    "full": OrderedDict(grid.SIZES, **grid.FULL_OPTIONS),
}


@pytest.mark.parametrize("name", GRIDS)
def test_every_pair_of_values_is_covered(name):
    cases = grid.cases(name)
    parameters = PARAMETERS[name]
    for a, b in combinations(parameters, 2):
        have = {(getattr(c, a), getattr(c, b)) for c in cases}
        missing = set(product(parameters[a], parameters[b])) - have
        assert not missing, f"grid {name}: pairs of {a} and {b} never tested: {sorted(missing)[:5]}"


def test_full_grid_has_every_combination_of_sizes():
    sizes = {tuple(getattr(c, k) for k in grid.SIZES) for c in grid.cases("full")}
    assert sizes == set(product(*grid.SIZES.values()))


@pytest.mark.parametrize("name", GRIDS)
def test_ids_are_unique_and_seeds_come_from_ids(name):
    cases = grid.cases(name)
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.seed for c in cases}) == len(cases)
    assert all("=" not in c.id and " " not in c.id for c in cases)  # usable in pytest -k


def test_grids_are_deterministic_and_sized_for_their_purpose():
    assert [c.id for c in grid.cases()] == [c.id for c in grid.cases()]
    assert len(grid.cases("small")) < len(grid.cases("default")) < len(grid.cases("full"))


def test_id_reads_as_the_configuration():
    case = grid.Case(7, 3, 2, 9, activation="relu", go_backwards=True, use_bias=False,
                     returns="last+state")
    assert case.id == "units7-features3-batch2-time9-relu-sigmoid-go_backwards-no_bias-impl2-last+state"
    assert (case.return_sequences, case.return_state) == (False, True)
    assert select([case], "go_backwards") == [case]
    assert select([case], "unroll") == []


def test_arrays_are_seeded_and_independent_per_gate():
    case = grid.Case(5, 3, 2, 4, initial_state=True)
    first, again = case.arrays(), case.arrays()
    for key in ("x", "kernel", "recurrent_kernel", "bias"):
        np.testing.assert_array_equal(first[key], again[key])
    blocks = np.split(first["kernel"], 4, axis=1)
    assert all(not np.allclose(a, b) for a, b in combinations(blocks, 2))
    assert first["initial_state"][0].shape == (2, 5)
    assert grid.Case(5, 3, 2, 4, use_bias=False).arrays()["bias"] is None


def test_unknown_grid_is_a_clear_error():
    with pytest.raises(OptionError, match="grid must be one of .* received 'huge'"):
        grid.cases("huge")
