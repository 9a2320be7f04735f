"""The drift check (lstm_ref.bias) on long sequences, through Keras's execution paths: a relative
drift of 1e-6 in h or in c (8.4 eps of float32, under every element's own bound), from the
first step or from mid-sequence, fails the default float32 check on every path, going either
way; the same case without the drift passes.

The drift is planted where only one route can see it (tests/frameworks/keras/broken_drift.py):
in the layer's own run by the path under test (the cell lstm_ref steps is faithful, so what
the layer returns must show it), or in the stepped cell only (what lstm_ref's stepping of the
cell must show). A wrong cell has both.

The default run takes every path with a drift in h and in c, the directions and starts shared
out over the paths (each direction with each start on some path); ``--grid=full`` runs every
path with every direction and start.
"""

import itertools

import numpy as np
import pytest

import lstm_ref
from lstm_ref.grids.keras import Case

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

from tests.frameworks.keras.broken_drift import (  # noqa: E402 - needs Keras
    DRIFTING, DriftLSTMCell, build_marked_layer, marked_inputs)

# The goal: a systematic drift the float32 check must catch on a long sequence.
DRIFT = 1e-6
TIME = 100
STARTS = (0, 50)  # the processing step the drift starts at; mid-sequence cases are masked
# A path: how the layer runs (lstm_ref.frameworks.keras.execution) and whether it is unrolled.
PATHS = {"eager": ("eager", False), "unroll": ("eager", True), "function": ("function", False),
         "xla": ("xla", False), "predict": ("predict", False)}
DIRECTIONS = {"forward": False, "go_backwards": True}
# The default run's direction and start per path: the four pairs, each on some path.
DEFAULT = {"eager": ("forward", 0), "unroll": ("go_backwards", 50),
           "function": ("go_backwards", 0), "xla": ("forward", 50),
           "predict": ("go_backwards", 50)}
LAYER_TENSORS = ("output", "state_h", "state_c")  # what the layer returns, by its path
STEPPED_TENSORS = ("h", "c")  # the cell stepped by lstm_ref


def case_of(path, direction, start):
    """The case's sizes, seeded draws (from its id) and RNN options: from step 0 unmasked,
    from mid-sequence under a mask of every kind (one row fully masked)."""
    return Case(9, 3, 4, TIME, go_backwards=DIRECTIONS[direction], unroll=PATHS[path][1],
                returns="sequences+state", mask="none" if start == 0 else "all_kinds")


def run(path, direction, tensor, start, drift, where="layer"):
    execution = PATHS[path][0]
    if execution in ("function", "xla") and keras.backend.backend() != "tensorflow":
        pytest.skip(f"{execution} needs the TensorFlow backend")
    case = case_of(path, direction, start)
    arrays = marked_inputs(case, start)
    cell = DriftLSTMCell(case.units, tensor=tensor, drift=drift, where=where,
                         activation=case.activation,
                         recurrent_activation=case.recurrent_activation)
    layer = build_marked_layer(case, arrays, cell)
    return lstm_ref.compare(layer, arrays["x"], initial_state=arrays["initial_state"],
                            mask=arrays["mask"], execution=execution)


def numbers(report):
    """Per tensor: its worst step drift and that step's bound, and its worst element's error
    over bound: what a report of an uncaught drift needs."""
    lines = []
    for name, tensor in report.tensors.items():
        drift = tensor.drift.worst if tensor.drift is not None else None
        shown = "no drift check" if drift is None else (
            f"drift {drift.actual:.3e} at step {drift.step}, bound {drift.bound:.3e}")
        lines.append(f"{name}: {shown}; worst element error/bound {tensor.worst.ratio:.3f}")
    return "\n".join(lines)


def failing(report):
    return {name for name, tensor in report.tensors.items() if not tensor.passed}


