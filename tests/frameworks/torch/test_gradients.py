"""The reference's gradients against torch autograd in float64, on the one-layer, one-direction
cases of the PyTorch grid (projection, no bias, initial states, batch_first, packed rows)."""

import dataclasses

import numpy as np
import pytest

import lstm_ref
from lstm_ref.frameworks.torch import cases as torch_cases
from lstm_ref.grids import torch as grid_torch

torch = pytest.importorskip("torch")

# float64 on both sides, in different orders: backpropagation through up to 200 steps and
# sums over B*T terms amplify float64's rounding by at most ~1e3 on these well-conditioned
# cases, so 1e-10 of the tensor's largest value holds a correct gradient with a wide margin
# and fails a wrong one (docs/findings/2026-12-03-test-margins.md).
RTOL = 1e-10


def single_layer_cases(grid):
    """Every case of the grid as one layer, one direction (what lstm_ref.gradients covers),
    its other options and sizes kept."""
    cases = [dataclasses.replace(c, num_layers=1, bidirectional=False)
             for c in grid_torch.cases(grid)]
    return list({c.id: c for c in cases}.values())


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        grid = "default" if metafunc.config.getoption("--grid") == "full" else "small"
        cases = single_layer_cases(grid)
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def torch_gradients(case, d_out, d_h, d_c):
    """torch autograd of L = <d_out, output> + <d_h, h_n> + <d_c, c_n> (float64)."""
    module = torch_cases.build_module(case, "float64")
    x, hx, lengths = torch_cases.module_inputs(case, "float64")
    x.requires_grad_(True)
    if hx is not None:
        hx = tuple(s.detach().requires_grad_(True) for s in hx)
    packed = x if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        x, lengths, batch_first=case.batch_first, enforce_sorted=False)
    output, (h_n, c_n) = module(packed, hx)
    if lengths is not None:
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=case.batch_first,
                                                           total_length=case.time)
    if not case.batch_first:
        output = output.transpose(0, 1)
    loss = ((torch.from_numpy(d_out) * output).sum() + (torch.from_numpy(d_h) * h_n[0]).sum()
            + (torch.from_numpy(d_c) * c_n[0]).sum())
    loss.backward()
    grads = {"x": x.grad.numpy() if case.batch_first else x.grad.numpy().transpose(1, 0, 2),
             "kernel": module.weight_ih_l0.grad.numpy().T,
             "recurrent_kernel": module.weight_hh_l0.grad.numpy().T}
    if case.bias:
        # b_ih and b_hh enter z the same way: each gets the whole bias gradient
        np.testing.assert_allclose(module.bias_ih_l0.grad.numpy(), module.bias_hh_l0.grad.numpy(),
                                   rtol=1e-12, atol=1e-15)
        grads["bias"] = module.bias_ih_l0.grad.numpy()
    if case.proj_size:
        grads["projection"] = module.weight_hr_l0.grad.numpy().T
    if hx is not None:
        grads["h0"], grads["c0"] = hx[0].grad.numpy()[0], hx[1].grad.numpy()[0]
    return grads, lengths


def test_gradients_match_torch_autograd_in_float64(case):
    rng = np.random.default_rng(case.seed)
    d_out = rng.normal(size=(case.batch, case.time, case.output_size))
    d_h, d_c = rng.normal(size=(case.batch, case.output_size)), rng.normal(size=(case.batch, case.hidden_size))
    expected, lengths = torch_gradients(case, d_out, d_h, d_c)
    twin = lstm_ref.from_torch(torch_cases.build_module(case, "float64"))
    arrays = case.arrays()
    state = arrays["initial_state"]
    mask = None if lengths is None else np.arange(case.time)[None] < np.asarray(lengths)[:, None]
    grads = lstm_ref.gradients(
        arrays["x"], twin.layers[0][0], d_outputs=d_out, d_final_h=d_h, d_final_c=d_c,
        initial_state=None if state is None else [state[0][0], state[1][0]], mask=mask,
        zero_output_for_mask=True)  # packed: padded outputs are zeros, h_n the last valid
    for name, value in expected.items():
        error = np.abs(getattr(grads, name) - value).max()
        assert error <= RTOL * np.abs(value).max(), (case.id, name, error, np.abs(value).max())
