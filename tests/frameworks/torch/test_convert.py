"""Porting LSTMs between Keras and PyTorch through the canonical weights.

- Round trips are exact: canonical -> torch state dict -> canonical, and through a real
  float64 nn.LSTM; torch -> canonical -> torch keeps every matrix and the summed bias.
- A converted model computes what its source computes: the Keras layer and its torch port
  (and the other way) both pass lstm_ref.compare, and their outputs differ by at most the sum
  of the two bounds the tolerance table gives them around the reference (plus, where the
  port's weights are a rounding of the source's, the difference of the two float64 references).
- Weights that do not fit, and options the target lacks, are refused with a clear error.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# torch warns once that oneDNN has no projections (it then runs its native LSTM): expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning")

import lstm_ref  # noqa: E402
from lstm_ref import layouts  # noqa: E402
from lstm_ref.frameworks.torch.twin import TorchLSTMTwin  # noqa: E402
from lstm_ref.frameworks.torch.observe import reference_expectations  # noqa: E402
from lstm_ref.frameworks.torch.convert import load_weights, state_dict, to_module  # noqa: E402
from lstm_ref.engine import Expectation, check_tensors  # noqa: E402
from lstm_ref.errors import OptionError, ShapeError  # noqa: E402
from lstm_ref.tolerance_table import lookup  # noqa: E402
from tests.support.helpers import (assert_same_arrays, build_with_random_weights,  # noqa: E402
                                   random_weights)
from tests.frameworks.torch.broken import one_torch_thread  # noqa: E402, F401 - autouse fixture

F, U, B, T = 3, 5, 2, 7


def projected(rng, features, units=U, output_size=2, use_bias=True):
    """Random LSTMWeights with a projection (PyTorch's proj_size)."""
    return lstm_ref.LSTMWeights(rng.normal(0, 0.6, (features, 4 * units)),
                                rng.normal(0, 0.6, (output_size, 4 * units)),
                                rng.uniform(-1, 1, 4 * units) if use_bias else None,
                                projection=rng.normal(0, 0.6, (units, output_size)))


def random_layers(rng, use_bias, projection, num_layers=2, directions=2):
    size = 2 if projection else U
    layers = []
    for k in range(num_layers):
        features = F if k == 0 else directions * size
        make = (lambda: projected(rng, features, use_bias=use_bias)) if projection else (
            lambda: random_weights(rng, U, features, use_bias=use_bias))
        layers.append(tuple(make() for _ in range(directions)))
    return layers


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("projection", [False, True], ids=["plain", "proj"])
def test_canonical_to_torch_and_back_is_exact(use_bias, projection, rng):
    layers = random_layers(rng, use_bias, projection)
    params = state_dict(layers)
    assert ("weight_hr_l1_reverse" in params) == projection
    assert ("bias_hh_l0" in params) == use_bias
    for k, pair in enumerate(layers):  # the pure layout converter, one direction at a time
        for direction, weights in enumerate(pair):
            suffix = f"_l{k}" + ("_reverse" if direction else "")
            one = {name.removesuffix(suffix): v for name, v in params.items()
                   if name.endswith(suffix)}
            assert_same_arrays(lstm_ref.LSTMWeights(**layouts.from_torch(**one)), weights)
    module = to_module(layers, dtype="float64")  # and through a real module
    assert (module.num_layers, module.bidirectional, module.bias) == (2, True, use_bias)
    assert module.proj_size == (2 if projection else 0)
    for pair, back in zip(layers, lstm_ref.from_torch(module).layers):
        for weights, again in zip(pair, back):
            assert_same_arrays(again, weights)


def test_torch_to_canonical_and_back_keeps_the_lstm(rng):
    module = torch.nn.LSTM(F, U, num_layers=2, bidirectional=True, proj_size=3,
                           dtype=torch.float64).eval()
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.as_tensor(rng.normal(0, 0.6, tuple(param.shape))))
    layers = lstm_ref.from_torch(module).layers
    again = to_module(layers, dtype="float64")
    for name, param in module.named_parameters():
        value = getattr(again, name).detach().numpy()
        if name.startswith("bias_ih"):  # the summed bias goes to bias_ih, bias_hh is zero
            hh = getattr(module, name.replace("bias_ih", "bias_hh"))
            np.testing.assert_array_equal(value, param.detach().numpy() + hh.detach().numpy())
        elif name.startswith("bias_hh"):
            assert not value.any()
        else:
            np.testing.assert_array_equal(value, param.detach().numpy())
    x = torch.as_tensor(rng.uniform(-1, 1, (T, B, F)))
    for each in (module, again):  # both the same LSTM: both pass against the same reference
        report = lstm_ref.compare(each, x)
        assert report.passed, report.summary()


