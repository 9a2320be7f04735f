"""from_torch: the twin of a torch.nn.LSTM returns what the module returns, shaped as torch
shapes it, for every option (num_layers, bidirectional, proj_size, batch_first, bias,
unbatched input, packed lengths), with values within the tolerance table's bound of the
module's; nn.LSTMCell too; and bad input is refused with a clear error."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# torch warns once that oneDNN has no projections (it then runs its native LSTM): expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning")

import lstm_ref  # noqa: E402
from lstm_ref.errors import (DTypeError, LSTMRefError, OptionError, ShapeError,  # noqa: E402
                             UnsupportedLayerError, ValueRangeError)
from lstm_ref.stack import forward_stack  # noqa: E402
from tests.frameworks.torch.broken import one_torch_thread, twin_report  # noqa: E402, F401

F, H, B, T = 3, 5, 2, 6

OPTIONS = [
    {}, {"num_layers": 2}, {"num_layers": 3, "bidirectional": True}, {"bidirectional": True},
    {"proj_size": 2}, {"num_layers": 2, "bidirectional": True, "proj_size": 3},
    {"batch_first": True}, {"batch_first": True, "bidirectional": True, "num_layers": 2},
    {"bias": False}, {"bias": False, "proj_size": 1, "batch_first": True},
]


def option_id(options):
    return ",".join(f"{k}={v}" for k, v in options.items()) or "defaults"


def module_of(rng, dtype=torch.float64, **options):
    """An eval-mode nn.LSTM with random parameters: every gate, and both biases, its own."""
    module = torch.nn.LSTM(F, H, dtype=dtype, **options).eval()
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.as_tensor(rng.normal(0, 0.6, tuple(param.shape))))
    return module


def inputs(rng, module, batch=B, dtype=torch.float64):
    """x in the module's layout and a random (h_0, c_0)."""
    shape = (batch, T, F) if module.batch_first else (T, batch, F)
    rows = module.num_layers * (2 if module.bidirectional else 1)
    h0 = rng.uniform(-1, 1, (rows, batch, module.proj_size or H))
    c0 = rng.normal(0, 1, (rows, batch, H))
    return (torch.as_tensor(rng.uniform(-1, 1, shape)).to(dtype),
            tuple(torch.as_tensor(s).to(dtype) for s in (h0, c0)))


def assert_torch_structure(result, torch_result):
    output, (h_n, c_n) = result
    assert isinstance(output, np.ndarray) and output.shape == tuple(torch_result[0].shape)
    assert h_n.shape == tuple(torch_result[1][0].shape)
    assert c_n.shape == tuple(torch_result[1][1].shape)


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
def test_twin_returns_what_the_module_returns(options, rng):
    module = module_of(rng, **options)
    x, hx = inputs(rng, module)
    twin = lstm_ref.from_torch(module)
    with torch.no_grad():
        assert_torch_structure(twin(x), module(x))
        assert_torch_structure(twin(x, hx), module(x, hx))
    for state in (None, hx):
        report = twin_report(twin, module, x, state)
        assert report.passed, report.summary()
    # The twin *is* the reference: forward_stack's values, bit for bit, in torch's layout.
    x_bm = x.numpy() if module.batch_first else x.numpy().transpose(1, 0, 2)
    states = [[hx[0][i].numpy(), hx[1][i].numpy()] for i in range(hx[0].shape[0])]
    trace = forward_stack(x_bm, twin.layers, initial_state=states)
    output, (h_n, c_n) = twin(x, hx)
    expected = trace.outputs if module.batch_first else trace.outputs.transpose(1, 0, 2)
    np.testing.assert_array_equal(output, expected)
    np.testing.assert_array_equal(h_n, np.stack(trace.final_h))
    np.testing.assert_array_equal(c_n, np.stack(trace.final_c))


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
def test_module_matches_the_reference_step_by_step(options, rng):
    module = module_of(rng, **options)
    x, hx = inputs(rng, module)
    report = lstm_ref.compare(module, x, initial_state=hx)
    assert report.passed, report.summary()
    directions = ("forward", "backward") if module.bidirectional else ("forward",)
    names = {f"layer{k}.{d}.{t}" for k in range(module.num_layers) for d in directions
             for t in ("h", "c", "h_n", "c_n")}
    assert set(report.tensors) == names | {"output"}
    assert report.tolerance.dtype == "float64"
    assert "torch" in report.context["versions"] and "LSTM" in report.context["module"]


