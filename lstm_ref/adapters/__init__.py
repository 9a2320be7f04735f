"""Framework adapters, one module per framework, each imported only when needed.

This module imports no framework: it picks an adapter from the class of the object it is
given, by the top-level package its class (or a base class) comes from.
"""

import importlib

from lstm_ref.errors import FrameworkMissingError, UnsupportedLayerError

# Top-level package of a layer's class -> (adapter module, the extra that installs it).
_ADAPTERS = {"keras": ("lstm_ref.adapters.keras", "keras"),
             "tf_keras": ("lstm_ref.adapters.tf_keras", "tf_keras"),
             "torch": ("lstm_ref.adapters.torch", "torch"),
             "onnx": ("lstm_ref.adapters.onnx", "onnx")}


def adapter_for(obj):
    """The adapter module for a framework object, or UnsupportedLayerError."""
    packages = {cls.__module__.split(".")[0] for cls in type(obj).__mro__}
    for package, (module, _) in _ADAPTERS.items():
        if package in packages:
            return importlib.import_module(module)
    raise UnsupportedLayerError(
        f"no adapter for {type(obj).__module__}.{type(obj).__qualname__}; supported: Keras 3 "
        "and tf_keras LSTM layers and models, TF1 LSTM cells, torch.nn.LSTM, ONNX models")


def require(package, extra):
    """Import ``package`` or raise FrameworkMissingError naming the extra that installs it."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise FrameworkMissingError(
            f"{package} is not installed; install it with: pip install 'lstm-ref[{extra}]'"
        ) from exc