# --- Keras <-> torch ---------------------------------------------------------------------------

def output_bound(layers, x_bm, dtype="float32"):
    """The bound the tolerance table gives a ``dtype`` LSTM with these (float32-exact) weights
    around the reference, at every output element: (B, T, D * P), batch first."""
    twin = TorchLSTMTwin(to_module(layers, dtype=dtype))
    return reference_expectations(twin, x_bm, None, None, lookup(dtype))["output"]


def cross_report(source, port, bound, status):
    """``port``'s output held to ``source``'s within ``bound`` (B, T, ...), where ``status``
    (the reference's, lstm_ref.report) says it is determined: a Report."""
    expected = {"output": Expectation(np.asarray(source, np.float64), np.arange(source.shape[1]),
                                      bound, status)}
    return check_tensors({"output": port}, expected, lookup("float32"), source.shape[1])


def keras_layers(keras, rng, kind):
    """A built Keras LSTM, Bidirectional(LSTM) or 2-layer Sequential with random weights, and
    its canonical layers for to_module."""
    if kind == "lstm":
        layer = build_with_random_weights(keras.layers.LSTM(U, return_sequences=True), rng,
                                          (B, T, F))
        return layer, [lstm_ref.from_keras(layer).weights]
    if kind == "bidirectional":
        layer = build_with_random_weights(
            keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True)), rng, (B, T, F))
        return layer, [lstm_ref.from_keras(layer).weights]
    first, second = (keras.layers.LSTM(U, return_sequences=True, use_bias=False) for _ in range(2))
    model = keras.Sequential([keras.Input((T, F)), first, second])
    for layer in (first, second):
        layer.set_weights([rng.normal(0, 0.7, w.shape).astype("float32")
                           for w in layer.get_weights()])
    return model, [lstm_ref.from_keras(first).weights, lstm_ref.from_keras(second).weights]


@pytest.mark.keras
@pytest.mark.parametrize("kind", ["lstm", "bidirectional", "stacked"])
def test_keras_to_torch_gives_the_same_outputs(kind, rng):
    keras = pytest.importorskip("keras")
    source, layers = keras_layers(keras, rng, kind)
    module = to_module(layers, batch_first=True)
    for pair, back in zip(layers, lstm_ref.from_torch(module).layers):  # the very same LSTM
        for weights, again in zip(pair if isinstance(pair, tuple) else (pair,), back):
            assert_same_arrays(again, weights)
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    report = lstm_ref.compare(source, x)
    assert report.passed, report.summary()
    report = lstm_ref.compare(module, x)
    assert report.passed, report.summary()
    with torch.no_grad():
        port = module(torch.as_tensor(x))[0].numpy()
    expected = output_bound(layers, x)
    # Each within its bound of the same reference: together within twice the bound.
    report = cross_report(keras.ops.convert_to_numpy(source(x)), port, 2 * expected.bound,
                          expected.status)
    assert report.passed, report.summary()


@pytest.mark.keras
@pytest.mark.parametrize("options", [{}, {"bidirectional": True}, {"num_layers": 2},
                                     {"bias": False}], ids=lambda o: ",".join(o) or "defaults")
