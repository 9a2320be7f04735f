"""The reference twin of a torch.nn.LSTM (or nn.LSTMCell), its weights and its inputs.

torch.nn.LSTM computes, per layer k and direction (gate order i, f, g, o):

    z = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh           the two biases are summed
    c_t = f c_{t-1} + i g,   h_t = (o tanh(c_t)) W_hr^T      W_hr only with proj_size > 0

which is the reference's LSTM with kernel = W_ih^T, recurrent_kernel = W_hh^T, bias = b_ih +
b_hh and projection = W_hr^T (lstm_ref.layouts.from_torch). Layer k > 0 reads layer k - 1's
output (both directions concatenated); h_0, c_0, h_n and c_n hold one row per layer and
direction, in the order layer 0 forward, layer 0 backward, layer 1 forward... which is
lstm_ref.stack.forward_stack's order. Input is (T, B, F), or (B, T, F) with batch_first, or
(T, F) unbatched (then h_0 and c_0 have no batch axis either).
"""

import numpy as np

from lstm_ref import checks, layouts
from lstm_ref._optional import require
from lstm_ref.checks import as_float_array, describe as describe_value
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.reference import forward
from lstm_ref.stack import forward_stack
from lstm_ref.weights import LSTMWeights

__all__ = ["DIRECTIONS", "SUPPORTED", "torch_module", "dtype_name", "to_numpy", "check_module",
           "layer_weights", "parameter", "parameter_dtype", "describe_module", "describe",
           "TorchLSTMTwin", "lengths_mask", "mask_lengths", "TorchLSTMCellTwin", "from_torch"]

DIRECTIONS = ("forward", "backward")
SUPPORTED = ("torch.nn.LSTM (any num_layers, bidirectional, proj_size, batch_first, bias) and "
             "torch.nn.LSTMCell")


def torch_module():
    """torch, or FrameworkMissingError naming the extra."""
    return require("torch", "torch")


def dtype_name(dtype):
    """"float32" for torch.float32 (the name the tolerance table and lstm_ref.precision use)."""
    return str(dtype).removeprefix("torch.")


def to_numpy(value, name):
    """A torch tensor (any device, bfloat16 included: exact in float32) or array-like as a
    floating NumPy array, or a clear error."""
    torch = torch_module()
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds it exactly
            value = value.float()
        value = value.numpy()
    return as_float_array(value, name)


def check_module(module):
    """``module`` if it is an nn.LSTM or nn.LSTMCell (or a subclass), else
    UnsupportedLayerError naming what was received and what is supported."""
    nn = torch_module().nn
    if isinstance(module, (nn.LSTM, nn.LSTMCell)):
        return module
    kind = f"{type(module).__module__}.{type(module).__qualname__}"
    hint = ""
    if isinstance(module, (nn.GRU, nn.RNN, nn.GRUCell, nn.RNNCell)):
        hint = " (a GRU or plain RNN computes other equations: no LSTM reference applies)"
    raise UnsupportedLayerError(f"from_torch supports {SUPPORTED}; received {kind}{hint}")


def layer_weights(module):
    """The module's weights as LSTMWeights: per layer, a tuple with one per direction
    (forward, then backward), as lstm_ref.stack.forward_stack takes them.

    Every parameter's shape is checked against the sizes the module declares (input_size,
    hidden_size, proj_size, num_layers, bidirectional, bias): a parameter replaced by one of
    another shape raises ShapeError naming it, never a silently different model.
    """
    hidden, proj = module.hidden_size, module.proj_size
    output = proj or hidden
    directions = 2 if module.bidirectional else 1
    layers = []
    for k in range(module.num_layers):
        features = module.input_size if k == 0 else directions * output
        expected = {"weight_ih": (4 * hidden, features), "weight_hh": (4 * hidden, output)}
        if module.bias:
            expected.update(bias_ih=(4 * hidden,), bias_hh=(4 * hidden,))
        if proj:
            expected["weight_hr"] = (proj, hidden)
        pair = []
        for direction in range(directions):
            suffix = f"_l{k}" + ("_reverse" if direction else "")
            params = {name: parameter(module, name + suffix, shape)
                      for name, shape in expected.items()}
            pair.append(LSTMWeights(**layouts.from_torch(**params)))
        layers.append(tuple(pair))
    return layers


