"""lstm-ref check-export on an ONNX export of a torch.nn.LSTM, the source its state dict
(.pt): exit 0 when it passes, 1 when it fails, 2 when it cannot run."""

import numpy as np
import pytest

from lstm_ref.cli import EXIT_ERROR, EXIT_FAILED, EXIT_OK, main
from tests.frameworks.onnx.test_export_torch import export, module

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.torch


@pytest.fixture
def saved(tmp_path, rng):
    """A bidirectional two-layer batch_first nn.LSTM (hidden 9): its state dict, its ONNX
    export, and the export with one weight edited."""
    lstm = module(rng, 3, 9, num_layers=2, bidirectional=True, batch_first=True)
    torch.save(lstm.state_dict(), tmp_path / "lstm.pt")
    model = export(lstm, rng.normal(size=(2, 4, 3)))
    onnx.save(model, tmp_path / "lstm.onnx")
    tensor = next(t for t in model.graph.initializer
                  if t.name == [n for n in model.graph.node if n.op_type == "LSTM"][0].input[1])
    array = onnx.numpy_helper.to_array(tensor).copy()
    array[0, 2, 1] += 1e-3
    tensor.CopyFrom(onnx.numpy_helper.from_array(array, tensor.name))
    onnx.save(model, tmp_path / "edited.onnx")
    return tmp_path


def test_passes(saved, capsys):
    code = main(["check-export", str(saved / "lstm.pt"), str(saved / "lstm.onnx"),
                 "--batch-first", "--hidden-size", "9", "--num-layers", "2", "--bidirectional"])
    assert code == EXIT_OK, capsys.readouterr().out
    assert capsys.readouterr().out.startswith("PASSED")


def test_fails(saved, capsys):
    code = main(["check-export", str(saved / "lstm.pt"), str(saved / "edited.onnx"),
                 "--batch-first"])
    assert code == EXIT_FAILED
    assert "weights.layer0.forward.kernel" in capsys.readouterr().out


@pytest.mark.parametrize("options,message", [
    (["--batch-first", "--hidden-size", "8"], "hidden_size was given as 8; the state dict"),
    ([], "is the source's batch_first the artifact's?"),  # --batch-first left out
])
def test_cannot_run(saved, capsys, options, message):
    np.save(saved / "x.npy", np.zeros((2, 4, 3)))
    code = main(["check-export", str(saved / "lstm.pt"), str(saved / "lstm.onnx"), *options])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
