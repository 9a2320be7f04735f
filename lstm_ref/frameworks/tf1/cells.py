"""TF1's LSTM cells, BasicLSTMCell and LSTMCell (tf_keras's legacy cells): their options,
weights and twin.

What the cells compute (``tf_keras/src/layers/rnn/legacy_cells.py``, tf_keras 2.21), with
U = num_units and P = num_proj (or U without a projection):

    i, j, f, o = split([x_t, h_{t-1}] @ kernel + bias)      kernel (F + P, 4U): x's rows, then h's
    c_t = sigmoid(f + forget_bias + w_f_diag * c_{t-1}) * c_{t-1}
          + sigmoid(i + w_i_diag * c_{t-1}) * activation(j)            (w_*_diag: use_peepholes)
    c_t = clip(c_t, -cell_clip, cell_clip)                             (cell_clip)
    m_t = sigmoid(o + w_o_diag * c_t) * activation(c_t)                (o sees the clipped c_t)
    h_t = clip(m_t @ projection, -proj_clip, proj_clip)                (num_proj; proj_clip only
                                                                        with num_proj, as TF does)

The state is ``LSTMStateTuple(c, h)``, c first; the output of a step is h. The gates are
sigmoid, always; ``activation`` (tanh by default, TF's ``tf.tanh``) acts on j and on c_t.
forget_bias (1.0 by default) is added at call time, not stored in the bias. BasicLSTMCell is
LSTMCell without peepholes, clipping or projection. This is lstm_ref.reference's recurrence
with LSTMWeights' TF1 options (lstm_ref.layouts.from_tf1 reorders i, j, f, o).
"""

from collections import namedtuple

import numpy as np

from lstm_ref import checks, layouts
from lstm_ref.checks import as_float_array, check_size, describe as describe_value
from lstm_ref.errors import OptionError, ShapeError, UnsupportedLayerError
from lstm_ref.frameworks.tensorflow.tf_keras import api, tensorflow_module, tf_keras_module
from lstm_ref.reference import forward, keras_order, step
from lstm_ref.weights import LSTMWeights

__all__ = ["CELLS", "VARIABLES", "PEEPHOLES", "LSTMStateTuple", "legacy_cells", "to_numpy",
           "cell_kind", "options_of", "tf1_weights", "weights_of", "describe", "TF1CellTwin",
           "from_tf1_cell", "lengths_mask", "mask_lengths"]


CELLS = ("BasicLSTMCell", "LSTMCell")


# A cell's variables: lstm_ref.layouts.from_tf1's name -> the cell's attribute.
VARIABLES = {"kernel": "_kernel", "bias": "_bias", "w_i_diag": "_w_i_diag",
             "w_f_diag": "_w_f_diag", "w_o_diag": "_w_o_diag", "projection": "_proj_kernel"}


PEEPHOLES = ("w_i_diag", "w_f_diag", "w_o_diag")


class LSTMStateTuple(namedtuple("LSTMStateTuple", ("c", "h"))):
    """A TF1 LSTM state, ``(c, h)`` in that order, as tf_keras's LSTMStateTuple (NumPy arrays
    here): c (batch, num_units), h (batch, num_proj or num_units)."""

    __slots__ = ()


def legacy_cells():
    """tf_keras's module of TF1 cells (or FrameworkMissingError naming the extra)."""
    tf_keras_module()
    from tf_keras.src.layers.rnn import legacy_cells as cells

    return cells


