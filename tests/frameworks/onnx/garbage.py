"""ONNX LSTMs broken at one row of one direction, for the verdict tests: a graph whose
initial state there is edited to NaN, inf or garbage (onnxruntime computes it), and a twin
that reads that row's initial state so (the reference computes it). NumPy and onnx only.
"""

import numpy as np

from lstm_ref.frameworks.onnx.graph import make_model
from lstm_ref.frameworks.onnx.twin import OnnxLSTMTwin

__all__ = ["KINDS", "BROKEN", "edited_model", "StateGarbageTwin"]

KINDS = {"nan": np.nan, "inf": np.inf, "garbage": 12345.0}
BROKEN = tuple(KINDS)


def edited_model(arrays, attributes, kind, direction, row, key="initial_h"):
    """make_model of ``arrays`` (initializers, the initial states among them) with
    ``arrays[key][direction, row]`` set to KINDS[kind] (layout 0)."""
    edited = {name: np.array(value, copy=True) for name, value in arrays.items()}
    edited[key][direction, row] = KINDS[kind]
    return make_model(edited, attributes)


class StateGarbageTwin(OnnxLSTMTwin):
    """A twin whose reading of the initial h of direction ``direction``, row ``row`` is
    KINDS[kind] (class attributes, set by the test)."""

    kind, direction, row = "nan", 0, 0

    def prepare(self, X, sequence_lens=None, initial_h=None, initial_c=None):
        inputs = super().prepare(X, sequence_lens, initial_h, initial_c)
        h0 = np.array(inputs.states[self.direction][0], np.float64, copy=True)
        h0[self.row] = KINDS[self.kind]
        inputs.states[self.direction] = [h0, inputs.states[self.direction][1]]
        return inputs
