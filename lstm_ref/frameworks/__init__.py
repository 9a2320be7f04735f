"""One subpackage per framework, each imported only when an object of its framework comes:
``keras`` (Keras 3 and tf_keras layers), ``tf1`` (TF1 cells), ``torch``, ``onnx``, ``flax``; and
``tensorflow``, what the TensorFlow-based ones share (stepping a cell, tf_keras's API).

The framework subpackages never import each other (an import-linter contract). This module
imports none of them until :func:`framework_of` picks one by the object's class.
"""

import importlib

from lstm_ref.errors import UnsupportedLayerError

__all__ = ["FRAMEWORKS", "framework_of"]

# The top-level package of an object's class (or of a base class) -> the subpackage for it.
FRAMEWORKS = {"keras": "keras", "tf_keras": "keras", "torch": "torch", "onnx": "onnx",
              "flax": "flax"}


def framework_of(obj):
    """The framework subpackage for a framework object (its ``compare``, its twin...), or
    UnsupportedLayerError. tf_keras's TF1 cells (its legacy cells) go to ``tf1``."""
    packages = {cls.__module__.split(".")[0] for cls in type(obj).__mro__}
    if "tf_keras" in packages:
        from lstm_ref.frameworks.tensorflow.tf_keras import is_tf1_cell

        if is_tf1_cell(obj):
            return importlib.import_module("lstm_ref.frameworks.tf1")
    for package, name in FRAMEWORKS.items():
        if package in packages:
            return importlib.import_module(f"lstm_ref.frameworks.{name}")
    raise UnsupportedLayerError(
        f"no framework for {type(obj).__module__}.{type(obj).__qualname__}; supported: Keras 3 "
        "and tf_keras LSTM layers and models, TF1 LSTM cells, torch.nn.LSTM, ONNX models, "
        "Flax NNX LSTM cells and RNNs")
