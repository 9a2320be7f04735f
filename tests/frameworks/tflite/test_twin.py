"""from_tflite: a fused op's tensors mapped onto LSTMWeights (gate order, peepholes, the
op's options, dequantized weights), and what it refuses.

The converter takes seconds per artifact: tests share conversions through shared_artifact,
most of them one fused float32 op at 9 units (straddling a vector width), 3 features,
batch 2, 6 steps (FUSED), the others test_export's shapes."""

import inspect

import numpy as np
import pytest

import lstm_ref
from lstm_ref.frameworks.tflite import observe
from lstm_ref.frameworks.tflite.flatbuffer import load
from lstm_ref.frameworks.tflite.twin import INPUTS, fused_ops
from tests.frameworks.tflite.helpers import (
    shared_artifact,
    with_op_inputs,
    with_op_options,
    with_projection,
)

FUSED = (9, 3, 2, 6, "fused")  # units, features, batch, time, lowering


def _op_inputs(content):
    (_, _, _, op), = fused_ops(content)
    return dict(zip(INPUTS, (int(i) for i in op.inputs)))


def test_gate_order_and_options():
    """Every gate has its own random block: the twin's kernel, recurrent kernel and bias are
    the source's, bit for bit, only if each block went to its gate."""
    weights, content = shared_artifact(*FUSED)
    twin = lstm_ref.from_tflite(content)
    np.testing.assert_array_equal(twin.weights.kernel, weights.kernel)
    np.testing.assert_array_equal(twin.weights.recurrent_kernel, weights.recurrent_kernel)
    np.testing.assert_array_equal(twin.weights.bias, weights.bias)
    assert twin.weights.cell_clip == 10.0  # what the converter sets
    assert twin.weights.activation.name == "tanh"
    assert twin.read.formats == {"kernel": "float32", "recurrent_kernel": "float32",
                                 "bias": "float32"}


def test_twin_runs_as_the_artifact(rng):
    _, content = shared_artifact(17, 5, 9, 6, "fused")
    twin = lstm_ref.from_tflite(content)
    x = rng.normal(size=(9, 6, 5)).astype(np.float32)
    ran = observe.run(content, x, twin.read)
    np.testing.assert_allclose(ran["outputs"][0], twin(x), atol=2e-6)
    np.testing.assert_allclose(ran["state_c"], twin.final_state[1], atol=2e-6)
    # ... and held to the reference as an export of its own twin: it passes.
    assert lstm_ref.compare_export(twin, content, x).passed


@pytest.mark.parametrize("storage,fmt", [("float16", "float16"), ("int8", "int8 per-tensor")])
def test_dequantized_within_half_a_step(storage, fmt):
    shape = (33, 32, 2, 4) if storage == "int8" else (9, 3, 2, 5)
    weights, content = shared_artifact(*shape, "fused", storage)
    twin = lstm_ref.from_tflite(content)
    assert twin.read.formats["kernel"] == fmt
    for name in ("kernel", "recurrent_kernel"):
        moved = np.abs(getattr(twin.weights, name) - getattr(weights, name))
        assert moved.max() > 0
        assert (moved <= twin.read.half_steps[name]).all()


def test_peepholes_mapped_as_litert_computes_them(rng):
    """Peepholes rewired onto three (units,) constants of the op: the twin reads i, f, o from
    cell_to_input, cell_to_forget, cell_to_output, and LiteRT's run agrees with it (i and f
    see c_{t-1}, o sees c_t)."""
    units, features, batch, time, _ = FUSED
    _, content = shared_artifact(*FUSED)
    tensors = _op_inputs(content)
    content = with_op_inputs(content, p9=tensors["forget_gate_bias"],
                             p10=tensors["cell_gate_bias"], p11=tensors["output_gate_bias"])
    twin = lstm_ref.from_tflite(content)
    bias = twin.weights.bias.reshape(4, units)
    np.testing.assert_array_equal(twin.weights.peephole, np.stack([bias[1], bias[2], bias[3]]))
    x = rng.normal(size=(batch, time, features))
    assert lstm_ref.compare_export(twin, content, x).passed
    # Rotated (f, o, i): the reference and LiteRT part.
    rotated = twin.weights.replace(peephole=twin.weights.peephole[[1, 2, 0]])
    assert lstm_ref.compare_export(rotated, content, x).failed


def test_edited_activation_is_read():
    content = with_op_options(shared_artifact(*FUSED)[1], fusedActivationFunction=1)
    assert lstm_ref.from_tflite(content).weights.activation.name == "relu"


