"""The weights of an LSTM lowered to a TFLite WHILE loop (what the converter emits for a
Keras 3 LSTM): read from the loop body's two FULLY_CONNECTED ops and its bias.

The body computes one step as Keras's cell does: ``x_t @ kernel + h @ recurrent_kernel +
bias``, split into i, f, c, o. FULLY_CONNECTED holds its weights as (out, in), so the
kernel is the transpose of the (4U, F) weight of the op fed by the input sequence (a GATHER
of the time step), the recurrent kernel that of the (4U, U) weight of the op fed by the loop's
h, and the bias the (4U,) constant added to their sum. Nothing else of the body is read:
whether it computes the cell as the source does is what running it shows.
"""


from lstm_ref.errors import UnsupportedLayerError
from lstm_ref.frameworks.tflite.flatbuffer import load
from lstm_ref.frameworks.tflite.twin import ReadLSTM
from lstm_ref.weights import LSTMWeights

__all__ = ["read_loop"]


def read_loop(artifact, units, features):
    """The :class:`~lstm_ref.frameworks.tflite.twin.ReadLSTM` of the one WHILE-loop LSTM of
    ``artifact`` with ``units`` and ``features`` (the source's sizes, which pick its weights
    among the body's constants). Activations are the plain Keras ones (tanh, sigmoid):
    the caller gives the source's."""
    art = load(artifact)
    loops = [(s, op) for s, _, name, op in art.ops() if name == "WHILE"]
    if len(loops) != 1:
        raise UnsupportedLayerError(f"{art.origin} has {len(loops)} WHILE loops; lstm_ref reads "
                                    "an artifact with one LSTM, fused or lowered to one loop")
    body = int(loops[0][1].builtinOptions.bodySubgraphIndex)
    subgraph = art.model.subgraphs[body]
    inputs = {int(i) for i in subgraph.inputs}
    found, where = {}, f"the WHILE loop's body (subgraph {body})"
    for op in subgraph.operators:
        name = art.op_name(op)
        if name == "FULLY_CONNECTED":
            source, weight = int(op.inputs[0]), int(op.inputs[1])
            constant = art.constant(body, weight)
            if constant is None:
                continue
            shape = constant.values.shape
            kind = ("recurrent_kernel" if source in inputs and shape == (4 * units, units)
                    else "kernel" if shape == (4 * units, features) else None)
            if kind is None:
                continue
            if kind in found:
                raise UnsupportedLayerError(f"{where} has two FULLY_CONNECTED weights that fit "
                                            f"the {kind}; lstm_ref cannot tell which it is")
            found[kind] = constant
            if len(op.inputs) > 2 and int(op.inputs[2]) >= 0:
                bias = art.constant(body, int(op.inputs[2]))
                if bias is not None and bias.values.shape == (4 * units,):
                    found.setdefault("fc_bias", []).append(bias)
        elif name == "ADD":
            for index in op.inputs:
                if art.tensor_type(body, int(index)) not in ("FLOAT32", "FLOAT16", "INT8"):
                    continue  # the loop's counters
                constant = art.constant(body, int(index))
                if constant is not None and constant.values.shape == (4 * units,):
                    found.setdefault("bias", []).append(constant)
    missing = [k for k in ("kernel", "recurrent_kernel") if k not in found]
    if missing and {"VAR_HANDLE", "READ_VARIABLE"} <= set(art.op_names()):
        raise UnsupportedLayerError(f"{art.origin} holds its weights in resource variables "
                                    "(VAR_HANDLE, READ_VARIABLE: a conversion from a concrete "
                                    "function), not as constants lstm_ref can read, and "
                                    "LiteRT does not initialize them; convert the Keras model "
                                    "(TFLiteConverter.from_keras_model)")
    if missing:
        raise UnsupportedLayerError(f"{where} has no FULLY_CONNECTED weight of shape "
                                    f"{(4 * units, features) if 'kernel' in missing else (4 * units, units)} "
                                    f"({' and '.join(missing)} of an LSTM with units={units}, "
                                    f"features={features})")
    biases = found.get("bias", []) + found.get("fc_bias", [])
    if len(biases) > 1:
        raise UnsupportedLayerError(f"{where} adds {len(biases)} constants of length "
                                    f"{4 * units}; lstm_ref cannot tell which is the bias")
    bias = biases[0] if biases else None
    kernel, recurrent = found["kernel"], found["recurrent_kernel"]
    weights = LSTMWeights(kernel.values.T, recurrent.values.T,
                          None if bias is None else bias.values)
    halves = {"kernel": kernel.half_step.T, "recurrent_kernel": recurrent.half_step.T}
    formats = {"kernel": kernel.format, "recurrent_kernel": recurrent.format}
    if bias is not None:
        halves["bias"], formats["bias"] = bias.half_step, bias.format
    hybrid = "int" in kernel.format or "int" in recurrent.format
    return ReadLSTM(weights, halves, formats, False, where, hybrid, asymmetric=True,
                    states=None, subgraph=body)
