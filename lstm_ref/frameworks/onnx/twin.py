"""The reference twin of an ONNX LSTM node: its weights, activations and semantics.

An ONNX LSTM computes, per direction (gates i, o, f, c; f, g, h its three activations):

    it = f(Xt Wi^T + Ht-1 Ri^T + Pi (.) Ct-1 + Wbi + Rbi)
    ft = f(Xt Wf^T + Ht-1 Rf^T + Pf (.) Ct-1 + Wbf + Rbf)        ft = 1 - it with input_forget
    ct = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc)
    Ct = ft (.) Ct-1 + it (.) ct
    ot = f(Xt Wo^T + Ht-1 Ro^T + Po (.) Ct + Wbo + Rbo)
    Ht = ot (.) h(Ct)

which is the reference's LSTM with kernel = W^T and recurrent_kernel = R^T reordered to i, f,
c, o, bias = Wb + Rb, peephole = P reordered (lstm_ref.layouts.from_onnx), recurrent_activation
= f, activation = g, output_activation = h. The reverse direction runs on the time-reversed
sequence (each row's first sequence_lens[b] steps) and Y holds its outputs back in time order.
With sequence_lens, Y is zero at a row's padded steps and Y_h, Y_c hold its last valid state.

Where the spec and onnxruntime (1.32, the CPU provider, the ground truth of ``compare``)
differ, ``semantics`` picks ("onnxruntime" by default, so that a twin computes what a user's
model computes when run):

- ``clip``: the spec clips "the input of activations", h's input C_t included; onnxruntime
  clips f's and g's inputs but not C_t before h (uni_directional_lstm.cc: the clipped copy of
  C_t is never used). "onnxruntime" clips inside f and g; "spec" is LSTMWeights' gate_clip.
- a missing activation_alpha / activation_beta of Affine, ThresholdedRelu and ScaledTanh: 0.0
  in onnxruntime, the operator's default in the spec (see lstm_ref.frameworks.onnx.activations).
- a row with sequence_lens 0: onnxruntime returns Y_h = Y_c = 0 (not the initial state); the
  spec says nothing. Both semantics follow onnxruntime.

onnxruntime's CPU LSTM computes float32 only ("LSTM operator does not support double yet") and
refuses layout 1; ``compare`` runs a layout-1 node as Transpose + LSTM(layout 0) + Transpose.
"""

from dataclasses import dataclass

import numpy as np

from lstm_ref import layouts
from lstm_ref.frameworks.onnx import activations as onnx_activations
from lstm_ref.frameworks.onnx import graph as onnx_graph
# Re-exported: writing a model is part of this adapter's API.
from lstm_ref.frameworks.onnx.graph import read_node
from lstm_ref.checks import as_float_array, as_mask, describe as describe_value
from lstm_ref.errors import DTypeError, OptionError, ShapeError, ValueRangeError
from lstm_ref.reference import forward
from lstm_ref.weights import LSTMWeights

__all__ = ["SEMANTICS", "DIRECTION_NAMES", "WEIGHT_INPUTS", "Inputs", "OnnxLSTMTwin",
           "from_onnx", "lengths_from_mask"]

SEMANTICS = ("onnxruntime", "spec")
# The names of the directions' tensors in reports and of the twin's weights, by ``direction``.
DIRECTION_NAMES = {"forward": ("forward",), "reverse": ("reverse",),
                   "bidirectional": ("forward", "backward")}
WEIGHT_INPUTS = ("W", "R", "B", "P")


@dataclass
class Inputs:
    """A call's inputs, checked and in the reference's terms.

    Attributes:
        x: (batch, time, input_size) batch-major input.
        lens: (batch,) int sequence lengths, or None (every row has all steps).
        mask: (batch, time) booleans (right-padded), or None.
        states: per direction, [h0, c0] (batch, hidden_size) each, or None (zeros).
        onnx: spec input name -> the array as ONNX takes it (X, sequence_lens, initial_h,
            initial_c; those given).
    """

    x: np.ndarray
    lens: np.ndarray | None
    mask: np.ndarray | None
    states: list
    onnx: dict


