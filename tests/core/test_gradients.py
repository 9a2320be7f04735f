"""The reference backward pass (lstm_ref.gradients): central finite differences in float64 on
every option, a hand-computed step, properties, bad input, and planted bugs it must catch."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import backprop
from lstm_ref.errors import DTypeError, OptionError, ShapeError

# Central differences with step H on a loss of order 1: truncation H^2/6 |L'''| ~ 1e-13 and
# rounding eps |L| / H ~ 2e-11, so a correct gradient agrees to ~1e-10 of its largest value
# (docs/findings/2026-12-03-test-margins.md); 1e-7 leaves room for the cases' conditioning,
# and every planted bug below misses it by 10^3 or more.
H = 1e-6
FD_RTOL = 1e-7

# Options, each exercised alone and with others; every case gets random per-gate weights.
CASES = {
    "plain": {},
    "mask": {"mask": True},
    "go_backwards": {"go_backwards": True},
    "mask-go_backwards-zero_output": {"mask": True, "go_backwards": True,
                                      "zero_output_for_mask": True},
    "last_output": {"last_output": True, "mask": True},
    "no_bias": {"use_bias": False},
    "no_initial_state": {"initial_state": False},
    "peephole": {"peephole": True},
    "forget_bias": {"forget_bias": 1.0},
    "input_forget": {"input_forget": True},
    "cifg": {"coupled_gates": "cifg"},
    "cifg-peephole-forget_bias-gate_clip": {"coupled_gates": "cifg", "peephole": True,
                                            "forget_bias": 1.0, "gate_clip": 0.9},
    "projection": {"projection": 2},
    "projection-proj_clip": {"projection": 3, "proj_clip": 0.3},
    "cell_clip": {"cell_clip": 0.6},
    "gate_clip": {"gate_clip": 0.9},
    "output_activation": {"output_activation": "softsign"},
    "gelu-hard_sigmoid": {"activation": "gelu", "recurrent_activation": "hard_sigmoid"},
    "elu-tanh": {"activation": "elu", "recurrent_activation": "tanh"},
    "softmax-sigmoid": {"activation": "softmax"},
    "everything": {"mask": True, "peephole": True, "projection": 2, "cell_clip": 1.0,
                   "forget_bias": 1.0, "go_backwards": True},
}


def make_case(name, batch=2, time=5, features=3, units=4):
    """(inputs of gradients() as a dict, the weights' constructor arguments) for CASES[name]."""
    options = dict(CASES[name])
    rng = np.random.default_rng(sum(map(ord, name)))
    output_size = options.get("projection") or units
    arrays = {"kernel": rng.normal(0, 0.8, (features, 4 * units)),
              "recurrent_kernel": rng.normal(0, 0.8, (output_size, 4 * units))}
    if options.pop("use_bias", True):
        arrays["bias"] = rng.uniform(-1, 1, 4 * units)
    if options.pop("peephole", False):
        arrays["peephole"] = rng.normal(0, 1, (3, units))
    if options.get("projection"):
        arrays["projection"] = rng.normal(0, 0.8, (units, options.pop("projection")))
    weight_options = {k: options.pop(k) for k in ("forget_bias", "input_forget", "coupled_gates",
                                                   "proj_clip",
                                                   "cell_clip", "gate_clip", "activation",
                                                   "recurrent_activation", "output_activation")
                      if k in options}
    inputs = {"x": rng.normal(0, 1, (batch, time, features)),
              "initial_state": [rng.normal(0, 0.5, (batch, output_size)),
                                rng.normal(0, 1, (batch, units))]}
    if not options.pop("initial_state", True):
        inputs["initial_state"] = None
    if options.pop("mask", False):
        mask = rng.random((batch, time)) > 0.35
        mask[0, :2] = False  # a row starting masked: outputs before the first valid step are 0
        inputs["mask"] = mask
    inputs["d_outputs"] = rng.normal(0, 1, (batch, output_size) if options.pop("last_output", False)
                                     else (batch, time, output_size))
    inputs["d_final_h"] = rng.normal(0, 1, (batch, output_size))
    inputs["d_final_c"] = rng.normal(0, 1, (batch, units))
    inputs.update(options)  # go_backwards, zero_output_for_mask
    return inputs, {**arrays, **weight_options}


def loss(inputs, weight_args):
    """L = <d_outputs, outputs> + <d_final_h, h_T> + <d_final_c, c_T>, by the forward pass."""
    w = lstm_ref.LSTMWeights(**weight_args)
    trace = lstm_ref.forward(inputs["x"], w, initial_state=inputs["initial_state"],
                             mask=inputs.get("mask"), go_backwards=inputs.get("go_backwards", False),
                             zero_output_for_mask=inputs.get("zero_output_for_mask", False))
    d_out = inputs["d_outputs"]
    outputs = trace.outputs if d_out.ndim == 3 else trace.last_output
    return ((d_out * outputs).sum() + (inputs["d_final_h"] * trace.final_h).sum()
            + (inputs["d_final_c"] * trace.final_c).sum())


def finite_differences(inputs, weight_args):
    """name -> the central-difference gradient of every input and weight of the loss."""
    targets = {"x": (inputs, "x")}
    if inputs["initial_state"] is not None:
        inputs["initial_state"] = list(inputs["initial_state"])
        targets.update(h0=(inputs["initial_state"], 0), c0=(inputs["initial_state"], 1))
    targets.update({name: (weight_args, name) for name in backprop.PARAMETERS
                    if name in weight_args})
    result = {}
    for name, (holder, key) in targets.items():
        base = np.array(holder[key], dtype=np.float64)
        grad = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            for sign in (1, -1):
                moved = base.copy()
                moved[index] += sign * H
                holder[key] = moved
                grad[index] += sign * loss(inputs, weight_args) / (2 * H)
        holder[key] = base
        result[name] = grad
    return result


def analytic(inputs, weight_args):
    return lstm_ref.gradients(weights=lstm_ref.LSTMWeights(**weight_args), **inputs)


def worst_relative_error(grads, numeric):
    return max(np.abs(getattr(grads, name) - value).max() / np.abs(value).max()
               for name, value in numeric.items())


@pytest.mark.parametrize("name", CASES)
def test_matches_central_finite_differences(name):
    inputs, weight_args = make_case(name)
    grads = analytic(inputs, weight_args)
    numeric = finite_differences(inputs, weight_args)
    for key, value in numeric.items():
        error = np.abs(getattr(grads, key) - value).max()
        assert error <= FD_RTOL * np.abs(value).max(), (key, error, np.abs(value).max())


def test_one_step_by_hand():
    # U = F = 1, one step, tanh/sigmoid: every derivative written out with the chain rule.
    wx, wh, b = np.array([0.5, -0.3, 0.8, 0.2]), np.array([0.1, 0.4, -0.6, 0.7]), np.array([0.1, 0.2, -0.1, 0.3])
    x, h0, c0 = 0.9, -0.4, 0.6
    z = wx * x + wh * h0 + b
    s = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = s(z[0]), s(z[1]), np.tanh(z[2]), s(z[3])
    c = f * c0 + i * g
    # L = h = o tanh(c)
    dc = o * (1 - np.tanh(c) ** 2)
    dz = np.array([dc * g * i * (1 - i), dc * c0 * f * (1 - f), dc * i * (1 - g ** 2),
                   np.tanh(c) * o * (1 - o)])
    w = lstm_ref.LSTMWeights(wx[None], wh[None], b)
    grads = lstm_ref.gradients(np.full((1, 1, 1), x), w, d_outputs=np.ones((1, 1, 1)),
                               initial_state=[np.full((1, 1), h0), np.full((1, 1), c0)])
    np.testing.assert_allclose(grads.kernel[0], dz * x, rtol=1e-14)
    np.testing.assert_allclose(grads.recurrent_kernel[0], dz * h0, rtol=1e-14)
    np.testing.assert_allclose(grads.bias, dz, rtol=1e-14)
    np.testing.assert_allclose(grads.x[0, 0, 0], dz @ wx, rtol=1e-14)
    np.testing.assert_allclose(grads.h0[0, 0], dz @ wh, rtol=1e-14)
    np.testing.assert_allclose(grads.c0[0, 0], dc * f, rtol=1e-14)


def test_zero_upstream_gives_zero_gradients_and_gradients_are_linear():
    inputs, weight_args = make_case("everything")
    zero = {**inputs, **{k: np.zeros_like(inputs[k]) for k in ("d_outputs", "d_final_h", "d_final_c")}}
    for value in analytic(zero, weight_args).parameters.values():
        assert not value.any()
    a = analytic(inputs, weight_args)
    doubled = {**inputs, **{k: 2 * inputs[k] for k in ("d_outputs", "d_final_h", "d_final_c")}}
    b = analytic(doubled, weight_args)
    for name in ("x", "h0", "c0", *a.parameters):
        np.testing.assert_allclose(getattr(b, name), 2 * getattr(a, name), rtol=1e-14)


def test_masked_steps_have_no_input_gradient_and_pass_the_state_gradient():
    inputs, weight_args = make_case("mask")
    grads = analytic(inputs, weight_args)
    masked = ~inputs["mask"]
    assert not grads.x[masked].any() and not grads.dh[masked].any() and not grads.dc[masked].any()
    assert grads.x[~masked].all()


def test_go_backwards_is_the_forward_gradient_of_the_reversed_sequence():
    inputs, weight_args = make_case("go_backwards")
    backwards = analytic(inputs, weight_args)
    flipped = {**inputs, "x": inputs["x"][:, ::-1], "go_backwards": False}
    forwards = analytic(flipped, weight_args)
    np.testing.assert_allclose(backwards.x, forwards.x[:, ::-1], rtol=1e-14)
    np.testing.assert_allclose(backwards.kernel, forwards.kernel, rtol=1e-14)


def test_float32_run_is_close_to_float64():
    inputs, weight_args = make_case("everything")
    w = lstm_ref.LSTMWeights(**weight_args)
    g64, g32 = (lstm_ref.gradients(weights=w, dtype=d, **inputs) for d in ("float64", "float32"))
    assert g32.kernel.dtype == np.float32
    for name in ("x", "kernel", "recurrent_kernel", "peephole", "projection"):
        value = getattr(g64, name)
        assert np.abs(getattr(g32, name) - value).max() < 1e-5 * np.abs(value).max(), name


def test_float64_perturbed_run_departs_by_roundings_and_reproduces():
    """The float64 probes' format: every step rounded by an ulp at random, so its gradients
    differ from float64's in the last digits (not at all would mean no rounding reached
    them), the same on every run."""
    inputs, weight_args = make_case("everything")
    w = lstm_ref.LSTMWeights(**weight_args)
    exact, perturbed, again = (lstm_ref.gradients(weights=w, dtype=d, **inputs)
                               for d in ("float64", "float64-perturbed", "float64-perturbed"))
    for name in ("x", "kernel", "recurrent_kernel", "peephole", "projection"):
        value = getattr(exact, name)
        deviation = np.abs(getattr(perturbed, name) - value).max() / np.abs(value).max()
        assert 0 < deviation < 1e-12, (name, deviation)
        np.testing.assert_array_equal(getattr(again, name), getattr(perturbed, name))


@pytest.mark.parametrize("argument, value, error, match", [
    ("d_outputs", np.zeros((2, 4, 4)), ShapeError, r"d_outputs must have shape \(batch, time, "
                                                   r"output_size\) = \(2, 5, 4\).*received shape \(2, 4, 4\)"),
    ("d_outputs", np.zeros((2, 5, 4), dtype=int), DTypeError, "d_outputs must be a floating"),
    ("d_final_h", np.zeros((3, 4)), ShapeError, r"d_final_h must have shape .*\(2, 4\).*\(3, 4\)"),
    ("d_final_c", np.zeros((2,)), ShapeError, "d_final_c must have shape"),
    ("dtype", "float16", OptionError, "dtype must be one of .*float64.*float32.*for gradients"),
])
def test_bad_input_names_the_argument(argument, value, error, match):
    inputs, weight_args = make_case("plain")
    inputs[argument] = value
    with pytest.raises(error, match=match):
        analytic(inputs, weight_args)


# Planted bugs in the backward pass: each gives gradients the finite differences refute.
BUGS = {
    # dc_{t-1} without its f * dc_t term (the cell state's own path back in time)
    "no dc_prev term": lambda p, c_prev, dh, dc: {"f": np.zeros_like(p["f"])},
    # the input gate's derivative seen through the forget gate's pre-activation
    "gate order i/f": lambda p, c_prev, dh, dc: {"z_i": p["z_f"]},
    # tanh's derivative where the output activation's input should be c_t
    "output activation at c_{t-1}": lambda p, c_prev, dh, dc: {"c_out": c_prev},
}


@pytest.mark.parametrize("bug", BUGS)
def test_planted_backward_bugs_are_caught(bug, monkeypatch):
    original = backprop.step_backward

    def broken(cell, parts, c_prev, dh, dc, extra, groups, dz):  # noqa: PLR0913
        return original(cell, {**parts, **BUGS[bug](parts, c_prev, dh, dc)}, c_prev, dh, dc,
                        extra, groups, dz)

    inputs, weight_args = make_case("peephole")
    numeric = finite_differences(inputs, weight_args)
    monkeypatch.setattr(backprop, "step_backward", broken)
    assert worst_relative_error(analytic(inputs, weight_args), numeric) > 1e3 * FD_RTOL


def test_a_dropped_bias_gradient_is_caught(monkeypatch):
    inputs, weight_args = make_case("plain")
    numeric = finite_differences(inputs, weight_args)
    grads = analytic(inputs, weight_args)
    grads.bias = np.zeros_like(grads.bias)
    assert worst_relative_error(grads, numeric) >= 1.0
