"""Step-by-step comparison of a torch.nn.LSTM (or nn.LSTMCell) with the reference.

Everything compared comes from torch's own kernels:

- every layer's and direction's h_t and c_t at every step: a one-layer, one-direction
  nn.LSTM holding that layer and direction's parameters runs one step at a time, carrying
  (h, c) (at a padded step torch.where keeps the state, which is what packing does: a row
  leaves the batch after its last valid step, and the backward direction starts at it). Layer
  k reads what torch's layer k - 1 produced, both directions concatenated in time order;
- the module's own call (its forward, whatever a subclass makes of it): output, h_n, c_n,
  through pack_padded_sequence / pad_packed_sequence when rows have lengths.

Both are held to the reference (lstm_ref.stack.forward_stack in float64) with the tolerance
entry of the parameters' dtype, scaled by probes of the whole stack in that format (layer k's
probes read layer k - 1's probes, so they see how the stack propagates rounding).

Report tensors: ``layer{k}.{forward|backward}.h`` / ``.c`` (step numbers in that direction's
processing order: time reversed for backward), ``output`` (time order, batch first), and
``layer{k}.{direction}.h_n`` / ``.c_n`` (the module's h_n and c_n, row by row).
"""

import contextlib

import numpy as np

from lstm_ref.frameworks.torch.twin import (DIRECTIONS, TorchLSTMCellTwin, TorchLSTMTwin, torch_module,
                                     check_module, lengths_mask, mask_lengths, to_numpy)
from lstm_ref.checks import as_float_array, as_mask
from lstm_ref.engine import (Expectation, Observation, Part, check_observation,
                              compare_parts, stack_reach)
from lstm_ref.errors import DTypeError, OptionError, ShapeError
from lstm_ref.stack import forward_stack
from lstm_ref.tolerance import probe_batch
from lstm_ref.tolerance_table import lookup

__all__ = ["compare", "uses_cudnn", "entry", "kernels_of", "as_tensor", "as_hx", "names",
           "reference_parts", "reference_expectations", "single_direction", "compare_cell"]


def compare(layer, x, initial_state=None, mask=None, tolerance=None, lengths=None):
    """Run a torch.nn.LSTM (or LSTMCell) step by step and whole, and compare with the reference.

    Args:
        layer: a torch.nn.LSTM (or subclass), or an nn.LSTMCell (see :func:`compare_cell`).
        x: the input as the module takes it: (T, B, F), (B, T, F) with batch_first, or
            (T, F) unbatched; cast to the module's dtype and device.
        initial_state: None or ``(h_0, c_0)`` as the module takes hx.
        mask: None or (batch, time) booleans, right-padded (valid steps, then padding):
            the rows' lengths, for pack_padded_sequence.
        tolerance: a Tolerance instead of the table's entry for the parameters' dtype.
        lengths: None or (batch,) valid lengths (instead of ``mask``).

    Returns:
        A :class:`lstm_ref.report.Report`.
    """
    torch = torch_module()
    check_module(layer)
    if isinstance(layer, torch.nn.LSTMCell):
        if lengths is not None:
            raise OptionError("lengths= applies to nn.LSTM; pass mask= to step an LSTMCell")
        return compare_cell(layer, x, initial_state, mask, tolerance)
    if mask is not None and lengths is not None:
        raise OptionError("pass mask= or lengths=, not both")
    twin = TorchLSTMTwin(layer)  # validates the module with the twin's clear errors
    twin.check_training(layer.training)
    device = next(layer.parameters()).device
    x_torch = as_tensor(x, "x", layer, device)
    hx = None if initial_state is None else as_hx(initial_state, layer, device)
    # The twin validates shapes before torch sees anything; x64 holds exactly what torch got.
    x64, states, _, unbatched = twin.canonical(x_torch, hx)
    if mask is not None:
        if unbatched:
            raise OptionError("mask= needs batched input: torch packs batches only")
        lengths = mask_lengths(mask, *x64.shape[:2])
    mask64 = None if lengths is None else lengths_mask(lengths, *x64.shape[:2])
    tol, kernels = tolerance or entry(twin.dtype, device), kernels_of(device)
    with one_thread(torch_module()):
        actual = _stepped(layer, twin, x64, states, mask64, device)
    actual.update(_called(layer, twin, x_torch, hx, lengths, unbatched))
    context = {**twin.config, "kernels": kernels,
               "steps": "layer*.forward.*, output: time order; layer*.backward.*: that "
                        "direction's processing order (time reversed)"}
    if lengths is not None:
        context["lengths"] = np.asarray(lengths.cpu() if isinstance(lengths, torch.Tensor)
                                        else lengths).tolist()
    return compare_parts(*reference_parts(twin, x64, states, mask64, tol, actual),
                         context=context)


