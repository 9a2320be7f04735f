"""The case grids: all pairs covered, ids readable and unique, seeds from ids, per-gate draws,
masks as documented, and sizes that reach a vectorised kernel's tail in every framework."""

import zlib
from collections import OrderedDict
from dataclasses import replace
from itertools import combinations, product

import numpy as np
import pytest

from lstm_ref.errors import OptionError
from lstm_ref.grids import GRIDS, select
from lstm_ref.grids import keras as grid
from lstm_ref.grids import onnx as grid_onnx
from lstm_ref.grids import tf1 as grid_tf1
from lstm_ref.grids import torch as grid_torch
from lstm_ref.grids.allpairs import pair_rows
from lstm_ref.grids.common import draw_lengths, seed_of, unique
from tests.support.grids import assert_ids_and_seeds_are_unique, every_combination, sizes_of

pytest.importorskip("allpairspy")

PARAMETERS = {
    "small": OrderedDict(grid.SMALL_SIZES, **grid.OPTIONS),
    "default": OrderedDict(grid.SIZES, **grid.OPTIONS),
    "full": OrderedDict(grid.FULL_SIZES, **grid.FULL_OPTIONS),
}
# Keras runs implementation 1 whenever recurrent_dropout is set: the one pair no case has.
IMPOSSIBLE = {("implementation", 2, "recurrent_dropout", grid.RECURRENT_DROPOUT)}


def assert_every_pair_covered(name, cases, parameters):
    for a, b in combinations(parameters, 2):
        have = {(getattr(c, a), getattr(c, b)) for c in cases}
        missing = {(u, v) for u, v in product(parameters[a], parameters[b])
                   if (a, u, b, v) not in IMPOSSIBLE} - have
        assert not missing, f"grid {name}: pairs of {a} and {b} never tested: {sorted(missing)[:5]}"


@pytest.mark.parametrize("name", GRIDS)
def test_every_possible_pair_of_values_is_covered(name):
    assert_every_pair_covered(name, grid.cases(name), PARAMETERS[name])


@pytest.mark.parametrize("name", GRIDS)
def test_cases_for_some_execution_paths_cover_every_pair_on_those_paths(name):
    """What only some paths give (a gradient: not predict) has a grid of its own: all pairs
    with those paths, each of them going backwards over a padded mask too."""
    paths = ("eager", "function", "xla")
    cases = grid.cases(name, executions=paths)
    assert {c.execution for c in cases} == set(paths)
    assert_every_pair_covered(name, cases, OrderedDict(PARAMETERS[name], execution=paths))
    assert all(grid.possible(c.as_dict()) for c in cases)
    for execution in paths:
        assert any(c.execution == execution and grid.backwards_padded(c.as_dict())
                   for c in cases), execution


@pytest.mark.parametrize("executions", [("function", "xla"), ("eager", "graph")])
def test_execution_paths_must_be_the_grids_with_eager_among_them(executions):
    with pytest.raises(OptionError, match=r"executions must be some of .* 'eager' among them"):
        grid.cases("small", executions=executions)


@pytest.mark.parametrize("name", GRIDS)
def test_no_case_is_what_the_grid_leaves_out(name):
    cases = grid.cases(name)
    assert all(grid.possible(c.as_dict()) for c in cases)
    assert not any(c.recurrent_dropout and c.implementation == 2 for c in cases)
    assert not any(c.unroll and c.execution != "eager" and c.time >= grid.SLOW_TRACE_STEPS
                   for c in cases)


def test_masks_meet_execution_paths_and_go_backwards_pairwise():
    cases = grid.cases()
    for mask, execution, backwards in product(grid.MASKS, grid.EXECUTIONS, (False, True)):
        assert any(c.mask == mask and c.execution == execution for c in cases)
        assert any(c.mask == mask and c.go_backwards == backwards for c in cases)
        assert any(c.execution == execution and c.go_backwards == backwards for c in cases)


def test_full_grid_has_every_combination_of_sizes():
    sizes = sizes_of(grid.cases("full"), grid.FULL_SIZES)
    assert sizes == every_combination(grid.FULL_SIZES)


@pytest.mark.parametrize("name", GRIDS)
def test_ids_are_unique_and_seeds_come_from_ids(name):
    cases = grid.cases(name)
    assert_ids_and_seeds_are_unique(cases)
    assert all("=" not in c.id and " " not in c.id for c in cases)  # usable in pytest -k


def test_grids_are_deterministic_and_sized_for_their_purpose():
    assert [c.id for c in grid.cases()] == [c.id for c in grid.cases()]
    assert len(grid.cases("small")) < len(grid.cases("default")) < len(grid.cases("full"))
    assert len(grid.cases()) <= 45  # all pairs, not a product: the default run stays short


