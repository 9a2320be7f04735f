"""The package's exceptions: every one it raises is defined here.

Each is a subclass of the built-in exception a caller would expect (``ValueError`` for a
bad value or shape, ``TypeError`` for a bad type), so ``except ValueError`` keeps working,
and of :class:`LSTMRefError`, so ``except lstm_ref.LSTMRefError`` catches all of ours.
"""

__all__ = ["LSTMRefError", "ShapeError", "DTypeError", "ValueRangeError", "OptionError",
           "ActivationError", "UnsupportedLayerError", "FrameworkMissingError",
           "InconclusiveError", "OutputError", "GoldenError", "ReportError"]


class LSTMRefError(Exception):
    """Base class of every error raised by lstm_ref."""


class ShapeError(LSTMRefError, ValueError):
    """An array has the wrong rank or a size that does not fit the others."""


class DTypeError(LSTMRefError, TypeError):
    """An array has a dtype we do not accept (integer, object, complex...)."""


class ValueRangeError(LSTMRefError, ValueError):
    """A value is outside what is allowed (non-finite weights, a mask that is not 0/1...)."""


class OptionError(LSTMRefError, ValueError):
    """An option has a value we do not support."""


class ActivationError(LSTMRefError, ValueError):
    """An activation name we do not know, or one that cannot be used inside an LSTM."""


class UnsupportedLayerError(LSTMRefError, TypeError):
    """A layer, cell or model that lstm_ref cannot mirror."""


class FrameworkMissingError(LSTMRefError, ImportError):
    """An adapter's framework is not installed."""


class InconclusiveError(LSTMRefError, AssertionError):
    """An assertion whose comparison compared nothing in some tensor (every step past the
    horizon, every element undetermined): not a pass. ``allow_inconclusive=True`` accepts it."""


class OutputError(LSTMRefError, OSError):
    """A file or folder that cannot be written (the message names it and why)."""


class GoldenError(LSTMRefError, ValueError):
    """A golden recording that cannot be written or read: the message names the file and
    what is wrong with it."""


class ReportError(OutputError):
    """An HTML report folder that cannot be written."""
