"""Layer-normalised LSTMs (lstm_ref.layer_norm): TFLite's and TF contrib's published values,
an independent scalar implementation with random per-gate weights, the properties that pin
where the normalisation sits, the formats, and clear refusals (gradients, layouts, bad
arguments)."""

import doctest
import math
import statistics

import numpy as np
import pytest

import lstm_ref
from lstm_ref import layer_norm, layouts
from lstm_ref.errors import OptionError, ShapeError, ValueRangeError
from lstm_ref.layer_norm import LayerNorm
from tests.support.tflite_tensors import tflite_weights

# --- TFLite's published values -------------------------------------------------------------

# tensorflow/lite/kernels/lstm_test.cc's layer-norm tests: n_batch 2, n_input 5, n_cell 4,
# n_output 3 (a projection), 3 steps, peepholes, no clipping.
TFLITE_INPUT = np.array([[[0.7, 0.8, 0.1, 0.2, 0.3], [0.8, 0.1, 0.2, 0.4, 0.5],
                          [0.2, 0.7, 0.7, 0.1, 0.7]],
                         [[0.3, 0.2, 0.9, 0.8, 0.1], [0.1, 0.5, 0.2, 0.4, 0.2],
                          [0.6, 0.9, 0.2, 0.5, 0.7]]])
TENSORS = {
    "input_to": {
        "input": [0.5, 0.6, 0.7, -0.8, -0.9, 0.1, 0.2, 0.3, -0.4, 0.5, -0.8, 0.7, -0.6, 0.5,
                  -0.4, -0.5, -0.4, -0.3, -0.2, -0.1],
        "forget": [-0.6, -0.1, 0.3, 0.2, 0.9, -0.5, -0.2, -0.4, 0.3, -0.8, -0.4, 0.3, -0.5,
                   -0.4, -0.6, 0.3, -0.4, -0.6, -0.5, -0.5],
        "cell": [-0.4, -0.3, -0.2, -0.1, -0.5, 0.5, -0.2, -0.3, -0.2, -0.6, 0.6, -0.1, -0.4,
                 -0.3, -0.7, 0.7, -0.9, -0.5, 0.8, 0.6],
        "output": [-0.8, -0.4, -0.2, -0.9, -0.1, -0.7, 0.3, -0.3, -0.8, -0.2, 0.6, -0.2, 0.4,
                   -0.7, -0.3, -0.5, 0.1, 0.5, -0.6, -0.4]},
    "recurrent_to": {
        "input": [-0.2, -0.3, 0.4, 0.1, -0.5, 0.9, -0.2, -0.3, -0.7, 0.05, -0.2, -0.6],
        "cell": [-0.3, 0.2, 0.1, -0.3, 0.8, -0.08, -0.2, 0.3, 0.8, -0.6, -0.1, 0.2],
        "forget": [-0.5, -0.3, -0.5, -0.2, 0.6, 0.4, 0.9, 0.3, -0.1, 0.2, 0.5, 0.2],
        "output": [0.3, -0.1, 0.1, -0.2, -0.5, -0.7, -0.2, -0.6, -0.1, -0.4, -0.7, -0.2]},
    "gate_bias": {"input": [0.03, 0.15, 0.22, 0.38], "forget": [0.1, -0.3, -0.2, 0.1],
                  "cell": [-0.05, 0.72, 0.25, 0.08], "output": [0.05, -0.01, 0.2, 0.1]},
    "cell_to": {"input": [0.05, 0.1, 0.25, 0.15], "forget": [-0.02, -0.15, -0.25, -0.03],
                "output": [0.1, -0.1, -0.5, 0.05]},
    "projection": [-0.1, 0.2, 0.01, -0.2, 0.1, 0.5, 0.3, 0.08, 0.07, 0.2, -0.4, 0.2],
}
COEFFICIENTS = {"input": [0.1, 0.2, 0.3, 0.5], "forget": [0.2, 0.2, 0.4, 0.3],
                "cell": [0.7, 0.2, 0.3, 0.8], "output": [0.6, 0.2, 0.2, 0.5]}


