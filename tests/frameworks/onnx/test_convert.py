"""Porting weights to and from ONNX: LSTMWeights -> build_model -> from_onnx is exact, an ONNX
node read and written back computes bit for bit what it did in onnxruntime, and a Keras LSTM
ported to ONNX gives in onnxruntime what the Keras layer gives, within the bounds both
comparisons with the same reference derive."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lstm_ref  # noqa: E402
from lstm_ref.frameworks.onnx import activations as onnx_activations
from lstm_ref.frameworks.onnx import graph as onnx_graph  # noqa: E402
from lstm_ref.frameworks.onnx.graph import build_model
from lstm_ref.frameworks.onnx.twin import OnnxLSTMTwin, from_onnx  # noqa: E402
from lstm_ref.errors import ActivationError, OptionError  # noqa: E402
from tests.support.helpers import build_with_random_weights, random_weights  # noqa: E402
from tests.frameworks.onnx.helpers import lstm_inputs, lstm_model, ort_run  # noqa: E402

U, F, B, T = 5, 3, 2, 7
ARRAYS = ("kernel", "recurrent_kernel", "bias", "peephole")


def with_options(w, rng, **options):
    return lstm_ref.LSTMWeights(w.kernel, w.recurrent_kernel, w.bias, w.activation,
                                w.recurrent_activation, **options)


def assert_same_weights(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert (a.activation, a.recurrent_activation, a.output_activation) == (
        b.activation, b.recurrent_activation, b.output_activation)
    assert (a.gate_clip, a.input_forget) == (b.gate_clip, b.input_forget)


@pytest.mark.parametrize("options", [
    {}, {"peephole": True}, {"input_forget": True}, {"gate_clip": 2.5},
    {"activation": "softsign", "recurrent_activation": "tanh", "output_activation": "relu"},
    {"use_bias": False, "activation": "elu", "recurrent_activation": "sigmoid"},
], ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("direction", ("forward", "reverse", "bidirectional"))
def test_lstm_weights_round_trip_through_onnx_exactly(options, direction, rng):
    options = dict(options)
    use_bias = options.pop("use_bias", True)
    acts = {k: options.pop(k) for k in ("activation", "recurrent_activation") if k in options}
    count = 2 if direction == "bidirectional" else 1
    source = []
    for _ in range(count):
        w = random_weights(rng, U, F, use_bias=use_bias, **acts)
        extra = dict(options)
        if extra.pop("peephole", False):
            extra["peephole"] = rng.uniform(-1, 1, (3, U))
        source.append(with_options(w, rng, **extra))
    model = build_model(source if count == 2 else source[0], direction=direction,
                        dtype="float64")
    # The spec's semantics read a clip back as gate_clip: the exact inverse of build_model.
    twin = from_onnx(model, semantics="spec")
    assert twin.directions == {"forward": ("forward",), "reverse": ("reverse",),
                               "bidirectional": ("forward", "backward")}[direction]
    for a, b in zip(twin.weights, source):
        assert_same_weights(a, b)
    # onnxruntime's semantics hold the clip in f and g: written back, the same model.
    again = build_model(from_onnx(model).weights if count == 2 else from_onnx(model).weights[0],
                        direction=direction, dtype="float64")
    assert again.graph.node[0] == model.graph.node[0]
    assert list(again.graph.initializer) == list(model.graph.initializer)


@pytest.mark.parametrize("name,onnx_name,alpha", [
    ("hard_sigmoid", "HardSigmoid", 1 / 6), ("hard_sigmoid_keras2", "HardSigmoid", 0.2),
    ("leaky_relu", "LeakyRelu", 0.2)])
def test_parameters_onnx_stores_in_float32(name, onnx_name, alpha, rng):
    """ONNX holds activation_alpha as float32: 1/6 and 0.2 change by less than float32's
    resolution, 6e-8 relative, in which onnxruntime computes."""
    model = build_model(random_weights(rng, U, F, recurrent_activation=name))
    stored = from_onnx(model).activations[0][0]
    assert (stored.name, stored.alpha) == (onnx_name, float(np.float32(alpha)))
    assert abs(stored.alpha - alpha) <= 2 ** -24 * alpha


def test_every_onnx_activation_round_trips(rng):
    names = list(onnx_activations.NAMES) + ["Sigmoid"]  # 12: four directions' worth, 2 nodes
    params = {"Affine": (0.7, 0.2), "LeakyRelu": (0.1,), "ThresholdedRelu": (0.3,),
              "ScaledTanh": (1.3, 0.6), "HardSigmoid": (0.3, 0.4), "Elu": (0.7,)}
    for chunk in (names[:6], names[6:]):
        attributes = {"activations": chunk,
                      "activation_alpha": [params[n][0] for n in chunk if n in params],
                      "activation_beta": [params[n][1] for n in chunk
                                          if len(params.get(n, ())) > 1]}
        model, _ = lstm_model(rng, U, F, "bidirectional", graph_inputs=(), **attributes)
        again = build_model(from_onnx(model).weights)
        read, original = (onnx_graph.read_node(m).attributes for m in (again, model))
        assert read["activations"] == chunk
        for key in ("activation_alpha", "activation_beta"):  # float32 values, bit for bit
            assert read[key] == original[key] and len(read[key]) == len(attributes[key])


@pytest.mark.parametrize("direction", ("forward", "reverse", "bidirectional"))
def test_an_onnx_node_read_and_written_back_computes_the_same_bits(direction, rng):
    """Wb + Rb folds into one bias (written to Wb, Rb zero): onnxruntime sums the two in
    float32 itself, so the rewritten model's outputs are identical, not merely close."""
    model, _ = lstm_model(rng, U, F, direction, peepholes=True, clip=1.0, input_forget=1,
                          activations=["HardSigmoid", "Softsign", "Elu"] * (
                              2 if direction == "bidirectional" else 1))
    twin = from_onnx(model)
    again = build_model(twin.weights if len(twin.weights) == 2 else twin.weights[0],
                        direction=direction, graph_inputs=("sequence_lens", "initial_h",
                                                           "initial_c"))
    d = 2 if direction == "bidirectional" else 1
    X, (h0, c0) = lstm_inputs(rng, B, T, F, U, d)
    feeds = {"X": X, "sequence_lens": np.array([T, 3], np.int32), "initial_h": h0,
             "initial_c": c0}
    for a, b in zip(ort_run(model, feeds), ort_run(again, feeds)):
        np.testing.assert_array_equal(a, b)


