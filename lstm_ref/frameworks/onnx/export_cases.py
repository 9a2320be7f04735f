"""Export-grid cases (lstm_ref.grids.export) of the ONNX kinds: the case's Keras 3 LSTM
converted by tf2onnx, or its torch.nn.LSTM exported by torch.onnx.export (TorchScript), run
in onnxruntime and held to the reference of the case's weights."""

import io
import warnings

import numpy as np

from lstm_ref._optional import require
from lstm_ref.frameworks.onnx.export import compare_export
from lstm_ref.layouts import from_torch
from lstm_ref.weights import LSTMWeights

__all__ = ["keras_lstm_tf2onnx", "run_export_case", "torch_layers", "torch_lstm_onnx"]

# The opset both exporters are asked for (one every onnxruntime of the onnx extra runs).
OPSET = 17


def keras_lstm_tf2onnx(weights, batch, time, **options):
    """The onnx.ModelProto tf2onnx converts a functional Keras 3 model of one LSTM with
    ``weights`` (its activation; the layer ``options``) to, at input (batch, time, features)."""
    keras = require("keras", "keras")
    tf = require("tensorflow", "keras")
    tf2onnx = require("tf2onnx", "onnx")
    inputs = keras.Input((time, weights.features), batch_size=batch)
    layer = keras.layers.LSTM(weights.units, activation=weights.activation.name,
                              recurrent_activation=weights.recurrent_activation.name,
                              use_bias=weights.use_bias, **options)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.asarray(a, np.float32) for a in weights.to_keras()])
    spec = [tf.TensorSpec((batch, time, weights.features), tf.float32, name="x")]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    return proto


def torch_lstm_onnx(parameters, x, **options):
    """The onnx.ModelProto torch.onnx.export (the TorchScript exporter) writes for an eval-mode
    torch.nn.LSTM with the state dict ``parameters`` and ``options`` (input_size,
    hidden_size, num_layers, bidirectional, batch_first), traced at ``x``."""
    torch = require("torch", "torch")
    onnx = require("onnx", "onnx")
    lstm = torch.nn.LSTM(**options).eval()
    lstm.load_state_dict({name: torch.as_tensor(a) for name, a in parameters.items()})
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The exporter warns that an LSTM exported at batch > 1 with zero initial states may
        # not run at another batch size (the grid runs it at the exported one), and that
        # dynamo=False is the legacy exporter (asked for: it needs no onnxscript).
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(lstm, (torch.as_tensor(x, dtype=torch.float32),), buffer,
                          dynamo=False, opset_version=OPSET)
    return onnx.load_from_string(buffer.getvalue())


def torch_layers(parameters, num_layers, bidirectional):
    """compare_export's source layers of an nn.LSTM state dict: per layer, (forward[,
    backward]) LSTMWeights in Keras's layout."""
    suffixes = ("", "_reverse") if bidirectional else ("",)
    return [tuple(LSTMWeights(**from_torch(*(parameters[f"{name}_l{k}{suffix}"] for name in
                                             ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))))
                  for suffix in suffixes) for k in range(num_layers)]


def run_export_case(case, planted=False):
    """The Report of compare_export on the case's ONNX model. The source is the case's drawn
    weights (and go_backwards, for tf2onnx); ``planted``: the model exported from the weights
    with the input and forget gates swapped."""
    x = case.input()
    if case.kind == "tf2onnx":
        proto = keras_lstm_tf2onnx(case.weights(swapped=planted), case.batch, case.time,
                                   return_sequences=case.return_sequences,
                                   return_state=case.return_state,
                                   go_backwards=case.go_backwards)
        context = {"source": f"Keras 3 LSTM ({case.units} units, {case.activation}), "
                             "converted by tf2onnx"}
        return compare_export([(case.weights(),)], proto, x, batch_first=True,
                              go_backwards=case.go_backwards, context=context)
    options = {"input_size": case.features, "hidden_size": case.units,
               "num_layers": case.num_layers, "bidirectional": case.bidirectional,
               "batch_first": case.batch_first}
    proto = torch_lstm_onnx(case.torch_parameters(swapped=planted), x, **options)
    context = {"source": f"torch.nn.LSTM({options}), exported by torch.onnx.export"}
    return compare_export(torch_layers(case.torch_parameters(), case.num_layers,
                                       case.bidirectional), proto, x,
                          batch_first=case.batch_first, context=context,
                          source_dtype="float32")