def test_id_reads_as_the_configuration():
    case = grid.Case(7, 3, 2, 9, activation="relu", go_backwards=True, use_bias=False,
                     returns="last+state")
    assert case.id == "units7-features3-batch2-time9-relu-sigmoid-go_backwards-no_bias-impl2-last+state"
    assert (case.return_sequences, case.return_state) == (False, True)
    assert select([case], "go_backwards") == [case]
    assert select([case], "unroll") == []


def test_options_at_their_defaults_leave_the_id_and_options_set_extend_it():
    """Recordings name a case by its id and draw it from its seed: a case that leaves mask,
    execution and dropout at their defaults has the id of its sizes and core options alone,
    and the seed zlib.crc32 gives that id."""
    old = grid.Case(7, 3, 2, 9)
    assert old.id == "units7-features3-batch2-time9-tanh-sigmoid-impl2-sequences"
    assert old.seed == 2481637259 == zlib.crc32(old.id.encode())
    assert old.arrays()["mask"] is None
    new = replace(old, mask="left", execution="xla", dropout=0.3, recurrent_dropout=0.4,
                  implementation=1)
    assert new.id == ("units7-features3-batch2-time9-tanh-sigmoid-impl1-sequences-mask_left-"
                      "dropout0.3-recurrent_dropout0.4-xla")
    assert select([old, new], "mask_left") == [new] and select([old, new], "xla") == [new]


def test_arrays_are_seeded_and_independent_per_gate():
    case = grid.Case(5, 3, 2, 4, initial_state=True, mask="all_kinds")
    first, again = case.arrays(), case.arrays()
    for key in ("x", "kernel", "recurrent_kernel", "bias", "mask"):
        np.testing.assert_array_equal(first[key], again[key])
    blocks = np.split(first["kernel"], 4, axis=1)
    assert all(not np.allclose(a, b) for a, b in combinations(blocks, 2))
    assert first["initial_state"][0].shape == (2, 5)
    assert grid.Case(5, 3, 2, 4, use_bias=False).arrays()["bias"] is None


@pytest.mark.parametrize("time", [1, 2, 3, 9, 40])
@pytest.mark.parametrize("batch", [1, 2, 5, 17])
def test_masks_are_drawn_as_documented(batch, time):
    rng = np.random.default_rng(batch * 1000 + time)
    steps = np.arange(time)
    assert grid.draw_mask("none", batch, time, rng) is None
    for kind in ("right", "left"):
        mask = grid.draw_mask(kind, batch, time, rng)
        assert mask.shape == (batch, time) and mask.dtype == bool
        lengths = mask.sum(axis=1)
        padded = steps < lengths[:, None] if kind == "right" else steps >= time - lengths[:, None]
        assert (mask == padded).all()
        assert (lengths >= 1).all() and (lengths < time).all() if time > 1 else mask.all()
    middle = grid.draw_mask("middle", batch, time, rng)
    assert middle[:, 0].all() and middle[:, -1].all()
    if time >= 3:  # a hole strictly inside every row, in one piece
        for row in ~middle:
            assert row.any() and (np.diff(np.flatnonzero(row)) == 1).all()
    else:
        assert middle.all()
    kinds = grid.draw_mask("all_kinds", batch, time, rng)
    assert (~kinds.any(axis=1)).sum() == 1  # exactly one row without a valid step


def test_an_all_kinds_mask_has_every_kind_of_row():
    time = 12
    mask = grid.Case(5, 3, 9, time, mask="all_kinds").arrays()["mask"]
    empty = np.flatnonzero(~mask.any(axis=1))
    assert len(empty) == 1
    steps = np.arange(time)
    for i, row in enumerate(mask):
        if i == empty[0]:
            continue
        kind = ("right", "left", "middle", "none")[i % 4]
        if kind == "right":
            assert (row == (steps < row.sum())).all() and not row.all(), (i, row)
        elif kind == "left":
            assert (row == (steps >= time - row.sum())).all() and not row.all(), (i, row)
        elif kind == "middle":
            hole = np.flatnonzero(~row)
            assert row[0] and row[-1] and len(hole) and (np.diff(hole) == 1).all(), (i, row)
        else:
            assert row.all()
    with pytest.raises(OptionError, match=r"mask must be one of .* received 'holes'"):
        grid.draw_mask("holes", 2, 3, np.random.default_rng(0))


@pytest.mark.parametrize("name", GRIDS)
def test_every_execution_path_runs_backwards_over_a_padded_mask(name):
    """Beyond pairs: each path meets go_backwards and a padded mask in one case, where a mask
    applied in the wrong order shows (the drawn mask is not its own reverse)."""
    cases = grid.cases(name)
    for execution in grid.EXECUTIONS:
        found = [c for c in cases if c.execution == execution and c.go_backwards
                 and c.mask in ("right", "left") and c.time >= 2]
        assert found, f"grid {name}: {execution} never runs backwards over a padded mask"
        mask = found[0].arrays()["mask"]
        assert (mask != mask[:, ::-1]).any()


