"""Deprecated: the PyTorch case grid is :mod:`lstm_ref.grids.torch` (its cases run by
lstm_ref.frameworks.torch.cases), run by ``lstm-ref verify --framework torch``.

``python -m lstm_ref.grid_torch ARGS`` runs ``lstm-ref verify --framework torch ARGS``:
``--grid`` and ``--only`` as before; ``--dtype`` takes one dtype a run.
"""

from lstm_ref._deprecated import announce, grid_command
from lstm_ref.frameworks.torch.cases import build_module, module_inputs, run_case
from lstm_ref.grids import GRIDS, select
from lstm_ref.grids.torch import OPTIONS, TORCH_SIZES, TorchCase, cases, proj_size_for

__all__ = ["GRIDS", "select", "OPTIONS", "TORCH_SIZES", "TorchCase", "cases", "proj_size_for",
           "build_module", "module_inputs", "run_case", "main"]

main = grid_command("torch")

announce(__name__, "lstm_ref.grid_torch", "lstm_ref.grids.torch", main,
         "lstm-ref verify --framework torch")
