"""The verdict of the ONNX paths held to a node broken in one row of one direction: an
edited graph (onnxruntime computes NaN, inf or garbage there), a broken twin (the reference
does), what onnxruntime computed corrupted at one element, and another runtime's outputs so
corrupted (check_outputs). Each must be FAILED at that direction, row and step, not PASSED
nor INCONCLUSIVE; the unbroken graph passes."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lstm_ref  # noqa: E402
from lstm_ref.frameworks.onnx import graph as onnx_graph  # noqa: E402
from lstm_ref.frameworks.onnx import observe as onnx_observe  # noqa: E402
from lstm_ref.frameworks.onnx.twin import OnnxLSTMTwin  # noqa: E402
from tests.frameworks.onnx.garbage import (BROKEN, KINDS, StateGarbageTwin,  # noqa: E402
                                           edited_model)
from tests.frameworks.onnx.helpers import onnx_arrays  # noqa: E402

F, H, B, T = 3, 5, 3, 7
ROW = 1
NAMES = ("forward", "backward")


def bidirectional(rng):
    """(arrays, attributes, model, X): a bidirectional node whose initial states are
    initializers, and an input (layout 0: time, batch, features)."""
    arrays = onnx_arrays(rng, H, F, directions=2)
    arrays["initial_h"] = rng.uniform(-1, 1, (2, B, H))
    arrays["initial_c"] = rng.normal(0, 1, (2, B, H))
    attributes = {"hidden_size": H, "direction": "bidirectional"}
    X = rng.uniform(-1, 1, (T, B, F)).astype(np.float32)
    return arrays, attributes, onnx_graph.make_model(arrays, attributes), X


def where(failure):
    return failure.tensor, failure.step, failure.batch


def assert_broken_direction(result, direction):
    """Failed in the broken direction's h at step 0 of ROW (and in Y, Y_h of ROW in its half);
    the other direction's stepped tensors pass."""
    name, other = NAMES[direction], NAMES[1 - direction]
    assert result.failed, result.summary()
    assert where(result.tensors[f"{name}.h"].first_failure) == (f"{name}.h", 0, ROW), \
        result.summary()
    assert result.tensors[f"{other}.h"].passed and result.tensors[f"{other}.c"].passed
    for key in ("Y", "Y_h"):
        failure = result.tensors[key].first_failure
        assert failure.batch == ROW and failure.unit // H == direction, result.summary()


def test_the_unedited_graph_passes(rng):
    _, _, model, X = bidirectional(rng)
    result = lstm_ref.compare(model, X)
    assert result.passed, result.summary()


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("direction", [0, 1])
def test_an_edited_graph_broken_in_one_row_of_one_direction_fails_there(kind, direction,
                                                                          rng):
    """onnxruntime runs a graph whose initial h of one direction is NaN, inf or garbage in
    one row; the twin reads the unedited one: FAILED there from step 0."""
    arrays, attributes, model, X = bidirectional(rng)
    twin = OnnxLSTMTwin(onnx_graph.read_node(model))
    broken = edited_model(arrays, attributes, kind, direction, ROW)
    assert_broken_direction(lstm_ref.compare(broken, X, twin=twin), direction)


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("direction", [0, 1])
def test_a_twin_broken_in_one_row_of_one_direction_fails_there(kind, direction, rng):
    """The reference side broken instead: a twin reading one direction's initial h of one
    row as NaN, inf or garbage (a non-finite one reaches the row: compared exactly, so
    onnxruntime's finite values there fail)."""
    _, _, model, X = bidirectional(rng)
    twin = StateGarbageTwin(onnx_graph.read_node(model))
    twin.kind, twin.direction, twin.row = kind, direction, ROW
    assert_broken_direction(lstm_ref.compare(model, X, twin=twin), direction)


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("tensor", ["forward.c", "backward.h", "Y", "Y_c"])
def test_an_observation_corrupted_at_one_element_fails_there(kind, tensor, rng):
    """What onnxruntime computed, corrupted at one element (row ROW, step 3, unit 2 of the
    backward direction for Y and Y_c): FAILED there, and nowhere else."""
    _, _, model, X = bidirectional(rng)
    observation = onnx_observe.observe(model, X)
    actual = observation.actual
    value = KINDS[kind]
    if tensor == "Y":  # (time, direction, batch, hidden)
        actual["Y"][3, 1, ROW, 2] = value
        expected = ("Y", 3, ROW, H + 2)
    elif tensor == "Y_c":  # (direction, batch, hidden)
        actual["Y_c"][1, ROW, 2] = value
        expected = ("Y_c", T - 1, ROW, H + 2)
    else:  # (batch, step, hidden), the direction's processing order
        actual[tensor][ROW, 3, 2] = value
        expected = (tensor, 3, ROW, 2)
    result = onnx_observe.check(observation)
    failure = result.first_failure
    assert result.failed and (*where(failure), failure.unit) == expected, result.summary()
    assert [name for name, t in result.tensors.items() if not t.passed] == [tensor]
    assert result.tensors[tensor].failures == 1


@pytest.mark.parametrize("kind", BROKEN)
def test_another_runtimes_outputs_corrupted_in_one_row_fail_there(kind, rng):
    """check_outputs holds (Y, Y_h, Y_c) from any runtime: one row of the backward
    direction's Y_h corrupted fails there; Y and Y_c pass."""
    _, _, model, X = bidirectional(rng)
    twin = lstm_ref.from_onnx(model)
    Y, Y_h, Y_c = onnx_observe.run(onnx_observe.session(model, twin.node), {"X": X}, twin.node)
    assert onnx_observe.check_outputs(twin, X, (Y, Y_h, Y_c)).passed
    Y_h = Y_h.copy()
    Y_h[1, ROW] = KINDS[kind]
    result = onnx_observe.check_outputs(twin, X, (Y, Y_h, Y_c))
    failure = result.first_failure
    assert result.failed and where(failure) == ("Y_h", T - 1, ROW) and failure.unit >= H, \
        result.summary()
    assert result.tensors["Y"].passed and result.tensors["Y_c"].passed
