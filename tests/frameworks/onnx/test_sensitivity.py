"""Sensitivity of the ONNX comparison: deliberately wrong twins (a converter that reads the gate
blocks, the bias or the peepholes in the wrong order, a reverse direction not flipped back,
an attribute ignored...) and deliberately wrong converters to ONNX, each held to onnxruntime.
The comparison must flag every one, at the first step and tensor where it shows."""

import dataclasses

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lstm_ref  # noqa: E402
from lstm_ref import layouts  # noqa: E402
from lstm_ref.frameworks.onnx import graph as onnx_graph  # noqa: E402
from lstm_ref.frameworks.onnx.twin import OnnxLSTMTwin  # noqa: E402
from lstm_ref.frameworks.onnx.cases import run_case
from lstm_ref.grids.onnx import Case  # noqa: E402
from tests.support.helpers import random_weights  # noqa: E402


class WithAttributes(OnnxLSTMTwin):
    """A twin that reads the node with some attributes replaced (``changes``)."""

    changes = {}

    def __init__(self, node, semantics="onnxruntime", weights=None):
        node = dataclasses.replace(node, attributes={**node.attributes, **self.changes})
        super().__init__(node, semantics, weights)


class GateOrderIFCO(OnnxLSTMTwin):
    """Reads W, R and B as if their gate blocks were in Keras's order i, f, c, o."""

    def convert_direction(self, index, W, R, B, P):
        keras_read = lambda a: layouts.reorder_gates(a, "keras", "onnx", axis=0)  # noqa: E731
        B = None if B is None else np.concatenate([keras_read(b) for b in np.split(B, 2)])
        return super().convert_direction(index, keras_read(W), keras_read(R), B, P)


