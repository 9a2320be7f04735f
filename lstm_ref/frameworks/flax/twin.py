"""The reference twin of a Flax NNX LSTM cell (``flax.nnx.LSTMCell``,
``flax.nnx.OptimizedLSTMCell``) and of ``flax.nnx.RNN`` over one, their weights and inputs.

Both cells compute, on the carry ``(c, h)`` (c first) and the input x (flax/nnx/nn/recurrent.py):

    i = gate_fn(x W_ii + h W_hi + b_hi)      f = gate_fn(x W_if + h W_hf + b_hf)
    g = activation_fn(x W_ig + h W_hg + b_hg)  o = gate_fn(x W_io + h W_ho + b_ho)
    c' = f c + i g,   h' = o activation_fn(c')     returning ((c', h'), h')

with biases on the h side only (the x-side Linear layers have none). ``LSTMCell`` holds eight
``nnx.Linear`` layers ``ii, if_, ig, io`` (kernel (F, U), no bias) and ``hi, hf, hg, ho``
(kernel (U, U), bias (U,)); ``OptimizedLSTMCell`` holds two, ``dense_i`` (kernel (F, 4U), no
bias) and ``dense_h`` (kernel (U, 4U), bias (4U,)), split into i, f, g, o along the last axis.
Both are the reference's LSTM (Keras layout, gate order i, f, c, o) with

    kernel = [W_ii | W_if | W_ig | W_io],  recurrent_kernel = [W_hi | W_hf | W_hg | W_ho],
    bias = [b_hi | b_hf | b_hg | b_ho],  recurrent_activation = gate_fn,
    activation = activation_fn

(for ``OptimizedLSTMCell``: kernel = dense_i.kernel, recurrent_kernel = dense_h.kernel, bias =
dense_h.bias as they are). ``nnx.RNN`` scans the cell over the time axis (axis 1, or 0 with
``time_major``) from ``initial_carry`` (zeros by default); ``reverse`` first flips each row's
first ``seq_lengths[b]`` steps (the padding after them is flipped too, and stays after them);
``keep_order`` flips the outputs back the same way; every step runs, padding included, and
with ``seq_lengths`` the returned carry is the one after row b's step ``seq_lengths[b] - 1``.
"""

import numpy as np

from lstm_ref import checks
from lstm_ref._optional import require
from lstm_ref.checks import as_float_array, describe as describe_value
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.reference import forward
from lstm_ref.weights import LSTMWeights

__all__ = ["SUPPORTED", "CELL_GATES", "jax_modules", "check_module", "activation_name",
           "cell_weights", "compute_dtype", "describe", "to_numpy", "flip_index", "flipped",
           "carry_states",
           "FlaxCellTwin", "FlaxRNNTwin", "from_flax"]

SUPPORTED = ("flax.nnx.LSTMCell and flax.nnx.OptimizedLSTMCell, alone or in flax.nnx.RNN "
             "(time_major, reverse, keep_order, seq_lengths, initial_carry), float32 or "
             "float64")
# LSTMCell's per-gate Linear layers, in the reference's gate order i, f, c(=g), o.
CELL_GATES = (("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho"))
# The JAX activations whose definition is the reference's of the same name (jax.nn's defaults
# equal Keras's here; leaky_relu (slope 0.01) and gelu (tanh approximation) do not).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "relu6", "hard_sigmoid", "hard_tanh", "soft_sign",
               "silu", "elu", "softplus")
REFERENCE_NAMES = {"soft_sign": "softsign"}


def jax_modules():
    """(jax, flax.nnx), or FrameworkMissingError naming the extra."""
    return require("jax", "flax"), require("flax.nnx", "flax")


def to_numpy(value, name):
    """A JAX array (or array-like) as a floating NumPy array, or a clear error."""
    return as_float_array(np.asarray(value), name)


def check_module(module):
    """``module`` if it is an LSTMCell, OptimizedLSTMCell or an RNN over one, else
    UnsupportedLayerError naming what was received and what is supported."""
    _, nnx = jax_modules()
    cell = module.cell if isinstance(module, nnx.RNN) else module
    if isinstance(cell, (nnx.LSTMCell, nnx.OptimizedLSTMCell)):
        return module
    kind = f"{type(cell).__module__}.{type(cell).__qualname__}"
    where = " in the nnx.RNN" if cell is not module else ""
    raise UnsupportedLayerError(f"from_flax supports {SUPPORTED}; received {kind}{where}")


