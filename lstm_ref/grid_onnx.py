"""Deprecated: the ONNX case grid is :mod:`lstm_ref.grids.onnx` (its cases run by
lstm_ref.frameworks.onnx.cases), run by ``lstm-ref verify --framework onnx``.

``python -m lstm_ref.grid_onnx ARGS`` runs ``lstm-ref verify --framework onnx ARGS``:
``--grid``, ``--only`` and ``-v`` as before.
"""

from lstm_ref._deprecated import announce, grid_command
from lstm_ref.frameworks.onnx.cases import build_case_model, run_case
from lstm_ref.grids import GRIDS, select
from lstm_ref.grids.onnx import ACTIVATIONS, OPTIONS, SIZES, Case, cases

__all__ = ["GRIDS", "select", "ACTIVATIONS", "OPTIONS", "SIZES", "Case", "cases",
           "build_case_model", "run_case", "main"]

main = grid_command("onnx")

announce(__name__, "lstm_ref.grid_onnx", "lstm_ref.grids.onnx", main,
         "lstm-ref verify --framework onnx")
