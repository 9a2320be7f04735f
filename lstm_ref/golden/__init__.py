"""Golden files for the upgrade gate: record what the installed framework computes, check it
later.

A team records the grid with its *current* TensorFlow/Keras (:func:`record`), upgrades in a
new environment, and checks the recording there (:func:`check`): per case, how far the new
version drifts from the recording, and whether it still matches the reference.

Modules: ``format`` (the files and reading them back validated), ``archive`` (an .npz read
as untrusted bytes: size, hash, headers, then data), ``record``, ``drift`` (the installed
results against the recorded ones), ``check``. This package imports NumPy only:
running a case on Keras, and describing the installation, is
lstm_ref.frameworks.keras.golden's, imported when a recording is made or checked.
"""

from lstm_ref.errors import GoldenError
from lstm_ref.golden.check import CaseResult, GoldenResult, check
from lstm_ref.golden.drift import DriftExcess, TensorDrift, drift, drift_bounds
from lstm_ref.golden.format import (DTYPES, FORMAT, MANIFEST, allowed_dtypes, expected_arrays,
                                    load_case, parse_case, read_manifest, size_limit)
from lstm_ref.golden.record import record, stale_staging

__all__ = ["GoldenError", "CaseResult", "GoldenResult", "check", "DriftExcess", "TensorDrift",
           "drift", "drift_bounds", "DTYPES", "FORMAT", "MANIFEST", "allowed_dtypes",
           "expected_arrays", "load_case", "parse_case", "read_manifest", "size_limit", "record",
           "stale_staging"]
