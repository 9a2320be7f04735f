"""Deprecated: the Keras case grid is :mod:`lstm_ref.grids.keras`, run by ``lstm-ref verify``.

``python -m lstm_ref.grid ARGS`` runs ``lstm-ref verify --framework keras ARGS``.
"""

from lstm_ref._deprecated import announce, grid_command
from lstm_ref.grids import GRIDS, select
from lstm_ref.grids.keras import FULL_OPTIONS, OPTIONS, SIZES, SMALL_SIZES, Case, cases

__all__ = ["GRIDS", "select", "FULL_OPTIONS", "OPTIONS", "SIZES", "SMALL_SIZES", "Case",
           "cases", "main"]

main = grid_command("keras")

announce(__name__, "lstm_ref.grid", "lstm_ref.grids.keras", main,
         "lstm-ref verify --framework keras")