def tails(sizes, block=8):
    """The sizes that put lanes in a tail past a full block of ``block``."""
    return [s for s in sizes if s > block and s % block]


@pytest.mark.parametrize("framework", ["keras", "torch", "tf1", "tf1_basic", "onnx"])
@pytest.mark.parametrize("name", ["default", "full"])
def test_every_grid_reaches_a_kernel_tail(framework, name):
    """Unit counts and batch sizes past a full block of 8 (and of 16, and 32 for units) by
    less than a block, in cases of every framework's default and full grid: a kernel's tail
    that sizes up to 8 and exact multiples never reach."""
    units, batch = {
        "keras": ("units", "batch"), "torch": ("hidden_size", "batch"),
        "tf1": ("num_units", "batch"), "tf1_basic": ("num_units", "batch"),
        "onnx": ("hidden_size", "batch"),
    }[framework]
    module = {"keras": grid, "torch": grid_torch, "tf1": grid_tf1, "tf1_basic": grid_tf1,
              "onnx": grid_onnx}[framework]
    cases = module.cases(name)
    if framework.startswith("tf1"):
        kind = "BasicLSTMCell" if framework == "tf1_basic" else "LSTMCell"
        cases = [c for c in cases if c.cell == kind]
    unit_counts = {getattr(c, units) for c in cases}
    batches = {getattr(c, batch) for c in cases}
    assert tails(unit_counts) and tails(batches), (sorted(unit_counts), sorted(batches))
    assert tails(unit_counts, 16) and tails(batches, 16), (sorted(unit_counts), sorted(batches))
    assert tails(unit_counts, 32), sorted(unit_counts)


def test_pair_rows_keeps_out_what_cannot_be_and_covers_every_other_pair():
    parameters = OrderedDict(a=(1, 2, 3), b=("x", "y"), c=(False, True), d=(0, 1, 2, 3))

    def possible(row):  # given partial rows too
        return not (row.get("c") and row.get("d") == 3) and not (row.get("a") == 1
                                                                 and row.get("b") == "y")

    rows = pair_rows(parameters, possible, adjust=lambda row: {**row, "c": False})
    assert all(possible(row) for row in rows)
    for a, b in combinations(parameters, 2):
        for u, v in product(parameters[a], parameters[b]):
            can = any(possible({**dict(zip(parameters, full)), a: u, b: v})
                      for full in product(*parameters.values()))
            assert can == any(row[a] == u and row[b] == v for row in rows), (a, u, b, v)


def test_unknown_grid_is_a_clear_error():
    with pytest.raises(OptionError, match="grid must be one of .* received 'huge'"):
        grid.cases("huge")


def rerun(case, **arguments):
    """A stand-in runner: what a reproducer line calls it with."""
    return case, arguments


@pytest.mark.parametrize("module", [grid, grid_tf1, grid_torch, grid_onnx],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_grids_case_seeds_from_its_id_and_names_the_call_that_reruns_it(module):
    import lstm_ref
    import tests.grids.test_grids

    case = module.cases("small")[-1]
    salted = replace(case, salt=3)
    assert case.seed == seed_of(case.id) and salted.seed == seed_of(case.id, 3) != case.seed
    assert salted.id == case.id and salted.as_dict() == {**case.as_dict(), "salt": 3}
    context = salted.report_context({"layer": "L"}, rerun, dtype="float64")
    assert list(context) == ["case", "seed", "layer", "reproduce"]
    assert (context["case"], context["seed"]) == (case.id, salted.seed)
    again, arguments = eval(context["reproduce"], {"lstm_ref": lstm_ref, "tests": tests})
    assert again == salted and arguments == {"dtype": "float64"}


@pytest.mark.parametrize("batch,time", [(1, 1), (2, 9), (17, 40)])
def test_drawn_lengths_are_right_padded_rows_one_of_them_full(batch, time):
    lengths = draw_lengths(np.random.default_rng(batch * 1000 + time), batch, time)
    again = draw_lengths(np.random.default_rng(batch * 1000 + time), batch, time)
    np.testing.assert_array_equal(lengths, again)
    assert lengths.shape == (batch,) and lengths.min() >= 1 and lengths.max() == time


def test_unique_keeps_the_first_case_of_each_id_in_order():
    first, other = grid.Case(7, 3, 2, 9), grid.Case(7, 3, 2, 40)
    assert unique([first, other, replace(first, salt=5)]) == [first, other]
