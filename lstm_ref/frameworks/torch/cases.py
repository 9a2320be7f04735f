"""PyTorch grid cases (lstm_ref.grids.torch) as modules: built with the case's seeded
parameters, run and compared; each Report names the case, its seed and the line that
reproduces it alone."""

import numpy as np

from lstm_ref.errors import OptionError
from lstm_ref.frameworks.torch.observe import compare
from lstm_ref.frameworks.torch.twin import torch_module

__all__ = ["build_module", "module_inputs", "run_case"]

def build_module(case, dtype="float32"):
    """The case's torch.nn.LSTM in ``dtype`` ("float32", "float64", "float16", "bfloat16"),
    in eval mode, with the case's parameters loaded."""
    torch = torch_module()
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype) or not torch_dtype.is_floating_point:
        raise OptionError(f"dtype must be a torch floating dtype name such as 'float32'; "
                          f"received {dtype!r}")
    module = torch.nn.LSTM(**case.module_options(), dtype=torch_dtype).eval()
    state = {name: torch.as_tensor(value).to(torch_dtype)
             for name, value in case.arrays()["params"].items()}
    module.load_state_dict(state, strict=True)
    return module


def module_inputs(case, dtype="float32"):
    """``(x, hx, lengths)`` as the case's module takes them: x (time, batch, input_size) or
    batch first, torch tensors of ``dtype``."""
    torch = torch_module()
    arrays = case.arrays()
    torch_dtype = getattr(torch, dtype)
    x = arrays["x"] if case.batch_first else arrays["x"].transpose(1, 0, 2)
    hx = None
    if arrays["initial_state"] is not None:
        hx = tuple(torch.as_tensor(s).to(torch_dtype) for s in arrays["initial_state"])
    return torch.as_tensor(np.ascontiguousarray(x)).to(torch_dtype), hx, arrays["lengths"]


def run_case(case, dtype="float32", tolerance=None):
    """Build the case's module, compare it on the case's inputs and return the Report, whose
    context names the case, its seed and a reproducer."""
    module = build_module(case, dtype)
    x, hx, lengths = module_inputs(case, dtype)
    report = compare(module, x, initial_state=hx, lengths=lengths, tolerance=tolerance)
    report.context = case.report_context(report.context, run_case, dtype=dtype)
    return report
