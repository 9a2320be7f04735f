"""compare_export on torch.onnx.export of torch.nn.LSTM (forward, bidirectional, two layers,
batch_first), run by onnxruntime; and the planted bugs it must fail: an edited initializer,
gates swapped in the exported module, an edited node attribute."""

import io
import warnings

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import OptionError, UnsupportedLayerError

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.torch

# (input_size, hidden_size, nn.LSTM options, batch, time): 9 and 17 straddle a vector width.
CASES = [
    (3, 9, {}, 2, 5),
    (4, 17, {"bidirectional": True, "num_layers": 2, "batch_first": True}, 3, 4),
    (3, 9, {"num_layers": 2}, 2, 6),
]


def case_id(case):
    features, hidden, options, batch, time = case
    return "-".join([f"features={features}", f"hidden={hidden}",
                     *(f"{k}={v}" for k, v in options.items()), f"batch={batch}", f"time={time}"])


def module(rng, features, hidden, **options):
    """An eval-mode nn.LSTM with every parameter drawn independently (seeded)."""
    lstm = torch.nn.LSTM(features, hidden, **options).eval()
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(torch.as_tensor(rng.normal(0, 0.5, tuple(p.shape)), dtype=torch.float32))
    return lstm


def export(lstm, x, dynamo=False):
    """The ONNX ModelProto of ``lstm`` exported at ``x``'s shape."""
    if dynamo:
        pytest.importorskip("onnxscript", reason="torch's dynamo exporter needs onnxscript")
        program = torch.onnx.export(lstm, (torch.as_tensor(x, dtype=torch.float32),),
                                    dynamo=True, verbose=False)
        return program.model_proto
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter warns that an LSTM exported at batch > 1 with zero initial
        # states may not run at another batch size: these tests run it at the exported one.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        # dynamo=False is asked for: the notices that it is the legacy exporter are known.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(lstm, (torch.as_tensor(x, dtype=torch.float32),), buffer,
                          dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def input_of(rng, case):
    features, _, options, batch, time = case
    return rng.normal(size=(batch, time, features) if options.get("batch_first")
                      else (time, batch, features))


def _names(options):
    directions = ("forward", "backward") if options.get("bidirectional") else ("forward",)
    return [f"layer{k}.{d}" for k in range(options.get("num_layers", 1)) for d in directions]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_torch_export_passes(case, rng):
    features, hidden, options, _, _ = case
    lstm, x = module(rng, features, hidden, **options), input_of(rng, case)
    model = export(lstm, x)
    assert [n.op_type for n in model.graph.node].count("LSTM") == options.get("num_layers", 1)
    report = lstm_ref.compare_export(lstm, model, x)
    assert report.passed, report.summary()
    shown = ["output"] + [f"{p}.{t}" for p in _names(options) for t in ("h", "h_n", "c_n")] + [
        f"weights.{p}.{w}" for p in _names(options) for w in ("kernel", "recurrent_kernel", "bias")]
    assert set(shown) <= set(report.tensors), list(report.tensors)
    for name in shown:  # not vacuous: every element of every tensor compared
        assert report.tensors[name].compared == report.tensors[name].size > 0, name
    assert all(report.tensors[n].max_abs.max() == 0 for n in shown if n.startswith("weights."))
    assert report.context["h_n, c_n"] == "the graph's second and third outputs"


@pytest.mark.slow
def test_dynamo_export_passes(rng):
    """torch's default (dynamo) exporter, through onnxscript: one LSTM node per layer too."""
    case = CASES[1]
    lstm, x = module(rng, *case[:2], **case[2]), input_of(rng, case)
    report = lstm_ref.compare_export(lstm, export(lstm, x, dynamo=True), x)
    assert report.passed, report.summary()
    assert "layer1.backward.h" in report.tensors


def test_state_dict_twin_source(rng):
    """The source as torch's twin of a module rebuilt from a state dict."""
    from lstm_ref.frameworks.torch.state import module_from_state_dict

    case = CASES[2]
    lstm, x = module(rng, *case[:2], **case[2]), input_of(rng, case)
    rebuilt = module_from_state_dict(lstm.state_dict())
    assert lstm_ref.compare_export(lstm_ref.from_torch(rebuilt), export(lstm, x), x).passed
    with pytest.raises(OptionError, match="state dict"):
        lstm_ref.compare_export(lstm.state_dict(), export(lstm, x), x)


def _initializer(model, node_index, position):
    node = [n for n in model.graph.node if n.op_type == "LSTM"][node_index]
    return next(t for t in model.graph.initializer if t.name == node.input[position])


def test_edited_initializer_fails(rng):
    """One element of layer 1's R (backward direction) moved by one float32 ulp."""
    case = CASES[1]
    lstm, x = module(rng, *case[:2], **case[2]), input_of(rng, case)
    model = export(lstm, x)
    tensor = _initializer(model, 1, 2)
    array = onnx.numpy_helper.to_array(tensor).copy()
    array[1, 7, 3] = np.nextafter(array[1, 7, 3], np.float32(np.inf))
    tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
    report = lstm_ref.compare_export(lstm, model, x)
    assert report.failed
    assert report.first_failure.tensor == "weights.layer1.backward.recurrent_kernel"
    assert report.tensors["weights.layer1.backward.recurrent_kernel"].failures == 1


def test_swapped_gates_fail(rng):
    """The module exported with its input and forget gates swapped, held to the original."""
    case = CASES[0]
    lstm, x = module(rng, *case[:2], **case[2]), input_of(rng, case)
    swapped = module(rng, *case[:2], **case[2])
    hidden = case[1]
    perm = np.r_[hidden:2 * hidden, 0:hidden, 2 * hidden:4 * hidden]  # torch's i, f, g, o
    with torch.no_grad():
        for name, p in swapped.named_parameters():
            p.copy_(getattr(lstm, name)[perm])
    report = lstm_ref.compare_export(lstm, export(swapped, x), x)
    assert report.failed
    assert report.first_failure.tensor == "weights.layer0.forward.kernel"


def test_edited_attribute_fails_the_run(rng):
    """Weights intact, the node computing otherwise (clip=0.05): the run fails."""
    case = CASES[0]
    lstm, x = module(rng, *case[:2], **case[2]), input_of(rng, case)
    model = export(lstm, x)
    node = next(n for n in model.graph.node if n.op_type == "LSTM")
    node.attribute.append(onnx.helper.make_attribute("clip", 0.05))
    report = lstm_ref.compare_export(lstm, model, x * 3)
    assert report.failed
    assert report.tensors["weights.layer0.forward.kernel"].passed
    assert not report.first_failure.tensor.startswith("weights.")


def test_layer_count_mismatch_is_refused(rng):
    lstm, x = module(rng, 3, 9), rng.normal(size=(5, 2, 3))
    deeper = module(rng, 3, 9, num_layers=2)
    with pytest.raises(UnsupportedLayerError, match="1 ONNX LSTM node.* and the source 2"):
        lstm_ref.compare_export(deeper, export(lstm, x), x)
