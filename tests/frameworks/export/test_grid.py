"""The deployed-artifact grid (lstm_ref.grids.export): every case's artifact passes
compare_export, with something compared in every tensor; each kind's planted bug (the artifact
exported with the input and forget gates swapped) fails it. The default grid runs here; the
rest of the full grid only with --grid=full."""

import importlib.util
from itertools import combinations

import pytest

pytest.importorskip("allpairspy")

from lstm_ref.grids import export as grid  # noqa: E402
from lstm_ref.grids.common import seed_of  # noqa: E402

DEFAULT = grid.cases("default")
FULL_ONLY = [case for case in grid.cases("full") if case not in DEFAULT]
# Each kind's planted bug, on its default case with the storage that rounds the weights most
# (a swap must show through int8's rounding too).
PLANTED = {case.kind: case for case in DEFAULT if case.storage in ("float32", "int8")}


def needs(case):
    """Skip, naming the packages, where the case's kind cannot run here."""
    missing = [p for p in grid.PACKAGES[case.kind] if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"{case.kind} needs {', '.join(missing)}: not installed")


def run_tensors(case):
    """The tensors of the run each case must show (besides the weights)."""
    if case.kind == "torch-onnx":
        directions = ("forward", "backward") if case.bidirectional else ("forward",)
        return ["output"] + [f"layer{k}.{d}.{t}" for k in range(case.num_layers)
                             for d in directions for t in ("h", "h_n", "c_n")]
    if case.kind == "tf2onnx":
        direction = "backward" if case.go_backwards else "forward"
        return ["output", f"layer0.{direction}.h", f"layer0.{direction}.h_n",
                f"layer0.{direction}.c_n"]
    names = ["output"] + (["state_h", "state_c"] if case.return_state else [])
    return names + (["h", "c"] if case.kind == "tflite-fused" else [])


def assert_passes(case):
    needs(case)
    report = grid.run_case(case)
    assert report.passed, report.summary()
    weights = [name for name in report.tensors if name.startswith("weights.")]
    assert sum(name.endswith(("kernel", "bias")) for name in weights) >= 3, weights
    missing = set(run_tensors(case)) - set(report.tensors)
    assert not missing, (missing, list(report.tensors))
    for name, tensor in report.tensors.items():  # not vacuous: every element compared
        assert tensor.compared == tensor.size > 0, name
    if case.kind.startswith("tflite"):  # the storage asked for is the one stored
        stored = report.context["weights stored as"]
        for storage in ("float16", "int8"):
            assert (storage in stored) == (case.storage == storage), stored
    if case.storage != "float32":  # the rounding moved weights, within its bound
        assert report.tensors["weights.kernel"].max_abs.max() > 0
    assert report.context["case"] == case.id and report.context["seed"] == seed_of(case.id)
    return report


@pytest.mark.parametrize("case", DEFAULT, ids=[case.id for case in DEFAULT])
def test_default_case_passes(case):
    assert_passes(case)


@pytest.mark.full
@pytest.mark.parametrize("case", FULL_ONLY, ids=[case.id for case in FULL_ONLY])
def test_full_case_passes(case):
    assert_passes(case)


@pytest.mark.parametrize("case", PLANTED.values(), ids=list(PLANTED))
def test_planted_gate_swap_fails(case):
    """The artifact exported from the weights with the input and forget gates swapped, the
    source keeping them: the weights check fails at the input kernel."""
    needs(case)
    report = grid.run_case(case, planted=True)
    assert report.failed
    assert report.first_failure.tensor.startswith("weights.")
    assert report.first_failure.tensor.endswith("kernel"), report.first_failure.tensor
    assert "planted=True" in report.context["reproduce"]


def test_default_has_every_kind_and_storage_once():
    assert [f"{case.kind}/{case.storage}" for case in DEFAULT] == list(grid.ARTIFACTS)
    assert set(PLANTED) == set(grid.KINDS)


@pytest.mark.parametrize("name", ["default", "full"])
def test_ids_seeds_and_int8_sizes(name):
    cases = grid.cases(name)
    assert len({c.id for c in cases}) == len({c.seed for c in cases}) == len(cases)
    assert all(c.seed == grid.ExportCase(**c.as_dict()).seed == seed_of(c.id) for c in cases)
    for case in cases:
        if case.storage == "int8" and case.kind == "tflite-fused":
            assert case.units * case.features >= 1024
        elif case.storage == "int8":
            assert 4 * case.units * min(case.features, case.units) >= 1024


def test_full_covers_every_pair_a_kind_can_take():
    """All pairs of the parameters' values meet in some full case, wherever a kind can take
    them (grid.possible)."""
    cases = grid.cases("full")
    rows = [{"artifact": f"{c.kind}/{c.storage}", **{n: getattr(c, n) for n in
                                                     (*grid.SIZES, *grid.OPTIONS)}}
            for c in cases]
    parameters = {"artifact": grid.ARTIFACTS, **grid.SIZES, **grid.OPTIONS}
    for a, b in combinations(parameters, 2):
        seen = {(row[a], row[b]) for row in rows}
        for u in parameters[a]:
            for v in parameters[b]:
                if (u, v) not in seen:  # only a pair no case could take
                    assert not any(grid.possible({**row, a: u, b: v}) for row in rows), (
                        a, u, b, v)


def test_verify_runs_the_grid(tmp_path):
    """``lstm-ref verify --framework export`` takes the grid from the registry and runs its
    cases through run_case."""
    from lstm_ref import cli
    from lstm_ref.grids import registry

    assert registry.grid_cases("export", "full") == grid.cases("full")
    case = next(c for c in DEFAULT if c.kind == "savedmodel")
    needs(case)
    path = tmp_path / "run.json"
    code = cli.main(["verify", "--framework", "export", "--only", case.id, "--json", str(path),
                     "-q"])
    assert code == cli.EXIT_OK
    assert f'"{case.id}"' in path.read_text()
