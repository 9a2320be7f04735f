"""Keras LSTMs in every dtype and mixed-precision policy against the reference, step by step,
each held to its own tolerance entry (lstm_ref/tolerance.py), and deliberately broken cells
in 16-bit formats still flagged.

The float32 grid lives in test_keras_grid.py; here each dtype runs a few cases chosen to
exercise long sequences, unbounded activations, initial states and go_backwards, and the
small grid with --grid=full.
"""

import numpy as np
import pytest

from lstm_ref.grids import keras as grid
from lstm_ref.grids.keras import Case

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

DTYPES = ("float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
# The 200-step case returns its sequence: in bfloat16 its probes stray past the format's
# horizon about halfway (2.4 digits, an ulp moved at every operation), and a layer's last
# output or final state would then compare nothing.
CASES = [Case(7, 3, 2, 9, initial_state=True, returns="sequences+state"),
         Case(32, 16, 5, 40, activation="relu", recurrent_activation="hard_sigmoid",
              go_backwards=True),
         Case(2, 1, 1, 200, activation="softsign", recurrent_activation="tanh",
              returns="sequences")]


def run(case, dtype, **options):
    from lstm_ref.frameworks.keras import cases as keras_cases

    # use_cudnn=False: the plain kernels' arithmetic, also on a GPU (cuDNN has its own entry).
    return keras_cases.run_case(case, dtype=dtype, use_cudnn=False, **options)


def skip_float64_if_computed_in_float32(dtype):
    from tests.frameworks.keras.helpers import keras_float64_matmul_is_float64

    if dtype == "float64" and not keras_float64_matmul_is_float64():
        pytest.skip("this Keras backend multiplies float64 matrices in float32 "
                    "(tests/frameworks/keras/test_known_divergences.py)")


def check(case, dtype):
    skip_float64_if_computed_in_float32(dtype)
    report = run(case, dtype)
    assert report.passed, report.summary()
    assert report.tolerance.dtype == dtype.removeprefix("mixed_")
    assert report.tensors, report.summary()  # something was compared
    return report


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("dtype", DTYPES)
def test_each_dtype_matches_the_reference(dtype, case):
    check(case, dtype)


@pytest.mark.full
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_small_grid_in_each_dtype(dtype):
    from lstm_ref.frameworks.keras.twin import FLOAT64_DEPARTURES

    skip_float64_if_computed_in_float32(dtype)
    # The backend's known float64 departures fail rightly (test_keras_known_divergences.py).
    departures = FLOAT64_DEPARTURES.get(keras.backend.backend(), ()) if dtype == "float64" else ()
    cases = [c for c in grid.cases("small") if c.activation not in departures]
    failures = [r.summary() for r in (run(c, dtype) for c in cases) if not r.passed]
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("policy,compute", [("mixed_float16", "float16"),
                                            ("mixed_bfloat16", "bfloat16")])
def test_a_mixed_policy_twin_keeps_float32_weights_and_computes_in_16_bits(policy, compute):
    import lstm_ref
    from lstm_ref.frameworks.keras import cases as keras_cases
    from lstm_ref.frameworks.keras import twin as keras_twin

    case = CASES[0]
    layer = keras_cases.build_case_layer(case, dtype=policy)
    twin = lstm_ref.from_keras(layer)
    assert twin.weights.kernel.dtype == np.float32 and twin.dtype == compute
    x, state = case.arrays()["x"], case.arrays()["initial_state"]
    exact, low = twin(x, initial_state=state)[0], twin(x, initial_state=state, dtype=compute)[0]
    assert exact.dtype == np.float64 and not np.array_equal(low, exact)
    # The twin is the reference: in 16 bits too, the weights rounded as the layer rounds them.
    trace = lstm_ref.forward(x, twin.weights, initial_state=state, dtype=compute)
    np.testing.assert_array_equal(low, trace.outputs)
    assert policy in keras_twin.describe(layer)["layer"]


# The gross bugs show at once in 16 bits too (FIRST_SHOWS's steps). A relative drift of 1e-5
# in c vanishes in 16-bit rounding: the drift planted here is 32 eps of each format (2^-5 =
# 3% in float16, 2^-2 = 25% in bfloat16, whose bound is K = 16 times its probes' deviation),
# which each flags on this case at step 0. The pair: (bug, the step it is flagged at, in c).
DRIFT = {"float16": ("relative drift 3.125e-2 in c", 0),
         "mixed_float16": ("relative drift 3.125e-2 in c", 0),
         "bfloat16": ("relative drift 0.25 in c", 0)}
GROSS_BUGS = ("gates i/f swapped", "bias ignored", "recurrent term dropped",
              "state order swapped")


def run_broken(dtype, bug=None):
    from lstm_ref.frameworks.keras import cases as keras_cases
    from tests.frameworks.keras.broken import BrokenLSTMCell

    # glorot_uniform: Keras's default orthogonal initializer cannot run in bfloat16
    # (tests/frameworks/keras/test_known_divergences.py); the case's weights replace it anyway.
    cell = BrokenLSTMCell(7, bug=bug, dtype=dtype, recurrent_initializer="glorot_uniform")
    # A zero initial state: the steps of FIRST_SHOWS.
    return keras_cases.run_case(Case(7, 3, 2, 9), dtype=dtype, cell=cell)


@pytest.mark.parametrize("dtype", sorted(DRIFT))
@pytest.mark.parametrize("bug", GROSS_BUGS)
def test_gross_bugs_are_flagged_at_once_in_16_bits(dtype, bug):
    from tests.support.sensitivity import assert_flagged_where_it_first_shows

    assert_flagged_where_it_first_shows(run_broken(dtype, bug), bug)


@pytest.mark.parametrize("dtype", sorted(DRIFT))
def test_a_drift_of_32_eps_is_flagged_in_16_bits(dtype):
    bug, step = DRIFT[dtype]
    report = run_broken(dtype, bug)
    assert not report.passed, f"{bug} was not flagged in {dtype}:\n{report.summary()}"
    assert (report.first_failing_step, report.first_failure.tensor) == (step, "c"), report.summary()


@pytest.mark.parametrize("dtype", sorted(DRIFT))
def test_the_unbroken_cell_passes_in_16_bits(dtype):
    report = run_broken(dtype)
    assert report.passed, report.summary()