def test_what_onnx_cannot_express_is_a_clear_error(rng):
    w = random_weights(rng, U, F)
    with pytest.raises(ActivationError, match=r"weights\[0\].activation \(g\) 'gelu' has no ONNX "
                                              r"LSTM equivalent"):
        build_model(random_weights(rng, U, F, activation="gelu"))
    with pytest.raises(OptionError, match="onnx has no equivalent of cell_clip"):
        build_model(with_options(w, rng, cell_clip=3.0))
    with pytest.raises(OptionError,
                       match=r"the two directions differ in input_forget \(\[0, 1\]\)"):
        build_model((w, with_options(w, rng, input_forget=True)))
    with pytest.raises(OptionError, match=r"direction='bidirectional' does not fit 1 LSTMWeights"):
        build_model(w, direction="bidirectional")
    with pytest.raises(OptionError, match=r"layout=1 needs opset 14 or later"):
        build_model(w, layout=1, opset=13)


# --- Keras -> ONNX -> onnxruntime -----------------------------------------------------------

def same_outputs_within_derived_bounds(keras_output, keras_report, onnx_Y, onnx_report,
                                       go_backwards=False):
    """|keras - onnxruntime| <= keras's bound + onnxruntime's bound at every step: both were
    held to the same reference (the same LSTMWeights), so the triangle inequality bounds their
    difference. Keras's output (and its report's steps) are in processing order, ONNX's Y in
    time order. Returns the worst |keras - onnxruntime| / that bound."""
    assert keras_report.passed, keras_report.summary()
    assert onnx_report.passed, onnx_report.summary()
    keras_output = np.asarray(keras_output, np.float64)
    keras_bound = keras_report.tensors["output"].max_bound
    if go_backwards:
        keras_output, keras_bound = keras_output[:, ::-1], keras_bound[::-1]
    difference = np.abs(keras_output - onnx_Y).max(axis=(0, 2))
    bound = keras_bound + onnx_report.tensors["Y"].max_bound
    assert (difference <= bound).all(), (difference, bound)
    return (difference / bound).max()


@pytest.mark.keras
@pytest.mark.parametrize("options", [
    {}, {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
    {"activation": "softsign", "go_backwards": True}, {"use_bias": False, "activation": "elu"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_a_keras_lstm_ported_to_onnx_gives_what_keras_gives(options, rng):
    keras = pytest.importorskip("keras")
    layer = build_with_random_weights(keras.layers.LSTM(U, return_sequences=True, **options),
                                      rng, (B, T, F))
    source = lstm_ref.from_keras(layer).weights
    reverse = options.get("go_backwards", False)
    model = build_model(source, direction="reverse" if reverse else "forward", layout=1)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    twin = OnnxLSTMTwin(onnx_graph.read_node(model), weights=source)
    onnx_report = lstm_ref.compare(model, x, twin=twin)
    ort_Y = onnx_graph_run(model, x)[:, :, 0]
    same_outputs_within_derived_bounds(keras.ops.convert_to_numpy(layer(x)),
                                       lstm_ref.compare(layer, x), ort_Y, onnx_report, reverse)


def onnx_graph_run(model, x):
    """onnxruntime's Y for a layout-1 model (run as the spec defines layout 1: transposes
    around the layout-0 node, as compare runs it)."""
    from lstm_ref.frameworks.onnx import observe as onnx_compare

    node = onnx_graph.read_node(model)
    runnable, _ = onnx_graph.runnable_model(node, {"X"})
    return onnx_compare.run(onnx_compare.session(runnable, node), {"X": x}, node)[0]


@pytest.mark.keras
def test_a_keras_bidirectional_lstm_ported_to_onnx_gives_what_keras_gives(rng):
    keras = pytest.importorskip("keras")
    layer = build_with_random_weights(
        keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True)), rng, (B, T, F))
    source = lstm_ref.from_keras(layer).weights
    model = build_model(source, layout=1)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    onnx_report = lstm_ref.compare(model, x, twin=OnnxLSTMTwin(onnx_graph.read_node(model),
                                                               weights=source))
    ort_Y = onnx_graph_run(model, x).reshape(B, T, 2 * U)  # (B, T, D, H): Keras's concat
    keras_report = lstm_ref.compare(layer, x)
    same_outputs_within_derived_bounds(keras.ops.convert_to_numpy(layer(x)), keras_report,
                                       ort_Y, onnx_report)


def test_a_wrong_source_is_flagged(rng):
    """Holding a model to weights it was not converted from fails at once (the check the
    Keras tests rely on is not vacuous)."""
    source = random_weights(rng, U, F)
    model = build_model(random_weights(rng, U, F))
    X, _ = lstm_inputs(rng, B, T, F, U)
    report = lstm_ref.compare(model, X, twin=OnnxLSTMTwin(onnx_graph.read_node(model),
                                                          weights=source))
    assert not report.passed and report.first_failing_step == 0
