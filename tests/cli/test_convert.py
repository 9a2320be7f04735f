"""lstm-ref convert: saved weights through every layout and back unchanged, the converted LSTM
computes the same, and bad files or impossible conversions exit 2 with one clear line,
leaving nothing half-written."""

import os

import numpy as np
import pytest

import lstm_ref
from lstm_ref import cli, convert


@pytest.fixture
def keras_file(tmp_path, rng):
    path = tmp_path / "keras.npz"
    np.savez(path, kernel=rng.normal(size=(3, 20)).astype(np.float32),
             recurrent_kernel=rng.normal(size=(5, 20)).astype(np.float32),
             bias=rng.normal(size=20).astype(np.float32))
    return path


def run(*args):
    return cli.main(["convert", *map(str, args)])


def test_through_every_layout_and_back_unchanged(keras_file, tmp_path, capsys):
    previous, layout = keras_file, "keras"
    for target in ("torch", "onnx", "tf1", "keras"):
        path = tmp_path / f"{target}.npz"
        assert run(previous, path, "--from", layout, "--to", target) == 0
        previous, layout = path, target
    with np.load(keras_file) as start, np.load(previous) as end:
        assert sorted(start.files) == sorted(end.files)
        for name in start.files:
            assert end[name].dtype == np.float32
            np.testing.assert_array_equal(end[name], start[name])
    assert "keras.npz (keras) -> " in capsys.readouterr().out


def test_the_converted_lstm_computes_the_same(keras_file, tmp_path, rng):
    assert run(keras_file, tmp_path / "onnx.npz", "--from", "keras", "--to", "onnx") == 0
    with np.load(tmp_path / "onnx.npz") as onnx:
        assert onnx["W"].shape == (1, 20, 3) and onnx["B"].shape == (1, 40)
    source = convert.read(keras_file, "keras")
    converted = convert.read(tmp_path / "onnx.npz", "onnx")
    x = rng.normal(size=(2, 4, 3))
    np.testing.assert_array_equal(lstm_ref.forward(x, converted).c, lstm_ref.forward(x, source).c)


def test_a_torch_layer_and_direction_are_picked(tmp_path, rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8))
    np.savez(tmp_path / "torch.npz", **w.to_torch_state_dict(layer=1, reverse=True))
    assert run(tmp_path / "torch.npz", tmp_path / "k.npz", "--from", "torch", "--to", "keras",
               "--layer", "1", "--reverse") == 0
    np.testing.assert_array_equal(convert.read(tmp_path / "k.npz", "keras").kernel, w.kernel)


def test_a_torch_state_dict_file(tmp_path, rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, num_layers=2)
    torch.save(module.state_dict(), tmp_path / "lstm.pt")
    assert run(tmp_path / "lstm.pt", tmp_path / "k.npz", "--from", "torch", "--to", "keras",
               "--layer", "1") == 0
    weights = convert.read(tmp_path / "k.npz", "keras")
    np.testing.assert_array_equal(weights.kernel, module.weight_ih_l1.detach().numpy().T)
    np.testing.assert_array_equal(  # the two biases, summed (in float32: the file's precision)
        weights.bias, (module.bias_ih_l1 + module.bias_hh_l1).detach().numpy())
    assert run(tmp_path / "k.npz", tmp_path / "back.pt", "--from", "keras", "--to", "torch") == 0
    state = torch.load(tmp_path / "back.pt", weights_only=True)
    assert sorted(state) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]


def _truncated_npz(p):
    np.savez(p, kernel=np.zeros((3, 20)), recurrent_kernel=np.zeros((5, 20)))
    data = open(p, "rb").read()
    open(p, "wb").write(data[:len(data) // 2])


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "no such file"),
    (lambda p: np.savez(p, kernel=np.zeros((3, 20))), "has no recurrent_kernel for the keras layout"),
    (lambda p: np.savez(p, kernel=np.array([{"a": 1}], dtype=object),
                        recurrent_kernel=np.zeros((5, 20))), "holds pickled objects, not arrays"),
    (lambda p: open(p, "w").write("not a zip"), "is not a .npz file of arrays"),
    (lambda p: open(p, "wb").write(b"PK\x03\x04 truncated"), "not a readable .npz file"),
    (_truncated_npz, "not a readable .npz file of arrays"),
    (lambda p: np.save(open(p, "wb"), np.zeros(3)), "not a .npz file of named arrays; it holds one "
                                                    "ndarray of shape (3,)"),
])
def test_bad_source_files_exit_2_with_one_line(make, message, tmp_path, capsys):
    source = tmp_path / "bad.npz"
    make(source)
    assert run(source, tmp_path / "out.npz", "--from", "keras", "--to", "torch") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-ref: error:") and message in err and "\n" not in err
    assert not os.path.exists(tmp_path / "out.npz")


def _truncated_pt(p, torch):
    torch.save(torch.nn.LSTM(3, 4).state_dict(), p)
    data = open(p, "rb").read()
    open(p, "wb").write(data[:100])


@pytest.mark.parametrize("make,message", [
    (lambda p, torch: torch.save(torch.nn.LSTM(3, 4), p), "a whole pickled module?"),
    (lambda p, torch: open(p, "w").write("garbage"), "not a readable torch state dict"),
    (_truncated_pt, "damaged, or not a torch file"),
    (lambda p, torch: torch.save([torch.zeros(3)], p), "not a torch state dict (a mapping of "
                                                       "names to tensors); it holds a list"),
])
def test_bad_torch_files_exit_2_with_one_line(make, message, tmp_path, capsys):
    """Never torch's own message, which suggests weights_only=False: running the file's code."""
    torch = pytest.importorskip("torch")
    source = tmp_path / "bad.pt"
    make(source, torch)
    assert run(source, tmp_path / "out.npz", "--from", "torch", "--to", "keras") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-ref: error:") and message in err and "\n" not in err
    assert "weights_only" not in err and not os.path.exists(tmp_path / "out.npz")


def test_what_the_target_cannot_express_exits_2_and_writes_nothing(tmp_path, rng, capsys):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8),
                             peephole=rng.normal(size=(3, 2)))
    variables, _ = w.to_tf1()
    np.savez(tmp_path / "tf1.npz", **variables)
    assert run(tmp_path / "tf1.npz", tmp_path / "k.npz", "--from", "tf1", "--to", "keras") == 2
    assert "keras has no equivalent of peephole" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["tf1.npz"]  # no partial file left behind


def test_a_missing_destination_folder_exits_2(keras_file, tmp_path, capsys):
    assert run(keras_file, tmp_path / "no" / "out.npz", "--from", "keras", "--to", "torch") == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_tf1_forget_bias_travels_as_an_option(tmp_path, rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8),
                             forget_bias=1.0)
    convert.write(w, tmp_path / "tf1.npz", "tf1")
    assert convert.read(tmp_path / "tf1.npz", "tf1").forget_bias == 1.0
    convert.write(w, tmp_path / "k.npz", "keras")  # Keras has none: folded into the bias
    np.testing.assert_array_equal(convert.read(tmp_path / "k.npz", "keras").bias[2:4],
                                  w.bias[2:4] + 1.0)
