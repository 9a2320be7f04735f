"""The version of lstm_ref (the package exports it as ``__version__``)."""

VERSION = "0.1.0"