def tflite_layer_norm(coefficients):
    return LayerNorm.tflite(np.stack([coefficients.get(name, [0.0] * 4)
                                      for name in ("input", "forget", "cell", "output")]))


def without(tensors, gate):
    """The tensors with no ``gate`` ("input" for CIFG) anywhere."""
    return {key: ({k: v for k, v in value.items() if k != gate} if isinstance(value, dict)
                  else value) for key, value in tensors.items()}


def test_tflite_layer_norm_goldens():
    """tensorflow/lite/kernels/lstm_test.cc, LstmOpTest.NoCifg_Peephole_Projection_LayerNorm
    (float32; the same values as NoCifgPeepholeProjectionNoClippingLayerNormLstmTest of the
    older LAYER_NORM_LSTM custom op's test). The goldens have 6 significant digits: within
    5e-7 of values up to 0.17 (measured 4.4e-7); TFLite's own test allows 1e-5."""
    golden = np.array([[[0.0244077, 0.128027, -0.00170918], [0.0137642, 0.140751, 0.0395835],
                        [-0.00459231, 0.155278, 0.0837377]],
                       [[-0.00692428, 0.0848741, 0.063445], [-0.00403912, 0.139963, 0.072681],
                        [0.00752706, 0.161903, 0.0561371]]])
    w = tflite_weights(5, 4, n_output=3, **TENSORS,
                       layer_norm=tflite_layer_norm(COEFFICIENTS))
    outputs = lstm_ref.forward(TFLITE_INPUT, w).outputs
    np.testing.assert_allclose(outputs, golden, rtol=0, atol=1e-6)
    # Without the normalisation, or with the bias inside it, the same tensors miss by far.
    plain = w.replace(layer_norm=None)
    assert np.abs(lstm_ref.forward(TFLITE_INPUT, plain).outputs - golden).max() > 1e-2


def test_tflite_cifg_layer_norm_goldens():
    """tensorflow/lite/kernels/lstm_test.cc, LstmOpTest.Cifg_Peephole_Projection_LayerNorm
    (float32): the same tensors without any input-gate tensor, i = 1 - f
    (coupled_gates="cifg"). Goldens to 9 digits from a float32 run: within a few float32
    ulps (1e-7 here is 2 ulps at 0.17)."""
    golden = np.array([[[0.02129706, 0.140816242, 0.0112733059],
                        [0.0132302344, 0.152308047, 0.0346313119],
                        [-0.0123688057, 0.165790111, 0.0893077999]],
                       [[-0.0226350538, 0.0916948169, 0.0769175813],
                        [-0.0269966982, 0.149707705, 0.094149217],
                        [-0.0103429332, 0.173016444, 0.0720508844]]])
    norm = tflite_layer_norm({k: v for k, v in COEFFICIENTS.items() if k != "input"})
    w = tflite_weights(5, 4, n_output=3, **without(TENSORS, "input"), coupled_gates="cifg",
                       layer_norm=norm)
    np.testing.assert_allclose(lstm_ref.forward(TFLITE_INPUT, w).outputs, golden, rtol=0,
                               atol=1e-7)


# --- TF contrib's published values ---------------------------------------------------------

def contrib_weights(features, units, **options):
    """A LayerNormBasicLSTMCell under tf.constant_initializer(0.5): kernel (F + U, 4U) all 0.5
    (so its gate order does not matter), no bias (its matmul has none when it normalises),
    gamma 1 and beta 0 (norm_gain=1.0, norm_shift=0.0), forget_bias 1.0."""
    norm = LayerNorm.tf_contrib(np.ones((4, units)), np.ones(units), np.zeros(units))
    return lstm_ref.LSTMWeights(np.full((features, 4 * units), 0.5),
                                np.full((units, 4 * units), 0.5), np.zeros(4 * units),
                                forget_bias=1.0, layer_norm=norm, **options)


