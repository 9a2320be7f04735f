"""compare_export on Keras LSTMs converted to TFLite both ways the converter lowers them (the
fused op, the WHILE loop), with float32, float16 and int8 (dynamic range) weights; and the
planted bugs it must fail: a swapped gate, an edited weight, an edited op option.

The converter takes seconds per artifact: tests share one conversion per (shape, lowering,
storage) through shared_artifact, and a swapped gate is planted in the source held against
an unmodified artifact (the same mismatch as an artifact converted from swapped weights)."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.frameworks.tflite import observe
from lstm_ref.frameworks.tflite.convert import edit_constant
from lstm_ref.frameworks.tflite.flatbuffer import load
from tests.frameworks.tflite.helpers import (
    artifact,
    float32_weights,
    shared_artifact,
    swap_gates,
    with_op_options,
)
from tests.support.helpers import random_weights

# (lowering, storage, units, features, batch, time): int8 needs tensors of 1024 elements or
# more (smaller ones stay float32): the fused op stores one (units, features) block per gate.
# The other tests reuse these shapes (and their conversions) where the shape is not the point.
CASES = [
    ("while", "float32", 9, 3, 9, 5),
    ("while", "float16", 17, 4, 2, 6),
    ("while", "int8", 17, 16, 3, 5),
    ("fused", "float32", 17, 5, 9, 6),
    ("fused", "float16", 9, 3, 2, 5),
    ("fused", "int8", 33, 32, 2, 4),
]
OPS = {"while": "WHILE", "fused": "UNIDIRECTIONAL_SEQUENCE_LSTM"}


def case_id(case):
    lowering, storage, units, features, batch, time = case
    return f"{lowering}-{storage}-units={units}-features={features}-batch={batch}-time={time}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_export_passes(case, rng):
    lowering, storage, units, features, batch, time = case
    weights, content = shared_artifact(units, features, batch, time, lowering, storage)
    assert OPS[lowering] in load(content).op_names()
    read = observe.read_artifact(content, units, features)
    assert observe.storage_of(read) == storage, read.formats  # the storage is really there
    x = rng.normal(size=(batch, time, features))
    report = lstm_ref.compare_export(weights, content, x)
    assert report.passed, report.summary()
    # Not vacuous: every weight and the run were compared, element by element.
    shown = {"weights.kernel", "weights.recurrent_kernel", "weights.bias", "output"}
    assert shown <= set(report.tensors)
    for name in shown:
        assert report.tensors[name].compared == report.tensors[name].size > 0
    if lowering == "fused":  # its state variables, after every prefix
        assert {"h", "c", "state_h", "state_c"} <= set(report.tensors)
    if storage != "float32":  # the quantization moved weights, within its rounding
        assert report.tensors["weights.kernel"].max_abs.max() > 0
    if storage == "int8":  # the probes' bound is near the error, not a vacuous one
        run = [t for name, t in report.tensors.items() if not name.startswith("weights.")]
        assert max(t.worst.error / t.worst.bound for t in run) > 0.1


def _case(lowering, storage):
    """The (units, features, batch, time) of the CASES entry of this lowering and storage."""
    return next(case[2:] for case in CASES if case[:2] == (lowering, storage))


@pytest.mark.parametrize("lowering,storage", [("while", "float32"), ("fused", "float16"),
                                              ("fused", "int8")])
def test_swapped_gates_fail(lowering, storage, rng):
    """Gates i and f swapped between the source and the artifact (planted in the source)."""
    units, features, batch, time = _case(lowering, storage)
    weights, content = shared_artifact(units, features, batch, time, lowering, storage)
    report = lstm_ref.compare_export(swap_gates(weights, "i", "f"), content,
                                     rng.normal(size=(batch, time, features)))
    assert report.failed
    assert report.first_failure.tensor == "weights.kernel"


@pytest.mark.parametrize("lowering,storage,name", [
    ("while", "float32", "MatMul_1"), ("while", "int8", "MatMul"),
    ("fused", "float16", "arith.constant5"), ("fused", "int8", "tfl.pseudo_qconst5")])
def test_edited_weight_fails(lowering, storage, name, rng):
    """One stored weight moved by one step of its format (int8: one q; float: 1e-3)."""
    # The while loop at 17 x 16 in both storages (int8 needs 1024 elements), as before.
    units, features, batch, time = _case(lowering, "int8" if lowering == "while" else storage)
    weights, content = shared_artifact(units, features, batch, time, lowering, storage)
    tensor = next(t for t in _tensor_names(content) if t.endswith(name))

    def edit(stored):
        flat = stored.reshape(-1)
        flat[3] = flat[3] + (1 if flat.dtype == np.int8 and flat[3] < 127 else
                             -1 if flat.dtype == np.int8 else 1e-3)
        return stored

    report = lstm_ref.compare_export(weights, edit_constant(content, tensor, edit),
                                     rng.normal(size=(batch, time, features)))
    assert report.failed, report.summary()
    assert report.first_failure.tensor.startswith("weights.")
    assert report.tensors[report.first_failure.tensor].failures == 1


def _tensor_names(content):
    model = load(content).model
    return [t.name.decode() for s in model.subgraphs for t in s.tensors]


@pytest.mark.parametrize("storage", ["float32", "int8"])
def test_edited_option_fails_the_run(storage, rng):
    """Weights intact, the op computing otherwise (its cell clip cut to 0.05): the run fails."""
    units, features, batch, time = (33, 32, 2, 4) if storage == "int8" else (9, 3, 2, 6)
    weights, content = shared_artifact(units, features, batch, time, "fused", storage)
    content = with_op_options(content, cellClip=0.05)
    report = lstm_ref.compare_export(weights, content,
                                     rng.normal(size=(batch, time, features)) * 3)
    assert report.failed
    assert not report.first_failure.tensor.startswith("weights.")
    assert report.tensors["weights.kernel"].passed
    assert "cell_clip=0.05" in report.context["artifact options that differ from the source"]


def test_fused_op_clips_the_cell_state_keras_does_not(rng):
    """The converter gives the fused op cell_clip=10: where |c| passes 10 (forget, input and
    cell gates saturated open), the artifact departs from the Keras layer it came from."""
    units, features = 4, 3
    bias = np.concatenate([np.full(units, 8.0), np.full(units, 8.0), np.full(units, 8.0),
                           np.full(units, 1.0)])
    weights = float32_weights(rng, units, features).replace(bias=bias.astype(np.float32))
    content = artifact(weights, 2, 14, "fused")
    report = lstm_ref.compare_export(weights, content, rng.normal(size=(2, 14, 3)) * 0.1)
    assert report.failed
    assert report.first_failure.tensor in ("c", "state_c")
    assert report.first_failure.step == 10  # c reaches 11 at the 11th step
    assert "cell_clip=10.0" in report.context["artifact options that differ from the source"]


def test_fused_artifact_keeps_its_state_between_invocations(rng):
    """A fused op's state is a variable: invoked twice without a reset, the second run starts
    where the first ended. observe.run resets it before every run."""
    _, content = shared_artifact(9, 3, 2, 6, "fused")
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    it = observe.interpreter(content)
    it.allocate_tensors()
    index = it.get_input_details()[0]["index"]
    output = it.get_output_details()[0]["index"]
    runs = []
    for _ in range(2):
        it.set_tensor(index, x)
        it.invoke()
        runs.append(np.array(it.get_tensor(output)))
    assert np.abs(runs[0] - runs[1]).max() > 1e-3
    first, second = observe.run(content, x), observe.run(content, x)
    np.testing.assert_array_equal(first["outputs"][0], second["outputs"][0])
    np.testing.assert_array_equal(first["outputs"][0], runs[0])


def test_keras_layer_and_model_as_source(rng):
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    inputs = keras.Input((5, 3), batch_size=2)
    layer = keras.layers.LSTM(9, return_sequences=True, return_state=True)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in layer.get_weights()])
    content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    x = rng.normal(size=(2, 5, 3))
    for source in (model, layer, lstm_ref.from_keras(layer)):
        report = lstm_ref.compare_export(source, content, x)
        assert report.passed, report.summary()
        assert {"state_h", "state_c"} <= set(report.tensors)


def test_bad_arguments(rng, tmp_path):
    weights, content = shared_artifact(3, 2, 1, 2, "while")
    with pytest.raises(lstm_ref.OptionError, match="artifact must be one of the kinds"):
        lstm_ref.compare_export(weights, b"not a model at all", np.zeros((1, 2, 2)))
    with pytest.raises(lstm_ref.OptionError, match="artifact must be one of the kinds"):
        lstm_ref.compare_export(weights, 42, np.zeros((1, 2, 2)))
    with pytest.raises(lstm_ref.OptionError, match="cannot be read"):
        lstm_ref.compare_export(weights, str(tmp_path / "missing.tflite"), np.zeros((1, 2, 2)))
    with pytest.raises(lstm_ref.OptionError, match="tolerance must be None"):
        lstm_ref.compare_export(weights, content, np.zeros((1, 2, 2)), tolerance=1e-3)
    with pytest.raises(lstm_ref.ShapeError, match="x must be"):
        lstm_ref.compare_export(weights, content, np.zeros((1, 2, 5)))
    with pytest.raises(lstm_ref.UnsupportedLayerError, match="no framework for builtins.object"):
        lstm_ref.compare_export(object(), content, np.zeros((1, 2, 2)))


@pytest.mark.parametrize("api", ["keras", "tf_keras"])
@pytest.mark.parametrize("go_backwards,return_sequences", [(True, True), (False, False),
                                                           (True, False)])
def test_layer_options(api, go_backwards, return_sequences, rng):
    """go_backwards and return_sequences=False through both lowerings (tf_keras: the fused
    op behind REVERSE_V2 / STRIDED_SLICE; its h and c per step from suffixes of x)."""
    keras = pytest.importorskip(api)
    tf = pytest.importorskip("tensorflow")
    inputs = keras.Input((6, 3), batch_size=2)
    layer = keras.layers.LSTM(5, go_backwards=go_backwards, return_sequences=return_sequences,
                              return_state=api == "keras")
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in layer.get_weights()])
    content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    ops = load(content).op_names()
    assert ("UNIDIRECTIONAL_SEQUENCE_LSTM" if api == "tf_keras" else "WHILE") in ops
    report = lstm_ref.compare_export(model, content, rng.normal(size=(2, 6, 3)))
    assert report.passed, report.summary()
    assert report.tensors["output"].compared > 0


def test_assert_export_equivalent(rng):
    weights, content = shared_artifact(4, 3, 2, 3, "while")
    x = rng.normal(size=(2, 3, 3))
    report = lstm_ref.assert_export_equivalent(weights, content, x)
    assert report.passed
    with pytest.raises(AssertionError, match="weights.kernel"):  # gates c, o swapped
        lstm_ref.assert_export_equivalent(swap_gates(weights, "c", "o"), content, x)


def test_while_loop_resized_in_time_is_refused(rng):
    """LiteRT resizes a WHILE-loop artifact's input to more steps and runs it, but the loop
    keeps its converted trip count: 4 of 7 steps computed, said, not compared."""
    weights, content = shared_artifact(5, 3, 2, 4, "while")
    with pytest.raises(lstm_ref.ShapeError, match="ran 4 of the input's 7 steps"):
        lstm_ref.compare_export(weights, content, rng.normal(size=(2, 7, 3)))
    # The fused op (converted for 6 steps) resizes in time and computes every step.
    weights, content = shared_artifact(9, 3, 2, 6, "fused")
    assert lstm_ref.compare_export(weights, content, rng.normal(size=(2, 7, 3))).passed


def test_artifact_of_two_lstms_is_refused(rng):
    """A stack converts to two fused ops: compare_export refuses it by name; from_tflite
    mirrors each op."""
    tf_keras = pytest.importorskip("tf_keras")
    tf = pytest.importorskip("tensorflow")
    inputs = tf_keras.Input((5, 3), batch_size=2)
    first = tf_keras.layers.LSTM(4, return_sequences=True)
    model = tf_keras.Model(inputs, tf_keras.layers.LSTM(4)(first(inputs)))
    content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    weights = lstm_ref.from_keras(first).weights
    with pytest.raises(lstm_ref.UnsupportedLayerError, match="2 fused LSTM op"):
        lstm_ref.compare_export(weights, content, rng.normal(size=(2, 5, 3)))
    with pytest.raises(lstm_ref.OptionError, match="pass op="):
        lstm_ref.from_tflite(content)
    np.testing.assert_array_equal(lstm_ref.from_tflite(content, op=0).weights.kernel,
                                  weights.kernel)


def test_float64_source_and_one_ulp_edit(rng):
    """A float64 source's weights are held within the float32 rounding the export starts
    from; a float32 source's bit for bit: one ulp moved in one weight fails."""
    wide = random_weights(rng, 5, 3)
    x = rng.normal(size=(2, 4, 3))
    assert lstm_ref.compare_export(wide, artifact(wide, 2, 4, "while"), x).passed
    weights, content = shared_artifact(5, 3, 2, 4, "while")
    name = next(t for t in _tensor_names(content) if t.endswith("MatMul"))

    def one_ulp(stored):
        stored.reshape(-1)[7] = np.nextafter(stored.reshape(-1)[7], np.float32(np.inf))
        return stored

    report = lstm_ref.compare_export(weights, edit_constant(content, name, one_ulp), x)
    assert report.failed and report.first_failure.tensor == "weights.kernel"


def test_weights_in_resource_variables_refused(rng):
    """A Keras 3 layer converted from a concrete function keeps its weights in resource
    variables (VAR_HANDLE, READ_VARIABLE, BATCH_MATMUL in the loop), which LiteRT leaves
    uninitialized: refused by name."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    layer = keras.layers.LSTM(5, return_sequences=True)
    layer.build((2, 4, 3))

    @tf.function(input_signature=[tf.TensorSpec((2, 4, 3), tf.float32)])
    def call(x):
        return layer(x)

    content = tf.lite.TFLiteConverter.from_concrete_functions(
        [call.get_concrete_function()], layer).convert()
    assert {"WHILE", "VAR_HANDLE", "BATCH_MATMUL"} <= set(load(content).op_names())
    with pytest.raises(lstm_ref.UnsupportedLayerError, match="resource variables"):
        lstm_ref.compare_export(layer, content, rng.normal(size=(2, 4, 3)))