def to_numpy(value):
    """A tensor or variable's value as a NumPy array."""
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def cell_kind(cell):
    """"BasicLSTMCell" or "LSTMCell" (a subclass counts as its base: what it computes is
    checked by compare), or a clear error for any other object or an option we cannot mirror.
    """
    legacy = legacy_cells()
    kind = next((name for name in CELLS if isinstance(cell, getattr(legacy, name))), None)
    if kind is None:
        received = f"{type(cell).__module__}.{type(cell).__qualname__}"
        hint = ""
        if isinstance(cell, legacy.RNNCell):
            hint = " (another TF1 cell or a cell wrapper)"
        elif type(cell).__name__ == "LSTMCell":
            hint = (" (a Keras LSTMCell: wrap it in an RNN layer and use lstm_ref.from_keras / "
                    "lstm_ref.compare on the layer)")
        raise UnsupportedLayerError(
            f"from_tf1_cell supports TF1's BasicLSTMCell and LSTMCell (tf_keras's legacy "
            f"cells, tf.compat.v1.nn.rnn_cell); received {received}{hint}")
    if not cell._state_is_tuple:
        raise UnsupportedLayerError(
            f"{kind} {cell.name!r} has state_is_tuple=False (c and h concatenated, deprecated "
            "in TF1); lstm_ref mirrors state_is_tuple=True cells, whose state is "
            "LSTMStateTuple(c, h)")
    if kind == "LSTMCell":
        if cell._num_unit_shards is not None or cell._num_proj_shards is not None:
            raise UnsupportedLayerError(
                f"LSTMCell {cell.name!r} has num_unit_shards={cell._num_unit_shards}, "
                f"num_proj_shards={cell._num_proj_shards} (partitioned variables, deprecated "
                "since 2017); lstm_ref mirrors unsharded cells: expected None for both")
        if cell._num_proj is not None and not (isinstance(cell._num_proj, (int, np.integer))
                                               and cell._num_proj > 0):
            raise UnsupportedLayerError(
                f"LSTMCell {cell.name!r} has num_proj={cell._num_proj!r}; expected None or a "
                "positive int (TF1 builds a broken cell with num_proj=0)")
    return kind


def options_of(cell):
    """The options of a TF1 LSTM cell that bear on what it computes, by TF1's names."""
    kind = cell_kind(cell)
    options = {"num_units": int(cell._num_units), "forget_bias": float(cell._forget_bias),
               "activation": api().activation_name(cell._activation, "activation"),
               "use_peepholes": False, "cell_clip": None, "num_proj": None, "proj_clip": None}
    if kind == "LSTMCell":
        options.update(use_peepholes=bool(cell._use_peepholes), cell_clip=cell._cell_clip,
                       num_proj=cell._num_proj, proj_clip=cell._proj_clip)
    return options


def tf1_weights(variables, num_units, num_proj=None, forget_bias=1.0, cell_clip=None,
                proj_clip=None, activation="tanh"):
    """LSTMWeights from a TF1 LSTM cell's variables, checked against its declared sizes.

    Args:
        variables: name -> array: "kernel" (features + P, 4 * num_units), input rows first,
            gate blocks i, j, f, o; "bias" (4 * num_units,); with peepholes "w_i_diag",
            "w_f_diag", "w_o_diag" (num_units,) each; with num_proj "projection"
            (num_units, num_proj). P is num_proj, or num_units without a projection.
        num_units: the cell's num_units, the size of c (and of h without a projection).
        num_proj: None or the size of h (the projection's output).
        forget_bias: added to the forget gate's pre-activation at every step (TF1's default 1.0).
        cell_clip, proj_clip: None or the clip values (proj_clip only acts with num_proj: TF1
            ignores it without one, and so does LSTMWeights, which keeps it).
        activation: lstm_ref's name of the cell's activation.

    Returns:
        An :class:`LSTMWeights` (forget_bias kept as an option, not folded into the bias).

    Raises:
        ShapeError: a variable whose shape disagrees with num_units / num_proj.
        OptionError: an unknown variable, peepholes not given as all three diagonals, a
            projection without num_proj or num_proj without one.
    """
    unknown = sorted(set(variables) - set(VARIABLES))
    if unknown:
        raise OptionError(f"variables has unknown names {unknown}; expected some of "
                          f"{list(VARIABLES)}")
    present = [name for name in PEEPHOLES if variables.get(name) is not None]
    if present and len(present) != 3:
        raise OptionError(f"peepholes come as w_i_diag, w_f_diag and w_o_diag together; "
                          f"received only {present}")
    has_projection = variables.get("projection") is not None
    if has_projection != (num_proj is not None):
        raise OptionError(f"a projection variable comes with num_proj and only with it; received "
                          f"num_proj={num_proj!r} and "
                          f"{'a' if has_projection else 'no'} projection variable")
    units, output_size = int(num_units), int(num_proj or num_units)
    arrays = {name: as_float_array(value, f"variables[{name!r}]")
              for name, value in variables.items() if value is not None}
    if "kernel" not in arrays:
        raise OptionError("variables must hold the cell's 'kernel'")
    kernel = arrays["kernel"]
    if kernel.ndim != 2 or kernel.shape[1] != 4 * units or kernel.shape[0] <= output_size:
        raise ShapeError(
            f"variables['kernel'] must have shape (features + {output_size}, 4 * num_units) = "
            f"(features + {output_size}, {4 * units}) with features >= 1, from num_units="
            f"{units}{f', num_proj={num_proj}' if num_proj else ''}; received shape "
            f"{kernel.shape}")
    expected = {"bias": (4 * units,), "projection": (units, output_size),
                **dict.fromkeys(PEEPHOLES, (units,))}
    for name, shape in expected.items():
        if name in arrays:
            check_size(f"variables[{name!r}]", "shape", arrays[name].shape, shape,
                       f"from num_units={units}" + (f", num_proj={num_proj}" if num_proj else ""))
    args = layouts.from_tf1(kernel, arrays.get("bias"),
                            *(arrays.get(name) for name in PEEPHOLES),
                            projection=arrays.get("projection"), forget_bias=forget_bias)
    return LSTMWeights(**args, activation=activation, recurrent_activation="sigmoid",
                       cell_clip=cell_clip, proj_clip=proj_clip)


