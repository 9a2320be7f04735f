"""The weights an exported artifact stores, held to its source's: the check every
compare_export makes before it runs the artifact (lstm_ref.frameworks.tflite, .savedmodel,
.onnx).

An export stores each weight in a format (float32; float16; int8 with a scale): a faithful
one moves each weight by at most half a step of that format from what it was given, which
is the source's weight rounded to float32 (exporters start from float32 values). So a stored
weight must equal the source's where that is a float32 value, and be within half a float32
spacing of it where the source is wider, plus half a step of its own storage; anything more
is an edited, reordered or corrupted weight, named in the Report as ``weights.<name>``.
"""

import numpy as np

from lstm_ref.engine import Expectation
from lstm_ref.errors import ShapeError, UnsupportedLayerError
from lstm_ref.report import ALL_STEPS

__all__ = ["stored_expectation", "weight_expectations"]


def stored_expectation(stored, expected, half_step=None, exact=False):
    """(actual, Expectation) of one stored array against the source's ``expected``: within
    ``half_step`` (the storage's own rounding, an array or None for none), plus half a
    float32 spacing where ``expected`` is not a float32 value (none where ``exact``: the
    source is known to be float32). Both reshaped to (rows, 1, columns), a vector to one row.
    """
    expected = np.asarray(expected, np.float64)
    half = np.zeros(expected.shape) if half_step is None else np.asarray(half_step, np.float64)
    if not exact:
        wide = expected.astype(np.float32).astype(np.float64) != expected
        half = half + np.where(wide, 0.5 * np.spacing(np.abs(expected).astype(np.float32)), 0)
    shaped = lambda a: np.asarray(a, np.float64).reshape(  # noqa: E731
        (1, 1, -1) if np.ndim(a) <= 1 else (np.shape(a)[0], 1, -1))
    return shaped(stored), Expectation(shaped(expected), np.array([ALL_STEPS]), shaped(half),
                                       axes=("row", "column"))


def weight_expectations(source, stored, names, half_steps=None, prefix="", exact=False):
    """Report name -> (actual, Expectation) for each of ``names`` that the source's arrays
    (``source``: name -> array or None) or the ``stored`` ones have.

    A weight one side lacks counts as zeros where the other side's is all zeros, and a bias
    the source lacks as zeros (an LSTM without bias exports a zero one, or none); any other
    mismatch is no export of this source, and a shape that differs is a ShapeError, each
    named. ``half_steps``: name -> the storage's half step (see :func:`stored_expectation`);
    ``prefix`` names a layer and direction (``layer0.forward``) in the report and errors.
    """
    where = f"{prefix}: " if prefix else ""
    result = {}
    for name in names:
        expected, got = source.get(name), stored.get(name)
        if expected is None and got is not None and (name == "bias" or not np.any(got)):
            expected = np.zeros_like(got)
        if got is None and expected is not None and not np.any(expected):
            got = np.zeros_like(expected)
        if expected is None and got is None:
            continue
        if (expected is None) != (got is None):
            raise UnsupportedLayerError(
                f"{where}the artifact is no export of this source: the source has "
                f"{'a ' + name if got is None else 'no ' + name} and the artifact "
                f"{'none' if got is None else 'has one'}")
        if np.shape(expected) != np.shape(got):
            raise ShapeError(f"{where}the artifact's {name} has shape {np.shape(got)}; the "
                             f"source's {np.shape(expected)}")
        key = f"weights.{prefix}.{name}" if prefix else f"weights.{name}"
        result[key] = stored_expectation(got, expected, (half_steps or {}).get(name), exact)
    return result
