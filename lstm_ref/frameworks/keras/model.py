"""Keras models: the twin of a model made only of LSTM layers, and the layer-by-layer
comparison of any model whose layers form a chain.

A chain is a Sequential model, or a functional model whose layers each take the previous
layer's output alone. ``compare(model, x)`` runs the model's layers one by one (eagerly) and
checks each LSTM layer on the activations and the mask that actually reach it; for a model of
Input, Masking and LSTM layers only, it also checks the model's output end to end against the
model's twin, the bound measured on the whole chain's float32 probes.
"""

import dataclasses

import numpy as np

from lstm_ref.checks import as_float_array
from lstm_ref.engine import (DRIFT_NOTE, check_tensors, combine, nonfinite_reach,
                              sequence_expectation)
from lstm_ref.errors import UnsupportedLayerError
from lstm_ref.frameworks.keras.layers import compare_layer, twin_of
from lstm_ref.frameworks.keras.observe import carried_states, restore_states, runs_cudnn
from lstm_ref.frameworks.keras.twin import keras_of
from lstm_ref.tolerance import probe_batch, row_horizons
from lstm_ref.tolerance_table import lookup

__all__ = ["is_model", "chain", "lstm_like", "KerasModelTwin", "compare"]


def is_model(keras, obj):
    return isinstance(obj, keras.Model)


def chain(keras, model):
    """The model's layers in order, or a clear error if they do not form a chain."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers:
        raise UnsupportedLayerError(f"model {model.name!r} has no layers")
    if isinstance(model, keras.Sequential):
        return layers
    previous = None
    for layer in layers:
        source = _single_source(layer)
        if not (source is previous or (previous is None and isinstance(source, keras.layers.InputLayer))):
            raise UnsupportedLayerError(
                f"compare(model) follows a chain of layers (a Sequential model, or a functional "
                f"one whose layers each take the previous layer's output alone); layer "
                f"{layer.name!r} of model {model.name!r} does not")
        previous = layer
    return layers


def _single_source(layer):
    """The layer whose output is this layer's only input tensor (a mask passed along as a
    keyword argument is allowed), or None."""
    nodes = layer._inbound_nodes
    if len(nodes) != 1:
        return None
    node = nodes[0]
    if hasattr(node, "arguments"):  # Keras 3
        args, kwargs = node.arguments.args, node.arguments.kwargs
    else:  # tf_keras
        args, kwargs = node.call_args, node.call_kwargs
    extra = [k for k, v in kwargs.items() if hasattr(v, "_keras_history") and k != "mask"]
    if len(args) != 1 or extra or not hasattr(args[0], "_keras_history"):
        return None
    history = args[0]._keras_history
    return history.operation if hasattr(history, "operation") else history.layer


def lstm_like(keras, layer):
    """Whether lstm_ref mirrors this layer: LSTM, RNN(LSTMCell or stacked LSTMCells),
    Bidirectional over one of these."""
    if isinstance(layer, keras.layers.Bidirectional):
        return lstm_like(keras, layer.forward_layer)
    if not isinstance(layer, keras.layers.RNN):
        return False
    cells = layer.cell.cells if isinstance(layer.cell, keras.layers.StackedRNNCells) else [layer.cell]
    return all(isinstance(cell, keras.layers.LSTMCell) for cell in cells)


class KerasModelTwin:
    """The twin of a built model of Input, Masking and LSTM layers (LSTM, RNN(LSTMCell),
    stacked cells, Bidirectional): same output, masks propagated as Keras propagates them."""

    def __init__(self, model):
        keras = keras_of(model)
        self.layers = []
        for layer in chain(keras, model):
            if isinstance(layer, keras.layers.Masking):
                self.layers.append(("masking", layer.mask_value))
            elif lstm_like(keras, layer) and not _stateful(layer):
                self.layers.append(("lstm", twin_of(layer), layer.return_sequences))
            else:
                raise UnsupportedLayerError(
                    f"from_keras(model) mirrors models made of Input, Masking and (non-stateful) "
                    f"LSTM layers; model {model.name!r} has {type(layer).__name__} {layer.name!r}: "
                    "compare(model, x) checks its LSTM layers one by one")

    def __call__(self, inputs, dtype="float64"):
        """The model's output for ``inputs`` (computed in ``dtype``)."""
        y = as_float_array(inputs, "inputs", ndim=3, axes="(batch, time, features)")
        result, mask = y, None
        for kind, *spec in self.layers:
            if kind == "masking":  # keras.layers.Masking: a step is kept if any feature differs
                mask = np.any(y != spec[0], axis=-1)
                result = y = y * mask[..., None]
                continue
            twin, return_sequences = spec
            result = twin(y, mask=mask, dtype=dtype)
            y = result[0] if isinstance(result, tuple) else result
            mask = mask if return_sequences else None
        return result