def weights_of(cell):
    """A built TF1 LSTM cell's current weights and options as LSTMWeights."""
    options = options_of(cell)
    if not cell.built:
        raise UnsupportedLayerError(
            f"{type(cell).__name__} {cell.name!r} is not built, so it has no weights yet: a TF1 "
            "cell creates them on its first call; run it once (dynamic_rnn, or cell(x_t, "
            "state)) or call cell.build((batch, features)) first")
    names = ["kernel", "bias"] + (list(PEEPHOLES) if options["use_peepholes"] else [])
    names += ["projection"] if options["num_proj"] is not None else []
    variables = {name: to_numpy(getattr(cell, VARIABLES[name])) for name in names}
    return tf1_weights(variables, options["num_units"], options["num_proj"],
                       options["forget_bias"], options["cell_clip"], options["proj_clip"],
                       options["activation"])


def describe(cell):
    """The cell's options, its class and the versions, for reports and reproducers."""
    import tf_keras

    options = options_of(cell)
    kind = cell_kind(cell)
    shown = ("num_units", "forget_bias", "activation")
    if kind == "LSTMCell":
        shown += ("use_peepholes", "cell_clip", "num_proj", "proj_clip")
    own = type(cell)
    name = kind if own.__name__ == kind and own.__module__.startswith("tf_keras") else (
        f"{own.__module__}.{own.__qualname__}")
    listed = ", ".join(f"{key}={options[key]!r}" for key in shown)
    return {"cell": f"{name}({listed}, dtype={cell.dtype})",
            "versions": f"tensorflow {tensorflow_module().__version__}, tf_keras {tf_keras.__version__}, "
                        f"numpy {np.__version__}"}