def shared_out(*extra):
    """(path, direction, start, *extra) for every path, direction and start, those outside
    DEFAULT marked full."""
    rows = []
    for path, direction, start, *rest in itertools.product(PATHS, DIRECTIONS, STARTS, *extra):
        marks = () if DEFAULT[path] == (direction, start) else (pytest.mark.full,)
        rows.append(pytest.param(path, direction, start, *rest, marks=marks,
                                 id="-".join([path, direction, f"from{start}",
                                              *(f"drift_{r}" for r in rest)])))
    return rows


@pytest.mark.parametrize("path, direction, start, tensor", shared_out(DRIFTING))
def test_a_drift_in_the_layers_run_fails_on_every_path(path, direction, start, tensor):
    report = run(path, direction, tensor, start, DRIFT)
    assert report.failed, f"a {DRIFT:g} drift in {tensor} was not caught:\n{numbers(report)}"
    # Only the layer's run drifts: what it returns shows it, the stepped cell agrees.
    assert failing(report) <= set(LAYER_TENSORS), numbers(report)
    assert report.first_failing_step >= start, report.summary()


@pytest.mark.parametrize("path, direction, start", shared_out())
def test_the_same_cases_without_the_drift_pass(path, direction, start):
    report = run(path, direction, "c", start, 0.0)
    assert report.passed, report.summary()


@pytest.mark.parametrize("tensor, start", [
    ("h", 50), ("c", 0), pytest.param("h", 0, marks=pytest.mark.full),
    pytest.param("c", 50, marks=pytest.mark.full)], ids=lambda v: f"{v}")
def test_a_drift_in_the_stepped_cell_fails(tensor, start):
    report = run("function", "forward", tensor, start, DRIFT, where="stepped")
    assert report.failed, f"a {DRIFT:g} drift in {tensor} was not caught:\n{numbers(report)}"
    assert failing(report) <= set(STEPPED_TENSORS), numbers(report)
    assert report.first_failing_step >= start, report.summary()


def test_a_drift_in_the_rows_still_running_past_others_padding_fails():
    """From step 50 only 2 of the 4 rows run (right padding): the steps the others carry
    through their padding are left out of the step drift, which would dilute it."""
    case = Case(9, 3, 4, TIME, initial_state=True, mask="right", returns="sequences")
    arrays = marked_inputs(case, 50)
    reports = {}
    for drift in (DRIFT, 0.0):
        cell = DriftLSTMCell(case.units, tensor="h", drift=drift, where="layer")
        layer = build_marked_layer(case, arrays, cell)
        reports[drift] = lstm_ref.compare(layer, arrays["x"],
                                          initial_state=arrays["initial_state"],
                                          mask=arrays["mask"], execution="function")
    assert reports[DRIFT].failed, \
        f"a {DRIFT:g} drift in h was not caught:\n{numbers(reports[DRIFT])}"
    assert reports[0.0].passed, reports[0.0].summary()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("implementation", [1, 2])
def test_the_planted_cell_is_kerass_cell_bit_for_bit(dtype, implementation):
    """Active with a drift too small to move any value (1 + 1e-30 is 1 in float64), the cell
    computes what Keras's LSTMCell does, bit for bit: the drift is its only bug."""
    case = Case(17, 5, 9, 12, initial_state=True, implementation=implementation,
                returns="sequences+state")
    arrays = marked_inputs(case, 0)
    results = []
    for drift in (0.0, 1e-30):  # 0: inactive, Keras's own call
        cell = DriftLSTMCell(case.units, tensor="c", drift=drift, implementation=implementation,
                             dtype=dtype, recurrent_initializer="glorot_uniform")
        assert cell.planted() == bool(drift)
        layer = build_marked_layer(case, arrays, cell, dtype=dtype)
        state = [keras.ops.convert_to_tensor(s, dtype) for s in arrays["initial_state"]]
        results.append([keras.ops.convert_to_numpy(r)
                        for r in layer(arrays["x"].astype(dtype), initial_state=state)])
    for keras_own, planted in zip(*results):
        np.testing.assert_array_equal(planted, keras_own)
