"""The verdict of the torch paths held to modules that return NaN, inf or garbage at one
element: each layer and direction of an nn.LSTM (what the module returns: output, h_n, c_n)
and an nn.LSTMCell stepped. Each must be FAILED there, not PASSED nor INCONCLUSIVE; the same
module unbroken passes. The broken modules are tests/frameworks/torch/garbage.py's."""

import pytest

torch = pytest.importorskip("torch")

import lstm_ref  # noqa: E402
from tests.frameworks.torch.broken import one_torch_thread  # noqa: E402, F401
from tests.frameworks.torch.garbage import BROKEN, GarbageLSTM, GarbageLSTMCell, mark  # noqa: E402

F, H, B, T = 3, 5, 3, 7
ROW, STEP = 1, 4  # where a module breaks: row 1 at time step 4


def random_parameters(module, rng):
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.as_tensor(rng.normal(0, 0.6, tuple(param.shape))))
    return module.eval()


def where(failure):
    return failure.tensor, failure.step, failure.batch


@pytest.mark.parametrize("kind", [None, *BROKEN])
@pytest.mark.parametrize("layer,direction", [(1, 1), (1, 0), (0, 1)])
def test_a_module_broken_in_one_layer_and_direction_fails_there(kind, layer, direction, rng):
    """A two-layer bidirectional nn.LSTM whose layer ``layer``, direction ``direction``
    returns NaN, inf or garbage at one row and time: the stepped layers (torch's kernels on
    the module's parameters) pass; that direction's half of the output fails at that row and
    time (when it is the last layer), that layer and direction's h_n and c_n in that row."""
    module = random_parameters(GarbageLSTM(F, H, num_layers=2, bidirectional=True,
                                           batch_first=True, kind=kind or "nan", layer=layer,
                                           direction=direction), rng)
    x = torch.as_tensor(rng.uniform(-1, 1, (B, T, F)), dtype=torch.float32)
    result = lstm_ref.compare(module, x if kind is None else mark(x, ROW, STEP))
    if kind is None:  # no mark, nothing broken
        assert result.passed, result.summary()
        return
    assert result.failed, result.summary()
    prefix = f"layer{layer}.{'backward' if direction else 'forward'}"
    failing = {name for name, t in result.tensors.items() if not t.passed}
    expected = {f"{prefix}.h_n", f"{prefix}.c_n"} | ({"output"} if layer == 1 else set())
    assert failing == expected, result.summary()
    for name in (f"{prefix}.h_n", f"{prefix}.c_n"):
        assert result.tensors[name].first_failure.batch == ROW
        assert result.tensors[name].failures == H
    if layer == 1:
        output = result.tensors["output"]
        assert where(output.first_failure) == ("output", STEP, ROW), result.summary()
        assert output.failures == H and (output.first_failure.unit >= H) == bool(direction)
        assert where(result.first_failure) == ("output", STEP, ROW)


@pytest.mark.parametrize("kind", BROKEN)
def test_a_time_major_module_broken_at_one_element_fails_there(kind, rng):
    module = random_parameters(GarbageLSTM(F, H, kind=kind, layer=0, direction=0), rng)
    x = torch.as_tensor(rng.uniform(-1, 1, (T, B, F)), dtype=torch.float32)
    result = lstm_ref.compare(module, mark(x, ROW, STEP, batch_first=False))
    assert result.failed and where(result.first_failure) == ("output", STEP, ROW), \
        result.summary()
    assert not result.tensors["layer0.forward.h_n"].passed


@pytest.mark.parametrize("kind", BROKEN)
def test_an_lstm_cell_broken_at_one_element_fails_there(kind, rng):
    """An nn.LSTMCell stepped by compare: NaN, inf or garbage in h and c of one row at one
    step fails at that row and step, in h first; the unbroken steps before it pass."""
    cell = random_parameters(GarbageLSTMCell(F, H, kind=kind), rng)
    x = mark(torch.as_tensor(rng.uniform(-1, 1, (B, T, F)), dtype=torch.float32), ROW, STEP)
    result = lstm_ref.compare(cell, x)
    assert result.failed and where(result.first_failure) == ("h", STEP, ROW), result.summary()
    assert set(result.tensors) == {"h", "c"} and not result.tensors["c"].passed
    clean = x.clone()
    clean[ROW, STEP, 0] = 0.25
    assert lstm_ref.compare(cell, clean).passed