@pytest.mark.parametrize("options", [{}, {"num_layers": 2, "bidirectional": True, "proj_size": 2},
                                     {"batch_first": True}], ids=option_id)
def test_unbatched_input(options, rng):
    module = module_of(rng, **options)
    x, hx = inputs(rng, module, batch=1)
    x2 = x[0] if module.batch_first else x[:, 0]  # (T, F): torch's unbatched input
    hx2 = (hx[0][:, 0], hx[1][:, 0])
    twin = lstm_ref.from_torch(module)
    with torch.no_grad():
        assert_torch_structure(twin(x2, hx2), module(x2, hx2))
    report = twin_report(twin, module, x2, hx2)
    assert report.passed, report.summary()
    batched = twin(x, hx)
    unbatched = twin(x2, hx2)
    row = batched[0][0] if module.batch_first else batched[0][:, 0]
    np.testing.assert_array_equal(unbatched[0], row)
    np.testing.assert_array_equal(unbatched[1][0], batched[1][0][:, 0])
    assert lstm_ref.compare(module, x2, initial_state=hx2).passed


@pytest.mark.parametrize("options", [{}, {"num_layers": 2, "bidirectional": True},
                                     {"batch_first": True, "proj_size": 2, "bidirectional": True}],
                         ids=option_id)
def test_packed_lengths(options, rng):
    module = module_of(rng, **options)
    x, hx = inputs(rng, module, batch=3)
    lengths = [T, 2, 4]
    twin = lstm_ref.from_torch(module)
    report = twin_report(twin, module, x, hx, lengths=lengths)
    assert report.passed, report.summary()
    output = twin(x, hx, lengths=lengths)[0]
    padded = output[1, 2:] if module.batch_first else output[2:, 1]
    assert not padded.any()  # pad_packed_sequence pads with zeros
    mask = np.arange(T)[None] < np.array(lengths)[:, None]
    for kwargs in ({"lengths": lengths}, {"mask": mask}):
        report = lstm_ref.compare(module, x, initial_state=hx, **kwargs)
        assert report.passed, report.summary()
        assert report.context["lengths"] == lengths


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_lower_precision_modules_are_held_to_their_entry(dtype, rng):
    module = module_of(rng, num_layers=2, bidirectional=True, proj_size=2).to(getattr(torch, dtype))
    x, hx = inputs(rng, module, dtype=getattr(torch, dtype))
    report = lstm_ref.compare(module, x, initial_state=hx)
    assert report.passed, report.summary()
    assert report.tolerance.dtype == dtype
    assert twin_report(lstm_ref.from_torch(module), module, x, hx).passed


def test_twin_accepts_numpy_and_copies_the_weights(rng):
    module = module_of(rng, num_layers=2)
    x, hx = inputs(rng, module)
    twin = lstm_ref.from_torch(module)
    before = twin(x, hx)
    np.testing.assert_array_equal(twin(x.numpy(), tuple(s.numpy() for s in hx))[0], before[0])
    with torch.no_grad():
        module.weight_ih_l0.zero_()
    np.testing.assert_array_equal(twin(x, hx)[0], before[0])
    assert twin.weights is twin.layers and len(twin.layers) == 2
    assert twin.layers[0][0].kernel.shape == (F, 4 * H)


def test_twin_in_other_formats(rng):
    module = module_of(rng, bidirectional=True)
    x, hx = inputs(rng, module)
    output = lstm_ref.from_torch(module)(x, hx, dtype="float32")[0]
    assert output.dtype == np.float32