class OnnxLSTMTwin:
    """The reference twin of an ONNX LSTM node.

    ``twin(X, sequence_lens=None, initial_h=None, initial_c=None)`` returns ``(Y, Y_h, Y_c)``
    as the node returns them (ONNX's shapes for its layout), computed by the reference in
    float64 (``dtype=`` picks another format). Inputs the model holds as constants are used
    unless given; W, R, B, P that are graph inputs (not constants) are passed as keywords.

    Args:
        node: the :class:`~lstm_ref.frameworks.onnx.graph.LSTMNode` read from the model.
        semantics: "onnxruntime" or "spec" (see the module docstring).
        weights: None to read the weights from the node; or the LSTMWeights of each direction
            to hold the node to instead (a conversion's source: ``compare(model, x,
            twin=OnnxLSTMTwin(read_node(model), weights=source))`` checks the conversion).

    Attributes:
        node, semantics: as given.
        activations: per direction, the (f, g, h) OnnxActivation triple.
        directions: the directions' names ("forward",), ("reverse",) or ("forward", "backward").
        weights: the LSTMWeights of each direction (a tuple).
    """

    def __init__(self, node, semantics="onnxruntime", weights=None):
        if semantics not in SEMANTICS:
            raise OptionError(f"semantics must be one of {SEMANTICS}; received {semantics!r}")
        self.node = node
        self.semantics = semantics
        a = node.attributes
        self.activations = onnx_activations.parse(a["activations"], a["activation_alpha"],
                                                  a["activation_beta"], node.num_directions,
                                                  semantics)
        self.directions = DIRECTION_NAMES[a["direction"]]
        self._weights = None
        if weights is not None:
            self._weights = self._given_weights(weights)
        elif all(key in node.constants for key in node.present if key in WEIGHT_INPUTS):
            self._weights = self.convert(self.weight_arrays())

    def _given_weights(self, weights):
        pair = tuple(weights) if isinstance(weights, (list, tuple)) else (weights,)
        if len(pair) != len(self.directions) or not all(isinstance(w, LSTMWeights) for w in pair):
            raise OptionError(f"weights must be {len(self.directions)} LSTMWeights (one per "
                              f"direction: {', '.join(self.directions)}); received "
                              f"{weights!r:.80}")
        for w in pair:
            if w.units != self.hidden_size:
                raise ShapeError(f"weights have {w.units} units; LSTM {self.node.name!r} has "
                                 f"hidden_size {self.hidden_size}")
        return pair

    @property
    def layout(self):
        return self.node.attributes["layout"]

    @property
    def hidden_size(self):
        return self.node.attributes["hidden_size"]

    @property
    def weights(self):
        """The LSTMWeights of each direction (a tuple, in the order of ``directions``)."""
        if self._weights is None:
            missing = [k for k in self.node.present if k in WEIGHT_INPUTS
                       and k not in self.node.constants]
            raise OptionError(f"LSTM {self.node.name!r}: {', '.join(missing)} are graph inputs, "
                              "not constants of the model; pass them to the twin's call "
                              f"({', '.join(f'{k}=...' for k in missing)})")
        return self._weights

    def backwards(self, index):
        """Whether direction ``index`` runs on the time-reversed sequence."""
        return self.directions[index] != "forward"

    # --- converting the weights ---------------------------------------------------------------

    def weight_arrays(self, **given):
        """W, R and (where the node has them) B, P: ``given`` ones, else the model's constants,
        each checked against hidden_size and direction."""
        arrays = {}
        for key in WEIGHT_INPUTS:
            value = given.get(key)
            if value is not None and not self.node.inputs[key]:
                raise OptionError(f"{key} was given, but LSTM {self.node.name!r} has no {key} "
                                  "input: the node computes without it")
            if value is None and self.node.inputs[key]:
                value = self.node.constants.get(key)
                if value is None:
                    raise OptionError(f"LSTM {self.node.name!r}: {key} is a graph input, not a "
                                      f"constant of the model; pass {key}=...")
            if value is not None:
                value = as_float_array(value, key)
                onnx_graph.check_input(self.node, key, value)
                arrays[key] = value
        return arrays

    def convert(self, arrays):
        """The LSTMWeights of each direction from the node's W, R, B, P (with the num_directions
        axis)."""
        return tuple(self.convert_direction(d, *(None if arrays.get(key) is None else arrays[key][d]
                                                 for key in WEIGHT_INPUTS))
                     for d in range(len(self.directions)))

    def convert_direction(self, index, W, R, B, P):
        """One direction's LSTMWeights from its W (4H, F), R (4H, H), B (8H,), P (3H,)."""
        arguments = layouts.from_onnx(W, R, B, P)
        f, g, h = self.activations[index]
        options = {"peephole": arguments["peephole"],
                   "input_forget": bool(self.node.attributes["input_forget"])}
        clip = self.node.attributes["clip"]
        if clip is not None:
            if self.semantics == "spec":
                options["gate_clip"] = clip
            else:  # onnxruntime: f's and g's inputs are clipped, h's (C_t) is not
                f, g = (onnx_activations.OnnxActivation(a.name, a.alpha, a.beta, clip)
                        for a in (f, g))
        f, g, h = (onnx_activations.as_ours(a) for a in (f, g, h))
        return LSTMWeights(arguments["kernel"], arguments["recurrent_kernel"], arguments["bias"],
                           activation=g, recurrent_activation=f,
                           output_activation=None if h == g else h, **options)

    # --- inputs ---------------------------------------------------------------------------------

    def prepare(self, X, sequence_lens=None, initial_h=None, initial_c=None):
        """Check a call's inputs against the node and turn them into the reference's: returns
        :class:`Inputs`. Inputs not given come from the model's constants, if it has them."""
        node = self.node
        axes = ("(batch, seq_length, input_size)" if self.layout
                else "(seq_length, batch, input_size)")
        X = as_float_array(X, "X", ndim=3, axes=f"{axes} (layout={self.layout})")
        x = X if self.layout else X.transpose(1, 0, 2)
        batch, time, features = x.shape
        if time == 0:
            raise ShapeError(f"X must have at least one time step; received shape {X.shape}")
        given = {"sequence_lens": sequence_lens, "initial_h": initial_h, "initial_c": initial_c}
        onnx_inputs = {"X": X}
        for key, value in given.items():
            if value is None and key in node.constants:
                value = node.constants[key]
            if value is not None:
                onnx_inputs[key] = value
        lens = onnx_inputs.get("sequence_lens")
        mask = None
        if lens is not None:
            lens = _lengths(lens, batch, time)
            onnx_inputs["sequence_lens"] = lens.astype(np.int32)
            mask = np.arange(time)[None, :] < lens[:, None]
        for key in ("initial_h", "initial_c"):
            if key in onnx_inputs:
                onnx_inputs[key] = as_float_array(onnx_inputs[key], key, ndim=3)
                onnx_graph.check_input(node, key, onnx_inputs[key], batch=batch)
        states = []
        for d in range(len(self.directions)):
            pair = [self._state(onnx_inputs.get(key), d) for key in ("initial_h", "initial_c")]
            states.append(None if all(s is None for s in pair) else
                          [np.zeros((batch, self.hidden_size)) if s is None else s for s in pair])
        return Inputs(x=x, lens=lens, mask=mask, states=states, onnx=onnx_inputs)

    def _state(self, value, direction):
        if value is None:
            return None
        return value[:, direction] if self.layout else value[direction]

    # --- computing ------------------------------------------------------------------------------

    def traces(self, inputs, weights=None, dtype="float64"):
        """The reference's Trace of each direction (in its processing order)."""
        weights = self.weights if weights is None else weights
        features = weights[0].features
        if inputs.x.shape[2] != features:
            raise ShapeError(f"X has input_size (last axis) {inputs.x.shape[2]}; expected "
                             f"{features} (W's last dimension)")
        return [forward(inputs.x, w, initial_state=inputs.states[d], mask=inputs.mask,
                        go_backwards=self.backwards(d), dtype=dtype, zero_output_for_mask=True)
                for d, w in enumerate(weights)]

    def assemble(self, outputs, final_h, final_c, lens):
        """(Y, Y_h, Y_c) in ONNX's shapes from each direction's outputs (batch, time, hidden) in
        its processing order and final states (batch, hidden). Applied alike to values and to
        their bounds (lstm_ref.frameworks.onnx.observe)."""
        sequences = [o[:, ::-1] if self.backwards(d) else o for d, o in enumerate(outputs)]
        Y = np.stack(sequences, axis=2)                     # (batch, time, D, hidden)
        Y_h, Y_c = np.stack(final_h, axis=1), np.stack(final_c, axis=1)  # (batch, D, hidden)
        if lens is not None and (lens == 0).any():
            # onnxruntime's convention for a row with no step: zero states, not the initial ones.
            Y_h, Y_c = (np.where((lens == 0)[:, None, None], 0.0, s) for s in (Y_h, Y_c))
        if not self.layout:
            Y, Y_h, Y_c = Y.transpose(1, 2, 0, 3), Y_h.transpose(1, 0, 2), Y_c.transpose(1, 0, 2)
        return Y, Y_h, Y_c

    def __call__(self, X, sequence_lens=None, initial_h=None, initial_c=None, *, W=None,
                 R=None, B=None, P=None, dtype="float64"):
        """``(Y, Y_h, Y_c)`` for the node's inputs, in ONNX's shapes (see the class docstring).

        Args:
            X: layout 0: (seq_length, batch, input_size); layout 1: (batch, seq_length,
                input_size).
            sequence_lens: None (every row has seq_length steps, or the model's constant),
                or (batch,) integers in [0, seq_length].
            initial_h, initial_c: None (zeros, or the model's constant), or layout 0:
                (num_directions, batch, hidden_size); layout 1: (batch, num_directions,
                hidden_size).
            W, R, B, P: the weights, for those the model takes as graph inputs (or to
                replace its constants).
            dtype: the format the reference runs in ("float64", "float32", ...).

        Returns:
            (Y, Y_h, Y_c) NumPy arrays.
        """
        given = {"W": W, "R": R, "B": B, "P": P}
        weights = self.convert(self.weight_arrays(**given)) if any(
            v is not None for v in given.values()) else self.weights
        inputs = self.prepare(X, sequence_lens, initial_h, initial_c)
        traces = self.traces(inputs, weights, dtype)
        return self.assemble([t.outputs for t in traces], [t.final_h for t in traces],
                             [t.final_c for t in traces], inputs.lens)

    def __repr__(self):
        return f"OnnxLSTMTwin({self.node.describe()}, semantics={self.semantics!r})"