class TF1CellTwin:
    """The reference twin of a built TF1 BasicLSTMCell / LSTMCell.

    ``twin(x, initial_state=None)`` returns what ``tf.compat.v1.nn.dynamic_rnn(cell, x,
    initial_state=...)`` returns for a batch-major x (batch, time, features):
    ``(outputs, LSTMStateTuple(c, h))``, outputs (batch, time, num_proj or num_units), float64
    NumPy arrays computed by the reference. ``twin.step(x_t, state)`` is one call of the cell.

    Attributes:
        weights: the LSTMWeights (forget_bias, peepholes, clips and projection as options).
        num_units, num_proj, output_size, state_size: as the cell has them
            (state_size = LSTMStateTuple(c=num_units, h=output_size)).
        dtype: the cell's dtype.
    """

    def __init__(self, cell):
        self.weights = weights_of(cell)
        self.options = options_of(cell)
        self.num_units = self.options["num_units"]
        self.num_proj = self.options["num_proj"]
        self.output_size = self.weights.output_size
        self.state_size = LSTMStateTuple(self.num_units, self.output_size)
        self.dtype = tensorflow_module().as_dtype(cell._kernel.dtype).name
        self.config = describe(cell)

    def __call__(self, x, initial_state=None, dtype="float64", *, sequence_length=None):
        """Run the cell over x as dynamic_rnn does.

        Args:
            x: (batch, time, features) inputs.
            initial_state: None (zeros), or LSTMStateTuple(c, h) / a (c, h) pair:
                c (batch, num_units), h (batch, output_size).
            dtype: the reference's precision ("float64", or "float32"... as lstm_ref.forward).
            sequence_length: None or (batch,) ints in [0, time], dynamic_rnn's: past a row's
                length its outputs are zero and its state is carried.

        Returns:
            ``(outputs, LSTMStateTuple(c, h))``: outputs (batch, time, output_size), the final
            state.
        """
        x = as_float_array(x, "x", ndim=3, axes="(batch, time, features)")
        state = self.tf1_state(initial_state, x.shape[0])
        mask = None if sequence_length is None else lengths_mask(sequence_length, *x.shape[:2])
        trace = forward(x, self.weights, initial_state=state, mask=mask, dtype=dtype,
                        zero_output_for_mask=True, state_order="ch")
        return trace.outputs, LSTMStateTuple(*trace.final_state("ch"))

    def step(self, x_t, state, dtype="float64"):
        """One call of the cell, ``cell(x_t, state)``: returns ``(h, LSTMStateTuple(c, h))``
        for x_t (batch, features) and state LSTMStateTuple(c, h) (None: zeros)."""
        x_t = as_float_array(x_t, "x_t", ndim=2, axes="(batch, features)")
        h_prev, c_prev = self.keras_state(state, x_t.shape[0], "state") or [
            np.zeros((x_t.shape[0], self.output_size)), np.zeros((x_t.shape[0], self.num_units))]
        h, c, _ = step(x_t, h_prev, c_prev, self.weights, dtype=dtype)
        return h, LSTMStateTuple(c, h)

    def tf1_state(self, state, batch, name="initial_state"):
        """A TF1 state (c, h), checked against the cell's sizes: ``(c, h)``, c first, as
        lstm_ref.forward takes it with ``state_order="ch"`` (None stays None)."""
        if state is None:
            return None
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ShapeError(f"{name} must be an LSTMStateTuple(c, h) or a (c, h) pair, c first "
                             f"as TF1 orders it; received {describe_value(state)}")
        keras_order(state, "ch")  # a pair with named fields must be (c, h)
        c, h = (as_float_array(s, f"{name}.{n}", ndim=2) for s, n in zip(state, "ch"))
        check_size(f"{name}.c", "shape", c.shape, (batch, self.num_units),
                   "(batch, num_units): c comes first in TF1's LSTMStateTuple(c, h)")
        check_size(f"{name}.h", "shape", h.shape, (batch, self.output_size),
                   "(batch, num_proj or num_units)")
        return (c, h)

    def keras_state(self, state, batch, name="initial_state"):
        """A TF1 state (c, h), checked against the cell's sizes, in Keras's order [h, c]
        (None stays None)."""
        return keras_order(self.tf1_state(state, batch, name), "ch")


def from_tf1_cell(cell):
    """The twin of a built TF1 BasicLSTMCell / LSTMCell: a :class:`TF1CellTwin`."""
    return TF1CellTwin(cell)


def lengths_mask(sequence_length, batch, time):
    """dynamic_rnn's sequence_length (batch,) as a (batch, time) mask (True: a valid step)."""
    return checks.lengths_mask(sequence_length, batch, time, name="sequence_length")


def mask_lengths(mask, batch, time):
    """A right-padded (batch, time) mask as dynamic_rnn's sequence_length, or a clear error."""
    return checks.mask_lengths(mask, batch, time, why="a TF1 cell runs under dynamic_rnn, "
                                                    "which takes sequence_length")
