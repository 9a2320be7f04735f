"""A torch.nn.LSTM rebuilt from a state dict: the shape it declares (input size, hidden size,
layers, directions, bias, projection) read from its parameters' names and shapes, or given
and then checked against them."""

import re

from lstm_ref.errors import OptionError
from lstm_ref.frameworks.torch.twin import torch_module

__all__ = ["module_from_state_dict", "shape_of_state_dict"]

_NAME = re.compile(r"^(weight_ih|weight_hh|weight_hr|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def shape_of_state_dict(state):
    """{input_size, hidden_size, num_layers, bidirectional, bias, proj_size} of an nn.LSTM's
    state dict, read from its parameters' names and shapes; OptionError naming a key that
    is no nn.LSTM parameter."""
    if not isinstance(state, dict) or not state:
        raise OptionError(f"state must be a non-empty nn.LSTM state dict; received "
                          f"{type(state).__name__}")
    layers, reverse = set(), False
    for key in state:
        match = _NAME.match(str(key))
        if match is None:
            raise OptionError(f"state dict key {key!r} is no torch.nn.LSTM parameter (expected "
                              "weight_ih_l0, weight_hh_l0, bias_ih_l0, ..., _reverse)")
        layers.add(int(match.group(2)))
        reverse = reverse or bool(match.group(3))
    for required in ("weight_ih_l0", "weight_hh_l0"):
        if required not in state:
            raise OptionError(f"state dict has no {required}: it is no nn.LSTM's")
    gates, input_size = (int(n) for n in state["weight_ih_l0"].shape)
    proj = int(state["weight_hr_l0"].shape[0]) if "weight_hr_l0" in state else 0
    return {"input_size": input_size, "hidden_size": gates // 4, "num_layers": max(layers) + 1,
            "bidirectional": reverse, "bias": "bias_ih_l0" in state, "proj_size": proj}


def module_from_state_dict(state, batch_first=False, **given):
    """An eval-mode nn.LSTM holding ``state`` (loaded strictly), shaped as the state dict
    says; ``given`` (input_size, hidden_size, num_layers, bidirectional) must agree with it:
    OptionError naming the option, what the state dict holds and what was given."""
    shape = shape_of_state_dict(state)
    for name, value in given.items():
        if value is None:
            continue
        if name not in shape:
            raise OptionError(f"unknown nn.LSTM option {name!r}; known: {', '.join(shape)}")
        if value != shape[name]:
            raise OptionError(f"{name} was given as {value!r}; the state dict holds an nn.LSTM "
                              f"with {name}={shape[name]!r}")
    torch = torch_module()
    dtype = state["weight_ih_l0"].dtype
    module = torch.nn.LSTM(batch_first=batch_first, dtype=dtype, **shape).eval()
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise OptionError(f"the state dict does not fit an nn.LSTM of {shape}: "
                          f"{' '.join(str(exc).split())[:300]}") from exc
    return module
