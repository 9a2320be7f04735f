"""Optional packages: each imported only when a feature needs it, with a clear error naming
the extra that installs it.

The core imports NumPy alone; frameworks, allpairspy (the grids) and matplotlib (the HTML
report) come from extras (pyproject.toml).
"""

import importlib

from lstm_ref.errors import FrameworkMissingError

__all__ = ["require", "EXTRAS"]

# The package -> the extra that installs it, where the caller does not say.
EXTRAS = {"keras": "keras", "tensorflow": "keras", "tf_keras": "tf_keras", "torch": "torch",
          "onnx": "onnx", "onnxruntime": "onnx", "ai_edge_litert": "tflite",
          "flatbuffers": "tflite", "allpairspy": "keras", "matplotlib": "report",
          "jax": "flax", "flax": "flax"}


def require(package, extra=None):
    """Import ``package`` or raise FrameworkMissingError naming the extra that installs it."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        extra = extra or EXTRAS.get(package.split(".")[0], package)
        raise FrameworkMissingError(
            f"{package} is not installed; install it with: pip install 'lstm-ref[{extra}]'"
        ) from exc
