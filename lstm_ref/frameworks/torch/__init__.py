"""PyTorch: torch.nn.LSTM (any num_layers, bidirectional, proj_size, batch_first, bias, packed
sequences) and nn.LSTMCell.

The face the package-level API dispatches to (lstm_ref.api): :func:`compare`,
:func:`from_torch`. Modules: ``twin`` (the twin, weights and inputs), ``observe`` (every layer
and direction stepped by torch and the module's own call, compared), ``convert`` (reference
weights into a module), ``cases`` (grid cases built and run).
"""

from lstm_ref.errors import OptionError
from lstm_ref.frameworks.torch import observe
from lstm_ref.frameworks.torch.twin import from_torch

__all__ = ["compare", "from_torch"]


def compare(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Step-by-step comparison of a torch.nn.LSTM or nn.LSTMCell with the reference: a Report
    (see lstm_ref.frameworks.torch.observe.compare; ``lengths=`` is its one option)."""
    unknown = sorted(set(options) - {"lengths"})
    if unknown:
        raise OptionError(f"compare(torch module, ...) takes the option lengths= only; received "
                          f"{', '.join(unknown)}")
    return observe.compare(layer, x, initial_state=initial_state, mask=mask,
                           tolerance=tolerance, **options)
