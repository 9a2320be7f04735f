"""Canonical weights (LSTMWeights) into PyTorch: a full nn.LSTM state dict, loading it into a
module whose declared sizes are checked first, and building the module that holds them.

With lstm_ref.from_keras / from_torch on the other side, this ports an LSTM between Keras and
PyTorch: ``to_module([from_keras(layer).weights])`` is the torch twin of a Keras LSTM, and
``from_torch(module).layers[0][0].to_keras()`` the Keras weights of a one-layer nn.LSTM.
The summed bias goes to bias_ih, bias_hh is zero (lstm_ref.layouts.to_torch).
"""

import numpy as np

from lstm_ref.frameworks.torch.twin import DIRECTIONS, torch_module, check_module, describe_module
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.weights import LSTMWeights

__all__ = ["as_layers", "state_dict", "module_options", "check_layers", "load_weights",
           "to_module"]


def as_layers(layers):
    """``layers`` as a list of per-layer tuples of LSTMWeights (forward[, backward]); a single
    LSTMWeights is one layer, one direction."""
    if isinstance(layers, LSTMWeights):
        layers = [layers]
    if not isinstance(layers, (list, tuple)) or not layers:
        raise OptionError(f"layers must be an LSTMWeights or a non-empty list with, per layer, "
                          f"an LSTMWeights or a (forward, backward) pair; received {layers!r:.80}")
    result = []
    for index, layer in enumerate(layers):
        pair = tuple(layer) if isinstance(layer, (list, tuple)) else (layer,)
        if len(pair) not in (1, 2) or not all(isinstance(w, LSTMWeights) for w in pair):
            raise OptionError(f"layers[{index}] must be an LSTMWeights or a (forward, backward) "
                              f"pair of them; received {layer!r:.80}")
        result.append(pair)
    if len({len(pair) for pair in result}) != 1:
        raise OptionError("every layer of an nn.LSTM has the same number of directions; "
                          f"received {[len(pair) for pair in result]} per layer")
    return result


def state_dict(layers):
    """torch.nn.LSTM's parameters for ``layers`` (see :func:`as_layers`) as NumPy arrays,
    named as its state_dict names them (weight_ih_l0, ..., bias_hh_l1_reverse, weight_hr_l0)."""
    params = {}
    for k, pair in enumerate(as_layers(layers)):
        for direction, weights in enumerate(pair):
            params.update(weights.to_torch_state_dict(layer=k, reverse=direction == 1))
    return params


def module_options(layers):
    """The nn.LSTM arguments that hold ``layers``: input_size, hidden_size, proj_size,
    num_layers, bidirectional, bias; OptionError/ShapeError if no nn.LSTM can."""
    layers = as_layers(layers)
    first = layers[0][0]
    options = dict(input_size=first.features, hidden_size=first.units,
                   proj_size=first.output_size if first.projection is not None else 0,
                   num_layers=len(layers), bidirectional=len(layers[0]) == 2,
                   bias=first.use_bias)
    check_layers(layers, **options)
    return options


def check_layers(layers, input_size, hidden_size, proj_size, num_layers, bidirectional, bias,
                 what="nn.LSTM"):
    """ShapeError / OptionError unless ``layers`` fit an nn.LSTM with these options."""
    layers = as_layers(layers)
    declared = (f"{what}(input_size={input_size}, hidden_size={hidden_size}, proj_size="
                f"{proj_size}, num_layers={num_layers}, bidirectional={bidirectional}, "
                f"bias={bias})")
    if len(layers) != num_layers:
        raise ShapeError(f"{declared} has {num_layers} layers; received weights for {len(layers)}")
    if len(layers[0]) != (2 if bidirectional else 1):
        raise OptionError(f"{declared} has {2 if bidirectional else 1} direction(s) per layer; "
                          f"received {len(layers[0])}")
    output = proj_size or hidden_size
    for k, pair in enumerate(layers):
        features = input_size if k == 0 else len(pair) * output
        for direction, w in enumerate(pair):
            where = f"layers[{k}] {DIRECTIONS[direction]}"
            if (w.projection is not None) != bool(proj_size):
                raise OptionError(f"{where} {'has' if w.projection is not None else 'lacks'} a "
                                  f"projection; {declared} {'needs' if proj_size else 'has'} "
                                  f"{'one' if proj_size else 'none'}")
            for name, got, expected in (("features", w.features, features),
                                        ("units (hidden_size)", w.units, hidden_size),
                                        ("output_size", w.output_size, output)):
                if got != expected:
                    raise ShapeError(f"{where} has {name} {got}; {declared} needs {expected}")
            if w.use_bias != bias:
                raise OptionError(f"{where} {'has' if w.use_bias else 'has no'} bias; {declared} "
                                  f"{'needs one (pass zeros explicitly)' if bias else 'has none'}")


def load_weights(module, layers):
    """Copy ``layers`` into a torch.nn.LSTM (or, for one layer and direction, nn.LSTMCell),
    after checking they fit the sizes the module declares (values are cast to the module's
    dtype: loading float64 weights into a float32 module rounds them). Returns the module."""
    torch = torch_module()
    check_module(module)
    layers = as_layers(layers)
    if isinstance(module, torch.nn.LSTMCell):
        check_layers(layers, module.input_size, module.hidden_size, 0, 1, False, module.bias,
                     what="nn.LSTMCell")
        params = {name.removesuffix("_l0"): value for name, value in state_dict(layers).items()}
    else:
        check_layers(layers, module.input_size, module.hidden_size, module.proj_size,
                     module.num_layers, module.bidirectional, module.bias)
        params = state_dict(layers)
    with torch.no_grad():
        for name, value in params.items():
            target = getattr(module, name)
            if tuple(target.shape) != value.shape:
                raise ShapeError(f"{describe_module(module)}: parameter {name} has shape "
                                 f"{tuple(target.shape)}; the weights give {value.shape}")
            # A copy: the weights' arrays are read-only, torch wants writable memory.
            target.copy_(torch.as_tensor(np.array(value, copy=True)).to(target.dtype))
    return module


def to_module(layers, batch_first=False, dtype="float32", device=None):
    """A new torch.nn.LSTM (eval mode) holding ``layers``.

    Args:
        layers: an LSTMWeights, or a list with, per layer, an LSTMWeights or a
            (forward, backward) pair (as lstm_ref.stack.forward_stack takes them).
        batch_first: the module's input layout.
        dtype: a torch dtype or its name ("float32", "float64", "float16", "bfloat16").
        device: where the module lives (None: torch's default).

    Returns:
        The module.
    """
    torch = torch_module()
    torch_dtype = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(torch_dtype, torch.dtype) or not torch_dtype.is_floating_point:
        raise OptionError(f"dtype must be a torch floating dtype or its name; received {dtype!r}")
    module = torch.nn.LSTM(**module_options(layers), batch_first=batch_first, dtype=torch_dtype,
                           device=device).eval()
    return load_weights(module, layers)
