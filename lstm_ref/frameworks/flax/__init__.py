"""Flax NNX: flax.nnx.LSTMCell and OptimizedLSTMCell, stepped by hand or run by flax.nnx.RNN
(time_major, reverse, keep_order, seq_lengths, initial_carry), in float32, or float64 under
``jax_enable_x64``.

The face the package-level API dispatches to (lstm_ref.api): :func:`compare`,
:func:`from_flax`. Modules: ``twin`` (the twin, weights and inputs), ``observe`` (the cell
stepped by hand and the RNN's own call, compared), ``cases`` (grid cases built and run).
"""

from lstm_ref.errors import OptionError
from lstm_ref.frameworks.flax import observe
from lstm_ref.frameworks.flax.twin import from_flax

__all__ = ["compare", "from_flax", "OPTIONS"]

# The options compare(flax module, ...) takes besides the common ones.
OPTIONS = ("seq_lengths", "time_major", "reverse", "keep_order", "precision")


def compare(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Step-by-step comparison of a Flax LSTM cell or nnx.RNN with the reference: a Report
    (see lstm_ref.frameworks.flax.observe.compare; ``initial_state`` is the carry ``(c, h)``
    as Flax takes it)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise OptionError(f"compare(flax module, ...) takes the options {', '.join(OPTIONS)}; "
                          f"received {', '.join(unknown)}")
    return observe.compare(layer, x, initial_state=initial_state, mask=mask,
                           tolerance=tolerance, **options)
