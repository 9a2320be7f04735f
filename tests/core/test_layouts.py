"""Layout converters between Keras, PyTorch, ONNX and TF1: gate orders by hand, exact round
trips in every direction, the same LSTM after conversion, and clear refusals of what a
layout cannot express."""

import numpy as np
import pytest

import lstm_ref
from lstm_ref import layouts
from lstm_ref.errors import OptionError, ShapeError
from tests.support.helpers import assert_same_arrays

U, F = 3, 2


def labelled(rows, order):
    """A (rows, 4U) array whose gate blocks hold their gate's index in Keras order."""
    return np.concatenate([np.full((rows, U), "ifco".index(g), float) for g in order], axis=1)


@pytest.mark.parametrize("layout,order", [("keras", "ifco"), ("torch", "ifco"),
                                          ("onnx", "iofc"), ("tf1", "icfo")])
def test_gate_orders_by_hand(layout, order):
    np.testing.assert_array_equal(layouts.reorder_gates(labelled(2, order), layout, "keras"),
                                  labelled(2, "ifco"))
    np.testing.assert_array_equal(layouts.reorder_gates(labelled(2, "ifco"), "keras", layout),
                                  labelled(2, order))


def test_unknown_layout_and_bad_gate_axis():
    with pytest.raises(OptionError, match=r"layout must be one of .* received 'caffe'"):
        layouts.reorder_gates(np.zeros(8), "caffe", "keras")
    with pytest.raises(ShapeError, match=r"4 \* units entries; received 7"):
        layouts.reorder_gates(np.zeros(7), "onnx", "keras")


def full_weights(rng, projection=False, **options):
    size = 2 if projection else U
    return lstm_ref.LSTMWeights(rng.normal(size=(F, 4 * U)), rng.normal(size=(size, 4 * U)),
                                rng.normal(size=4 * U),
                                projection=rng.normal(size=(U, size)) if projection else None,
                                **options)


def same(a, b):
    assert_same_arrays(a, b)
    assert a.options().keys() == b.options().keys()


def test_torch_round_trip_is_exact(rng):
    w = full_weights(rng, projection=True)
    back = lstm_ref.LSTMWeights(**layouts.from_torch(**layouts.to_torch(w)))
    same(w, back)
    params = w.to_torch_state_dict(layer=1, reverse=True)
    assert sorted(params) == ["bias_hh_l1_reverse", "bias_ih_l1_reverse", "weight_hh_l1_reverse",
                              "weight_hr_l1_reverse", "weight_ih_l1_reverse"]
    assert params["weight_ih_l1_reverse"].shape == (4 * U, F)
    assert params["weight_hh_l1_reverse"].shape == (4 * U, 2)


def test_torch_biases_are_summed_and_the_sum_comes_back(rng):
    b_ih, b_hh = rng.normal(size=4 * U), rng.normal(size=4 * U)
    arrays = layouts.from_torch(rng.normal(size=(4 * U, F)), rng.normal(size=(4 * U, U)), b_ih, b_hh)
    np.testing.assert_array_equal(arrays["bias"], b_ih + b_hh)
    back = layouts.to_torch(lstm_ref.LSTMWeights(**arrays))
    np.testing.assert_array_equal(back["bias_ih"] + back["bias_hh"], b_ih + b_hh)
    with pytest.raises(OptionError, match="both biases or neither"):
        layouts.from_torch(np.zeros((4 * U, F)), np.zeros((4 * U, U)), b_ih, None)


def test_onnx_round_trip_is_exact_and_peepholes_reorder(rng):
    w = full_weights(rng, peephole=rng.normal(size=(3, U)), gate_clip=2.0, input_forget=True)
    arrays, attributes = layouts.to_onnx(w)
    assert attributes == {"hidden_size": U, "input_forget": 1, "clip": 2.0}
    # P = [p_i, p_o, p_f]: our rows are i, f, o.
    np.testing.assert_array_equal(arrays["P"], np.concatenate([w.peephole[0], w.peephole[2],
                                                               w.peephole[1]]))
    back = lstm_ref.LSTMWeights(**layouts.from_onnx(**arrays), gate_clip=2.0, input_forget=True)
    same(w, back)
    directional, _ = w.to_onnx()
    assert directional["W"].shape == (1, 4 * U, F) and directional["B"].shape == (1, 8 * U)