def _lengths(value, batch, time):
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"sequence_lens must be integers (int32 in ONNX); received "
                         f"{describe_value(value)}")
    if array.shape != (batch,):
        raise ShapeError(f"sequence_lens must have shape (batch,) = ({batch},); received shape "
                         f"{array.shape}")
    if ((array < 0) | (array > time)).any():
        raise ValueRangeError(f"sequence_lens must lie in [0, seq_length] = [0, {time}]; "
                              f"received {array.tolist()}")
    return array.astype(np.int64)


def from_onnx(model_or_path, node=None, semantics="onnxruntime"):
    """The reference twin of an ONNX model's LSTM node.

    Args:
        model_or_path: an onnx.ModelProto, a path to a .onnx file, or serialized bytes.
        node: the LSTM node's name; None for the model's only LSTM node.
        semantics: "onnxruntime" (default: what onnxruntime computes) or "spec" (see the
            module docstring for where they part).

    Returns:
        An :class:`OnnxLSTMTwin`: ``twin(X, sequence_lens=None, initial_h=None,
        initial_c=None)`` returns ``(Y, Y_h, Y_c)``; ``twin.weights`` the LSTMWeights of each
        direction.
    """
    return OnnxLSTMTwin(read_node(model_or_path, node), semantics)


def lengths_from_mask(mask, batch, time):
    """sequence_lens from a right-padded (batch, time) mask, or ValueRangeError: ONNX expresses
    padding only at the end of each row."""
    mask = as_mask(mask, batch, time)
    lens = mask.sum(axis=1)
    if not (mask == (np.arange(time)[None, :] < lens[:, None])).all():
        rows = np.flatnonzero((mask != (np.arange(time)[None, :] < lens[:, None])).any(axis=1))
        raise ValueRangeError(f"mask must be right-padded (True steps first, then False) to "
                              f"become ONNX's sequence_lens; rows {rows.tolist()} are not")
    return lens.astype(np.int32)
