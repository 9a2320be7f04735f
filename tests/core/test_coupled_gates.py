"""The two couplings of the input and forget gates, named by LSTMWeights' ``coupled_gates``:
"input_forget" (ONNX, f = 1 - i) and "cifg" (TFLite's use_cifg and TF contrib's
CoupledInputForgetGateLSTMCell, i = 1 - f). Each by hand, against each other and a naive port,
in every layout that has to refuse one, by gradients, and against TFLite's published values.
(The independent scalar implementation of every option, coupled_gates included, and the
finite-difference gradients are in test_reference_options.py and test_gradients.py.)"""

import math

import numpy as np
import pytest

import lstm_ref
from lstm_ref import layouts, precision
from lstm_ref.errors import OptionError
from lstm_ref.weights import COUPLED_GATES
from tests.support.tflite_tensors import tflite_weights


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def one_step(bias, c0, **options):
    """One step of a 1-unit, 1-feature LSTM with zero kernels: z = bias (i, f, c, o), from c0."""
    w = lstm_ref.LSTMWeights(np.zeros((1, 4)), np.zeros((1, 4)), np.array(bias, float), **options)
    trace = lstm_ref.forward(np.zeros((1, 1, 1)), w, keep="gates",
                             initial_state=[np.zeros((1, 1)), np.full((1, 1), c0)])
    return {name: float(v[0, 0, 0]) for name, v in trace.gates.items()}, float(trace.final_c[0, 0])


def test_cifg_computes_the_forget_gate_and_takes_the_input_gate_as_one_minus_it():
    # The i block (100) and the i peephole (50) are unused; f keeps forget_bias and its peephole.
    gates, c = one_step([100, 0.4, 0.3, 0], 2.0, coupled_gates="cifg", forget_bias=1.0,
                        peephole=np.array([[50.0], [0.25], [0.0]]))
    f = sigmoid(0.4 + 1.0 + 0.25 * 2.0)
    assert gates["f"] == pytest.approx(f, rel=1e-15)
    assert gates["i"] == pytest.approx(1 - f, rel=1e-15)
    assert c == pytest.approx(f * 2.0 + (1 - f) * math.tanh(0.3), rel=1e-15)


def test_input_forget_computes_the_input_gate_and_takes_the_forget_gate_as_one_minus_it():
    # The f block (100), forget_bias and the f peephole (50) are unused.
    gates, c = one_step([0.4, 100, 0.3, 0], 2.0, coupled_gates="input_forget", forget_bias=1.0,
                        peephole=np.array([[0.25], [50.0], [0.0]]))
    i = sigmoid(0.4 + 0.25 * 2.0)
    assert (gates["i"], gates["f"]) == pytest.approx((i, 1 - i), rel=1e-15)
    assert c == pytest.approx((1 - i) * 2.0 + i * math.tanh(0.3), rel=1e-15)


def test_input_forget_true_is_coupled_gates_input_forget(rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 16)), rng.normal(size=(4, 16)), input_forget=True)
    named = w.replace(input_forget=False, coupled_gates="input_forget")
    assert (w.coupled_gates, w.input_forget) == (named.coupled_gates, named.input_forget) == (
        "input_forget", True)
    assert w.options() == {"coupled_gates": "input_forget"} and "coupled_gates='input_forget'" in repr(w)
    x = rng.normal(size=(2, 5, 3))
    np.testing.assert_array_equal(lstm_ref.forward(x, w).h, lstm_ref.forward(x, named).h)
    cifg = w.replace(coupled_gates=None).replace(coupled_gates="cifg")
    assert (cifg.coupled_gates, cifg.input_forget) == ("cifg", False)
    # input_forget=False undoes ONNX's coupling only, and input_forget=True cannot silently
    # turn a CIFG cell into an ONNX one.
    assert w.replace(input_forget=False).coupled_gates is None
    assert cifg.replace(input_forget=False).coupled_gates == "cifg"
    with pytest.raises(OptionError, match=r"received also coupled_gates='cifg'"):
        cifg.replace(input_forget=True)
    assert COUPLED_GATES == ("input_forget", "cifg")


