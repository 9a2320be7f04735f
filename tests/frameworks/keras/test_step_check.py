"""The exact step check of 16-bit Keras layers (lstm_ref.step_check): the emulation agrees with
TensorFlow's own 16-bit arithmetic bit for bit, a faithful layer passes, and the bugs the
element bounds are too loose to see fail it: matrix products accumulated in 16 bits (no
float32 accumulator), and a rounding moved between operations."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
if keras.backend.backend() != "tensorflow":
    pytest.skip("the emulation is TensorFlow's arithmetic", allow_module_level=True)

import ml_dtypes  # noqa: E402 - comes with TensorFlow

from lstm_ref import emulation  # noqa: E402
from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402
from lstm_ref.grids.keras import Case  # noqa: E402
from tests.frameworks.keras.broken16 import Accumulate16Cell, MovedRoundingCell  # noqa: E402

FORMATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def every_value(fmt):
    """Every finite value of a 16-bit format, as float32."""
    bits = np.arange(2 ** 16, dtype=np.uint16)
    values = bits.view(np.float16) if fmt == "float16" else bits.view(ml_dtypes.bfloat16)
    values = values.astype(np.float32)
    return values[np.isfinite(values)]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", emulation.ACTIVATIONS)
def test_each_activation_is_tensorflows_on_every_value(name, fmt):
    x = every_value(fmt)
    theirs = tf.cast(getattr(keras.activations, name)(tf.cast(x, fmt)), tf.float32).numpy()
    ours = emulation.activation_values(name, x, fmt)
    differ = (theirs != ours) & np.isfinite(theirs)
    if name == "tanh" and fmt == "float16":
        # TensorFlow's float16 tanh is its float32 approximation rounded: it rounds +-0.0284
        # the other way from the exact tanh (by one ulp); the check allows one ulp for it.
        np.testing.assert_array_equal(np.abs(x[differ]), [np.float32(np.float16(0.0284))] * 2)
        return
    assert not differ.any(), (x[differ][:5], theirs[differ][:5], ours[differ][:5])


def case_of(units, features, implementation):
    return Case(units, features, 9, 12, initial_state=True, implementation=implementation)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("implementation", [1, 2])
def test_a_faithful_layer_passes_bit_for_bit(dtype, implementation):
    report = keras_cases.run_case(case_of(17, 9, implementation), dtype=dtype)
    assert report.passed, report.summary()
    assert {"step.h", "step.c", "step.mismatch"} <= set(report.tensors)
    assert report.tensors["step.mismatch"].worst.actual == 0.0
    assert report.tensors["step.h"].worst.error == 0.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("cell", [Accumulate16Cell, MovedRoundingCell], ids=lambda c: c.__name__)
def test_16_bit_arithmetic_bugs_fail_the_step_check_only(cell, dtype):
    case = case_of(17, 33, 2)
    # glorot_uniform: Keras's default orthogonal initializer has no bfloat16 kernel (the
    # case's weights replace the initial values anyway).
    report = keras_cases.run_case(case, dtype=dtype, cell=cell(
        case.units, dtype=dtype, recurrent_initializer="glorot_uniform"))
    assert not report.passed
    failing = {name for name, t in report.tensors.items() if not t.passed}
    assert {"step.mismatch"} <= failing <= {"step.h", "step.c", "step.mismatch"}, \
        report.summary()  # the element bounds alone let these through
    assert report.tensors["step.mismatch"].worst.actual > 0.05


def test_the_check_names_where_it_does_not_apply():
    case = Case(7, 3, 2, 9, activation="gelu")  # no emulation of gelu: no step check
    report = keras_cases.run_case(case, dtype="float16")
    assert report.passed and "step.h" not in report.tensors
    report = keras_cases.run_case(Case(7, 3, 2, 9), dtype="float32")  # float32: none either
    assert "step.h" not in report.tensors
