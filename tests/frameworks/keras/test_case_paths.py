"""Grid cases run as drawn wherever they run: golden recording and checking by the case's own
execution path, gradient cases by theirs (where a gradient can be taken), and tf_keras layers
built with the case's dropout rates as Keras 3 ones are."""

from dataclasses import replace

import numpy as np
import pytest

from lstm_ref.errors import OptionError, UnsupportedLayerError
from lstm_ref.grids import keras as grid
from lstm_ref.grids.keras import Case

keras = pytest.importorskip("keras")

from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402
from lstm_ref.frameworks.keras import execution as executions  # noqa: E402
from lstm_ref.frameworks.keras import golden as keras_golden  # noqa: E402

ON_TENSORFLOW = keras.backend.backend() == "tensorflow"


def needs_graphs(execution):
    if execution in ("function", "xla") and not ON_TENSORFLOW:
        pytest.skip(f"{execution} needs the TensorFlow backend")


@pytest.mark.parametrize("execution", executions.EXECUTIONS)
def test_golden_recording_and_checking_run_a_case_by_its_own_path(execution, monkeypatch):
    needs_graphs(execution)
    ran, call = [], executions.call

    def recording_call(keras, layer, x, initial_state, mask, execution="eager"):
        ran.append(execution)
        return call(keras, layer, x, initial_state, mask, execution)

    monkeypatch.setattr(executions, "call", recording_call)
    case = Case(5, 3, 2, 9, initial_state=True, mask="right", execution=execution)
    inputs, observation = keras_golden.observe_case(case, "float32")
    assert ran == [execution] and observation.context["execution"] == execution
    checked = keras_golden.observe_recorded(case, "float32", inputs)
    assert ran == [execution, execution] and checked.context["execution"] == execution
    np.testing.assert_array_equal(checked.actual["output"], observation.actual["output"])


if ON_TENSORFLOW:
    import tensorflow as tf

    class TracedDriftCell(keras.layers.LSTMCell):
        """An LSTMCell right when run op by op, whose c drifts by 1e-3 (relative) when traced
        into a graph (tf.function, XLA): a bug only the graph paths show."""

        def call(self, inputs, states, training=False):
            h, (h, c) = super().call(inputs, states, training=training)
            if not tf.executing_eagerly():
                c = c * 1.001
            return h, [h, c]


@pytest.mark.skipif(not ON_TENSORFLOW, reason="gradients are taken with tf.GradientTape")
@pytest.mark.parametrize("execution", ["function", "xla"])
def test_a_gradient_case_runs_by_its_own_path(execution):
    case = Case(4, 3, 3, 6, initial_state=True, execution=execution)
    eager = keras_cases.run_gradient_case(replace(case, execution="eager"),
                                          cell=TracedDriftCell(4))
    assert eager.passed, eager.summary()
    report = keras_cases.run_gradient_case(case, cell=TracedDriftCell(4))
    assert report.context["execution"] == execution
    assert not report.passed, report.summary()
    assert report.context["reproduce"].endswith(f"execution={execution!r})")


@pytest.mark.skipif(not ON_TENSORFLOW, reason="gradients are taken with tf.GradientTape")
def test_a_predict_case_has_no_gradient_and_the_gradient_grid_draws_none():
    from lstm_ref.frameworks.keras.gradients import EXECUTIONS

    with pytest.raises(OptionError, match=r"runs by 'predict', which gives none"):
        keras_cases.run_gradient_case(Case(4, 3, 3, 6, execution="predict"))
    for name in ("small", "default"):
        assert {c.execution for c in grid.cases(name, executions=EXECUTIONS)} == set(EXECUTIONS)


def test_a_tf_keras_case_is_built_with_its_dropout_rates():
    tf_keras = pytest.importorskip("tf_keras")
    case = Case(9, 3, 9, 2, implementation=1, dropout=grid.DROPOUT,
                recurrent_dropout=grid.RECURRENT_DROPOUT)
    layer = keras_cases.build_case_layer(case, api="tf_keras")
    assert isinstance(layer, tf_keras.layers.LSTM)
    assert (layer.dropout, layer.recurrent_dropout) == (grid.DROPOUT, grid.RECURRENT_DROPOUT)
    keras_layer = keras_cases.build_case_layer(case)
    assert (keras_layer.dropout, keras_layer.recurrent_dropout) == (layer.dropout,
                                                                    layer.recurrent_dropout)
    report = keras_cases.run_case(case, api="tf_keras")
    assert report.passed, report.summary()
    assert report.context["reproduce"].endswith("api='tf_keras')")


def test_a_case_layer_refuses_an_unknown_api_and_an_activation_tf_keras_lacks():
    pytest.importorskip("tf_keras")
    with pytest.raises(OptionError, match=r"api must be one of \('keras', 'tf_keras'\)"):
        keras_cases.build_case_layer(Case(2, 1, 1, 2), api="keras2")
    with pytest.raises(UnsupportedLayerError, match="has no activation sparse_plus"):
        keras_cases.build_case_layer(Case(2, 1, 1, 2, activation="sparse_plus"), api="tf_keras")