def test_torch_to_keras_gives_the_same_outputs(options, rng):
    keras = pytest.importorskip("keras")
    module = torch.nn.LSTM(F, U, batch_first=True, **options).eval()
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.as_tensor(rng.normal(0, 0.6, tuple(param.shape))))
    layers = lstm_ref.from_torch(module).layers
    ported = []
    for pair in layers:
        if len(pair) == 2:
            layer = keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True))
        else:
            layer = keras.layers.LSTM(U, return_sequences=True, use_bias=module.bias)
        ported.append(layer)
    model = keras.Sequential([keras.Input((T, F)), *ported])
    for layer, pair in zip(ported, layers):
        layer.set_weights([np.asarray(a, "float32") for w in pair for a in w.to_keras()])
    x = rng.uniform(-1, 1, (B, T, F)).astype("float32")
    report = lstm_ref.compare(module, x)
    assert report.passed, report.summary()
    report = lstm_ref.compare(model, x)
    assert report.passed, report.summary()
    # Keras holds float32(b_ih + b_hh): its reference differs from torch's by that rounding.
    keras_weights = [lstm_ref.from_keras(layer).weights for layer in ported]
    keras_weights = [w if isinstance(w, tuple) else (w,) for w in keras_weights]
    torch_bound, keras_bound = output_bound(layers, x), output_bound(keras_weights, x)
    with torch.no_grad():
        source = module(torch.as_tensor(x))[0].numpy()
    bound = torch_bound.bound + keras_bound.bound + np.abs(torch_bound.values - keras_bound.values)
    report = cross_report(source, keras.ops.convert_to_numpy(model(x)), bound,
                          np.maximum(torch_bound.status, keras_bound.status))
    assert report.passed, report.summary()


# --- refused --------------------------------------------------------------------------------------

def test_a_projection_has_no_keras_equivalent(rng):
    module = torch.nn.LSTM(F, U, proj_size=2)
    with pytest.raises(OptionError, match="keras has no equivalent of projection"):
        lstm_ref.from_torch(module).layers[0][0].to_keras()


def test_options_torch_lacks_are_refused(rng):
    relu = random_weights(rng, U, F, activation="relu")
    with pytest.raises(OptionError, match=r"torch has no equivalent of activation='relu'"):
        to_module([relu])
    peephole = lstm_ref.LSTMWeights(np.zeros((F, 4 * U)), np.zeros((U, 4 * U)),
                                    peephole=np.ones((3, U)))
    with pytest.raises(OptionError, match="torch has no equivalent of peephole"):
        to_module(peephole)


def test_weights_that_do_not_fit_the_module_are_refused(rng):
    layers = random_layers(rng, use_bias=True, projection=False)
    with pytest.raises(ShapeError, match=r"layers\[0\] forward has features 3; .* needs 4"):
        load_weights(torch.nn.LSTM(4, U, num_layers=2, bidirectional=True), layers)
    with pytest.raises(ShapeError, match=r"units \(hidden_size\) 5; .* needs 6"):
        load_weights(torch.nn.LSTM(F, 6, num_layers=2, bidirectional=True), layers)
    with pytest.raises(ShapeError, match="has 3 layers; received weights for 2"):
        load_weights(torch.nn.LSTM(F, U, num_layers=3, bidirectional=True), layers)
    with pytest.raises(OptionError, match=r"1 direction\(s\) per layer; received 2"):
        load_weights(torch.nn.LSTM(F, U, num_layers=2), layers)
    with pytest.raises(OptionError, match="has bias; .* has none"):
        load_weights(torch.nn.LSTM(F, U, num_layers=2, bidirectional=True, bias=False), layers)
    with pytest.raises(OptionError, match="lacks a projection"):
        load_weights(torch.nn.LSTM(F, U, num_layers=2, bidirectional=True, proj_size=2), layers)
    with pytest.raises(OptionError, match="same number of directions"):
        to_module([layers[0], layers[1][0]])


def test_load_weights_into_an_lstm_cell(rng):
    weights = random_weights(rng, U, F)
    cell = load_weights(torch.nn.LSTMCell(F, U, dtype=torch.float64), weights)
    assert_same_arrays(lstm_ref.from_torch(cell).weights, weights)
    with pytest.raises(ShapeError, match="nn.LSTMCell"):
        load_weights(torch.nn.LSTMCell(F + 1, U), weights)
