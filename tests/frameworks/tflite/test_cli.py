"""lstm-ref check-export: exit 0 when the export passes, 1 when it fails, 2 when it cannot
run; --json."""

import json
import zlib

import numpy as np
import pytest

from lstm_ref.cli import EXIT_ERROR, EXIT_FAILED, EXIT_OK, main
from tests.frameworks.tflite.helpers import swap_gates

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A .keras model of one LSTM, its .tflite export, and an export of swapped gates: made
    once for the module (read only; each test writes to its own tmp_path), with weights from
    a fixed seed."""
    import lstm_ref
    from lstm_ref.frameworks.tflite.convert import convert_model

    tmp_path = tmp_path_factory.mktemp("saved")
    rng = np.random.default_rng(zlib.crc32(b"tests/frameworks/tflite/test_cli.py::saved"))
    inputs = keras.Input((4, 3), batch_size=2)
    layer = keras.layers.LSTM(5, return_sequences=True, return_state=True)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in layer.get_weights()])
    model.save(tmp_path / "lstm.keras")
    (tmp_path / "lstm.tflite").write_bytes(convert_model(model))
    swapped = swap_gates(lstm_ref.from_keras(layer).weights, "f", "o")
    layer.set_weights([a.astype("float32") for a in swapped.to_keras()])
    (tmp_path / "swapped.tflite").write_bytes(convert_model(model))
    return tmp_path


def test_passes(saved, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = main(["check-export", str(saved / "lstm.keras"), str(saved / "lstm.tflite"),
                 "--json", str(out)])
    assert code == EXIT_OK, capsys.readouterr().out
    assert capsys.readouterr().out.startswith("PASSED")
    data = json.loads(out.read_text())
    assert data["verdict"] == "PASSED" and data["format"] == "lstm-ref-check-export/1"
    assert "weights.kernel" in data["tensors"]


def test_input_file(saved, tmp_path, rng, capsys):
    np.save(tmp_path / "x.npy", rng.normal(size=(2, 4, 3)))
    code = main(["check-export", str(saved / "lstm.keras"), str(saved / "lstm.tflite"),
                 "--input", str(tmp_path / "x.npy")])
    assert code == EXIT_OK
    # The WHILE loop is converted for (2, 4, 3): LiteRT resizes its input but cannot run it.
    np.save(tmp_path / "x.npy", rng.normal(size=(3, 6, 3)))
    code = main(["check-export", str(saved / "lstm.keras"), str(saved / "lstm.tflite"),
                 "--input", str(tmp_path / "x.npy")])
    assert code == EXIT_ERROR
    assert "convert it at that shape" in capsys.readouterr().err


def test_fails(saved, capsys):
    code = main(["check-export", str(saved / "lstm.keras"), str(saved / "swapped.tflite")])
    assert code == EXIT_FAILED
    assert capsys.readouterr().out.startswith("FAILED")


@pytest.mark.parametrize("source,artifact,message", [
    ("missing.keras", "lstm.tflite", "is not a file"),
    ("lstm.keras", "lstm.keras", "not a TFLite flatbuffer"),
    ("lstm.tflite", "lstm.tflite", "cannot be loaded as a Keras model"),
])
def test_cannot_run(saved, capsys, source, artifact, message):
    code = main(["check-export", str(saved / source), str(saved / artifact)])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
