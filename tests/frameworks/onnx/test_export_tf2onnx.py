"""compare_export on tf2onnx conversions of a Keras 3 (and a tf_keras) LSTM, run by
onnxruntime: tf2onnx fuses the layer into one ONNX LSTM node (a go_backwards layer: a
forward node fed ReverseSequence's output); and an edited initializer it must fail."""

import numpy as np
import pytest

import lstm_ref

tf2onnx = pytest.importorskip("tf2onnx", reason="tf2onnx not installed: pip install tf2onnx")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.keras

# (units, features, batch, time, layer options): 9 and 17 straddle a vector width.
CASES = [(9, 3, 2, 4, {"return_sequences": True}),
         (17, 4, 3, 5, {"return_sequences": True, "go_backwards": True}),
         (9, 3, 2, 4, {"return_state": True})]


def case_id(case):
    units, features, batch, time, options = case
    return "-".join([f"units={units}", f"features={features}", f"batch={batch}",
                     f"time={time}", *options])


def converted(rng, case, library=None):
    """(model, layer, ONNX ModelProto) of a one-LSTM model with weights drawn per gate."""
    units, features, batch, time, options = case
    library = library or keras
    inputs = library.Input((time, features), batch_size=batch)
    layer = library.layers.LSTM(units, **options)
    model = library.Model(inputs, layer(inputs))
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in layer.get_weights()])
    spec = [tf.TensorSpec((batch, time, features), tf.float32, name="x")]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    return model, layer, proto


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_tf2onnx_passes(case, rng):
    model, _, proto = converted(rng, case)
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 1
    x = rng.normal(size=case[2:4] + (case[1],))
    report = lstm_ref.compare_export(model, proto, x)
    assert report.passed, report.summary()
    direction = "backward" if case[4].get("go_backwards") else "forward"
    shown = ["output", f"layer0.{direction}.h", f"layer0.{direction}.h_n",
             f"weights.layer0.{direction}.kernel", f"weights.layer0.{direction}.bias"]
    for name in shown:  # not vacuous
        assert report.tensors[name].compared == report.tensors[name].size > 0, name
    states = "the graph's second" if case[4].get("return_state") else "the LSTM nodes'"
    assert report.context["h_n, c_n"].startswith(states)


def test_tf_keras_conversion_passes(rng):
    tf_keras = pytest.importorskip("tf_keras")
    model, _, proto = converted(rng, CASES[0], tf_keras)
    report = lstm_ref.compare_export(model, proto, rng.normal(size=(2, 4, 3)))
    assert report.passed, report.summary()


def test_edited_initializer_fails(rng):
    """The node's B (its input bias half, Wb) moved by one float32 ulp at one element."""
    model, _, proto = converted(rng, CASES[0])
    node = next(n for n in proto.graph.node if n.op_type == "LSTM")
    tensor = next(t for t in proto.graph.initializer if t.name == node.input[3])
    array = onnx.numpy_helper.to_array(tensor).copy()
    array[0, 5] = np.nextafter(array[0, 5], np.float32(np.inf))
    tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
    report = lstm_ref.compare_export(model, proto, rng.normal(size=(2, 4, 3)))
    assert report.failed
    assert report.first_failure.tensor == "weights.layer0.forward.bias"


def test_nonzero_initial_state_fails(rng):
    """The node's initial_h initializer set to 0.1 at one element: the source starts from
    zeros, the artifact does not."""
    model, _, proto = converted(rng, CASES[0])
    node = next(n for n in proto.graph.node if n.op_type == "LSTM")
    tensor = next(t for t in proto.graph.initializer if t.name == node.input[5])
    array = onnx.numpy_helper.to_array(tensor).copy()
    array.reshape(-1)[3] = 0.1
    tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
    report = lstm_ref.compare_export(model, proto, rng.normal(size=(2, 4, 3)))
    assert report.failed
    assert report.first_failure.tensor == "weights.layer0.initial_h"
