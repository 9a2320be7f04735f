"""TFLite LSTM tensors, as tensorflow/lite/kernels/lstm_test.cc writes them, as LSTMWeights:
the mapping the tests of published TFLite values share."""

import numpy as np

import lstm_ref
from lstm_ref import layouts

GATES = {"i": "input", "f": "forget", "c": "cell", "o": "output"}


def tflite_weights(n_input, n_cell, input_to, recurrent_to, gate_bias, cell_to=None,
                   n_output=None, projection=None, **options):
    """LSTMWeights from TFLite's LSTM tensors: ``input_to[gate]`` (n_cell, n_input) and
    ``recurrent_to[gate]`` (n_cell, n_output), row-major flat lists with one row per cell
    unit (TFLite computes W @ x, so Keras's block is W.T); ``gate_bias[gate]`` (n_cell,);
    ``cell_to[gate]`` the peephole vectors; ``projection`` (n_output, n_cell), Keras's
    projection transposed. gate is "input", "forget", "cell" or "output"; a gate absent
    from a dict (the input gate with CIFG, which has no tensors at all) gets zeros, unused.
    TFLite has no forget_bias: the forget gate's bias is a tensor like the others."""
    n_output = n_output or n_cell

    def blocks(tensors, columns):
        return {gate: (np.array(tensors[name], float).reshape(n_cell, columns).T
                       if name in tensors else np.zeros((columns, n_cell)))
                for gate, name in GATES.items()}

    kernel = layouts.join_gates(blocks(input_to, n_input))
    recurrent = layouts.join_gates(blocks(recurrent_to, n_output))
    bias = layouts.join_gates({gate: np.array(gate_bias.get(name, np.zeros(n_cell)), float)
                               for gate, name in GATES.items()})
    peephole = None
    if cell_to is not None:
        peephole = np.stack([np.array(cell_to.get(name, np.zeros(n_cell)), float)
                             for name in ("input", "forget", "output")])
    if projection is not None:
        options["projection"] = np.array(projection, float).reshape(n_output, n_cell).T
    return lstm_ref.LSTMWeights(kernel, recurrent, bias, peephole=peephole, **options)