class RbDropped(OnnxLSTMTwin):
    """Keeps Wb and drops Rb instead of summing them."""

    def convert_direction(self, index, W, R, B, P):
        return super().convert_direction(index, W, R, np.concatenate([B[:B.size // 2],
                                                                      0 * B[B.size // 2:]]), P)


class PeepholesIFO(OnnxLSTMTwin):
    """Reads P as p_i, p_f, p_o (the spec's order is p_i, p_o, p_f)."""

    def convert_direction(self, index, W, R, B, P):
        p_i, second, third = np.split(P, 3)
        return super().convert_direction(index, W, R, B, np.concatenate([p_i, third, second]))


class ReverseNotFlipped(OnnxLSTMTwin):
    """Returns the reverse direction's outputs in processing order, not back in time order."""

    def assemble(self, outputs, final_h, final_c, lens):
        # Flipped here, flipped back by the correct assembly: left in processing order.
        unflipped = [o[:, ::-1] if self.backwards(d) else o for d, o in enumerate(outputs)]
        return super().assemble(unflipped, final_h, final_c, lens)


class BackwardRunForward(OnnxLSTMTwin):
    """Runs the backward direction on the sequence in time order."""

    def backwards(self, index):
        return False


class DirectionsSwapped(OnnxLSTMTwin):
    """Gives the forward direction the backward weights and the other way round."""

    def convert(self, arrays):
        return super().convert(arrays)[::-1]


class ClipIgnored(WithAttributes):
    changes = {"clip": None}


class InputForgetIgnored(WithAttributes):
    changes = {"input_forget": 0}


class AlphaBetaIgnored(WithAttributes):
    """Takes every activation's default parameters."""

    changes = {"activation_alpha": [], "activation_beta": []}


class FAndGSwapped(OnnxLSTMTwin):
    def __init__(self, node, semantics="onnxruntime", weights=None):
        super().__init__(node, semantics, weights)
        self.activations = [(g, f, h) for f, g, h in self.activations]
        self._weights = self.convert(self.weight_arrays())


class SequenceLensIgnored(OnnxLSTMTwin):
    def prepare(self, X, sequence_lens=None, initial_h=None, initial_c=None):
        return dataclasses.replace(super().prepare(X, None, initial_h, initial_c),
                                   onnx=super().prepare(X, sequence_lens, initial_h,
                                                        initial_c).onnx)


class StatesSwapped(OnnxLSTMTwin):
    """Takes initial_h for c0 and initial_c for h0."""

    def prepare(self, X, sequence_lens=None, initial_h=None, initial_c=None):
        inputs = super().prepare(X, sequence_lens, initial_h, initial_c)
        inputs.states = [None if s is None else s[::-1] for s in inputs.states]
        return inputs


def first_padded_step(case):
    return int(case.arrays()["sequence_lens"].min())


# bug -> (twin class or semantics, case, (first failing step, tensor) or None: flagged, where
# the case decides). Each case is one where the bug shows from its first possible step.
BUGS = {
    "gate order read as i f c o": (GateOrderIFCO, Case(7, 3, 2, 9, "bidirectional"),
                                   (0, "forward.h")),
    "Rb dropped instead of summed": (RbDropped, Case(7, 3, 2, 9, "reverse"), (0, "reverse.h")),
    "peepholes read as i f o": (PeepholesIFO, Case(7, 3, 2, 9, peepholes=True), (0, "forward.h")),
    "reverse direction not flipped back": (ReverseNotFlipped, Case(7, 3, 2, 9, "reverse"),
                                           (0, "Y")),
    "backward direction run forward": (BackwardRunForward, Case(7, 3, 2, 9, "bidirectional"),
                                       (0, "backward.h")),
    "directions' weights swapped": (DirectionsSwapped, Case(7, 3, 2, 9, "bidirectional"),
                                    (0, "forward.h")),
    "clip ignored": (ClipIgnored, Case(7, 3, 2, 9, clip=0.5), (0, "forward.h")),
    "C_t clipped before h (the spec's reading)": ("spec", Case(32, 16, 5, 40, clip=1.0), None),
    "input_forget ignored": (InputForgetIgnored, Case(7, 3, 2, 9, input_forget=True,
                                                      initial_state=True), (0, "forward.h")),
    "activation_alpha and activation_beta ignored": (
        AlphaBetaIgnored, Case(7, 3, 2, 9, activations="HardSigmoid.LeakyRelu.Affine"),
        (0, "forward.h")),
    "activations f and g swapped": (FAndGSwapped, Case(7, 3, 2, 9), (0, "forward.h")),
    "sequence_lens ignored": (SequenceLensIgnored, Case(7, 3, 5, 9, sequence_lens=True),
                              "first padded step"),
    "initial h and c swapped": (StatesSwapped, Case(7, 3, 2, 9, initial_state=True),
                                (0, "forward.h")),
}


def run_bug(bug):
    twin_class, case, _ = BUGS[bug]
    if isinstance(twin_class, str):
        return run_case(case, semantics=twin_class)
    return run_case(case, twin_class=twin_class)


@pytest.mark.parametrize("bug", BUGS)
def test_the_bug_free_twin_passes_each_case(bug):
    report = run_case(BUGS[bug][1])
    assert report.passed, report.summary()


@pytest.mark.parametrize("bug", BUGS)
def test_each_deliberately_broken_twin_is_flagged_where_it_first_shows(bug):
    report = run_bug(bug)
    assert not report.passed, f"{bug} was not flagged:\n{report.summary()}"
    expected = BUGS[bug][2]
    if expected == "first padded step":
        expected = (first_padded_step(BUGS[bug][1]), "forward.h")
        assert expected[0] < BUGS[bug][1].seq_length
    if expected is not None:
        assert (report.first_failing_step, report.first_failure.tensor) == expected, \
            report.summary()


# --- converters to ONNX ----------------------------------------------------------------------

def broken_model(source, bug):
    """build_model's model for ``source`` (forward, backward) weights, with one converter bug."""
    model = onnx_graph.build_model(source, graph_inputs=("initial_h", "initial_c"))
    arrays = {t.name: onnx.numpy_helper.to_array(t).copy() for t in model.graph.initializer}
    node = onnx_graph.read_node(model)
    attributes = {k: v for k, v in node.attributes.items() if v not in (None, [])}
    if bug == "gates written in Keras's order":
        for key in ("W", "R"):
            arrays[key] = layouts.reorder_gates(arrays[key], "onnx", "keras", axis=1)
    elif bug == "bias written to both Wb and Rb":
        half = arrays["B"].shape[1] // 2
        arrays["B"][:, half:] = arrays["B"][:, :half]
    elif bug == "peepholes written as i f o":
        p_i, p_o, p_f = np.split(arrays["P"], 3, axis=1)
        arrays["P"] = np.concatenate([p_i, p_f, p_o], axis=1)
    elif bug == "directions swapped":
        arrays = {k: v[::-1] for k, v in arrays.items()}
    elif bug == "R not transposed":
        arrays["R"] = arrays["R"].reshape(2, 4, -1, arrays["R"].shape[-1]).transpose(
            0, 1, 3, 2).reshape(arrays["R"].shape)
    return onnx_graph.make_model(arrays, attributes, graph_inputs=("initial_h", "initial_c"))


CONVERTER_BUGS = ("none", "gates written in Keras's order", "bias written to both Wb and Rb",
                  "peepholes written as i f o", "directions swapped", "R not transposed")


@pytest.mark.parametrize("bug", CONVERTER_BUGS)
def test_each_broken_converter_to_onnx_is_flagged_at_step_0(bug, rng):
    base = [random_weights(rng, 6, 3) for _ in range(2)]
    source = tuple(lstm_ref.LSTMWeights(w.kernel, w.recurrent_kernel, w.bias,
                                        peephole=rng.uniform(-1, 1, (3, 6))) for w in base)
    model = broken_model(source, bug)
    X = rng.uniform(-1, 1, (9, 2, 3)).astype("float32")
    state = [rng.uniform(-1, 1, (2, 2, 6)).astype("float32") for _ in range(2)]
    twin = OnnxLSTMTwin(onnx_graph.read_node(model), weights=source)
    report = lstm_ref.compare(model, X, initial_state=state, twin=twin)
    if bug == "none":
        assert report.passed, report.summary()
    else:
        assert not report.passed, f"{bug} was not flagged:\n{report.summary()}"
        assert report.first_failing_step == 0, report.summary()
