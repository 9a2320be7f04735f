"""Sensitivity of the PyTorch comparison: deliberately wrong modules (a forward with one bug),
converters (torch's weights read wrongly into the reference) and twins are each flagged, at
the step and in the tensor where the bug first shows; a correct one passes.

Modules are float32 unless said (float64: a 1e-12 drift must fail), weights random for every
gate and both biases, so no bug hides behind identical or zero parameters.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# torch warns once that oneDNN has no projections (it then runs its native LSTM): expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning")

import lstm_ref  # noqa: E402
from lstm_ref import engine, layouts  # noqa: E402
from lstm_ref.frameworks.torch import twin as torch_adapter  # noqa: E402
from lstm_ref.frameworks.torch import observe as torch_compare  # noqa: E402
from lstm_ref.errors import ShapeError  # noqa: E402
from lstm_ref.stack import forward_stack as real_forward_stack  # noqa: E402
from tests.frameworks.torch.broken import (BrokenLSTM, broken_from_torch, one_torch_thread,  # noqa: E402, F401
                                 twin_report)

F, H, B, T = 3, 5, 3, 7
LENGTHS = [T, 3, 5]
BIDIRECTIONAL = dict(num_layers=2, bidirectional=True)


def broken(rng, bug=None, dtype=torch.float32, **options):
    module = BrokenLSTM(F, H, bug=bug, dtype=dtype, **options).eval()
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.as_tensor(rng.normal(0, 0.6, tuple(param.shape))))
    return module


def inputs(rng, module):
    rows = module.num_layers * (2 if module.bidirectional else 1)
    dtype = next(module.parameters()).dtype
    x = torch.as_tensor(rng.uniform(-1, 1, (T, B, F))).to(dtype)
    hx = (torch.as_tensor(rng.uniform(-1, 1, (rows, B, module.proj_size or H))).to(dtype),
          torch.as_tensor(rng.normal(0, 1, (rows, B, H))).to(dtype))
    return x, hx


def assert_flagged(report, step, tensor):
    assert not report.passed, f"not flagged:\n{report.summary()}"
    failure = report.first_failure
    assert (failure.step, failure.tensor) == (step, tensor), report.summary()


# bug -> (module options, lengths, where it first shows: step, tensor). The stepped layers use
# the module's parameters through torch's own kernels, so a bug in the module's forward shows
# in what the call returns: output at time 0 (the forward's first step and the backward's
# last), or the returned states at the last step.
MODULE_BUGS = {
    "gates i/f swapped": (BIDIRECTIONAL, None, (0, "output")),
    "recurrent bias dropped": (BIDIRECTIONAL, None, (0, "output")),
    "reverse not flipped back": (BIDIRECTIONAL, None, (0, "output")),
    "initial state ignored": ({"proj_size": 2}, None, (0, "output")),
    "h_n directions swapped": (BIDIRECTIONAL, None, (T - 1, "layer0.forward.h_n")),
    "relative drift 1e-5 in c_n": ({"num_layers": 2}, None, (T - 1, "layer0.forward.c_n")),
    # Forward outputs over the valid steps are unchanged: only the state carried past the
    # padding is wrong.
    "packing ignored": ({"num_layers": 2}, LENGTHS, (T - 1, "layer0.forward.h_n")),
}


@pytest.mark.parametrize("options", [BIDIRECTIONAL, {"proj_size": 2, "batch_first": True}],
                         ids=["bidirectional", "proj"])
def test_a_correct_module_passes(options, rng):
    module = broken(rng, **options)
    x, hx = inputs(rng, module)
    if module.batch_first:
        x = x.transpose(0, 1)
    for lengths in (None, LENGTHS):
        report = lstm_ref.compare(module, x, initial_state=hx, lengths=lengths)
        assert report.passed, report.summary()


@pytest.mark.parametrize("bug", sorted(MODULE_BUGS))
def test_each_module_bug_is_flagged_where_it_first_shows(bug, rng):
    options, lengths, (step, tensor) = MODULE_BUGS[bug]
    module = broken(rng, bug, **options)
    x, hx = inputs(rng, module)
    report = lstm_ref.compare(module, x, initial_state=hx, lengths=lengths)
    assert_flagged(report, step, tensor)
    stepped = [name for name in report.tensors if name.endswith((".h", ".c"))]
    assert all(report.tensors[name].passed for name in stepped), report.summary()


def test_float64_sees_a_drift_of_1e_12(rng):
    module = broken(rng, "relative drift 1e-12 in c_n", dtype=torch.float64)
    x, hx = inputs(rng, module)
    assert_flagged(lstm_ref.compare(module, x, initial_state=hx), T - 1, "layer0.forward.c_n")
    module.bug = None
    assert lstm_ref.compare(module, x, initial_state=hx).passed


# Converter bugs: the reference (and the twin) read torch's parameters wrongly; torch is right.
CONVERTER_BUGS = ("gates i/f swapped", "bias_hh not folded in")


@pytest.mark.parametrize("bug", CONVERTER_BUGS)
def test_each_converter_bug_is_flagged_at_step_0(bug, rng, monkeypatch):
    module = broken(rng, **BIDIRECTIONAL)
    x, hx = inputs(rng, module)
    monkeypatch.setattr(layouts, "from_torch", broken_from_torch(bug))
    assert_flagged(lstm_ref.compare(module, x, initial_state=hx), 0, "layer0.forward.h")
    assert_flagged(twin_report(lstm_ref.from_torch(module), module, x, hx), 0, "output")


def test_backward_weights_read_from_the_forward_direction(rng, monkeypatch):
    module = broken(rng, **BIDIRECTIONAL)
    x, hx = inputs(rng, module)
    real = torch_adapter.parameter

    def forward_only(module, name, shape):
        return real(module, name.removesuffix("_reverse"), shape)

    monkeypatch.setattr(torch_adapter, "parameter", forward_only)
    assert_flagged(lstm_ref.compare(module, x, initial_state=hx), 0, "layer0.backward.h")


def test_projection_not_transposed_is_refused_not_used(rng, monkeypatch):
    module = broken(rng, proj_size=2)
    real = layouts.from_torch

    def untransposed(weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None):
        return {**real(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr), "projection": weight_hr}

    monkeypatch.setattr(layouts, "from_torch", untransposed)
    with pytest.raises(ShapeError, match="projection|recurrent_kernel"):
        lstm_ref.from_torch(module)


def _unflipped_stack(*args, **kwargs):
    """forward_stack whose last layer's backward outputs stay in processing order."""
    trace = real_forward_stack(*args, **kwargs)
    size = trace.outputs.shape[-1] // 2
    trace.outputs = np.concatenate([trace.outputs[..., :size], trace.outputs[:, ::-1, size:]], -1)
    return trace