def parameter(module, name, shape):
    value = getattr(module, name, None)
    if value is None:
        raise UnsupportedLayerError(f"{describe_module(module)} has no parameter {name!r}, which "
                                    "its declared options need; lstm_ref mirrors nn.LSTM's own "
                                    "parameters only")
    if tuple(value.shape) != shape:
        raise ShapeError(f"{name} has shape {tuple(value.shape)}; expected {shape} from "
                         f"{describe_module(module)} (input_size, hidden_size, proj_size, "
                         "num_layers and bidirectional fix every parameter's shape)")
    return value.detach().cpu().to(torch_module().float64).numpy()


def parameter_dtype(module):
    """The name of the dtype the module computes in (its parameters')."""
    dtypes = {dtype_name(p.dtype) for p in module.parameters()}
    if len(dtypes) != 1:
        raise OptionError(f"{describe_module(module)} holds parameters of several dtypes "
                          f"{sorted(dtypes)}; torch computes an LSTM in one: call .to(dtype)")
    return dtypes.pop()


def describe_module(module):
    """The module's repr on one line (its repr names every non-default option)."""
    return " ".join(repr(module).split())


def describe(module):
    """What reproduces a comparison: the module and its dtype, the versions that matter."""
    torch = torch_module()
    return {"module": f"{type(module).__module__}.{describe_module(module)}, dtype="
                      f"{parameter_dtype(module)}, training={module.training}",
            "versions": f"torch {torch.__version__}, numpy {np.__version__}"}