def test_layer_norm_mapped_as_litert_computes_it(rng):
    """Layer-norm coefficients rewired onto the op's four (units,) bias constants: the twin
    reads them as LayerNorm.tflite gains, and LiteRT's run agrees with it."""
    units, features, batch, time, _ = FUSED
    _, content = shared_artifact(*FUSED)
    tensors = _op_inputs(content)
    gains = [tensors[f"{word}_gate_bias"] for word in ("input", "forget", "cell", "output")]
    content = with_op_inputs(content, p20=gains[1], p21=gains[2], p22=gains[3], p23=gains[0])
    twin = lstm_ref.from_tflite(content)
    bias = twin.weights.bias.reshape(4, units)
    np.testing.assert_array_equal(twin.weights.layer_norm.gain, bias[[1, 2, 3, 0]])
    x = rng.normal(size=(batch, time, features))
    assert lstm_ref.compare_export(twin, content, x).passed
    with pytest.raises(lstm_ref.UnsupportedLayerError,
                       match="the source has no layer_norm and the artifact has one"):
        lstm_ref.compare_export(twin.weights.replace(layer_norm=None), content, x)
    # Gains rotated: the reference and LiteRT part.
    norm = type(twin.weights.layer_norm).tflite(twin.weights.layer_norm.gain[[1, 2, 3, 0]])
    assert lstm_ref.compare_export(twin.weights.replace(layer_norm=norm), content, x).failed


def test_partial_layer_norm_refused():
    _, content = shared_artifact(*FUSED)
    content = with_op_inputs(content, p21=_op_inputs(content)["forget_gate_bias"])
    with pytest.raises(lstm_ref.UnsupportedLayerError, match="some layer-norm coefficients"):
        lstm_ref.from_tflite(content)


def test_cifg(rng):
    """No input-gate tensors: i = 1 - f. Read as coupled_gates="cifg" where LSTMWeights has
    it, refused by name where it does not."""
    _, features, batch, time, _ = FUSED
    _, content = shared_artifact(*FUSED)
    content = with_op_inputs(content, p1=-1, p5=-1, p12=-1)
    if "coupled_gates" in inspect.signature(lstm_ref.LSTMWeights).parameters:
        twin = lstm_ref.from_tflite(content)
        assert twin.weights.coupled_gates == "cifg"
        assert lstm_ref.compare_export(twin, content,
                                       rng.normal(size=(batch, time, features))).passed
    else:
        with pytest.raises(lstm_ref.UnsupportedLayerError, match="CIFG"):
            lstm_ref.from_tflite(content)


def test_while_loop_has_no_fused_op():
    _, content = shared_artifact(4, 3, 2, 3, "while")
    assert "WHILE" in load(content).op_names()
    with pytest.raises(lstm_ref.UnsupportedLayerError, match="no fused LSTM op"):
        lstm_ref.from_tflite(content)


def test_bad_op_index():
    _, content = shared_artifact(*FUSED)
    with pytest.raises(lstm_ref.OptionError, match="op must be an index from 0 to 0"):
        lstm_ref.from_tflite(content, op=1)


def test_projection_mapped_as_litert_computes_it(rng):
    """A projection grafted onto the op (projection_weights (output_size, units), recurrent
    weights (units, output_size), h resized): the twin reads Keras's (units, output_size)
    projection, and LiteRT's run agrees with it, proj_clip included."""
    units, features, batch, time, _ = FUSED
    size = 4
    _, content = shared_artifact(*FUSED)
    projection = rng.normal(0, 0.5, (size, units)).astype(np.float32)
    recurrent = {word: rng.normal(0, 0.5, (units, size)).astype(np.float32)
                 for word in ("input", "forget", "cell", "output")}
    content = with_projection(content, projection, recurrent)
    twin = lstm_ref.from_tflite(content)
    np.testing.assert_array_equal(twin.weights.projection, projection.T)
    np.testing.assert_array_equal(twin.weights.recurrent_kernel[:, units:2 * units],
                                  recurrent["forget"].T)
    x = rng.normal(size=(batch, time, features))
    report = lstm_ref.compare_export(twin, content, x)
    assert report.passed and "weights.projection" in report.tensors
    clipped = with_op_options(content, projClip=0.1)
    assert lstm_ref.from_tflite(clipped).weights.proj_clip == pytest.approx(0.1)
    assert lstm_ref.compare_export(lstm_ref.from_tflite(clipped), clipped, x).passed
    assert lstm_ref.compare_export(twin, clipped, x).failed