def uses_cudnn(device):
    """Whether torch runs an nn.LSTM on ``device`` with cuDNN's kernels."""
    torch = torch_module()
    return device.type == "cuda" and torch.backends.cudnn.enabled


def entry(dtype, device):
    """The tolerance entry for a module in ``dtype`` on ``device``: the cuDNN one where torch
    runs cuDNN and the table has one for the dtype (cuDNN is not float32-faithful, see
    lstm_ref.tolerance_table.CUDNN; every tensor here, stepped or not, comes from cuDNN there)."""
    if uses_cudnn(device):
        try:
            return lookup(dtype, "cudnn")
        except OptionError:
            pass
    return lookup(dtype)


def kernels_of(device):
    """A line for the report: which kernels ran, and what bears on their arithmetic."""
    torch = torch_module()
    if uses_cudnn(device):
        return (f"cuDNN {torch.backends.cudnn.version()} on {device} (TF32 "
                f"{'on: expect ~1e-4 departures' if torch.backends.cudnn.allow_tf32 else 'off'})")
    if device.type == "cpu":
        mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
        return ("CPU: " + ("oneDNN's LSTM where torch takes it (no proj_size), else " if mkldnn
                           else "") + "torch's native LSTM")
    return f"torch's LSTM on {device}"


def as_tensor(value, name, module, device):
    """``value`` (tensor or array-like) as a torch tensor of the module's dtype and device."""
    torch = torch_module()
    dtype = next(module.parameters()).dtype
    if isinstance(value, torch.Tensor):
        if not value.dtype.is_floating_point:
            raise DTypeError(f"{name} must be a floating-point tensor; received dtype "
                             f"{value.dtype}")
        return value.detach().to(device=device, dtype=dtype)
    return torch.as_tensor(as_float_array(value, name), device=device).to(dtype)


def as_hx(initial_state, module, device):
    if not isinstance(initial_state, (tuple, list)) or len(initial_state) != 2:
        raise ShapeError("initial_state must be (h_0, c_0), as nn.LSTM takes hx; received "
                         f"{type(initial_state).__name__}")
    return tuple(as_tensor(s, f"initial_state[{i}]", module, device)
                 for i, s in enumerate(initial_state))


def names(twin):
    """(layer, direction, prefix) of every layer and direction, in h_n's order."""
    return [(k, d, f"layer{k}.{DIRECTIONS[d]}") for k in range(twin.num_layers)
            for d in range(twin.num_directions)]


def reference_parts(twin, x64, states, mask, tol, actual):
    """The Parts of a module's check, one per layer and direction, and its derived output.

    Args:
        twin: the module's TorchLSTMTwin.
        x64: (B, T, F) the input's values; states: None or [h0, c0] pairs in h_n's order;
            mask: None or (B, T) right-padded (see TorchLSTMTwin.canonical).
        tol: the Tolerance entry.
        actual: name -> what torch computed, names as the module docstring lists them
            (output batch first, in time order).

    Returns:
        ``(parts, derived, derived_actual)``, the arguments of lstm_ref.engine.compare_parts.
    """
    flat = None if states is None else [s for pair in states for s in pair]
    reference = forward_stack(x64, twin.layers, initial_state=states, mask=mask,
                              zero_output_for_mask=True)
    px, pflat, pmask = probe_batch(x64, flat, mask, tol.probe)
    pstates = None if pflat is None else [pflat[i:i + 2] for i in range(0, len(pflat), 2)]
    probe = forward_stack(px, twin.layers, initial_state=pstates, mask=pmask, dtype=tol.probe,
                          zero_output_for_mask=True)
    reach = stack_reach(x64, [twin.num_directions] * twin.num_layers, states, mask)
    parts = []
    for k, d, prefix in names(twin):
        own = {"h": actual.get(f"{prefix}.h"), "c": actual.get(f"{prefix}.c"),
               "state_h": actual.get(f"{prefix}.h_n"), "state_c": actual.get(f"{prefix}.c_n")}
        parts.append(Part(actual=own, reference=reference.layers[k][d],
                          probe=probe.layers[k][d], tolerance=tol, prefix=prefix,
                          tainted=reach[k][d],
                          names={"state_h": f"{prefix}.h_n", "state_c": f"{prefix}.c_n"}))
    last = range(len(parts) - twin.num_directions, len(parts))

    def derived(expected):
        # Both directions of the last layer, in time order, concatenated on the last axis.
        outputs = [expected[i]["output"] for i in last]
        outputs = [outputs[0]] + [o.flipped() for o in outputs[1:]]
        return {"output": Expectation.concatenate(outputs)}

    return parts, derived, {"output": actual.get("output")}


