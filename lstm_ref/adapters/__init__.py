"""Deprecated: the framework adapters are the subpackages of :mod:`lstm_ref.frameworks`
(``lstm_ref.adapters.keras`` is lstm_ref.frameworks.keras, ``lstm_ref.adapters.onnx_graph``
lstm_ref.frameworks.onnx.graph); :func:`adapter_for` is lstm_ref.frameworks.framework_of.
"""

from lstm_ref._deprecated import announce
from lstm_ref._optional import require
from lstm_ref.frameworks import framework_of as adapter_for

__all__ = ["adapter_for", "require"]

announce(__name__, "lstm_ref.adapters", "lstm_ref.frameworks")
