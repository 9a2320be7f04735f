"""Execution paths: the whole layer run eagerly, in tf.function, with XLA, and through
model.predict, with both implementations and unroll, each against the reference."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.frameworks.keras.execution import EXECUTIONS
from lstm_ref.errors import OptionError
from lstm_ref.grids.keras import Case
from tests.support.helpers import build_with_random_weights

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

CASES = [Case(7, 3, 2, 9, initial_state=True, returns="sequences+state"),
         Case(32, 16, 5, 40, activation="relu", recurrent_activation="hard_sigmoid",
              go_backwards=True, returns="last+state"),
         Case(2, 1, 1, 9, implementation=1, unroll=True, returns="sequences")]


def graph_paths_available(execution):
    return execution in ("eager", "predict") or keras.backend.backend() == "tensorflow"


@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_execution_path_matches_the_reference(case, execution):
    if not graph_paths_available(execution):
        pytest.skip(f"{execution} needs the TensorFlow backend")
    from lstm_ref.frameworks.keras import cases as keras_cases

    report = keras_cases.run_case(case, execution=execution)
    assert report.passed, report.summary()
    assert report.context["execution"] == execution


@pytest.mark.parametrize("execution", ["function", "predict"])
def test_execution_paths_with_a_mask(execution, rng):
    if not graph_paths_available(execution):
        pytest.skip(f"{execution} needs the TensorFlow backend")
    layer = build_with_random_weights(keras.layers.LSTM(4, return_sequences=True, return_state=True),
                                      rng, (3, 6, 2))
    mask = np.array([[1] * 6, [0, 0, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], bool)
    x = rng.uniform(-1, 1, (3, 6, 2)).astype("float32")
    state = [rng.uniform(-1, 1, (3, 4)).astype("float32") for _ in range(2)]
    report = lstm_ref.compare(layer, x, initial_state=state, mask=mask, execution=execution)
    assert report.passed, report.summary()


def test_predict_feeds_floatx_and_a_float64_layer_is_compared_on_what_it_was_fed():
    """Keras's data adapters hand a model every float input in floatx: through predict, a
    float64 layer computes on inputs rounded to float32. The reference is given those."""
    from lstm_ref.frameworks.keras import cases as keras_cases
    from lstm_ref.frameworks.keras.execution import as_fed
    from tests.frameworks.keras.helpers import keras_float64_matmul_is_float64

    x = np.array([0.1, 1 / 3], "float64")
    assert as_fed(keras, "eager", x) is x and as_fed(keras, "function", x) is x
    fed = as_fed(keras, "predict", x)
    assert fed.dtype == np.float64 and np.array_equal(fed, x.astype(keras.backend.floatx()))
    half = x.astype("float16")
    assert np.array_equal(as_fed(keras, "predict", half), half)  # float16 in floatx: exact
    if not keras_float64_matmul_is_float64():
        pytest.skip("this backend multiplies float64 matrices in float32")
    case = Case(7, 3, 2, 9, initial_state=True, mask="left", execution="predict")
    report = keras_cases.run_case(case, dtype="float64")
    assert report.passed, report.summary()


def test_unknown_execution_is_a_clear_error(rng):
    layer = keras.layers.LSTM(4)
    layer.build((1, 2, 3))
    with pytest.raises(OptionError, match=r"execution must be one of .* received 'graph'"):
        lstm_ref.compare(layer, np.zeros((1, 2, 3), "float32"), execution="graph")
