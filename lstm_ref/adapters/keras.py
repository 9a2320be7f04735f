"""Deprecated: Keras's adapter is :mod:`lstm_ref.frameworks.keras` (compare, from_keras,
compare_gradients; the public spellings are lstm_ref.compare, lstm_ref.from_keras and
lstm_ref.compare_gradients), and its grid cases run by lstm_ref.frameworks.keras.cases
(run_case, build_case_layer).
"""

from lstm_ref._deprecated import announce
from lstm_ref.frameworks.keras import compare, compare_gradients, from_keras
from lstm_ref.frameworks.keras.cases import build_case_layer, run_case

__all__ = ["compare", "compare_gradients", "from_keras", "build_case_layer", "run_case"]

announce(__name__, "lstm_ref.adapters.keras",
         "lstm_ref.frameworks.keras (run_case: lstm_ref.frameworks.keras.cases.run_case)")
