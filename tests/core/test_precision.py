"""The 16-bit formats: bfloat16 rounding by hand and against ml_dtypes, and the emulated
float16 / bfloat16 recurrence against independent native low-precision loops."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import precision
from lstm_ref.errors import OptionError
from tests.support.helpers import random_state, random_weights

ONE = np.float32(1.0)


@pytest.mark.parametrize("value,expected", [
    (1.0, 1.0),
    (1 + 2.0 ** -8, 1.0),                      # halfway between 1 and 1 + 2^-7: ties to even
    (1 + 3 * 2.0 ** -8, 1 + 2.0 ** -6),        # halfway between 1 + 2^-7 and 1 + 2^-6: even
    (1 + 2.0 ** -8 + 2.0 ** -20, 1 + 2.0 ** -7),  # just above halfway: up
    (1 + 2.0 ** -8 - 2.0 ** -20, 1.0),         # just below halfway: down
    (-(1 + 2.0 ** -8 + 2.0 ** -20), -(1 + 2.0 ** -7)),
    ((2 - 2.0 ** -7) * 2.0 ** 127, (2 - 2.0 ** -7) * 2.0 ** 127),  # bfloat16's largest
    ((2 - 2.0 ** -8 + 2.0 ** -20) * 2.0 ** 127, np.inf),  # past halfway from there to 2^128
    (float(np.finfo(np.float32).max), np.inf),
    (-float(np.finfo(np.float32).max), -np.inf),
    (2.0 ** -130, 2.0 ** -130),                # a float32 subnormal with few bits is kept
    (np.inf, np.inf), (-np.inf, -np.inf), (0.0, 0.0),
])
def test_round_bfloat16_by_hand(value, expected):
    got = precision.round_bfloat16(np.array([value], np.float32))
    assert got.dtype == np.float32 and got[0] == np.float32(expected)


def test_round_bfloat16_keeps_nan_and_the_sign_of_zero():
    got = precision.round_bfloat16(np.array([np.nan, -0.0], np.float32))
    assert np.isnan(got[0]) and got[1] == 0 and np.signbit(got[1])


def test_round_bfloat16_equals_ml_dtypes_on_every_exponent():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[~np.isnan(values)]
    expected = values.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(precision.round_bfloat16(values), expected)


def test_formats_eps_and_errors():
    for name in ("float16", "float32", "float64"):
        assert precision.get(name).eps == np.finfo(name).eps
    assert precision.get("bfloat16").eps == 2.0 ** -7
    assert precision.get(np.float32).name == "float32"
    assert precision.get(np.dtype("float16")).name == "float16"
    with pytest.raises(OptionError, match=r"dtype must be one of .* received 'float8'"):
        precision.get("float8")


def native_float16_loop(x, w, state):
    """An independent LSTM in NumPy's own float16 arithmetic (each operation rounded to
    float16; NumPy's float16 matmul accumulates in float32), tanh for both activations."""
    half = np.float16
    kernel, recurrent, bias = (a.astype(half) for a in (w.kernel, w.recurrent_kernel, w.bias))
    h, c = (s.astype(half) for s in state)
    x = x.astype(half)
    u = w.units
    hs, cs = [], []
    for t in range(x.shape[1]):
        z = (x[:, t] @ kernel + bias) + h @ recurrent
        i, f, g, o = (np.tanh(z[:, k * u:(k + 1) * u]) for k in range(4))
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


def test_emulated_float16_equals_native_float16_bit_for_bit(rng):
    w = random_weights(rng, 6, 4, activation="tanh", recurrent_activation="tanh")
    x = rng.uniform(-1, 1, (3, 12, 4))
    state = random_state(rng, 3, 6)
    trace = lstm_ref.forward(x, w, initial_state=state, dtype="float16")
    h, c = native_float16_loop(x, w, state)
    assert trace.h.dtype == np.float16 and trace.dtype == "float16"
    np.testing.assert_array_equal(trace.h, h)
    np.testing.assert_array_equal(trace.c, c)
    # ... and it is a float16 computation, not float32 results rounded at the end.
    exact = lstm_ref.forward(x, w, initial_state=state)
    assert not np.array_equal(trace.c, exact.c.astype(np.float16))