def reference_expectations(twin, x64, states, mask, tol):
    """name -> Expectation of every tensor of a module's check (as :func:`reference_parts`
    names them: per layer and direction h, c, h_n, c_n, and the output), with nothing
    observed: what a converted module's results can be held to."""
    parts, derived, _ = reference_parts(twin, x64, states, mask, tol, {})
    per_part = [part.expectations() for part in parts]
    result = {part.name(name): e[name] for part, e in zip(parts, per_part) for name in ("h", "c")}
    result.update(derived(per_part))
    result.update({part.name(name): e[name] for part, e in zip(parts, per_part)
                   for name in ("state_h", "state_c")})
    return result


@contextlib.contextmanager
def one_thread(torch):
    """torch's CPU operations on one thread inside, as the caller set them after. The stepped
    cell's operations are one step of a small batch each: a thread pool costs more than it
    saves on them, and where the machine is busy its waits for a thread that is not running
    multiply the time (a default grid on 2 loaded cores: 42 s with torch's 2 threads, 1.6 s
    with one; docs/findings, "Performance"). The module's own call keeps the caller's
    threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stepped(module, twin, x64, states, mask, device):
    """h and c of every layer and direction after every step (processing order), each from a
    one-layer, one-direction nn.LSTM with that direction's parameters, stepped by torch."""
    torch = torch_module()
    dtype = next(module.parameters()).dtype
    batch, time, _ = x64.shape
    y = torch.as_tensor(x64, device=device).to(dtype)  # exact: x64 holds values of dtype
    valid = None if mask is None else torch.as_tensor(mask, device=device)
    actual = {}
    position = 0
    for k in range(twin.num_layers):
        halves = []
        for d in range(twin.num_directions):
            sub = single_direction(module, k, d)
            if states is None:
                h = torch.zeros((1, batch, twin.output_size), dtype=dtype, device=device)
                c = torch.zeros((1, batch, twin.hidden_size), dtype=dtype, device=device)
            else:
                h, c = (torch.as_tensor(s[None], device=device).to(dtype) for s in states[position])
            hs, cs, outputs = [], [], [None] * time
            with torch.no_grad():
                for t in (range(time - 1, -1, -1) if d else range(time)):
                    out, (h_new, c_new) = sub(y[:, t:t + 1], (h, c))
                    out = out[:, 0]
                    if valid is not None:  # a padded step keeps the state, outputs zeros
                        keep = valid[:, t, None]
                        h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
                        out = torch.where(keep, out, torch.zeros_like(out))
                    else:
                        h, c = h_new, c_new
                    hs.append(to_numpy(h[0], "h"))
                    cs.append(to_numpy(c[0], "c"))
                    outputs[t] = out
            prefix = f"layer{k}.{DIRECTIONS[d]}"
            actual[f"{prefix}.h"], actual[f"{prefix}.c"] = np.stack(hs, 1), np.stack(cs, 1)
            halves.append(torch.stack(outputs, dim=1))
            position += 1
        y = torch.cat(halves, dim=-1)  # what torch's layer k produced: layer k + 1's input
    return actual


