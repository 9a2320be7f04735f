"""compare_export on SavedModels of a Keras LSTM, written by Keras's model.export and by
tf.saved_model.save, run through their serving endpoints; and the planted bugs it must fail:
a variable changed after loading, gates swapped before saving, other semantics."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.errors import ShapeError
from lstm_ref.frameworks import savedmodel
from tests.frameworks.savedmodel.helpers import keras_lstm, save, swap_gates

tf = pytest.importorskip("tensorflow")

# (how, units, features, batch, time, layer options): units 9 and 17 straddle a vector width.
CASES = [
    ("export", 9, 3, 2, 4, {"return_sequences": True, "return_state": True}),
    ("save", 17, 4, 3, 5, {"return_sequences": True}),
    ("export", 9, 3, 2, 4, {"return_state": True, "go_backwards": True}),
]


def case_id(case):
    how, units, features, batch, time, options = case
    return "-".join([how, f"units={units}", f"features={features}", f"batch={batch}",
                     f"time={time}", *options])


def _assert_compared(report, names):
    """Not vacuous: every named tensor is in the report, each element compared."""
    assert set(names) <= set(report.tensors), list(report.tensors)
    for name in names:
        assert report.tensors[name].compared == report.tensors[name].size > 0, name


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_savedmodel_passes(case, rng, tmp_path):
    how, units, features, batch, time, options = case
    model, _ = keras_lstm(rng, units, features, time, **options)
    path = save(model, tmp_path / "model", how)
    assert savedmodel.is_savedmodel(path)
    report = lstm_ref.compare_export(model, path, rng.normal(size=(batch, time, features)))
    assert report.passed, report.summary()
    shown = ["weights.kernel", "weights.recurrent_kernel", "weights.bias", "output"]
    _assert_compared(report, shown + (["state_h", "state_c"] if "return_state" in options
                                      else []))
    assert report.tensors["weights.kernel"].max_abs.max() == 0  # float32: bit for bit


def test_keras_serve_endpoint(rng, tmp_path):
    model, layer = keras_lstm(rng, 9, 3, 4, return_sequences=True, return_state=True)
    path = save(model, tmp_path / "model", "export")
    weights = lstm_ref.from_keras(layer).weights
    report = savedmodel.compare_export(weights, path, rng.normal(size=(2, 4, 3)),
                                       endpoint_name="serve")
    assert report.passed, report.summary()
    assert "'serve'" in report.context["artifact"]
    _assert_compared(report, ["weights.kernel", "output", "state_h", "state_c"])


def test_variable_changed_after_loading_fails(rng, tmp_path):
    model, _ = keras_lstm(rng, 9, 3, 4, return_sequences=True)
    loaded = tf.saved_model.load(save(model, tmp_path / "model", "export"))
    x = rng.normal(size=(2, 4, 3))
    assert lstm_ref.compare_export(model, loaded, x).passed
    variable = next(v for v in loaded.signatures["serving_default"].variables
                    if "recurrent_kernel" in v.name)
    value = variable.numpy()
    value[1, 5] = np.nextafter(value[1, 5], np.float32(np.inf))  # one float32 ulp
    variable.assign(value)
    report = lstm_ref.compare_export(model, loaded, x)
    assert report.failed
    assert report.first_failure.tensor == "weights.recurrent_kernel"
    assert report.tensors["weights.recurrent_kernel"].failures == 1


def test_gates_swapped_before_saving_fails(rng, tmp_path):
    model, layer = keras_lstm(rng, 9, 3, 4, return_sequences=True)
    weights = lstm_ref.from_keras(layer).weights
    layer.set_weights([a.astype(np.float32) for a in swap_gates(weights, "f", "o").to_keras()])
    path = save(model, tmp_path / "model", "save")
    report = lstm_ref.compare_export(weights, path, rng.normal(size=(2, 4, 3)))
    assert report.failed
    assert report.first_failure.tensor == "weights.kernel"


def test_other_semantics_fail_the_run(rng, tmp_path):
    """Weights intact, the source's semantics other than the artifact's (hard_sigmoid
    gates): the weights check passes and the run fails."""
    model, layer = keras_lstm(rng, 9, 3, 4, return_sequences=True)
    path = save(model, tmp_path / "model", "export")
    source = lstm_ref.from_keras(layer).weights.replace(recurrent_activation="hard_sigmoid")
    report = lstm_ref.compare_export(source, path, rng.normal(size=(2, 4, 3)) * 2)
    assert report.failed
    assert report.tensors["weights.kernel"].passed
    assert not report.first_failure.tensor.startswith("weights.")


def test_input_of_another_shape_is_refused(rng, tmp_path):
    model, _ = keras_lstm(rng, 9, 3, 4)
    path = save(model, tmp_path / "model", "export")
    with pytest.raises(ShapeError, match=r"x has shape \(2, 6, 3\); the SavedModel's"):
        lstm_ref.compare_export(model, path, rng.normal(size=(2, 6, 3)))