def activation_name(function, argument):
    """The reference's name of a cell's ``gate_fn`` / ``activation_fn`` (``argument``), or
    UnsupportedLayerError naming it and the ones supported."""
    jax, _ = jax_modules()
    for name in ACTIVATIONS:
        if function is getattr(jax.nn, name, None):
            return REFERENCE_NAMES.get(name, name)
    if function is jax.numpy.tanh:
        return "tanh"
    shown = getattr(function, "__name__", repr(function))
    raise UnsupportedLayerError(f"{argument} must be one of jax.nn.{', jax.nn.'.join(ACTIVATIONS)}"
                                f" or jax.numpy.tanh (the functions the reference defines alike);"
                                f" received {shown}")


def _linear(layer, name, shape, bias):
    """(kernel, bias or None) of a cell's nnx.Linear ``name`` as float64, each shape checked,
    and the options that would change its arithmetic refused."""
    if layer is None:
        raise UnsupportedLayerError(f"the cell has no Linear layer {name!r}, which Flax's cell "
                                    "computes with")
    jax, _ = jax_modules()
    unusual = [option for option, default in (("dot_general", jax.lax.dot_general),
                                               ("preferred_element_type", None))
               if getattr(layer, option, default) is not default]
    if unusual:
        raise UnsupportedLayerError(f"the cell's Linear {name!r} sets {', '.join(unusual)}, "
                                    "which changes its arithmetic; lstm_ref mirrors "
                                    "jax.lax.dot_general in the layer's dtype only")
    kernel = to_numpy(layer.kernel[...], f"{name}.kernel")
    if kernel.shape != shape:
        raise ShapeError(f"{name}.kernel has shape {kernel.shape}; expected {shape} from the "
                         "cell's in_features and hidden_features")
    value = getattr(layer, "bias", None)
    if bias and value is None:
        raise UnsupportedLayerError(f"{name} has no bias; Flax's cell gives its h-side layers "
                                    "one")
    if not bias and value is not None:
        raise UnsupportedLayerError(f"{name} has a bias; Flax's cell gives its x-side layers "
                                    "none (the h side holds the gates' bias)")
    if value is None:
        return kernel.astype(np.float64), None
    b = to_numpy(value[...], f"{name}.bias")
    if b.shape != shape[1:]:
        raise ShapeError(f"{name}.bias has shape {b.shape}; expected {shape[1:]}")
    return kernel.astype(np.float64), b.astype(np.float64)


def cell_weights(cell):
    """The cell's weights as LSTMWeights (Keras layout, gate order i, f, c, o), see the
    module docstring; activations from ``gate_fn`` / ``activation_fn``."""
    _, nnx = jax_modules()
    check_module(cell)
    features, units = cell.in_features, cell.hidden_features
    if isinstance(cell, nnx.OptimizedLSTMCell):
        kernel, _ = _linear(getattr(cell, "dense_i", None), "dense_i", (features, 4 * units),
                            False)
        recurrent, bias = _linear(getattr(cell, "dense_h", None), "dense_h",
                                  (units, 4 * units), True)
    else:
        pieces = [(_linear(getattr(cell, x, None), x, (features, units), False)[0],
                   *_linear(getattr(cell, h, None), h, (units, units), True))
                  for x, h in CELL_GATES]
        kernel = np.concatenate([p[0] for p in pieces], axis=1)
        recurrent = np.concatenate([p[1] for p in pieces], axis=1)
        bias = np.concatenate([p[2] for p in pieces])
    return LSTMWeights(kernel, recurrent, bias,
                       activation=activation_name(cell.activation_fn, "activation_fn"),
                       recurrent_activation=activation_name(cell.gate_fn, "gate_fn"))


def compute_dtype(cell):
    """The name of the dtype the cell computes in: its ``dtype``, else its parameters' (one
    dtype for all of them); OptionError for any but float32 and float64 (float64 needs
    ``jax.config.update("jax_enable_x64", True)``: without it JAX holds float32)."""
    jax, nnx = jax_modules()
    if cell.promote_dtype is not nnx.nn.dtypes.promote_dtype:
        raise UnsupportedLayerError("the cell's promote_dtype is not Flax's default "
                                    "(flax.nnx.nn.dtypes.promote_dtype); lstm_ref mirrors that "
                                    "one only")
    names = {str(np.dtype(leaf.dtype)) for leaf in jax.tree.leaves(nnx.state(cell, nnx.Param))}
    if cell.dtype is not None:
        names = {str(np.dtype(cell.dtype))}
    if len(names) != 1:
        raise OptionError(f"the cell's parameters have several dtypes {sorted(names)} and no "
                          "dtype= to compute in; give the cell one dtype")
    name = names.pop()
    if name not in ("float32", "float64"):
        raise OptionError(f"the cell computes in {name}; lstm_ref compares Flax cells in "
                          "float32 or float64")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise OptionError("the cell is float64 but jax_enable_x64 is off, so JAX computes in "
                          "float32: jax.config.update('jax_enable_x64', True) first")
    return name