def test_onnx_bias_halves_are_summed():
    W, R = labelled(F, "iofc").T, labelled(U, "iofc").T
    wb, rb = np.arange(4 * U, dtype=float), 100 + np.arange(4 * U, dtype=float)
    arrays = layouts.from_onnx(W, R, np.concatenate([wb, rb]))
    np.testing.assert_array_equal(arrays["kernel"], labelled(F, "ifco"))
    np.testing.assert_array_equal(arrays["bias"], layouts.reorder_gates(wb + rb, "onnx", "keras"))
    with pytest.raises(ShapeError, match=r"B must have shape \(8 \* hidden_size,\) = \(24,\)"):
        layouts.from_onnx(W, R, wb)


def test_tf1_kernel_stacks_input_rows_then_h_rows_and_keeps_forget_bias(rng):
    w = full_weights(rng, projection=True, peephole=rng.normal(size=(3, U)), cell_clip=3.0,
                     proj_clip=1.5, forget_bias=1.0)
    variables, options = layouts.to_tf1(w)
    assert variables["kernel"].shape == (F + 2, 4 * U)
    np.testing.assert_array_equal(layouts.reorder_gates(variables["kernel"][:F], "tf1", "keras"),
                                  w.kernel)
    assert options == {"forget_bias": 1.0, "cell_clip": 3.0, "proj_clip": 1.5}
    back = lstm_ref.LSTMWeights(**layouts.from_tf1(**variables, forget_bias=1.0), cell_clip=3.0,
                                proj_clip=1.5)
    same(w, back)


def test_keras_takes_a_folded_forget_bias_and_nothing_else(rng):
    w = full_weights(rng, forget_bias=1.0)
    kernel, recurrent, bias = w.to_keras()
    np.testing.assert_array_equal(bias[U:2 * U], w.bias[U:2 * U] + 1.0)
    np.testing.assert_array_equal(bias[:U], w.bias[:U])
    no_bias = lstm_ref.LSTMWeights(w.kernel, w.recurrent_kernel, forget_bias=2.0)
    np.testing.assert_array_equal(no_bias.to_keras()[2], np.repeat([0.0, 2.0, 0.0, 0.0], U))


@pytest.mark.parametrize("target,options,named", [
    ("keras", {"peephole": np.ones((3, U))}, "peephole"),
    ("keras", {"cell_clip": 1.0}, "cell_clip"),
    ("torch", {"gate_clip": 1.0}, "gate_clip"),
    ("torch", {"activation": "relu"}, "activation='relu'"),
    ("onnx", {"cell_clip": 1.0}, "cell_clip"),
    ("tf1", {"input_forget": True}, "input_forget"),
    ("tf1", {"recurrent_activation": "hard_sigmoid"}, "recurrent_activation='hard_sigmoid'"),
])
def test_what_a_layout_cannot_express_is_refused(target, options, named, rng):
    w = lstm_ref.LSTMWeights(rng.normal(size=(F, 4 * U)), rng.normal(size=(U, 4 * U)),
                             rng.normal(size=4 * U), **options)
    convert = {"keras": layouts.to_keras, "torch": layouts.to_torch, "onnx": layouts.to_onnx,
               "tf1": layouts.to_tf1}[target]
    with pytest.raises(OptionError, match=rf"{target} has no equivalent of .*{named}"):
        convert(w)


@pytest.mark.parametrize("layout", ["torch", "onnx", "tf1"])
def test_a_converted_lstm_computes_the_same(layout, rng):
    w = full_weights(rng)
    there = {"torch": lambda: layouts.from_torch(**layouts.to_torch(w)),
             "onnx": lambda: layouts.from_onnx(**layouts.to_onnx(w)[0]),
             "tf1": lambda: layouts.from_tf1(**layouts.to_tf1(w)[0])}[layout]()
    back = lstm_ref.LSTMWeights(**there)
    x = rng.normal(size=(2, 5, F))
    np.testing.assert_array_equal(lstm_ref.forward(x, back).h, lstm_ref.forward(x, w).h)