class TorchLSTMTwin:
    """The reference twin of a torch.nn.LSTM.

    ``twin(input, hx=None)`` returns ``(output, (h_n, c_n))`` as NumPy arrays shaped as the
    module returns them, computed by the reference (float64 unless ``dtype=``). The weights are
    copied when the twin is made: a later change to the module does not reach the twin.

    Attributes:
        layers: per layer, a tuple of LSTMWeights (forward[, backward]).
        input_size, hidden_size, proj_size, num_layers, bidirectional, batch_first, bias: the
            module's options.
        dtype: the name of the dtype the module computes in.
    """

    def __init__(self, module):
        if not isinstance(module, torch_module().nn.LSTM):
            check_module(module)
            raise UnsupportedLayerError(f"TorchLSTMTwin mirrors torch.nn.LSTM; received "
                                        f"{type(module).__qualname__}")
        for name in ("input_size", "hidden_size", "proj_size", "num_layers", "bidirectional",
                     "batch_first", "bias", "dropout", "training"):
            setattr(self, name, getattr(module, name))
        self.dtype = parameter_dtype(module)
        self.layers = layer_weights(module)
        self.config = describe(module)

    @property
    def weights(self):
        """Per layer, a tuple of LSTMWeights (forward[, backward])."""
        return self.layers

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def output_size(self):
        """The size of h: proj_size, or hidden_size without a projection."""
        return self.proj_size or self.hidden_size

    def __call__(self, input, hx=None, dtype="float64", lengths=None,  # noqa: A002 - torch's
                 training=None):
        """Mirror ``module(input, hx)``.

        Args:
            input: (T, B, F), (B, T, F) with batch_first, or (T, F) unbatched; a torch tensor
                or anything NumPy takes.
            hx: None (zeros) or ``(h_0, c_0)``: (num_layers * D, B, output_size) and
                (num_layers * D, B, hidden_size), without the B axis for unbatched input.
            dtype: the format the reference runs in (see lstm_ref.forward).
            lengths: None, or (B,) the valid length of each row: what
                ``module(pack_padded_sequence(input, lengths, ...))`` computes, its output
                padded back with zeros to the input's length (pad_packed_sequence with
                total_length).
            training: whether the module runs in training mode; None: the mode it was in when
                the twin was made. Dropout between layers (training with dropout > 0) draws
                random masks: refused.

        Returns:
            ``(output, (h_n, c_n))``: output (T, B, D * output_size) (batch first if the module
            is), h_n (num_layers * D, B, output_size), c_n (num_layers * D, B, hidden_size).
        """
        self.check_training(self.training if training is None else training)
        x, states, mask, unbatched = self.canonical(input, hx, lengths)
        trace = forward_stack(x, self.layers, initial_state=states, mask=mask, dtype=dtype,
                              zero_output_for_mask=True)
        return self.torch_layout(trace.outputs, trace.final_h, trace.final_c, unbatched)

    def check_training(self, training):
        """OptionError when the module would apply dropout between layers."""
        if training and self.dropout and self.num_layers > 1:
            raise OptionError(
                f"the module is in training mode with dropout={self.dropout} between its "
                f"{self.num_layers} layers, which draws random masks: no reference can "
                "reproduce it; call module.eval() (dropout is a no-op at inference) or pass "
                "training=False")

    def canonical(self, input, hx=None, lengths=None):  # noqa: A002
        """The call's arguments in the reference's terms, validated.

        Returns:
            ``(x, states, mask, unbatched)``: x (B, T, F); states None or a list of
            [h0, c0] pairs in h_n's order; mask None or (B, T) from ``lengths``; unbatched
            whether the input had no batch axis.
        """
        if isinstance(input, torch_module().nn.utils.rnn.PackedSequence):
            raise OptionError("the twin takes the padded input and lengths=, not a "
                              "PackedSequence: padded, lengths = pad_packed_sequence(packed, "
                              "batch_first=...); twin(padded, hx, lengths=lengths)")
        x = to_numpy(input, "input")
        if x.ndim not in (2, 3):
            raise ShapeError(f"input must be (time, batch, features), (batch, time, features) "
                             f"with batch_first, or (time, features) unbatched; received shape "
                             f"{x.shape}")
        unbatched = x.ndim == 2
        x = x[None] if unbatched else (x if self.batch_first else x.transpose(1, 0, 2))
        if x.shape[2] != self.input_size:
            raise ShapeError(f"input has {x.shape[2]} features (its last axis, shape "
                             f"{to_numpy(input, 'input').shape}); expected input_size = "
                             f"{self.input_size} of {self.config['module']}")
        if x.shape[1] == 0:
            raise ShapeError(f"input must have at least one time step; received shape "
                             f"{to_numpy(input, 'input').shape}")
        states = None if hx is None else self._states(hx, x.shape[0], unbatched)
        mask = None
        if lengths is not None:
            if unbatched:
                raise OptionError("lengths= needs batched input: torch packs batches only")
            mask = lengths_mask(lengths, x.shape[0], x.shape[1])
        return x, states, mask, unbatched

    def _states(self, hx, batch, unbatched):
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ShapeError(f"hx must be a tuple (h_0, c_0); received {describe_value(hx)}")
        rows = self.num_layers * self.num_directions
        pairs = []
        for index, (name, size) in enumerate((("h_0", self.output_size),
                                               ("c_0", self.hidden_size))):
            state = to_numpy(hx[index], f"hx[{index}] ({name})")
            expected = (rows, size) if unbatched else (rows, batch, size)
            if state.shape != expected:
                why = "proj_size" if name == "h_0" and self.proj_size else "hidden_size"
                raise ShapeError(
                    f"hx[{index}] ({name}) has shape {state.shape}; expected {expected} = "
                    f"(num_layers * num_directions{'' if unbatched else ', batch'}, {why}) for "
                    f"{'unbatched' if unbatched else 'this'} input and {self.config['module']}")
            pairs.append(state[:, None] if unbatched else state)
        return [[h, c] for h, c in zip(*pairs)]

    def torch_layout(self, outputs, final_h, final_c, unbatched):
        """(B, T, D * P) outputs and per-direction final states -> torch's
        ``(output, (h_n, c_n))``."""
        h_n, c_n = np.stack(final_h), np.stack(final_c)
        if unbatched:
            return outputs[0], (h_n[:, 0], c_n[:, 0])
        output = outputs if self.batch_first else outputs.transpose(1, 0, 2)
        return output, (h_n, c_n)