def test_lstm_cell(rng):
    cell = torch.nn.LSTMCell(F, H, dtype=torch.float64)
    with torch.no_grad():
        for param in cell.parameters():
            param.copy_(torch.as_tensor(rng.normal(0, 0.6, tuple(param.shape))))
    twin = lstm_ref.from_torch(cell)
    x = torch.as_tensor(rng.uniform(-1, 1, (B, F)))
    hx = tuple(torch.as_tensor(rng.uniform(-1, 1, (B, H))) for _ in range(2))
    h, c = twin(x, hx)
    with torch.no_grad():
        h_t, c_t = cell(x, hx)
    assert h.shape == tuple(h_t.shape) and c.shape == tuple(c_t.shape)
    h1, c1 = twin(x[0], (hx[0][0], hx[1][0]))  # unbatched
    # The same row, to the last bits only up to BLAS: a 1-row product may round differently.
    np.testing.assert_allclose(h1, h[0], rtol=1e-13, atol=0)
    np.testing.assert_allclose(c1, c[0], rtol=1e-13, atol=0)
    report = lstm_ref.compare(cell, rng.uniform(-1, 1, (B, T, F)), initial_state=hx,
                              mask=np.array([[1] * T, [1, 1, 0, 0, 1, 1]], bool))
    assert report.passed, report.summary()
    assert set(report.tensors) == {"h", "c"}
    assert lstm_ref.compare(cell.float(), x.float()).passed  # one step


# --- bad input ---------------------------------------------------------------------------------

UNSUPPORTED = [torch.nn.GRU(F, H), torch.nn.RNN(F, H), torch.nn.GRUCell(F, H),
               torch.nn.Linear(F, H), torch.nn.Sequential(torch.nn.LSTM(F, H))]


@pytest.mark.parametrize("module", UNSUPPORTED, ids=lambda m: type(m).__name__)
def test_unsupported_modules_are_refused(module):
    for call in (lambda: lstm_ref.from_torch(module),
                 lambda: lstm_ref.compare(module, np.zeros((T, B, F)))):
        with pytest.raises(UnsupportedLayerError, match=rf"received .*{type(module).__name__}") as info:
            call()
        assert "torch.nn.LSTM" in str(info.value)


def test_dropout_in_training_mode_is_refused(rng):
    module = module_of(rng, num_layers=2, dropout=0.3).train()
    x, _ = inputs(rng, module)
    twin = lstm_ref.from_torch(module)
    with pytest.raises(OptionError, match=r"training mode with dropout=0.3 .*module.eval\(\)"):
        twin(x)
    with pytest.raises(OptionError, match="dropout=0.3"):
        lstm_ref.compare(module, x)
    twin(x, training=False)
    assert lstm_ref.compare(module.eval(), x).passed
    # One layer: torch applies no dropout (it warns), so training mode is fine.
    with pytest.warns(UserWarning):
        single = torch.nn.LSTM(F, H, dropout=0.3).train()
    assert lstm_ref.compare(single, x.float()).passed


def test_wrong_hx_shapes(rng):
    module = module_of(rng, num_layers=2, bidirectional=True, proj_size=2)
    x, (h0, c0) = inputs(rng, module)
    twin = lstm_ref.from_torch(module)
    with pytest.raises(ShapeError, match=r"hx\[0\] \(h_0\) has shape \(4, 2, 5\); expected "
                                         r"\(4, 2, 2\) .*proj_size"):
        twin(x, (c0, c0))
    with pytest.raises(ShapeError, match=r"hx\[1\] \(c_0\) has shape \(2, 2, 5\); "
                                         r"expected \(4, 2, 5\)"):
        twin(x, (h0, c0[:2]))
    with pytest.raises(ShapeError, match=r"hx must be a tuple \(h_0, c_0\)"):
        twin(x, h0)
    with pytest.raises(ShapeError, match=r"hx\[0\]"):
        lstm_ref.compare(module, x, initial_state=(c0, c0))
    with pytest.raises(ShapeError, match=r"expected \(4, 2\) .*unbatched"):
        twin(x[:, 0], (h0, c0))