def test_tf_contrib_layer_norm_basic_lstm_cell_goldens():
    """tensorflow/contrib/rnn/python/kernel_tests/rnn_cell_test.py, LayerNormBasicLSTMCellTest
    .testBasicLSTMCell and .testBasicLSTMCellWithStateTupleLayerNorm: two stacked cells of 2
    units, x = [[1, 1]], states (c, h) = (0.1 [0, 1], 0.1 [2, 3]) and (0.1 [4, 5], 0.1 [6, 7]);
    then one cell on 3 features. Every gate's pre-activation is the same on both units, so
    it normalises to 0; c = c_prev * sigmoid(1) normalises to [-1, 1], and h =
    tanh([-1, 1]) * sigmoid(0). The state TF returns is the normalised c."""
    expected_h, expected_c = np.array([[-0.38079708, 0.38079708]]), np.array([[-1.0, 1.0]])
    x = np.array([[[1.0, 1.0]]])
    states = [(0.1 * np.array([[0.0, 1.0]]), 0.1 * np.array([[2.0, 3.0]])),
              (0.1 * np.array([[4.0, 5.0]]), 0.1 * np.array([[6.0, 7.0]]))]
    for state in states:  # layer 2's input is layer 1's h, the same values
        trace = lstm_ref.forward(x, contrib_weights(2, 2), initial_state=state, state_order="ch")
        x = trace.outputs
        c, h = trace.final_state("ch")
        np.testing.assert_allclose(c, expected_c, rtol=0, atol=1e-7)
        np.testing.assert_allclose(h, expected_h, rtol=0, atol=1e-8)
    trace = lstm_ref.forward(np.ones((1, 1, 3)), contrib_weights(3, 2), initial_state=states[0],
                             state_order="ch")
    np.testing.assert_allclose(trace.final_h, expected_h, rtol=0, atol=1e-8)
    np.testing.assert_allclose(trace.final_c, expected_c, rtol=0, atol=1e-7)


# --- an independent implementation ----------------------------------------------------------

def scalar_layer_norm_lstm(x, w, h0, c0):
    """The layer-norm equations element by element from TFLite's lstm_eval and contrib's
    LayerNormBasicLSTMCell (not from lstm_ref), sigmoid gates and tanh, statistics's mean
    and population variance."""
    norm = w.layer_norm
    gates = w.gates()
    units, size = w.units, w.output_size
    peephole = np.zeros((3, units)) if w.peephole is None else w.peephole

    def sigmoid(v):
        return 1 / (1 + math.exp(-v))

    def normed(values, gain, shift):
        mean, var = statistics.fmean(values), statistics.pvariance(values)
        return [(v - mean) / math.sqrt(var + norm.epsilon) * g + s
                for v, g, s in zip(values, gain, shift)]

    hs, cs = [], []
    for b in range(x.shape[0]):
        h, c = list(h0[b]), list(c0[b])
        row_h, row_c = [], []
        for t in range(x.shape[1]):
            def pre(gate, u, x_t=x[b, t], h=h):
                g = gates[gate]
                return (sum(x_t[k] * g["kernel"][k, u] for k in range(len(x_t)))
                        + sum(h[k] * g["recurrent_kernel"][k, u] for k in range(size)))

            z = {gate: [pre(gate, u) for u in range(units)] for gate in "ifco"}
            z["i"] = [z["i"][u] + peephole[0, u] * c[u] for u in range(units)]
            z["f"] = [z["f"][u] + peephole[1, u] * c[u] for u in range(units)]
            n = {gate: normed(z[gate], norm.gain[k], gates[gate]["bias"])
                 for k, gate in enumerate("ifc")}
            f = [sigmoid(v + w.forget_bias) for v in n["f"]]
            i = [1 - v for v in f] if w.coupled_gates == "cifg" else [sigmoid(v) for v in n["i"]]
            new_c = [f[u] * c[u] + i[u] * math.tanh(n["c"][u]) for u in range(units)]
            if norm.normalizes_cell:
                new_c = normed(new_c, norm.cell_gain, norm.cell_shift)
            z_o = [z["o"][u] + peephole[2, u] * new_c[u] for u in range(units)]
            o = [sigmoid(v) for v in normed(z_o, norm.gain[3], gates["o"]["bias"])]
            m = [o[u] * math.tanh(new_c[u]) for u in range(units)]
            if w.projection is not None:
                m = [sum(m[u] * w.projection[u, p] for u in range(units)) for p in range(size)]
            h, c = m, new_c
            row_h.append(h)
            row_c.append(c)
        hs.append(row_h)
        cs.append(row_c)
    return np.array(hs), np.array(cs)


