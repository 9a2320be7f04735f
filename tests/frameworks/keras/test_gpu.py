"""cuDNN on a GPU: cuDNN-eligible cases with use_cudnn=True against the reference. The stepped
cell (plain GPU kernels) is held to the float32 entry, the cuDNN layer's outputs and states to
the table's cuDNN entry (lstm_ref/tolerance.py says why it is looser). Runs on whichever Keras
backend is active (KERAS_BACKEND=torch where TensorFlow has no GPU); skipped without a GPU."""

import pytest

from lstm_ref.grids import keras as grid

pytestmark = [pytest.mark.keras, pytest.mark.gpu]
keras = pytest.importorskip("keras")


CUDNN_CASES = [c for c in grid.cases("default") if c.activation == "tanh" and c.use_bias
               and c.recurrent_activation == "sigmoid" and not c.unroll] + [
    grid.Case(units, features, batch, time, go_backwards=backwards, initial_state=state,
              returns=returns)
    for units, features, batch, time, backwards, state, returns in [
        (1, 1, 1, 1, False, False, "sequences"), (7, 3, 2, 9, True, True, "sequences+state"),
        (32, 16, 5, 40, False, True, "last+state"), (128, 64, 5, 200, True, False, "sequences"),
        (128, 64, 2, 200, False, True, "sequences+state")]]


@pytest.mark.parametrize("case", CUDNN_CASES, ids=lambda c: c.id)
def test_cudnn_lstm_matches_the_reference(case):
    from lstm_ref.frameworks.keras import cases as keras_cases
    from lstm_ref.frameworks.keras import observe as keras_observe

    if not keras_observe.gpu_visible(keras):
        pytest.skip("no GPU visible to the Keras backend")

    report = keras_cases.run_case(case, use_cudnn=True)
    assert report.passed, report.summary()
    assert any("cudnn" in key for key in report.context), "the cuDNN entry was not applied"
