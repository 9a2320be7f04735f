"""tf_keras (Keras 2) layers: what the Keras package's code would mirror wrongly is refused,
and grid cases are built with tf_keras's own layers where it has their activations
(lstm_ref.frameworks.tensorflow.tf_keras has the stand-in API the rest of the package uses
for them)."""

from lstm_ref.errors import UnsupportedLayerError
from lstm_ref.frameworks.tensorflow.tf_keras import api, is_tf1_cell, tf_keras_module

__all__ = ["check_layer", "missing_activations", "case_keras"]


def check_layer(layer):
    """Refuse what the Keras package's code would mirror wrongly in tf_keras: TF1 cells
    (they have their own twin) and time-major layers, alone or inside a Bidirectional or a
    model."""
    if is_tf1_cell(layer):
        raise UnsupportedLayerError(
            f"{type(layer).__name__} is a TF1 cell, not a Keras layer: its twin is "
            "lstm_ref.from_tf1_cell(cell), run as dynamic_rnn runs it")
    keras = api()
    inner = [layer]
    if isinstance(layer, keras.Model):
        inner = list(layer.layers)
    for sub in list(inner):
        inner += [getattr(sub, "forward_layer", None), getattr(sub, "backward_layer", None)]
    for sub in inner:
        if getattr(sub, "time_major", False):
            raise UnsupportedLayerError(
                f"{type(sub).__name__} {sub.name!r} has time_major=True; lstm_ref mirrors "
                "batch-major layers (time_major=False): transpose its input to (batch, time, "
                "features) and rebuild it without time_major")
        cell = getattr(sub, "cell", None)
        if cell is not None and is_tf1_cell(cell):
            raise UnsupportedLayerError(
                f"{type(sub).__name__} {sub.name!r} runs a TF1 {type(cell).__name__}: compare "
                "the cell itself (lstm_ref.compare(layer.cell, x, execution='keras_rnn') runs "
                "it in a tf_keras RNN), or use its twin lstm_ref.from_tf1_cell(layer.cell)")


def missing_activations(case):
    """The activations of a Keras grid Case (lstm_ref.grids.keras) that tf_keras does not have (the full grid
    names every Keras 3 activation), as a sorted list; empty when the case can run."""
    known = tf_keras_module().activations
    return sorted({name for name in (case.activation, case.recurrent_activation)
                   if not callable(getattr(known, name, None))})


def case_keras(case):
    """tf_keras, to build a Keras grid Case's layers with (lstm_ref.frameworks.keras.cases,
    api "tf_keras"), or UnsupportedLayerError naming the activations of the case it lacks."""
    keras = tf_keras_module()
    missing = missing_activations(case)
    if missing:
        raise UnsupportedLayerError(f"tf_keras {keras.__version__} has no activation "
                                    f"{', '.join(missing)} (case {case.id})")
    return keras