@pytest.mark.parametrize("convention", ["tflite", "tflite-cifg", "tf_contrib"])
@pytest.mark.parametrize("seed", range(3))
def test_layer_norm_equals_an_independent_scalar_implementation(convention, seed):
    rng = np.random.default_rng([seed, len(convention)])
    units, features, output_size = 4, 3, (3 if convention.startswith("tflite") else 4)
    options = {}
    if convention.startswith("tflite"):
        norm = LayerNorm.tflite(rng.uniform(0.2, 1.5, (4, units)))
        options.update(peephole=rng.normal(size=(3, units)),
                       projection=rng.normal(size=(units, output_size)))
        if convention == "tflite-cifg":
            options["coupled_gates"] = "cifg"
    else:
        norm = LayerNorm.tf_contrib(rng.uniform(0.2, 1.5, (4, units)),
                                    rng.uniform(0.2, 1.5, units), rng.normal(size=units))
        options["forget_bias"] = 1.0
    w = lstm_ref.LSTMWeights(rng.normal(size=(features, 4 * units)),
                             rng.normal(size=(output_size, 4 * units)), rng.normal(size=4 * units),
                             layer_norm=norm, **options)
    x = rng.normal(size=(2, 5, features))
    h0, c0 = rng.normal(size=(2, output_size)), rng.normal(size=(2, units))
    trace = lstm_ref.forward(x, w, initial_state=[h0, c0])
    h, c = scalar_layer_norm_lstm(x, w, h0, c0)
    # Both float64; the summation orders differ: a few ulps of values of order 1.
    np.testing.assert_allclose(trace.h, h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trace.c, c, rtol=1e-12, atol=1e-12)


# --- properties -------------------------------------------------------------------------------

@pytest.fixture
def weights(rng):
    norm = LayerNorm.tflite(rng.uniform(0.5, 1.5, (4, 5)))
    return lstm_ref.LSTMWeights(rng.normal(size=(3, 20)), rng.normal(size=(5, 20)),
                                rng.normal(size=20), layer_norm=norm)


def test_the_normalisation_comes_before_the_bias(weights, rng):
    """Scaling every pre-activation (kernel and recurrent kernel) by 3 changes nothing but the
    epsilon's share when the bias is added after the normalisation; it would change every
    gate if the bias were inside."""
    x = rng.normal(size=(2, 6, 3))
    scaled = weights.replace(kernel=3 * weights.kernel,
                             recurrent_kernel=3 * weights.recurrent_kernel)
    np.testing.assert_allclose(lstm_ref.forward(x, scaled).h, lstm_ref.forward(x, weights).h,
                               rtol=0, atol=1e-7)
    biased = scaled.replace(bias=3 * weights.bias)
    assert np.abs(lstm_ref.forward(x, biased).h - lstm_ref.forward(x, weights).h).max() > 1e-2


def test_each_gate_has_its_own_gain(weights, rng):
    x = rng.normal(size=(2, 6, 3))
    base = lstm_ref.forward(x, weights).h
    for k in range(4):
        gain = np.array(weights.layer_norm.gain)
        gain[k] *= 2
        changed = weights.replace(layer_norm=LayerNorm.tflite(gain))
        assert np.abs(lstm_ref.forward(x, changed).h - base).max() > 1e-3, "ifco"[k]


def test_normalize_is_zero_mean_unit_variance(rng):
    v = rng.normal(3, 5, (4, 7))
    n = layer_norm.normalize(v, 1e-12)
    np.testing.assert_allclose(n.mean(axis=-1), 0, atol=1e-15)
    np.testing.assert_allclose(n.var(axis=-1), 1, rtol=1e-12)