def test_the_couplings_differ_and_a_naive_port_between_them_is_wrong(rng):
    """A CIFG cell is not an input_forget cell with its blocks renamed: the i and f blocks
    swapped make i = sigmoid(z_f) where CIFG has 1 - sigmoid(z_f). Only negating the computed
    gate's weights (1 - sigmoid(z) = sigmoid(-z)) maps one onto the other, to rounding, for a
    symmetric recurrent activation."""
    U = 4
    kernel, recurrent, bias = rng.normal(size=(3, 4 * U)), rng.normal(size=(U, 4 * U)), rng.normal(size=4 * U)
    x = rng.normal(size=(2, 6, 3))
    cifg = lstm_ref.LSTMWeights(kernel, recurrent, bias, coupled_gates="cifg")
    expected = lstm_ref.forward(x, cifg).h

    def with_i_block(block):
        return [np.concatenate([block(a[..., U:2 * U]), a[..., U:]], axis=-1)
                for a in (kernel, recurrent, bias)]

    onnx_same = lstm_ref.LSTMWeights(kernel, recurrent, bias, coupled_gates="input_forget")
    naive = lstm_ref.LSTMWeights(*with_i_block(lambda f: f), coupled_gates="input_forget")
    negated = lstm_ref.LSTMWeights(*with_i_block(lambda f: -f), coupled_gates="input_forget")
    for wrong in (onnx_same, naive):
        assert np.abs(lstm_ref.forward(x, wrong).h - expected).max() > 0.05
    np.testing.assert_allclose(lstm_ref.forward(x, negated).h, expected, rtol=0, atol=1e-14)


def test_float32_and_emulated_formats_run_the_coupling(rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 16)), rng.normal(size=(4, 16)),
                             rng.normal(size=16), coupled_gates="cifg")
    x = rng.normal(size=(2, 5, 3))
    reference = lstm_ref.forward(x, w, keep="gates")
    np.testing.assert_array_equal(reference.gates["i"], 1 - reference.gates["f"])
    for dtype, tolerance in (("float32", 1e-5), ("float16", 1e-2), ("bfloat16", 1e-1)):
        trace = lstm_ref.forward(x, w, dtype=dtype, keep="gates")
        fmt = precision.get(dtype)
        f = trace.gates["f"].astype(fmt.compute)
        # i is the format's own 1 - f: one operation, rounded like every other.
        np.testing.assert_array_equal(trace.gates["i"].astype(fmt.compute),
                                      fmt.round(fmt.compute.type(1) - f))
        assert np.abs(trace.h - reference.h).max() < tolerance, dtype


@pytest.mark.parametrize("target", ["keras", "torch", "tf1", "onnx"])
def test_a_layout_without_cifg_refuses_it(target, rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 16)), rng.normal(size=(4, 16)), coupled_gates="cifg")
    with pytest.raises(OptionError, match=rf"^{target} has no equivalent of coupled_gates='cifg'"):
        getattr(layouts, f"to_{target}")(w)


def test_onnx_keeps_its_own_coupling(rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 16)), rng.normal(size=(4, 16)),
                             coupled_gates="input_forget")
    assert layouts.to_onnx(w)[1]["input_forget"] == 1
    for target in ("keras", "torch", "tf1"):
        with pytest.raises(OptionError, match=rf"{target} has no equivalent of coupled_gates='input_forget'"):
            getattr(layouts, f"to_{target}")(w)


