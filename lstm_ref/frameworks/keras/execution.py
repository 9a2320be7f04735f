"""How a Keras layer is run: the execution paths a user's code may take.

- "eager": ``layer(x, ...)``;
- "function": inside ``tf.function`` (a graph; TensorFlow backend);
- "xla": inside ``tf.function(jit_compile=True)`` (TensorFlow backend);
- "predict": through ``keras.Model.predict`` of a functional model around the layer (any
  backend), initial states and mask as extra inputs. Keras's data adapters hand the model
  every float input in ``keras.backend.floatx()``: a float64 layer computes on inputs
  rounded to float32 there (:func:`as_fed`).

Each returns the layer's result as NumPy arrays (a list when the layer returns several).
"""

from lstm_ref.errors import OptionError
from lstm_ref.frameworks.tensorflow.stepping import GRAPH_MIN_STEPS

__all__ = ["EXECUTIONS", "fast_execution", "as_fed", "call", "call_states"]

EXECUTIONS = ("eager", "function", "xla", "predict")


def fast_execution(keras, layer, steps):
    """The execution the grids run ``layer`` by: "function" on TensorFlow (the graph that
    model.fit and predict run too) for sequences of
    lstm_ref.frameworks.tensorflow.stepping.GRAPH_MIN_STEPS steps or more, where one traced
    graph costs less than Keras's while_loop run op by op, unless unrolled (a graph holds a
    copy of the cell per step, so tracing a long unrolled layer costs more than it saves);
    "eager" otherwise and on backends without graphs. The eager path keeps its own tests.
    (Timings: docs/findings/2026-12-03-execution-paths.md.)"""
    if (keras.backend.backend() != "tensorflow" or getattr(layer, "unroll", False)
            or steps < GRAPH_MIN_STEPS):
        return "eager"
    return "function"


def as_fed(keras, execution, array):
    """A float input as ``execution`` hands it to the layer, in the array's own dtype: through
    "predict", rounded to ``keras.backend.floatx()`` (Keras's data adapters cast float inputs
    to it, and the model's Input back to the layer's dtype); as it is on the other paths."""
    floatx = keras.backend.floatx()
    if execution != "predict" or array.dtype.kind != "f" or array.dtype == floatx:
        return array
    return array.astype(floatx).astype(array.dtype)


def call(keras, layer, x, initial_state, mask, execution="eager"):
    """Run ``layer`` on NumPy inputs by ``execution``; None initial_state/mask are left out."""
    if execution not in EXECUTIONS:
        raise OptionError(f"execution must be one of {EXECUTIONS}; received {execution!r}")
    if execution == "eager":
        result = layer(x, initial_state=call_states(keras, initial_state), mask=mask,
                       training=False)
    elif execution == "predict":
        result = _predict(keras, layer, x, initial_state, mask)
    else:
        result = _graph(keras, layer, x, initial_state, mask, jit=execution == "xla")
    results = result if isinstance(result, (tuple, list)) else [result]
    arrays = [keras.ops.convert_to_numpy(r) for r in results]
    return arrays if isinstance(result, (tuple, list)) else arrays[0]


def call_states(keras, initial_state):
    """Initial states as an eager call takes them: as given for Keras 3; as tensors for
    tf_keras, whose RNN takes NumPy initial states for symbolic ones and raises ValueError
    (nested lists, one pair per stacked cell, stay nested)."""
    if initial_state is None or keras.__name__ != "tf_keras":
        return initial_state
    if isinstance(initial_state, (list, tuple)):
        return [call_states(keras, s) for s in initial_state]
    return keras.ops.convert_to_tensor(initial_state)


def _graph(keras, layer, x, initial_state, mask, jit):
    if keras.backend.backend() != "tensorflow":
        raise OptionError(f"execution 'function'/'xla' needs the TensorFlow backend; Keras runs "
                          f"on {keras.backend.backend()!r} (use 'eager' or 'predict')")
    import tensorflow as tf

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def run(x, initial_state, mask):
        return layer(x, initial_state=initial_state, mask=mask, training=False)

    return run(x, initial_state, mask)


def _predict(keras, layer, x, initial_state, mask):
    batch, time, features = x.shape
    inputs = [keras.Input(batch_shape=(batch, time, features), dtype=x.dtype)]
    values = [x]
    kwargs = {}
    if initial_state is not None:
        states = [keras.Input(batch_shape=s.shape, dtype=s.dtype) for s in initial_state]
        inputs += states
        values += list(initial_state)
        kwargs["initial_state"] = states
    if mask is not None:
        mask_input = keras.Input(batch_shape=(batch, time), dtype="bool")
        inputs.append(mask_input)
        values.append(mask)
        kwargs["mask"] = mask_input
    model = keras.Model(inputs, layer(inputs[0], **kwargs))
    return model.predict(values, batch_size=batch, verbose=0)