@pytest.mark.parametrize("dtype,tolerance", [("float32", 1e-5), ("float16", 2e-2),
                                             ("bfloat16", 1e-1)])
def test_every_format_runs_the_normalisation(weights, rng, dtype, tolerance):
    x = rng.normal(size=(2, 6, 3))
    exact = lstm_ref.forward(x, weights).h
    assert np.abs(lstm_ref.forward(x, weights, dtype=dtype).h - exact).max() < tolerance


# --- refusals ---------------------------------------------------------------------------------

def test_gradients_are_refused(weights, rng):
    with pytest.raises(OptionError, match=r"^gradients has no backward pass for layer_norm"):
        lstm_ref.gradients(rng.normal(size=(1, 2, 3)), weights)


@pytest.mark.parametrize("target", ["keras", "torch", "tf1", "onnx"])
def test_layouts_refuse_it(weights, target):
    with pytest.raises(OptionError, match=rf"^{target} has no equivalent of layer_norm"):
        getattr(layouts, f"to_{target}")(weights)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"gain": np.ones((3, 4)), "epsilon": 1e-8}, ShapeError,
     r"gain has first dimension 3; expected 4 \(one row per gate i, f, c, o\)"),
    ({"gain": np.ones(4), "epsilon": 1e-8}, ShapeError, r"gain"),
    ({"gain": np.ones((4, 4)), "epsilon": 0.0}, ValueRangeError,
     r"epsilon must be finite and positive .*received 0.0"),
    ({"gain": np.ones((4, 4)), "epsilon": "small"}, OptionError,
     r"epsilon must be a number; received 'small'"),
    ({"gain": np.ones((4, 4)), "epsilon": 1e-8, "cell_gain": np.ones(4)}, OptionError,
     r"cell_gain and cell_shift come together .*received only cell_gain"),
    ({"gain": np.ones((4, 4)), "epsilon": 1e-8, "cell_gain": np.ones(3),
      "cell_shift": np.ones(3)}, ShapeError, r"cell_gain has shape \(3,\); expected \(4,\)"),
    ({"gain": np.full((4, 4), np.nan), "epsilon": 1e-8}, ValueRangeError,
     r"layer_norm gain must be finite"),
])
def test_bad_layer_norms_are_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        LayerNorm(**kwargs)


def test_weights_check_the_layer_norm(rng):
    with pytest.raises(ShapeError, match=r"layer_norm has units 3; expected 4 .*from recurrent_kernel"):
        lstm_ref.LSTMWeights(np.zeros((2, 16)), np.zeros((4, 16)),
                             layer_norm=LayerNorm.tflite(np.ones((4, 3))))
    with pytest.raises(OptionError, match=r"layer_norm must be None or an lstm_ref.layer_norm"
                                          r".LayerNorm; received ndarray"):
        lstm_ref.LSTMWeights(np.zeros((2, 16)), np.zeros((4, 16)), layer_norm=np.ones((4, 4)))
    w = lstm_ref.LSTMWeights(np.zeros((2, 16)), np.zeros((4, 16)),
                             layer_norm=LayerNorm.tflite(np.ones((4, 4))))
    assert "layer_norm=LayerNorm(units=4, epsilon=1e-08, normalizes_cell=False)" in repr(w)
    assert w.replace(layer_norm=None).options() == {}
    assert w.options()["layer_norm"] == LayerNorm.tflite(np.ones((4, 4)))
    assert w.layer_norm != LayerNorm.tflite(np.full((4, 4), 2.0))
    assert w.layer_norm != LayerNorm(np.ones((4, 4)), 1e-12)
    assert LayerNorm.tf_contrib(np.ones((4, 4)), np.ones(4), np.zeros(4)) != w.layer_norm
    assert w.param_count() == 2 * 16 + 4 * 16 + 4 * 4
    contrib = w.replace(layer_norm=LayerNorm.tf_contrib(np.ones((4, 4)), np.ones(4), np.zeros(4)))
    assert contrib.param_count() == w.param_count() + 2 * 4


def test_the_modules_examples_run():
    assert doctest.testmod(layer_norm, raise_on_error=True).attempted >= 4