def single_direction(module, layer, direction):
    """A one-layer, one-direction, batch-first, eval-mode nn.LSTM holding the parameters of
    ``module``'s layer ``layer``, direction ``direction`` (1: backward)."""
    torch = torch_module()
    first = next(module.parameters())
    output = module.proj_size or module.hidden_size
    features = module.input_size if layer == 0 else output * (2 if module.bidirectional else 1)
    sub = torch.nn.LSTM(features, module.hidden_size, num_layers=1, bias=module.bias,
                        batch_first=True, proj_size=module.proj_size, device=first.device,
                        dtype=first.dtype).eval()
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    with torch.no_grad():
        for name in sub._flat_weights_names:  # weight_ih_l0, weight_hh_l0, bias_ih_l0...
            getattr(sub, name).copy_(getattr(module, name.removesuffix("_l0") + suffix))
    return sub


def _called(module, twin, x, hx, lengths, unbatched):
    """The module's own call: output (B, T, D * P) batch first, and its h_n, c_n row by row."""
    torch = torch_module()
    rnn = torch.nn.utils.rnn
    with torch.no_grad():
        if lengths is None:
            output, (h_n, c_n) = module(x, hx)
        else:
            time = x.shape[1] if module.batch_first else x.shape[0]
            packed = rnn.pack_padded_sequence(x, torch.as_tensor(lengths, dtype=torch.int64).cpu(),
                                              batch_first=module.batch_first,
                                              enforce_sorted=False)
            packed_output, (h_n, c_n) = module(packed, hx)
            output, _ = rnn.pad_packed_sequence(packed_output, batch_first=module.batch_first,
                                                total_length=time)
    output, h_n, c_n = (to_numpy(a, n) for a, n in ((output, "output"), (h_n, "h_n"), (c_n, "c_n")))
    if unbatched:
        output, h_n, c_n = output[None], h_n[:, None], c_n[:, None]
    elif not module.batch_first:
        output = output.transpose(1, 0, 2)
    actual = {"output": output}
    for index, (_, _, prefix) in enumerate(names(twin)):
        actual[f"{prefix}.h_n"], actual[f"{prefix}.c_n"] = h_n[index], c_n[index]
    return actual


def compare_cell(cell, x, initial_state=None, mask=None, tolerance=None):
    """Step a torch.nn.LSTMCell through a sequence and compare h_t, c_t with the reference.

    Args:
        cell: a torch.nn.LSTMCell.
        x: (batch, time, features), or (batch, features) for one step.
        initial_state: None or ``(h_0, c_0)``, each (batch, hidden_size).
        mask: None or (batch, time) booleans: a masked step keeps the state (as
            keras.backend.rnn does).
        tolerance: see :func:`compare`.

    Returns:
        A Report with tensors ``h`` and ``c``.
    """
    torch = torch_module()
    twin = TorchLSTMCellTwin(cell)
    device = next(cell.parameters()).device
    x_torch = as_tensor(x, "x", cell, device)
    if x_torch.ndim == 2:
        x_torch = x_torch[:, None]
    x64 = as_float_array(to_numpy(x_torch, "x"), "x", ndim=3,
                         axes="(batch, time, features) or (batch, features)")
    batch, time, _ = x64.shape
    state = None
    if initial_state is not None:
        state = [to_numpy(s, f"initial_state[{i}]")
                 for i, s in enumerate(as_hx(initial_state, cell, device))]
    if mask is not None:
        mask = as_mask(mask, batch, time)
    twin(x64[:, 0], None if state is None else tuple(state))  # validates with clear errors
    if state is None:
        h = c = torch.zeros((batch, cell.hidden_size), dtype=x_torch.dtype, device=device)
    else:
        h, c = (torch.as_tensor(s, device=device).to(x_torch.dtype) for s in state)
    hs, cs = [], []
    with torch.no_grad():
        for t in range(time):
            h_new, c_new = cell(x_torch[:, t], (h, c))
            if mask is None:
                h, c = h_new, c_new
            else:
                keep = torch.as_tensor(mask[:, t, None], device=device)
                h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            hs.append(to_numpy(h, "h"))
            cs.append(to_numpy(c, "c"))
    observation = Observation(actual={"h": np.stack(hs, 1), "c": np.stack(cs, 1)},
                              weights=twin.weights, x=x64, initial_state=state, mask=mask,
                              dtype=twin.dtype, context=twin.config)
    return check_observation(observation, tolerance)