def compare(model, x, tolerance=None):
    """Each LSTM layer of a chain model on what reaches it; end to end for LSTM-only models."""
    keras = keras_of(model)
    layers = chain(keras, model)
    x = np.asarray(x)  # whatever the model takes (token ids for an Embedding, features...)
    if x.dtype.kind == "f":
        x = x.astype(model.compute_dtype)
    parts, y, mask = {}, x, None
    for layer in layers:
        if lstm_like(keras, layer):
            # The layer then runs again in the chain: a stateful one must advance only there.
            carried = carried_states(layer)
            parts[layer.name] = compare_layer(layer, y, mask=mask, tolerance=tolerance)
            restore_states(carried)
        kwargs = {}
        if mask is not None and _call_takes(layer, "mask"):
            kwargs["mask"] = keras.ops.convert_to_tensor(mask)
        if _call_takes(layer, "training"):
            kwargs["training"] = False
        y_in = keras.ops.convert_to_tensor(y, dtype=y.dtype.name)  # keep float64 as float64
        out = layer(y_in, **kwargs)
        next_mask = layer.compute_mask(y_in, kwargs.get("mask"))
        y = keras.ops.convert_to_numpy(out[0] if isinstance(out, (tuple, list)) else out)
        next_mask = next_mask[0] if isinstance(next_mask, (tuple, list)) else next_mask
        mask = None if next_mask is None else keras.ops.convert_to_numpy(next_mask).astype(bool)
    if not parts:
        raise UnsupportedLayerError(
            f"model {model.name!r} has no LSTM layer (layers: "
            f"{', '.join(type(layer).__name__ for layer in layers)})")
    try:
        twin = KerasModelTwin(model)
    except UnsupportedLayerError:
        twin = None
    # A layer whose step drift is not checked (lstm_ref.engine.DRIFT_NOTE) says so in its
    # report; the end-to-end output, computed through it, is not checked for drift either.
    notes = {DRIFT_NOTE: report.context[DRIFT_NOTE] for report in parts.values()
             if DRIFT_NOTE in report.context}
    if twin is not None:
        # A chain with a layer on cuDNN is held, end to end, to the cuDNN entry.
        path = "cudnn" if any(_on_cudnn(keras, layer) for layer in layers) else None
        tol = tolerance or lookup(model.compute_dtype, path)
        if tolerance is None and notes:
            tol = dataclasses.replace(tol, bias_floor=None)
        backward = any(isinstance(layer, keras.layers.Bidirectional)
                       or getattr(layer, "go_backwards", False) for layer in layers)
        parts["model"] = _end_to_end(keras, model, twin, x, tol, backward)
    versions = next((r.context["versions"] for r in parts.values()
                     if "versions" in r.context), None)
    context = {"model": f"{model.name} ({type(model).__name__}, "
                        f"{sum(map(lambda layer: lstm_like(keras, layer), layers))} LSTM layers)",
               "versions": versions,
               "execution": "eager: each LSTM layer by its own call on what the model feeds "
                            "it, then the model end to end", **notes}
    return combine(parts, x.shape[1], {k: v for k, v in context.items() if v is not None})


def _end_to_end(keras, model, twin, x, tol, backward=False):
    """The model's output(s) against the twin's, bounded by the chain's own probes.
    ``backward``: a layer of the chain runs backward in time (go_backwards, Bidirectional),
    so a non-finite input reaches its row's earlier steps too: the whole row counts as
    reached (a non-finite reference value there is the input's, compared exactly)."""
    reference = _as_list(twin(x))
    probe_x, _, _ = probe_batch(x, None, None, tol.probe)
    probes = _as_list(twin(probe_x, dtype=tol.probe))
    got = _as_list(model(x, training=False))
    reached = nonfinite_reach(x) if x.dtype.kind == "f" else None
    if reached is not None and backward:
        reached = np.broadcast_to(reached.any(axis=1, keepdims=True), reached.shape)
    expected, actual = {}, {}
    for index, (ref, probe, value) in enumerate(zip(reference, probes, got)):
        name = "output" if len(reference) == 1 else f"output[{index}]"
        if ref.ndim == 3:
            cut, code = row_horizons(ref, probe, tol.horizon, reached, tol.atol)
            expected[name] = sequence_expectation(ref, probe, tol, cut, code, reached)
        else:  # the last step only: determined as that step is
            last = None if reached is None else reached[:, -1:]
            cut, code = row_horizons(ref[:, None], probe[:, None], tol.horizon, last,
                                     tol.atol)
            expected[name] = sequence_expectation(ref[:, None], probe[:, None], tol, cut, code,
                                                  last)
            expected[name].steps = np.array([x.shape[1] - 1])
        actual[name] = keras.ops.convert_to_numpy(value)
    return check_tensors(actual, expected, tol, x.shape[1])


def _on_cudnn(keras, layer):
    if isinstance(layer, keras.layers.Bidirectional):
        return runs_cudnn(keras, layer.forward_layer) or runs_cudnn(keras, layer.backward_layer)
    return runs_cudnn(keras, layer)


def _call_takes(layer, argument):
    """Whether the layer's call takes ``argument`` ("mask" or "training"): Keras 3 says so in
    _call_has_{argument}_arg, tf_keras in _expects_{argument}_arg."""
    has = getattr(layer, f"_call_has_{argument}_arg", None)
    return getattr(layer, f"_expects_{argument}_arg", False) if has is None else has


def _as_list(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _stateful(layer):
    return getattr(layer, "stateful", False) or getattr(getattr(layer, "forward_layer", None),
                                                        "stateful", False)
