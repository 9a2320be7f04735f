"""from_onnx: the twin of an ONNX LSTM node matches onnxruntime step by step for every
attribute (direction, layout, peepholes, clip, input_forget, every activation, initial
states, sequence_lens), returns ONNX's shapes, pins where onnxruntime and onnx's own reference
depart from the spec, and refuses what it cannot mirror with a clear error."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lstm_ref  # noqa: E402
from lstm_ref.frameworks.onnx import activations as onnx_activations
from lstm_ref.frameworks.onnx import graph as onnx_graph
from lstm_ref.frameworks.onnx import observe as onnx_compare  # noqa: E402
from lstm_ref.frameworks.onnx.twin import from_onnx  # noqa: E402
from lstm_ref.errors import (ActivationError, DTypeError, OptionError, ShapeError,  # noqa: E402
                             UnsupportedLayerError, ValueRangeError)
from tests.frameworks.onnx.helpers import lstm_inputs, lstm_model, ort_run  # noqa: E402

B, T, F, H = 3, 6, 3, 5
DIRECTIONS = ("forward", "reverse", "bidirectional")
NAMES = {"forward": ["forward"], "reverse": ["reverse"], "bidirectional": ["forward", "backward"]}


def directions(direction):
    return 2 if direction == "bidirectional" else 1


def assert_passes(model, X, **kwargs):
    report = lstm_ref.compare(model, X, **kwargs)
    assert report.passed, report.summary()
    return report


@pytest.mark.parametrize("layout", (0, 1))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_directions_and_layouts_match_onnxruntime(direction, layout, rng):
    model, _ = lstm_model(rng, H, F, direction, layout, peepholes=True)
    X, state = lstm_inputs(rng, B, T, F, H, directions(direction), layout)
    report = assert_passes(model, X, initial_state=state, sequence_lens=np.array([T, 2, 4]))
    expected = [f"{n}.{t}" for n in NAMES[direction] for t in "hc"] + ["Y", "Y_h", "Y_c"]
    assert list(report.tensors) == expected
    assert report.compared_steps == T
    assert ("layout" in report.context) == bool(layout)


OPTIONS = {
    "no_bias": {"bias": False},
    "peepholes": {"peepholes": True},
    "clip0.5": {"clip": 0.5, "scale": 2.0},
    "clip3": {"clip": 3.0, "scale": 3.0},
    "input_forget": {"input_forget": 1},
    "input_forget+peepholes+clip1": {"input_forget": 1, "peepholes": True, "clip": 1.0,
                                     "scale": 2.0},
}


@pytest.mark.parametrize("direction", ("forward", "bidirectional"))
@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS)
def test_each_option_matches_onnxruntime(options, direction, rng):
    model, _ = lstm_model(rng, H, F, direction, **options)
    X, state = lstm_inputs(rng, B, T, F, H, directions(direction))
    assert_passes(model, X, initial_state=state)
    assert_passes(model, X)


# Parameters for the activations that take them (both given: the spec's and onnxruntime's
# defaults differ for some, see test_missing_parameters_*).
PARAMS = {"Affine": (0.7, 0.2), "LeakyRelu": (0.1,), "ThresholdedRelu": (0.3,),
          "ScaledTanh": (1.3, 0.6), "HardSigmoid": (0.3, 0.4), "Elu": (0.7,)}


def activation_attributes(names, params=PARAMS):
    attributes = {"activations": list(names)}
    alphas = [params[n][0] for n in names if n in params]
    betas = [params[n][1] for n in names if n in params and onnx_activations.PARAMETERS[n][1]]
    if alphas:
        attributes["activation_alpha"] = alphas
    if betas:
        attributes["activation_beta"] = betas
    return attributes


@pytest.mark.parametrize("role", (0, 1, 2), ids=("f", "g", "h"))
@pytest.mark.parametrize("name", onnx_activations.NAMES)
def test_every_activation_in_every_role_matches_onnxruntime(name, role, rng):
    names = list(onnx_activations.DEFAULT_ACTIVATIONS)
    names[role] = name
    model, _ = lstm_model(rng, H, F, scale=2.0, **activation_attributes(names))
    X, state = lstm_inputs(rng, B, T, F, H)
    assert_passes(model, X, initial_state=state)
    f, g, h = lstm_ref.from_onnx(model).activations[0]
    assert [f.name, g.name, h.name] == names


def test_per_direction_activations_and_onnxruntime_spellings(rng):
    names = ["sigmoid", "TANH", "Tanh", "HardSigmoid", "Softsign", "Relu"]  # any case, as ORT
    model, _ = lstm_model(rng, H, F, "bidirectional", activations=names)
    X, state = lstm_inputs(rng, B, T, F, H, 2)
    assert_passes(model, X, initial_state=state)
    forward, backward = lstm_ref.from_onnx(model).weights
    assert (forward.recurrent_activation.name, forward.activation.name) == ("sigmoid", "tanh")
    assert backward.recurrent_activation.name == "HardSigmoid(alpha=0.2, beta=0.5)"
    assert (backward.activation.name, backward.output_activation.name) == ("softsign", "relu")


@pytest.mark.parametrize("name", ("LeakyRelu", "HardSigmoid", "Elu"))
def test_missing_parameters_the_spec_and_onnxruntime_default_alike(name, rng):
    model, _ = lstm_model(rng, H, F, activations=["Sigmoid", name, "Tanh"], scale=2.0)
    X, _ = lstm_inputs(rng, B, T, F, H)
    for semantics in ("onnxruntime", "spec"):
        assert_passes(model, X, semantics=semantics)


@pytest.mark.parametrize("name", ("Affine", "ThresholdedRelu", "ScaledTanh"))
def test_missing_parameters_onnxruntime_takes_zero_where_the_spec_takes_the_operators(name, rng):
    """onnxruntime 1.32 defaults a missing alpha / beta of Affine, ThresholdedRelu and
    ScaledTanh to 0 (rnn_helpers.cc); the spec says the operator's default (Affine 1 and 0,
    ThresholdedRelu 1, ScaledTanh none). The default twin follows onnxruntime."""
    model, _ = lstm_model(rng, H, F, activations=["Sigmoid", name, "Tanh"], scale=2.0)
    X, _ = lstm_inputs(rng, B, T, F, H)
    assert_passes(model, X)
    if name == "ScaledTanh":
        with pytest.raises(OptionError, match="needs alpha; activation_alpha has no value left "
                                              "for it and the ONNX spec gives no default"):
            from_onnx(model, semantics="spec")
    else:
        report = lstm_ref.compare(model, X, semantics="spec")
        assert not report.passed and report.first_failing_step == 0, report.summary()


def test_clip_onnxruntime_does_not_clip_c_before_h(rng):
    """The spec applies clip to "the input of activations", h's input C_t included;
    onnxruntime clips f's and g's inputs only (uni_directional_lstm.cc never uses its clipped
    copy of C_t). The spec-semantics twin departs from onnxruntime exactly where |C_t| > clip."""
    clip = 1.0
    model, _ = lstm_model(rng, H, F, clip=clip, scale=3.0)
    X, _ = lstm_inputs(rng, B, 12, F, H)
    assert_passes(model, X)
    trace = lstm_ref.forward(X.transpose(1, 0, 2), from_onnx(model).weights[0])
    beyond = (np.abs(trace.c) > clip).any(axis=(0, 2))
    assert beyond.any(), "the case must drive |c_t| beyond clip"
    report = lstm_ref.compare(model, X, semantics="spec")
    assert not report.passed
    # It fails at a step where |C_t| > clip, and not before the first one.
    assert beyond[report.first_failing_step], report.summary()
    assert report.first_failing_step >= int(np.argmax(beyond))


def test_onnxruntime_softplus_overflows_above_88(rng):
    """onnxruntime computes Softplus as log(1 + exp(x)) in float32 (rnn_activation_functors.h):
    inf for x > 88.72, where softplus(x) = x (the reference's logaddexp). The twin does not
    copy that overflow: compare flags it, at the first step a Softplus input passes 88.72."""
    model, _ = lstm_model(rng, H, F, activations=["Sigmoid", "Softplus", "Tanh"], scale=150.0)
    X, _ = lstm_inputs(rng, B, T, F, H)
    trace = lstm_ref.forward(X.transpose(1, 0, 2), from_onnx(model).weights[0], keep="gates")
    beyond = (trace.gates["c"] > 88.72).any(axis=(0, 2))
    assert beyond.any(), "the case must drive a Softplus input beyond 88.72"
    report = lstm_ref.compare(model, X)
    failure = report.first_failure  # c = inf, or NaN where i = 0 (0 * inf), and h with it
    assert failure.step == int(np.argmax(beyond)), report.summary()
    assert not np.isfinite(failure.actual) and np.isfinite(failure.expected), report.summary()


def test_the_twin_is_the_reference(rng):
    model, _ = lstm_model(rng, H, F, "bidirectional", peepholes=True, clip=1.0)
    X, (h0, c0) = lstm_inputs(rng, B, T, F, H, 2)
    lens = np.array([T, 3, 0])
    twin = from_onnx(model)
    Y, Y_h, Y_c = twin(X, lens, h0, c0)
    mask = np.arange(T)[None] < lens[:, None]
    x = X.transpose(1, 0, 2)
    for d, backwards in enumerate((False, True)):
        trace = lstm_ref.forward(x, twin.weights[d], [h0[d], c0[d]], mask=mask,
                                 go_backwards=backwards, zero_output_for_mask=True)
        outputs = trace.outputs[:, ::-1] if backwards else trace.outputs
        np.testing.assert_array_equal(Y[:, d], outputs.transpose(1, 0, 2))
        np.testing.assert_array_equal(Y_h[d, :2], trace.final_h[:2])
        np.testing.assert_array_equal(Y_c[d, :2], trace.final_c[:2])
    # A row of length 0: zero states (onnxruntime's convention), not the initial ones.
    assert not Y_h[:, 2].any() and not Y_c[:, 2].any()


@pytest.mark.parametrize("layout", (0, 1))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_shapes_are_onnx_shapes(direction, layout, rng):
    d = directions(direction)
    model, _ = lstm_model(rng, H, F, direction, layout)
    X, state = lstm_inputs(rng, B, T, F, H, d, layout)
    lens = np.full(B, T, np.int32)
    feeds = {"X": X, "sequence_lens": lens, "initial_h": state[0], "initial_c": state[1]}
    Y, Y_h, Y_c = from_onnx(model)(**feeds)
    states = (B, d, H) if layout else (d, B, H)
    assert (Y.shape, Y_h.shape, Y_c.shape) == ((B, T, d, H) if layout else (T, d, B, H),
                                               states, states)
    if layout:  # onnxruntime has no layout 1: onnx's reference evaluator has
        from onnx.reference import ReferenceEvaluator

        outputs = ReferenceEvaluator(model).run(None, feeds)
    else:
        outputs = ort_run(model, feeds)
    assert [o.shape for o in outputs] == [Y.shape, Y_h.shape, Y_c.shape]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_layout_1_against_onnx_reference_evaluator(direction, rng):
    """onnx's own reference implements layout 1 (onnxruntime does not): the twin agrees with it
    on what it implements (no clip, activations, input_forget or sequence_lens)."""
    from onnx.reference import ReferenceEvaluator

    model, _ = lstm_model(rng, H, F, direction, layout=1, peepholes=True,
                          graph_inputs=("initial_h", "initial_c"))
    X, state = lstm_inputs(rng, B, T, F, H, directions(direction), layout=1)
    outputs = ReferenceEvaluator(model).run(None, {"X": X, "initial_h": state[0],
                                                   "initial_c": state[1]})
    report = onnx_compare.check_outputs(from_onnx(model), X, outputs, initial_state=state)
    assert report.passed, report.summary()


@pytest.mark.parametrize("attribute", ("clip", "input_forget", "activations", "sequence_lens"))
def test_onnx_reference_evaluator_ignores_attributes(attribute, rng):
    """onnx 1.23's reference LSTM (onnx/reference/ops/op_lstm.py) silently ignores clip,
    input_forget, activations and sequence_lens: the twin (and onnxruntime) flag it."""
    from onnx.reference import ReferenceEvaluator

    options = {"clip": {"clip": 0.3}, "input_forget": {"input_forget": 1},
               "activations": {"activations": ["HardSigmoid", "Relu", "Softsign"]},
               "sequence_lens": {}}[attribute]
    lens = np.array([T, 2, 4], np.int32) if attribute == "sequence_lens" else None
    model, _ = lstm_model(rng, H, F, scale=2.0, graph_inputs=() if lens is None else
                          ("sequence_lens",), **options)
    X, _ = lstm_inputs(rng, B, T, F, H)
    feeds = {"X": X} if lens is None else {"X": X, "sequence_lens": lens}
    outputs = ReferenceEvaluator(model).run(None, feeds)
    report = onnx_compare.check_outputs(from_onnx(model), X, outputs, sequence_lens=lens)
    assert not report.passed, report.summary()
    assert_passes(model, X, sequence_lens=lens)


def test_onnxruntime_refuses_layout_1_so_compare_transposes(rng):
    model, _ = lstm_model(rng, H, F, layout=1)
    with pytest.raises(UnsupportedLayerError, match=r"layout == 1\) are not supported"):
        ort_run(model, {"X": lstm_inputs(rng, layout=1)[0]})
    report = assert_passes(model, lstm_inputs(rng, layout=1)[0])
    assert report.context["layout"].startswith("layout 1 run as Transpose + LSTM(layout=0)")


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_sequence_lens_zero_padded_outputs_and_last_valid_states(direction, rng):
    d = directions(direction)
    model, _ = lstm_model(rng, H, F, direction)
    X, (h0, c0) = lstm_inputs(rng, 4, T, F, H, d)
    lens = np.array([T, 1, 0, 4], np.int32)
    feeds = {"X": X, "sequence_lens": lens, "initial_h": h0, "initial_c": c0}
    for Y, Y_h, Y_c in (from_onnx(model)(X, lens, h0, c0), ort_run(model, feeds)):
        for b, n in enumerate(lens):
            assert not Y[n:, :, b].any()
            if n == 0:  # onnxruntime: zero states for a row of length 0, not h0 / c0
                assert not Y_h[:, b].any() and not Y_c[:, b].any()
        if direction != "reverse":  # the forward direction's last valid output is its Y_h
            np.testing.assert_array_equal(Y_h[0, [0, 1, 3]], Y[lens[[0, 1, 3]] - 1, 0, [0, 1, 3]])
    assert_passes(model, X, initial_state=[h0, c0], sequence_lens=lens)


def test_a_right_padded_mask_becomes_sequence_lens(rng):
    model, _ = lstm_model(rng, H, F, "bidirectional")
    X, state = lstm_inputs(rng, B, T, F, H, 2)
    mask = np.arange(T)[None] < np.array([T, 2, 5])[:, None]
    by_mask = assert_passes(model, X, initial_state=state, mask=mask)
    by_lens = assert_passes(model, X, initial_state=state, sequence_lens=np.array([T, 2, 5]))
    assert by_mask.summary() == by_lens.summary()
    mask[0, 1] = False
    with pytest.raises(ValueRangeError, match=r"mask must be right-padded .*rows \[0\]"):
        lstm_ref.compare(model, X, mask=mask)


def test_inputs_the_model_holds_as_constants(rng):
    X, (h0, c0) = lstm_inputs(rng, B, T, F, H)
    lens = np.array([T, 2, 4], np.int32)
    model, arrays = lstm_model(rng, H, F, peepholes=True)
    constant = onnx_graph.make_model({**arrays, "sequence_lens": lens, "initial_h": h0,
                                      "initial_c": c0}, {"hidden_size": H}, graph_inputs=())
    twin = from_onnx(constant)
    for a, b in zip(twin(X), from_onnx(model)(X, lens, h0, c0)):
        np.testing.assert_array_equal(a, b)
    assert_passes(constant, X)


def test_weights_from_constant_nodes(rng):
    model, arrays = lstm_model(rng, H, F, peepholes=True)
    graph = model.graph
    for tensor in list(graph.initializer):
        graph.node.insert(0, onnx.helper.make_node("Constant", [], [tensor.name], value=tensor))
    del graph.initializer[:]
    X, _ = lstm_inputs(rng, B, T, F, H)
    twin = from_onnx(model)
    np.testing.assert_array_equal(twin.weights[0].peephole[0], arrays["P"][0, :H].astype("float32"))
    assert_passes(model, X)


def test_weights_that_are_graph_inputs_are_call_arguments(rng):
    model, arrays = lstm_model(rng, H, F, graph_inputs=("W", "R", "initial_h"))
    X, (h0, _) = lstm_inputs(rng, B, T, F, H)
    twin = from_onnx(model)
    with pytest.raises(OptionError, match=r"W, R are graph inputs, not constants .*W=\.\.\., R="):
        twin.weights
    W, R = (arrays[k].astype("float32") for k in ("W", "R"))
    expected = from_onnx(onnx_graph.make_model(arrays, {"hidden_size": H}))(X, initial_h=h0)
    for a, b in zip(twin(X, initial_h=h0, W=W, R=R), expected):
        np.testing.assert_array_equal(a, b)
    assert_passes(model, X, initial_state=[h0, None], W=W, R=R)
    with pytest.raises(OptionError, match="R is a graph input, not a constant of the model; "
                                          "pass R=..."):
        twin(X, W=W)


def test_load_from_a_path_and_from_bytes(rng, tmp_path):
    model, _ = lstm_model(rng, H, F, "reverse")
    path = tmp_path / "lstm.onnx"
    onnx.save(model, path)
    X, _ = lstm_inputs(rng, B, T, F, H)
    expected = from_onnx(model)(X)
    for source in (path, str(path), model.SerializeToString()):
        for a, b in zip(from_onnx(source)(X), expected):
            np.testing.assert_array_equal(a, b)
    assert onnx_compare.compare(path, X).passed


def test_float64_models_run_in_the_twin_but_not_in_onnxruntime(rng):
    model, _ = lstm_model(rng, H, F, dtype="float64")
    X = lstm_inputs(rng, B, T, F, H)[0].astype("float64")
    Y, _, _ = from_onnx(model)(X)
    assert Y.dtype == np.float64
    with pytest.raises(UnsupportedLayerError, match="LSTM operator does not support double"):
        lstm_ref.compare(model, X)


def test_hidden_size_left_out_is_read_from_R(rng):
    """The spec makes hidden_size optional (onnxruntime requires it): the twin takes it from R."""
    model, _ = lstm_model(rng, H, F)
    node = model.graph.node[0]
    for attribute in list(node.attribute):
        if attribute.name == "hidden_size":
            node.attribute.remove(attribute)
    X, _ = lstm_inputs(rng, B, T, F, H)
    assert from_onnx(model).hidden_size == H
    assert from_onnx(model)(X)[0].shape == (T, 1, B, H)


# --- bad input -------------------------------------------------------------------------------

def mutated(rng, change, **options):
    """A valid model, then ``change(node)`` applied to its LSTM node (no checker after)."""
    model, _ = lstm_model(rng, H, F, **options)
    change(model.graph.node[0])
    return model


def set_attribute(name, value):
    def change(node):
        for attribute in list(node.attribute):
            if attribute.name == name:
                node.attribute.remove(attribute)
        node.attribute.append(onnx.helper.make_attribute(name, value))
    return change


def two_lstms(rng):
    model, _ = lstm_model(rng, H, F)
    node = onnx.helper.make_node("LSTM", ["X", "W", "R"], ["Y2", "Y_h2", "Y_c2"], name="second",
                                 hidden_size=H)
    model.graph.node.append(node)
    return model


def no_lstm(rng):
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["X"], ["Y"])], "g",
        [onnx.helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, None)],
        [onnx.helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)])
    return onnx.helper.make_model(graph)


def wrong_shape(key, shape_of):
    def make(rng):
        model, arrays = lstm_model(rng, H, F, peepholes=True)
        arrays[key] = np.zeros(shape_of)
        return onnx_graph.make_model(arrays, {"hidden_size": H})
    return make


BAD_MODELS = {
    "no LSTM node": (no_lstm, UnsupportedLayerError, r"no LSTM node in its main graph; its "
                                                     r"nodes are \['Relu'\]"),
    "two LSTM nodes": (two_lstms, UnsupportedLayerError, r"has 2 LSTM nodes \['lstm', 'second'\]"
                                                         r": name the one to mirror with node="),
    "unknown activation": (
        lambda rng: mutated(rng, set_attribute("activations", ["Sigmoid", "Gelu", "Tanh"])),
        ActivationError, r"activations\[1\] \(g of direction 0\): activation 'Gelu' is not an "
                         r"ONNX LSTM activation we implement; expected one of Relu, Tanh"),
    "two activations": (lambda rng: mutated(rng, set_attribute("activations", ["Sigmoid", "Tanh"])),
                        OptionError, r"3 functions per direction \(f, g, h\), 3 for 1 "
                                     r"direction\(s\); received 2"),
    "alpha no activation takes": (
        lambda rng: mutated(rng, set_attribute("activation_alpha", [0.1, 0.2])),
        OptionError, r"activation_alpha has 2 value\(s\) no activation takes"),
    "W of another hidden_size": (lambda rng: mutated(rng, set_attribute("hidden_size", H + 1)),
                                 ShapeError, r"input W has shape \(1, 20, 3\); expected \(1, 24, "
                                             r"\?\) from hidden_size=6"),
    "B of another size": (wrong_shape("B", (1, 7 * H)), ShapeError,
                          r"input B has shape \(1, 35\); expected \(1, 40\)"),
    "P of another size": (wrong_shape("P", (1, 4 * H)), ShapeError,
                          r"input P has shape \(1, 20\); expected \(1, 15\)"),
    "W of one direction, bidirectional": (
        lambda rng: mutated(rng, set_attribute("direction", "bidirectional")), ShapeError,
        r"input W has shape \(1, 20, 3\); expected \(2, 20, \?\) from hidden_size=5, "
        r"direction=bidirectional \(num_directions 2\)"),
    "unknown direction": (lambda rng: mutated(rng, set_attribute("direction", "sideways")),
                          OptionError, r"direction must be one of \('forward', 'reverse', "
                                       r"'bidirectional'\); received 'sideways'"),
    "unknown attribute": (lambda rng: mutated(rng, set_attribute("zoneout", 0.1)), OptionError,
                          r"attribute\(s\) \['zoneout'\] we do not implement"),
    "negative clip": (lambda rng: mutated(rng, set_attribute("clip", -1.0)), OptionError,
                      r"clip must be a positive number; received -1.0"),
    "not a model": (lambda rng: 42, UnsupportedLayerError,
                    r"model_or_path must be an onnx.ModelProto, a path or serialized bytes; "
                    r"received int"),
    "no such file": (lambda rng: "/nonexistent/lstm.onnx", UnsupportedLayerError,
                     r"no file at '/nonexistent/lstm.onnx'"),
}


@pytest.mark.parametrize("make,error,message", BAD_MODELS.values(), ids=BAD_MODELS)
def test_bad_models_are_clear_errors(make, error, message, rng):
    with pytest.raises(error, match=message):
        from_onnx(make(rng))


def test_a_wrong_node_name_is_a_clear_error(rng):
    with pytest.raises(UnsupportedLayerError, match=r"node='first': the model has no LSTM node "
                                                    r"of that name; its LSTM nodes are "
                                                    r"\['lstm', 'second'\]"):
        from_onnx(two_lstms(rng), node="first")
    assert from_onnx(two_lstms(rng), node="second").node.name == "second"


BAD_CALLS = {
    "X of another input_size": (lambda X, s: {"X": X[..., :2]}, ShapeError,
                                r"X has input_size \(last axis\) 2; expected 3 \(W's last"),
    "X of 2 dimensions": (lambda X, s: {"X": X[0]}, ShapeError,
                          r"X must have 3 dimensions \(seq_length, batch, input_size\) "
                          r"\(layout=0\); received shape \(3, 3\)"),
    "sequence_lens beyond seq_length": (
        lambda X, s: {"X": X, "sequence_lens": np.array([1, 7, 2])}, ValueRangeError,
        r"sequence_lens must lie in \[0, seq_length\] = \[0, 6\]; received \[1, 7, 2\]"),
    "float sequence_lens": (lambda X, s: {"X": X, "sequence_lens": np.array([1.0, 2.0, 3.0])},
                            DTypeError, r"sequence_lens must be integers"),
    "sequence_lens of another batch": (lambda X, s: {"X": X, "sequence_lens": np.array([1, 2])},
                                       ShapeError, r"sequence_lens must have shape \(batch,\) = "
                                                   r"\(3,\); received shape \(2,\)"),
    "initial_h of another batch": (lambda X, s: {"X": X, "initial_h": s[0][:, :2]}, ShapeError,
                                   r"input initial_h has shape \(1, 2, 5\); expected \(1, 3, 5\)"
                                   r" from hidden_size=5, direction=forward \(num_directions 1\)"
                                   r", layout=0"),
}


@pytest.mark.parametrize("call,error,message", BAD_CALLS.values(), ids=BAD_CALLS)
def test_bad_call_inputs_are_clear_errors(call, error, message, rng):
    model, _ = lstm_model(rng, H, F)
    X, state = lstm_inputs(rng, B, T, F, H)
    with pytest.raises(error, match=message):
        from_onnx(model)(**call(X, state))
    with pytest.raises(error, match=message):  # compare checks before onnxruntime runs
        arguments = call(X, state)
        lstm_ref.compare(model, arguments.pop("X"), sequence_lens=arguments.get("sequence_lens"),
                         initial_state=[arguments.get("initial_h"), None])


def test_bad_options_are_clear_errors(rng):
    model, _ = lstm_model(rng, H, F)
    X, _ = lstm_inputs(rng, B, T, F, H)
    with pytest.raises(OptionError, match=r"unknown option\(s\) \['execution'\]"):
        lstm_ref.compare(model, X, execution="eager")
    with pytest.raises(OptionError, match=r"semantics must be one of \('onnxruntime', 'spec'\)"):
        from_onnx(model, semantics="tensorflow")
    with pytest.raises(OptionError, match="give sequence_lens or mask, not both"):
        lstm_ref.compare(model, X, mask=np.ones((B, T), bool), sequence_lens=np.full(B, T))