def test_cifg_gradients_leave_the_unused_input_gate_blocks_at_zero(rng):
    U = 3
    w = lstm_ref.LSTMWeights(rng.normal(size=(2, 4 * U)), rng.normal(size=(U, 4 * U)),
                             rng.normal(size=4 * U), peephole=rng.normal(size=(3, U)),
                             coupled_gates="cifg")
    grads = lstm_ref.gradients(rng.normal(size=(2, 4, 2)), w, d_outputs=rng.normal(size=(2, 4, U)))
    for name in ("kernel", "recurrent_kernel", "bias"):
        assert not layouts.split_gates(getattr(grads, name))["i"].any(), name
        assert layouts.split_gates(getattr(grads, name))["f"].all(), name
    assert not grads.peephole[0].any() and grads.peephole[1].all()


# --- TFLite's published values -------------------------------------------------------------

# Both tests feed lstm_input_ = {{2., 3., 3., 4., 1., 1.}}: one batch row, 3 steps of 2 inputs.
TFLITE_INPUT = np.array([2.0, 3.0, 3.0, 4.0, 1.0, 1.0]).reshape(1, 3, 2)
# The goldens are printed to 8 digits from a float32 implementation: within a few float32
# ulps of values below 1 (measured 4.3e-8 here); TFLite's own test allows 1e-5.
TFLITE_ATOL = 2e-7


def test_tflite_no_cifg_goldens_pin_the_tensor_mapping():
    """tensorflow/lite/kernels/lstm_test.cc, NoCifgNoPeepholeNoProjectionNoClippingLstmTest,
    LstmBlackBoxTest (n_batch 1, n_input 2, n_cell = n_output 4): every gate has its own
    weights, so this pins the mapping of TFLite's tensors to Keras's layout that the CIFG test
    below relies on."""
    w = tflite_weights(2, 4, input_to={
        "input": [-0.45018822, -0.02338299, -0.0870589, -0.34550029, 0.04266912, -0.15680569,
                  -0.34856534, 0.43890524],
        "cell": [-0.50013041, 0.1370284, 0.11810488, 0.2013163, -0.20583314, 0.44344562,
                 0.22077113, -0.29909778],
        "forget": [0.09701663, 0.20334584, -0.50592935, -0.31343272, -0.40032279, 0.44781327,
                   0.01387155, -0.35593212],
        "output": [-0.25065863, -0.28290087, 0.04613829, 0.40525138, 0.44272184, 0.03897077,
                   -0.1556896, 0.19487578]},
        recurrent_to={
        "input": [-0.0063535, -0.2042388, 0.31454784, -0.35746509, 0.28902304, 0.08183324,
                  -0.16555229, 0.02286911, -0.13566875, 0.03034258, 0.48091322, -0.12528998,
                  0.24077177, -0.51332325, -0.33502164, 0.10629296],
        "cell": [-0.3407414, 0.24443203, -0.2078532, 0.26320225, 0.05695659, -0.00123841,
                 -0.4744786, -0.35869038, -0.06418842, -0.13502428, -0.501764, 0.22830659,
                 -0.46367589, 0.26016325, -0.03894562, -0.16368064],
        "forget": [-0.48684245, -0.06655136, 0.42224967, 0.2112639, 0.27654213, 0.20864892,
                   -0.07646349, 0.45877004, 0.00141793, -0.14609534, 0.36447752, 0.09196436,
                   0.28053468, 0.01560611, -0.20127171, -0.01140004],
        "output": [0.43385774, -0.17194885, 0.2718237, 0.09215671, 0.24107647, -0.39835793,
                   0.18212086, 0.01301402, 0.48572797, -0.50656658, 0.20047462, -0.20607421,
                   -0.51818722, -0.15390486, 0.0468148, 0.39922136]},
        gate_bias={"input": [0.0] * 4, "forget": [1.0] * 4, "cell": [0.0] * 4,
                   "output": [0.0] * 4})
    golden = np.array([-0.02973187, 0.1229473, 0.20885126, -0.15358765,
                       -0.03716109, 0.12507336, 0.41193449, -0.20860538,
                       -0.15053082, 0.09120187, 0.24278517, -0.12222792]).reshape(1, 3, 4)
    np.testing.assert_allclose(lstm_ref.forward(TFLITE_INPUT, w).outputs, golden, rtol=0,
                               atol=TFLITE_ATOL)