def lengths_mask(lengths, batch, time):
    """The (B, T) right-padded mask of per-row ``lengths``, each in 1..time (torch refuses
    empty sequences in pack_padded_sequence)."""
    torch = torch_module()
    lengths = lengths.cpu() if isinstance(lengths, torch.Tensor) else lengths
    return checks.lengths_mask(lengths, batch, time, minimum=1,
                               why="torch packs no empty sequence")


def mask_lengths(mask, batch, time):
    """The per-row lengths of a right-padded (B, T) mask, or a clear error for any other."""
    return checks.mask_lengths(mask, batch, time, minimum=1,
                               why="torch packs right-padded sequences, none empty")


class TorchLSTMCellTwin:
    """The reference twin of a torch.nn.LSTMCell: ``twin(input, hx=None)`` returns
    ``(h_1, c_1)`` for input (B, F) or (F,), hx ``(h_0, c_0)`` each (B, H) or (H,)."""

    def __init__(self, cell):
        self.input_size, self.hidden_size, self.bias = cell.input_size, cell.hidden_size, cell.bias
        self.dtype = parameter_dtype(cell)
        expected = {"weight_ih": (4 * cell.hidden_size, cell.input_size),
                    "weight_hh": (4 * cell.hidden_size, cell.hidden_size)}
        if cell.bias:
            expected.update(bias_ih=(4 * cell.hidden_size,), bias_hh=(4 * cell.hidden_size,))
        params = {name: parameter(cell, name, shape) for name, shape in expected.items()}
        self.weights = LSTMWeights(**layouts.from_torch(**params))
        self.config = describe(cell)

    def __call__(self, input, hx=None, dtype="float64"):  # noqa: A002 - torch's name
        x = to_numpy(input, "input")
        if x.ndim not in (1, 2):
            raise ShapeError(f"an LSTMCell takes input (batch, features) or (features,); "
                             f"received shape {x.shape}")
        unbatched = x.ndim == 1
        x = x[None] if unbatched else x
        if x.shape[1] != self.input_size:
            raise ShapeError(f"input has {x.shape[1]} features; expected input_size = "
                             f"{self.input_size} of {self.config['module']}")
        state = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ShapeError(f"hx must be a tuple (h_0, c_0); received {describe_value(hx)}")
            expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
            state = []
            for index, value in enumerate(hx):
                array = to_numpy(value, f"hx[{index}]")
                if array.shape != expected:
                    raise ShapeError(f"hx[{index}] has shape {array.shape}; expected {expected} "
                                     f"(batch, hidden_size) for this input")
                state.append(array[None] if unbatched else array)
        trace = forward(x[:, None], self.weights, initial_state=state, dtype=dtype, keep="final")
        h, c = trace.final_h, trace.final_c
        return (h[0], c[0]) if unbatched else (h, c)


def from_torch(module):
    """The twin of a torch.nn.LSTM (:class:`TorchLSTMTwin`) or nn.LSTMCell
    (:class:`TorchLSTMCellTwin`); UnsupportedLayerError for any other module."""
    check_module(module)
    if isinstance(module, torch_module().nn.LSTMCell):
        return TorchLSTMCellTwin(module)
    return TorchLSTMTwin(module)
