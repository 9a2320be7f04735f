"""TFLite / LiteRT: deployed .tflite artifacts, run in LiteRT's Interpreter and held to the
reference of the LSTM they were exported from.

The face the package-level API dispatches to (lstm_ref.api): :func:`compare_export`,
:func:`from_tflite`. Modules: ``flatbuffer`` (reading a model's ops and constants,
dequantized), ``twin`` (a fused LSTM op's tensors as LSTMWeights), ``loop`` (the weights of a
WHILE-loop lowering), ``observe`` (running the artifact, the comparison), ``tolerances``
(what each weight storage is held to, and why), ``convert`` (building artifacts from Keras
LSTMs, for tests and grids).
"""

from lstm_ref.frameworks.tflite.flatbuffer import is_tflite
from lstm_ref.frameworks.tflite.observe import compare_export
from lstm_ref.frameworks.tflite.twin import from_tflite

__all__ = ["compare_export", "from_tflite", "is_tflite"]