CIFG_TENSORS = {
    "input_to": {
        "cell": [-0.49770179, -0.27711356, -0.09624726, 0.05100781, 0.04717243, 0.48944736,
                 -0.38535351, -0.17212132],
        "forget": [-0.55291498, -0.42866567, 0.13056988, -0.3633365, -0.22755712, 0.28253698,
                   0.24407166, 0.33826375],
        "output": [0.10725588, -0.02335852, -0.55932593, -0.09426838, -0.44257352, 0.54939759,
                   0.01533556, 0.42751634]},
    "recurrent_to": {
        "cell": [0.54066205, -0.32668582, -0.43562764, -0.56094903, 0.42957711, 0.01841056,
                 -0.32764608, -0.33027974, -0.10826075, 0.20675004, 0.19069612, -0.03026325,
                 -0.54532051, 0.33003211, 0.44901288, 0.21193194],
        "forget": [-0.13832897, -0.0515101, -0.2359007, -0.16661474, -0.14340827, 0.36986142,
                   0.23414481, 0.55899, 0.10798943, -0.41174671, 0.17751795, -0.34484994,
                   -0.35874045, -0.11352962, 0.27268326, 0.54058349],
        "output": [0.41613156, 0.42610586, -0.16495961, -0.5663873, 0.30579174, -0.05115908,
                   -0.33941799, 0.23364776, 0.11178309, 0.09481031, -0.26424935, 0.46261835,
                   0.50248802, 0.26114327, -0.43736315, 0.33149987]},
    "gate_bias": {"forget": [1.0] * 4, "cell": [0.0] * 4, "output": [0.0] * 4},
    "cell_to": {"forget": [0.47485286, -0.51955009, -0.24458408, 0.31544167],
                "output": [-0.17135078, 0.82760304, 0.85573703, -0.77109635]}}
CIFG_GOLDEN = np.array([-0.36444446, -0.00352185, 0.12886585, -0.05163646,
                        -0.42312205, -0.01218222, 0.24201041, -0.08124574,
                        -0.358325, -0.04621704, 0.21641694, -0.06471302]).reshape(1, 3, 4)


def test_tflite_cifg_goldens():
    """tensorflow/lite/kernels/lstm_test.cc, CifgNoPeepholeNoProjectionNoClippingLstmTest,
    LstmBlackBoxTest: use_cifg=true, so no input-gate weights, bias or peephole at all; despite
    its name the test builds the model with use_peephole=true and sets cell_to_forget_weights
    and cell_to_output_weights (o sees the new c). Reproduced with coupled_gates="cifg"."""
    w = tflite_weights(2, 4, **CIFG_TENSORS, coupled_gates="cifg")
    trace = lstm_ref.forward(TFLITE_INPUT, w, keep="gates")
    np.testing.assert_allclose(trace.outputs, CIFG_GOLDEN, rtol=0, atol=TFLITE_ATOL)
    np.testing.assert_allclose(trace.gates["i"], 1 - trace.gates["f"], rtol=0, atol=1e-16)


@pytest.mark.parametrize("wrong", ["input_forget", "no peephole", "forget_bias on top"])
def test_tflite_cifg_goldens_reject_the_wrong_conventions(wrong):
    """The same tensors read with ONNX's coupling, without the peepholes the test's name
    denies, or with a TF1-style forget_bias added to the bias TFLite already holds: each
    misses the goldens by far more than their precision."""
    tensors = dict(CIFG_TENSORS)
    options = {"coupled_gates": "cifg"}
    if wrong == "input_forget":
        options["coupled_gates"] = "input_forget"
    elif wrong == "no peephole":
        del tensors["cell_to"]
    else:
        options["forget_bias"] = 1.0
    w = tflite_weights(2, 4, **tensors, **options)
    assert np.abs(lstm_ref.forward(TFLITE_INPUT, w).outputs - CIFG_GOLDEN).max() > 100 * TFLITE_ATOL
