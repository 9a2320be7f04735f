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
import zipfile
from typing import Any

import numpy as np

from lstm_ref import files, layouts
from lstm_ref._optional import require
from lstm_ref.files import StrPath
from lstm_ref.errors import OptionError, ShapeError
from lstm_ref.checks import describe
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
        if options["cell_clip"] is not None or "proj_clip" in weights.options():
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
        try:
            # weights_only: a .pt is read as data, never as code to run
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises pickle, zip and runtime errors
            # torch's own message would suggest weights_only=False, which runs the file's code
            why = ("it holds more than tensors (a whole pickled module?), or is not a torch "
                   "file" if "Unpickl" in type(exc).__name__ else "damaged, or not a torch file")
            raise OptionError(f"{path} is not a readable torch state dict, as "
                              f"torch.save(module.state_dict()) writes: {why}") from None
        if not isinstance(state, dict) or not all(hasattr(v, "detach") for v in state.values()):
            raise OptionError(f"{path} is not a torch state dict (a mapping of names to "
                              f"tensors); it holds a {type(state).__name__}")
        return {name: value.detach().numpy() for name, value in state.items()}
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError:  # not an array file: NumPy took it for a pickle, which it does not load
        raise OptionError(f"{path} is not a .npz file of arrays") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # a damaged or truncated .npz
        raise OptionError(f"{path} is not a readable .npz file of arrays: "
                          f"{_first_line(exc)}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise OptionError(f"{path} is not a .npz file of named arrays; it holds one "
                          f"{describe(data)} (a .npy file?)")
    try:
        with data:
            return {name: data[name] for name in data.files}
    except ValueError:  # NumPy's message would suggest allow_pickle, which runs code
        raise OptionError(f"{path} holds pickled objects, not arrays: it is not read") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise OptionError(f"{path} is not a readable .npz file of arrays: "
                          f"{_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    """An exception's message on one line: its first, whatever the library wrote after."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


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
