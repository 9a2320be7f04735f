"""lstm-ref check-export on SavedModels: exit 0 when the export passes, 1 when it fails, 2
when it cannot run."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref.cli import EXIT_ERROR, EXIT_FAILED, EXIT_OK, main
from tests.frameworks.savedmodel.helpers import keras_lstm, save, swap_gates


@pytest.fixture
def saved(tmp_path, rng):
    """A .keras model of one LSTM (units 9), its SavedModel, and one of swapped gates."""
    model, layer = keras_lstm(rng, 9, 3, 4, return_sequences=True, return_state=True)
    model.save(tmp_path / "lstm.keras")
    save(model, tmp_path / "exported", "export")
    weights = lstm_ref.from_keras(layer).weights
    layer.set_weights([a.astype(np.float32) for a in swap_gates(weights, "i", "c").to_keras()])
    save(model, tmp_path / "swapped", "save")
    return tmp_path


def test_passes(saved, capsys):
    code = main(["check-export", str(saved / "lstm.keras"), str(saved / "exported")])
    assert code == EXIT_OK, capsys.readouterr().out
    assert capsys.readouterr().out.startswith("PASSED")


def test_fails(saved, capsys):
    code = main(["check-export", str(saved / "lstm.keras"), str(saved / "swapped")])
    assert code == EXIT_FAILED
    assert "weights.kernel" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["lstm.keras", "nowhere"], "is not a TFLite flatbuffer, a SavedModel directory or an ONNX"),
    (["lstm.keras", "exported", "--hidden-size", "9"], "--hidden-size applies to a .pt source"),
])
def test_cannot_run(saved, capsys, args, message):
    code = main(["check-export", *(str(saved / a) if i < 2 else a for i, a in enumerate(args))])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