def test_wrong_input(rng):
    module = module_of(rng)
    twin = lstm_ref.from_torch(module)
    with pytest.raises(ShapeError, match=r"input has 4 features .*expected input_size = 3"):
        twin(np.zeros((T, B, 4)))
    with pytest.raises(ShapeError, match=r"input has 4 features"):
        lstm_ref.compare(module, np.zeros((T, B, 4)))
    with pytest.raises(ShapeError, match=r"received shape \(1, 6, 2, 3\)"):
        twin(np.zeros((1, T, B, F)))
    with pytest.raises(LSTMRefError, match="floating-point"):
        twin(np.zeros((T, B, F), int))


def test_weights_that_disagree_with_the_declared_sizes(rng):
    module = module_of(rng, num_layers=2)
    module.weight_hh_l1 = torch.nn.Parameter(torch.zeros(4 * H, H + 1, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"weight_hh_l1 has shape \(20, 6\); expected \(20, 5\)"):
        lstm_ref.from_torch(module)
    mixed = module_of(rng)
    mixed.bias_hh_l0 = torch.nn.Parameter(torch.zeros(4 * H, dtype=torch.float32))
    with pytest.raises(OptionError, match=r"several dtypes \['float32', 'float64'\]"):
        lstm_ref.from_torch(mixed)
    broken = module_of(rng)
    with torch.no_grad():
        broken.weight_ih_l0[3, 1] = float("nan")
    with pytest.raises(ValueRangeError, match="kernel must be finite"):
        lstm_ref.from_torch(broken)


def test_bad_lengths_and_masks(rng):
    module = module_of(rng)
    x, _ = inputs(rng, module, batch=3)
    twin = lstm_ref.from_torch(module)
    with pytest.raises(ValueRangeError, match=r"lengths must lie in \[1, 6\] .*no empty "
                                               r"sequence\); received \[6, 0, 2\]"):
        twin(x, lengths=[T, 0, 2])
    with pytest.raises(ShapeError, match=r"lengths has shape \(2,\); expected \(3,\)"):
        twin(x, lengths=[T, 2])
    with pytest.raises(DTypeError, match=r"lengths must be integers"):
        twin(x, lengths=[T, 2.5, 1])
    np.testing.assert_array_equal(twin(x, lengths=[T, 2.0, 1])[0], twin(x, lengths=[T, 2, 1])[0])
    with pytest.raises(ValueRangeError, match=r"at least 1 valid step.*mask row 1 has 0"):
        lstm_ref.compare(module, x, mask=np.array([[1] * T, [0] * T, [1] * T], bool))
    with pytest.raises(OptionError, match=r"right-padded .*mask row 1 is \[0, 1, 1, 1, 1, 1\]"):
        lstm_ref.compare(module, x, mask=np.array([[1] * T, [0] + [1] * 5, [1] * T], bool))
    with pytest.raises(OptionError, match="not both"):
        lstm_ref.compare(module, x, mask=np.ones((3, T), bool), lengths=[T] * 3)
    with pytest.raises(OptionError, match="needs batched input"):
        twin(x[:, 0], lengths=[T])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, [T, 2, 4], enforce_sorted=False)
    with pytest.raises(OptionError, match="not a PackedSequence"):
        twin(packed)


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN:UserWarning")
@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "native"])
def test_both_cpu_kernels_match_the_reference(onednn, rng):
    """float32 without projection runs oneDNN's LSTM on CPU unless it is turned off; both
    kernels, stepped and whole, are held to the float32 entry."""
    module = module_of(rng, num_layers=2, bidirectional=True).float()
    x, hx = inputs(rng, module, dtype=torch.float32)
    with torch.backends.mkldnn.flags(enabled=onednn):
        report = lstm_ref.compare(module, x, initial_state=hx, lengths=[T, 3])
    assert report.passed, report.summary()
    assert ("oneDNN" in report.context["kernels"]) == onednn


def test_unknown_compare_options_are_refused(rng):
    module = module_of(rng)
    with pytest.raises(OptionError, match=r"lengths= only; received execution"):
        lstm_ref.compare(module, np.zeros((T, B, F)), execution="eager")