def test_emulated_bfloat16_equals_ml_dtypes_bfloat16(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = ml_dtypes.bfloat16
    w = random_weights(rng, 5, 3, activation="tanh", recurrent_activation="tanh")
    x = rng.uniform(-1, 1, (2, 10, 3))
    state = random_state(rng, 2, 5)
    trace = lstm_ref.forward(x, w, initial_state=state, dtype="bfloat16", keep="gates")
    # The same loop in ml_dtypes' bfloat16 (its matmul returns float32: rounded here).
    kernel, recurrent, bias = (a.astype(bf16) for a in (w.kernel, w.recurrent_kernel, w.bias))
    h, c = (s.astype(bf16) for s in state)
    xs = x.astype(bf16)
    u = w.units
    for t in range(x.shape[1]):
        z = ((xs[:, t] @ kernel).astype(bf16) + bias) + (h @ recurrent).astype(bf16)
        i, f, g, o = (np.tanh(z[:, k * u:(k + 1) * u]) for k in range(4))
        c = f * c + i * g
        h = o * np.tanh(c)
        np.testing.assert_array_equal(trace.h[:, t], h.astype(np.float32))
        np.testing.assert_array_equal(trace.c[:, t], c.astype(np.float32))
    assert trace.dtype == "bfloat16" and trace.h.dtype == np.float32
    for array in (trace.outputs, trace.final_c, *trace.gates.values()):
        np.testing.assert_array_equal(precision.round_bfloat16(array), array)


@pytest.mark.parametrize("dtype,eps", [("float16", 2.0 ** -10), ("bfloat16", 2.0 ** -7)])
def test_a_well_conditioned_low_precision_run_strays_by_a_few_eps(dtype, eps, rng):
    w = random_weights(rng, 16, 8)
    x = rng.uniform(-1, 1, (4, 30, 8))
    low, exact = lstm_ref.forward(x, w, dtype=dtype), lstm_ref.forward(x, w)
    deviation = np.abs(low.h.astype(np.float64) - exact.h).max()
    assert 0.1 * eps < deviation < 8 * eps


def test_float16_activations_overflow_inside_as_a_float16_framework_does():
    # squareplus(300) = 300.003 is a float16 value, but its formula squares 300 first:
    # 90000 > 65504 overflows in float16 arithmetic (Keras's float16 layer gives inf too).
    w = lstm_ref.LSTMWeights(np.zeros((1, 4)), np.zeros((1, 4)), [10.0, 10.0, 300.0, 10.0],
                             activation="squareplus")
    x = np.zeros((1, 1, 1))
    assert np.isinf(lstm_ref.forward(x, w, dtype="float16").c[0, 0, 0])
    assert lstm_ref.forward(x, w, dtype="bfloat16").c[0, 0, 0] == pytest.approx(300, rel=1e-2)
    i, g = 1 / (1 + np.exp(-10.0)), (300 + np.sqrt(300.0 ** 2 + 4)) / 2  # c_0 = i * g
    assert lstm_ref.forward(x, w).c[0, 0, 0] == pytest.approx(i * g, rel=1e-14)


def test_float_constants_in_a_float16_activation_are_rounded_to_float16():
    # As a framework converts 0.2 to a float16 tensor (TensorFlow: float16(1) * 0.2 =
    # 0.199951171875); bfloat16 activations are evaluated in float32, rounded once.
    one = np.ones((1, 1), np.float32)
    assert precision.get("float16").activate(lambda v: 0.2 * v, one)[0, 0] == 0.199951171875
    assert precision.get("bfloat16").activate(lambda v: 0.2 * v, one)[0, 0] == 0.2001953125
    assert precision.get("bfloat16").activate(lambda v: v * 0.2 * 5, one)[0, 0] == 1.0


@pytest.mark.parametrize("low_bits,moved", [(0b00, 0), (0b01, 1), (0b10, -1), (0b11, 0)])
def test_perturb_float64_by_hand(low_bits, moved):
    for value in (1.0, -3.5, 1e-300, 6.02e23):
        bits = (np.array([value]).view(np.int64) & ~3) | low_bits
        x = bits.view(np.float64)
        expected = x if moved == 0 else np.nextafter(x, np.inf if (moved > 0) == (value > 0)
                                                        else -np.inf)
        np.testing.assert_array_equal(precision.perturb_float64(x), expected)


def test_perturb_float64_rounds_by_one_ulp_at_random_and_deterministically(rng):
    x = rng.standard_normal(30_000) * np.exp(rng.uniform(-20, 20, 30_000))
    perturbed = precision.perturb_float64(x)
    assert (np.abs(perturbed - x) <= np.spacing(np.abs(x))).all()  # at most one ulp
    up, down = (perturbed > x).mean(), (perturbed < x).mean()
    assert 0.23 < up < 0.27 and 0.23 < down < 0.27, (up, down)  # a quarter each way
    np.testing.assert_array_equal(precision.perturb_float64(x), perturbed)  # no state
    np.testing.assert_array_equal(precision.perturb_float64(x.reshape(100, 300)[:, ::3]),
                                  perturbed.reshape(100, 300)[:, ::3])  # any layout
    assert x.dtype == np.float64 and not np.shares_memory(perturbed, x)  # the input is kept
    big = np.finfo(np.float64).max
    special = np.array([np.inf, -np.inf, 0.0, -0.0, big, -big, 5e-324])
    np.testing.assert_array_equal(np.isfinite(precision.perturb_float64(special)),
                                  np.isfinite(special))
    np.testing.assert_array_equal(precision.perturb_float64(special)[:6], special[:6])
    assert np.isnan(precision.perturb_float64(np.array([np.nan]))).all()


def test_float64_perturbed_probes_are_a_probe_format_not_a_dtype():
    fmt = precision.get("float64-perturbed")
    assert fmt.eps == np.finfo(np.float64).eps and fmt.compute == np.float64
    assert "float64-perturbed" not in precision.FORMATS
    assert "float64-perturbed" not in lstm_ref.reference.DTYPES


def test_float64_perturbed_forward_departs_from_the_reference_by_roundings(rng):
    w, x, state = random_weights(rng, 8, 4), rng.standard_normal((3, 20, 4)), None
    exact = lstm_ref.forward(x, w, state)
    perturbed = lstm_ref.forward(x, w, state, dtype="float64-perturbed")
    deviation = np.abs(perturbed.h - exact.h) / np.finfo(np.float64).eps
    assert 0 < deviation.max() < 100, deviation.max()  # a few ulps of rounding, not zero
    again = lstm_ref.forward(x, w, state, dtype="float64-perturbed")
    np.testing.assert_array_equal(again.h, perturbed.h)


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_16_bit_perturbed_probes_move_each_result_by_one_ulp_of_their_format(name, rng):
    plain, fmt = precision.get(name), precision.get(f"{name}-perturbed")
    assert f"{name}-perturbed" not in precision.FORMATS
    assert (fmt.eps, fmt.compute, fmt.storage) == (plain.eps, plain.compute, plain.storage)
    x = (rng.standard_normal(40_000) * np.exp(rng.uniform(-4, 4, 40_000))).astype(np.float32)
    nearest, moved = plain.round(x), fmt.round(x)
    np.testing.assert_array_equal(plain.round(moved), moved)  # values of the format
    ulp = np.spacing(nearest.astype(np.float16)).astype(np.float32) if name == "float16" else \
        np.abs(nearest) * np.float32(2.0 ** -7)  # bfloat16: at most |x| eps
    assert (np.abs(moved - nearest) <= ulp * (1 + 1e-6)).all()
    up, down = (np.abs(moved) > np.abs(nearest)).mean(), (np.abs(moved) < np.abs(nearest)).mean()
    assert 0.22 < up < 0.28 and 0.22 < down < 0.28, (up, down)  # a quarter each way
    np.testing.assert_array_equal(fmt.round(x), moved)  # stateless
    largest = 65504.0 if name == "float16" else float(precision.round_bfloat16(3.3895314e38))
    special = np.array([np.inf, -np.inf, 0.0, -0.0, largest, -largest], np.float32)
    np.testing.assert_array_equal(fmt.round(special), special)
    assert np.isnan(fmt.round(np.array([np.nan], np.float32))).all()
    # inputs and weights enter the format by round-to-nearest, as a framework casts them
    np.testing.assert_array_equal(fmt.to_format(x), nearest)


def test_16_bit_perturbed_forward_departs_by_its_roundings_and_reproduces(rng):
    w, x = random_weights(rng, 8, 4), rng.standard_normal((3, 20, 4))
    plain = lstm_ref.forward(x, w, dtype="bfloat16")
    moved = lstm_ref.forward(x, w, dtype="bfloat16-perturbed")
    again = lstm_ref.forward(x, w, dtype="bfloat16-perturbed")
    np.testing.assert_array_equal(again.h, moved.h)
    assert 0 < np.abs(moved.h - plain.h).max() < 0.5  # a few ulps of 2 ** -7, not zero
