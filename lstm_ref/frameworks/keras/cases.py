"""Keras grid cases (lstm_ref.grids.keras) as layers: built with the case's seeded weights,
run and compared, forward and gradients; each Report names the case, its seed and the line
that reproduces it alone."""

import numpy as np

from lstm_ref.errors import OptionError
from lstm_ref.frameworks.keras import execution as executions
from lstm_ref.frameworks.keras import keras2
from lstm_ref.frameworks.keras.gradients import EXECUTIONS as GRADIENT_EXECUTIONS
from lstm_ref.frameworks.keras.gradients import check_gradient_observation, observe_gradients
from lstm_ref.frameworks.keras.checks import check_keras_observation
from lstm_ref.frameworks.keras.observe import observe
from lstm_ref.frameworks.keras.twin import keras_module, keras_of

__all__ = ["APIS", "case_layer_options", "build_case_layer", "set_case_weights",
           "case_execution", "run_case", "run_gradient_case"]

# Which Keras builds the layers: Keras 3, or tf_keras (Keras 2).
APIS = ("keras", "tf_keras")


def case_layer_options(case):
    """The LSTM arguments a grid Case sets beyond its sizes, activations and weights: its
    dropout rates (the layer runs at inference, where they must change nothing)."""
    return {"dropout": case.dropout, "recurrent_dropout": case.recurrent_dropout}


def build_case_layer(case, dtype="float32", cell=None, layer_class=None, api="keras",
                     **layer_options):
    """A Keras LSTM for a grid Case, built, with the case's random per-gate weights set.

    Args:
        case: a :class:`lstm_ref.grids.keras.Case`.
        dtype: the layer's dtype or dtype policy ("float32", "bfloat16", "mixed_float16"...).
        cell: an LSTMCell (or subclass) to wrap in the API's RNN layer instead of building an
            LSTM; its own options apply, the case gives sizes, weights and the RNN's options.
        layer_class: None (the API's LSTM layer), or a callable taking that layer's
            arguments that returns an LSTM (a subclass under test).
        api: "keras" (Keras 3) or "tf_keras" (Keras 2's layers, whose activation names are
            tf_keras's: "hard_sigmoid" is Keras 2's; UnsupportedLayerError for an
            activation tf_keras lacks).
        **layer_options: further LSTM arguments (e.g. use_cudnn=True), over the case's own
            (:func:`case_layer_options`).
    """
    if api not in APIS:
        raise OptionError(f"api must be one of {APIS}; received {api!r}")
    keras = keras_module() if api == "keras" else keras2.case_keras(case)
    common = dict(return_sequences=case.return_sequences, return_state=case.return_state,
                  go_backwards=case.go_backwards, unroll=case.unroll, dtype=dtype)
    if cell is None:
        if dtype in ("float16", "bfloat16"):
            # The default orthogonal initializer needs a QR decomposition, which TensorFlow
            # has no bfloat16 kernel for, and torch (CPU) neither a float16 nor a bfloat16
            # one: such an LSTM cannot even be built with its defaults. The case's weights
            # replace the initial values anyway.
            layer_options.setdefault("recurrent_initializer", "glorot_uniform")
        layer = (layer_class or keras.layers.LSTM)(
            case.units, activation=case.activation,
            recurrent_activation=case.recurrent_activation, use_bias=case.use_bias,
            implementation=case.implementation, **common,
            **{**case_layer_options(case), **layer_options})
    else:
        layer = keras.layers.RNN(cell, **common)
    layer.build((case.batch, case.time, case.features))
    set_case_weights(layer, case, case.arrays())
    return layer


def set_case_weights(layer, case, arrays):
    """Set a case's built layer's kernel, recurrent kernel and (where the case has one) bias
    from ``arrays`` (the case's draws, or a recording of them), in the layer's variable
    dtype."""
    weights = [arrays["kernel"], arrays["recurrent_kernel"]]
    weights += [arrays["bias"]] if case.use_bias else []
    layer.set_weights([np.asarray(w).astype(layer.variable_dtype) for w in weights])


def case_execution(case, layer, execution=None):
    """How a case's layer runs: ``execution`` if given, else the case's own, else
    lstm_ref.frameworks.keras.execution.fast_execution (the fastest path for its length)."""
    execution = execution or case.execution
    if execution is None:
        execution = executions.fast_execution(keras_of(layer), layer, case.time)
    return execution


def run_case(case, dtype="float32", cell=None, tolerance=None, execution=None,
             api="keras", layer_class=None, **layer_options):
    """Build the case's layer and compare it with the reference, on the case's inputs,
    initial state and mask, run by its execution path; the Report's context names the case
    and its seed, so a failure reproduces alone.

    Args:
        case: a :class:`lstm_ref.grids.keras.Case`.
        dtype: the layer's dtype or mixed-precision policy.
        cell: an LSTMCell (subclass) to wrap in an RNN instead of building an LSTM.
        tolerance: a Tolerance instead of the table's entry.
        execution: how the whole layer runs (lstm_ref.frameworks.keras.execution); None: the
            case's own (:func:`case_execution`).
        api: "keras" (Keras 3) or "tf_keras" (Keras 2's layers).
        layer_class: an LSTM subclass (or factory) to build instead of the API's LSTM.
        **layer_options: further LSTM arguments.
    """
    layer = build_case_layer(case, dtype=dtype, cell=cell, layer_class=layer_class, api=api,
                             **layer_options)
    execution = case_execution(case, layer, execution)
    arrays = case.arrays()
    observation = observe(layer, arrays["x"], initial_state=arrays["initial_state"],
                          mask=arrays["mask"], execution=execution)
    observation.context = case.report_context(
        observation.context, run_case, dtype=dtype, execution=execution,
        **({} if api == "keras" else {"api": api}))
    return check_keras_observation(observation, tolerance)


def run_gradient_case(case, mask=None, execution=None, tolerance=None, cell=None):
    """Build a grid Case's Keras layer and compare its gradients, the upstream ones drawn
    from the case's seed, under ``mask`` (None: the case's own), the whole layer run by
    ``execution`` (None: the case's own, :func:`case_execution`); the Report's context says
    how to reproduce it.

    A gradient is taken on the paths of lstm_ref.frameworks.keras.gradients.EXECUTIONS
    ("eager", "function", "xla"): "predict" returns values, never a gradient, so a case run
    by it is an OptionError (lstm_ref.grids.keras.cases(executions=GRADIENT_EXECUTIONS)
    draws none).
    """
    layer = build_case_layer(case, cell=cell)
    execution = case_execution(case, layer, execution)
    if execution not in GRADIENT_EXECUTIONS:
        raise OptionError(f"a gradient is taken on the execution paths {GRADIENT_EXECUTIONS}; "
                          f"case {case.id} runs by {execution!r}, which gives none (pass "
                          "execution= one of them)")
    arrays = case.arrays()
    mask = arrays["mask"] if mask is None else mask
    observation = observe_gradients(layer, arrays["x"], arrays["initial_state"], mask,
                                    execution=execution, seed=case.seed)
    observation.context = case.report_context(observation.context, run_gradient_case,
                                              execution=execution)
    return check_gradient_observation(observation, tolerance)