def test_twin_that_does_not_flip_the_reverse_direction_back(rng, monkeypatch):
    module = broken(rng, **BIDIRECTIONAL)
    x, hx = inputs(rng, module)
    twin = lstm_ref.from_torch(module)
    assert twin_report(twin, module, x, hx).passed
    monkeypatch.setattr(torch_adapter, "forward_stack", _unflipped_stack)
    report = twin_report(twin, module, x, hx)
    assert_flagged(report, 0, "output")
    assert report.tensors["h_n[1]"].passed  # the states do not depend on the flip


def test_reference_that_does_not_flip_the_reverse_direction_back(rng, monkeypatch):
    module = broken(rng, **BIDIRECTIONAL)
    x, hx = inputs(rng, module)
    # The engine's flip of a backward direction's sequence into time order, made a no-op.
    monkeypatch.setattr(engine.Expectation, "flipped", lambda self: self)
    report = lstm_ref.compare(module, x, initial_state=hx)
    assert_flagged(report, 0, "output")
    assert all(t.passed for name, t in report.tensors.items() if name != "output")


def test_a_wrong_stepped_copy_is_flagged(rng, monkeypatch):
    """The stepped path is sensitive too: a copy of a layer with its gates i/f swapped."""
    module = broken(rng, **BIDIRECTIONAL)
    x, hx = inputs(rng, module)
    real = torch_compare.single_direction

    def swapped(module, layer, direction):
        sub = real(module, layer, direction)
        with torch.no_grad():
            for name in sub._flat_weights_names:
                param = getattr(sub, name)
                param[:2 * H] = torch.cat([param[H:2 * H], param[:H]]).clone()
        return sub

    monkeypatch.setattr(torch_compare, "single_direction", swapped)
    report = lstm_ref.compare(module, x, initial_state=hx)
    assert_flagged(report, 0, "layer0.forward.h")
    assert report.tensors["output"].passed  # the module's own call is right