def describe(module):
    """What reproduces a comparison: the cell, its options and dtype, the versions."""
    jax, nnx = jax_modules()
    import flax

    cell = module.cell if isinstance(module, nnx.RNN) else module
    text = (f"{type(cell).__module__}.{type(cell).__qualname__}(in_features={cell.in_features}"
            f", hidden_features={cell.hidden_features}, gate_fn="
            f"{getattr(cell.gate_fn, '__name__', cell.gate_fn)}, activation_fn="
            f"{getattr(cell.activation_fn, '__name__', cell.activation_fn)}, dtype={cell.dtype}"
            f", param_dtype={np.dtype(cell.param_dtype)})")
    if cell is not module:
        text = (f"flax.nnx.RNN({text}, time_major={module.time_major}, reverse={module.reverse}"
                f", keep_order={module.keep_order}, unroll={module.unroll})")
    return {"module": text,
            "versions": f"flax {flax.__version__}, jax {jax.__version__} "
                        f"({jax.default_backend()}), numpy {np.__version__}"}


def flip_index(lengths, batch, time):
    """(B, T) time indices of Flax's ``flip_sequences``: row b's step t reads step
    ``index[b, t]``: its first ``lengths[b]`` steps reversed, then its padding reversed (all
    T reversed when ``lengths`` is None). Its own inverse."""
    steps = np.arange(time)
    if lengths is None:
        return np.broadcast_to(steps[::-1], (batch, time)).copy()
    lengths = np.asarray(lengths)[:, None]
    return np.where(steps < lengths, lengths - 1 - steps, lengths + time - 1 - steps)


def flipped(values, index):
    """(B, T, ...) ``values`` with row b's steps taken in the order ``index[b]``."""
    return np.take_along_axis(values, index.reshape(index.shape + (1,) * (values.ndim - 2)),
                              axis=1)


def carry_states(carry, batch, units, name="initial_carry"):
    """[h0, c0] (the reference's order) from Flax's carry ``(c, h)``, shapes checked."""
    if not isinstance(carry, (tuple, list)) or len(carry) != 2:
        raise ShapeError(f"{name} must be the carry (c, h), as Flax's LSTM cells take it; "
                         f"received {describe_value(carry)}")
    c, h = (to_numpy(s, f"{name}[{i}] ({n})") for i, (s, n) in enumerate(zip(carry, "ch")))
    for index, (state, part) in enumerate(((c, "c"), (h, "h"))):
        if state.shape != (batch, units):
            raise ShapeError(f"{name}[{index}] ({part}) has shape {state.shape}; expected "
                             f"{(batch, units)} = (batch, hidden_features)")
    return [h, c]


class FlaxCellTwin:
    """The reference twin of a flax.nnx.LSTMCell or OptimizedLSTMCell.

    ``twin(carry, inputs)`` returns ``((c', h'), h')`` as the cell does, for inputs (B, F)
    and carry ``(c, h)`` each (B, U), computed by the reference (float64 unless ``dtype=``).
    The weights are copied when the twin is made.

    Example:
        >>> from flax import nnx                                       # doctest: +SKIP
        >>> cell = nnx.LSTMCell(3, 5, rngs=nnx.Rngs(0))                # doctest: +SKIP
        >>> (c, h), y = lstm_ref.from_flax(cell)(                      # doctest: +SKIP
        ...     (np.zeros((2, 5)), np.zeros((2, 5))), np.ones((2, 3)))
        >>> h.shape                                                    # doctest: +SKIP
        (2, 5)
    """

    def __init__(self, cell):
        check_module(cell)
        self.in_features, self.hidden_features = cell.in_features, cell.hidden_features
        self.dtype = compute_dtype(cell)
        self.weights = cell_weights(cell)
        self.config = describe(cell)

    def __call__(self, carry, inputs, dtype="float64"):
        x = to_numpy(inputs, "inputs")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(f"inputs must be (batch, in_features) = (batch, "
                             f"{self.in_features}); received shape {x.shape}")
        state = carry_states(carry, x.shape[0], self.hidden_features, "carry")
        trace = forward(x[:, None], self.weights, initial_state=state, dtype=dtype,
                        keep="final")
        return (trace.final_c, trace.final_h), trace.final_h


