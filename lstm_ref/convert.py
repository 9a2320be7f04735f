"""Saved weights from one framework's layout to another's (``lstm-ref convert``).

Weights are read from and written to ``.npz`` files whose arrays carry the layout's own names
(never pickle: ``np.load(allow_pickle=False)``); PyTorch state dicts may also be ``.pt``
files (read with ``torch.load(weights_only=True)``, written with ``torch.save``) when torch
is installed. One direction of one layer is converted at a time.

| layout | arrays |
|---|---|
| keras | kernel, recurrent_kernel, bias (optional) |
| torch | weight_ih_l{N}[_reverse], weight_hh_..., bias_ih_..., bias_hh_..., weight_hr_... |
| onnx | W (1, 4U, F), R, B (optional), P (optional); direction d of a 2-direction file with --reverse |
| tf1 | kernel, bias, w_i_diag / w_f_diag / w_o_diag (optional), projection (optional), forget_bias (scalar, optional) |
"""

import io
import os
from typing import Any

import numpy as np

from lstm_ref import files, layouts
from lstm_ref._optional import require
from lstm_ref.files import StrPath
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.weights import LSTMWeights

__all__ = ["LAYOUTS", "read", "write"]

LAYOUTS = ("keras", "torch", "onnx", "tf1")


def read(path: StrPath, layout: str, layer: int = 0, reverse: bool = False) -> LSTMWeights:
    """LSTMWeights from a saved file in ``layout`` (see the module docstring)."""
    arrays = _load(path)
    if layout == "keras":
        _need(arrays, ("kernel", "recurrent_kernel"), path, layout)
        return LSTMWeights(arrays["kernel"], arrays["recurrent_kernel"], arrays.get("bias"))
    if layout == "torch":
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        _need(arrays, (f"weight_ih{suffix}", f"weight_hh{suffix}"), path, layout)
        given: dict[str, Any] = {n: arrays.get(n + suffix) for n in names}
        return LSTMWeights(**layouts.from_torch(**given))
    if layout == "onnx":
        _need(arrays, ("W", "R"), path, layout)
        direction = int(reverse)
        if arrays["W"].ndim != 3 or arrays["W"].shape[0] <= direction:
            raise ShapeError(f"{path}: W must be (num_directions, 4 * hidden_size, features) with "
                             f"direction {direction}; received shape {arrays['W'].shape}")
        one = {n: arrays[n][direction] for n in ("W", "R", "B", "P") if n in arrays}
        return LSTMWeights(**layouts.from_onnx(**one))
    if layout == "tf1":
        _need(arrays, ("kernel",), path, layout)
        names = ("bias", "w_i_diag", "w_f_diag", "w_o_diag", "projection")
        forget_bias = float(arrays["forget_bias"]) if "forget_bias" in arrays else 0.0
        return LSTMWeights(**layouts.from_tf1(arrays["kernel"], **{n: arrays.get(n) for n in names},
                                              forget_bias=forget_bias))
    raise OptionError(f"layout must be one of {LAYOUTS}; received {layout!r}")


def write(weights: LSTMWeights, path: StrPath, layout: str, layer: int = 0,
          reverse: bool = False) -> None:
    """Save LSTMWeights in ``layout``; the file appears whole or not at all."""
    if layout == "keras":
        arrays = dict(zip(("kernel", "recurrent_kernel", "bias"), weights.to_keras()))
    elif layout == "torch":
        arrays = weights.to_torch_state_dict(layer=layer, reverse=reverse)
    elif layout == "onnx":
        arrays, _ = weights.to_onnx()
        if weights.gate_clip is not None or weights.input_forget:
            raise OptionError("these weights need ONNX attributes (clip, input_forget) an .npz "
                              "file cannot carry: build an ONNX model instead")
    elif layout == "tf1":
        arrays, options = weights.to_tf1()
        if options["cell_clip"] is not None or options["proj_clip"] is not None:
            raise OptionError("these weights need TF1 options (cell_clip, proj_clip) an .npz "
                              "file cannot carry")
        arrays["forget_bias"] = np.asarray(options["forget_bias"])
    else:
        raise OptionError(f"layout must be one of {LAYOUTS}; received {layout!r}")
    # In the source's precision: a summed float32 bias pair is stored as float32 again.
    _save({name: np.asarray(a, weights.kernel.dtype) for name, a in arrays.items()}, path)


def _load(path: StrPath) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise OptionError(f"no such file: {path}")
    if str(path).endswith(".pt"):
        torch = require("torch", "torch")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {name: value.detach().numpy() for name, value in state.items()}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (ValueError, OSError) as exc:
        raise OptionError(f"{path} is not a readable .npz file of arrays ({exc})") from exc


def _save(arrays: dict[str, Any], path: StrPath) -> None:
    """Write the arrays whole or not at all (lstm_ref.files), as .pt or .npz by the name."""
    files.check_file_target(path, "destination")
    buffer = io.BytesIO()
    if str(path).endswith(".pt"):
        torch = require("torch", "torch")
        torch.save({name: torch.from_numpy(np.array(a, copy=True)) for name, a in arrays.items()},
                   buffer)
    else:
        np.savez(buffer, **arrays)
    files.write_atomic(path, buffer.getvalue(), "destination")


def _need(arrays: dict[str, np.ndarray], names: tuple[str, ...], path: StrPath,
          layout: str) -> None:
    missing = [n for n in names if n not in arrays]
    if missing:
        raise OptionError(f"{path} has no {', '.join(missing)} for the {layout} layout; it has "
                          f"{', '.join(sorted(arrays)) or 'no arrays'}")