class FlaxRNNTwin:
    """The reference twin of a flax.nnx.RNN over an LSTMCell or OptimizedLSTMCell.

    ``twin(inputs, initial_carry=None, seq_lengths=None, return_carry=None, time_major=None,
    reverse=None, keep_order=None)`` returns what the RNN returns (outputs, or ``(carry,
    outputs)`` with return_carry; carry ``(c, h)``), as NumPy arrays, computed by the
    reference (float64 unless ``dtype=``); options left None take the RNN's own.

    Example:
        >>> rnn = nnx.RNN(nnx.OptimizedLSTMCell(3, 5, rngs=nnx.Rngs(0)))  # doctest: +SKIP
        >>> lstm_ref.from_flax(rnn)(np.ones((2, 7, 3))).shape              # doctest: +SKIP
        (2, 7, 5)
    """

    def __init__(self, rnn):
        _, nnx = jax_modules()
        if not isinstance(rnn, nnx.RNN):
            raise UnsupportedLayerError(f"FlaxRNNTwin mirrors flax.nnx.RNN; received "
                                        f"{type(rnn).__qualname__}")
        check_module(rnn)
        cell = rnn.cell
        self.in_features, self.hidden_features = cell.in_features, cell.hidden_features
        self.time_major, self.return_carry = rnn.time_major, rnn.return_carry
        self.reverse, self.keep_order = rnn.reverse, rnn.keep_order
        self.dtype = compute_dtype(cell)
        self.weights = cell_weights(cell)
        self.config = describe(rnn)

    def options(self, time_major=None, reverse=None, keep_order=None, return_carry=None):
        """The call's options, None taking the RNN's own, each checked to be a bool."""
        given = {"time_major": time_major, "reverse": reverse, "keep_order": keep_order,
                 "return_carry": return_carry}
        return {name: checks.as_bool(getattr(self, name) if value is None else value, name)
                for name, value in given.items()}

    def canonical(self, inputs, initial_carry=None, seq_lengths=None, time_major=False,
                  reverse=False):
        """The call's arguments in the reference's terms, validated.

        Returns:
            ``(x, states, lengths, index)``: x (B, T, F) in time order; states None or
            [h0, c0]; lengths None or (B,) ints in 1..T; index (B, T) the time step each
            processing step reads (:func:`flip_index` with ``reverse``, else the identity).
        """
        x = to_numpy(inputs, "inputs")
        if x.ndim != 3:
            raise ShapeError(f"inputs must be (batch, time, features), or (time, batch, "
                             f"features) with time_major; received shape {x.shape}")
        x = x.transpose(1, 0, 2) if time_major else x
        batch, time, features = x.shape
        if features != self.in_features:
            raise ShapeError(f"inputs have {features} features (last axis); expected "
                             f"in_features = {self.in_features} of {self.config['module']}")
        if time == 0:
            raise ShapeError(f"inputs must have at least one time step; received shape "
                             f"{np.shape(inputs)}")
        states = None if initial_carry is None else carry_states(initial_carry, batch,
                                                           self.hidden_features)
        lengths = None
        if seq_lengths is not None:
            mask = checks.lengths_mask(np.asarray(seq_lengths), batch, time, "seq_lengths",
                                       minimum=1, why="Flax's RNN returns the carry after "
                                       "step seq_lengths - 1")
            lengths = mask.sum(axis=1)
        index = (flip_index(lengths, batch, time) if reverse
                 else np.broadcast_to(np.arange(time), (batch, time)).copy())
        return x, states, lengths, index

    def __call__(self, inputs, initial_carry=None, seq_lengths=None, return_carry=None,
                 time_major=None, reverse=None, keep_order=None, dtype="float64"):
        opts = self.options(time_major, reverse, keep_order, return_carry)
        x, states, lengths, index = self.canonical(inputs, initial_carry, seq_lengths,
                                                   opts["time_major"], opts["reverse"])
        trace = forward(flipped(x, index), self.weights, initial_state=states, dtype=dtype)
        outputs = trace.outputs
        if opts["reverse"] and opts["keep_order"]:
            outputs = flipped(outputs, index)
        if opts["time_major"]:
            outputs = outputs.transpose(1, 0, 2)
        if not opts["return_carry"]:
            return outputs
        last = (np.full(x.shape[0], x.shape[1] - 1) if lengths is None else lengths - 1)
        rows = np.arange(x.shape[0])
        return (trace.c[rows, last], trace.h[rows, last]), outputs


def from_flax(module):
    """The twin of a flax.nnx.RNN (:class:`FlaxRNNTwin`) or of a cell
    (:class:`FlaxCellTwin`); UnsupportedLayerError for any other module."""
    _, nnx = jax_modules()
    check_module(module)
    if isinstance(module, nnx.RNN):
        return FlaxRNNTwin(module)
    return FlaxCellTwin(module)

