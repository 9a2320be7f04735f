"""Each framework alone: a grid case's object built exactly as the framework's run_case builds
it (the same weights, the same dtype) and called once, by the case's own execution path, with
no stepping, no reference and no comparison. bench/overhead.py times a process that runs these
for every case of a grid against one that runs the grid itself.

One function per framework name of lstm_ref.grids.registry.FRAMEWORKS, ``alone(case, dtype)``;
each returns what the framework computed (NumPy arrays) and says in its docstring what of
run_case it mirrors. The builders are the product's own (they are how run_case builds the
framework's object); the calls are written here as a user would write them.

    from alone import ALONE
    ALONE["torch"](case, "float32")
"""

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["ALONE"]


def keras(case, dtype="float32", api="keras"):
    """lstm_ref.frameworks.keras.cases.run_case, less the checking: build_case_layer (the
    case's weights set), case_execution, and one lstm_ref.frameworks.keras.execution.call on
    the case's x, initial state and mask in the layer's compute dtype, as observe feeds them
    (execution.as_fed: what "predict" hands the layer); no stepped cell, no validation."""
    from lstm_ref.frameworks.keras import execution
    from lstm_ref.frameworks.keras.cases import build_case_layer, case_execution
    from lstm_ref.frameworks.keras.twin import keras_of

    layer = build_case_layer(case, dtype=dtype, api=api)
    path = case_execution(case, layer)
    module = keras_of(layer)
    arrays = case.arrays()
    x = execution.as_fed(module, path, np.asarray(arrays["x"]).astype(layer.compute_dtype))
    state = arrays["initial_state"]
    if state is not None:
        state = [execution.as_fed(module, path, np.asarray(s).astype(layer.compute_dtype))
                 for s in state]
    mask = None if arrays["mask"] is None else np.asarray(arrays["mask"], bool)
    return execution.call(module, layer, x, state, mask, path)


def tf_keras(case, dtype="float32"):
    """:func:`keras` with api="tf_keras" (run_case(case, dtype, api="tf_keras"))."""
    return keras(case, dtype, api="tf_keras")


def tf1(case, dtype="float32"):
    """lstm_ref.frameworks.tf1.cases.run_case, less the checking: build_cell (the case's
    variables assigned) and the whole sequence run once by the case's runner
    (lstm_ref.frameworks.tf1.runners.run_sequence: dynamic_rnn eagerly, in a tf.function, in
    a v1 Session, or tf_keras.layers.RNN), with the case's (c, h) state and sequence_length;
    no stepped cell."""
    from lstm_ref.frameworks.tf1.cases import build_cell
    from lstm_ref.frameworks.tf1.runners import run_sequence

    cell = build_cell(case, dtype)
    arrays = case.arrays()
    state = arrays["initial_state"]
    state = None if state is None else tuple(np.asarray(s, dtype) for s in state)
    lengths = None if arrays["lengths"] is None else np.asarray(arrays["lengths"])
    return run_sequence(cell, np.asarray(arrays["x"]).astype(dtype), state, lengths,
                        case.execution)


def torch(case, dtype="float32"):
    """lstm_ref.frameworks.torch.cases.run_case, less the checking: build_module (the case's
    parameters loaded, eval mode) and module_inputs, then one call of the module under
    no_grad, through pack_padded_sequence / pad_packed_sequence where the case has lengths
    (as lstm_ref.frameworks.torch.observe._called runs it); no per-step runs."""
    import torch as torch_

    from lstm_ref.frameworks.torch.cases import build_module, module_inputs

    module = build_module(case, dtype)
    x, hx, lengths = module_inputs(case, dtype)
    rnn = torch_.nn.utils.rnn
    with torch_.no_grad():
        if lengths is None:
            output, (h_n, c_n) = module(x, hx)
        else:
            time = x.shape[1] if module.batch_first else x.shape[0]
            packed = rnn.pack_padded_sequence(x, torch_.as_tensor(lengths, dtype=torch_.int64),
                                              batch_first=module.batch_first,
                                              enforce_sorted=False)
            packed_output, (h_n, c_n) = module(packed, hx)
            output, _ = rnn.pad_packed_sequence(packed_output, batch_first=module.batch_first,
                                                total_length=time)
    return [t.float().numpy() for t in (output, h_n, c_n)]


def onnx(case, dtype="float32"):
    """lstm_ref.frameworks.onnx.cases.run_case, less the checking: build_case_model, and one
    onnxruntime session (CPU provider, one thread, as observe.session makes it) on the
    runnable form of the node (observe's: a layout-1 node between Transposes, which
    onnxruntime's CPU LSTM needs) run once on the case's inputs; no prefix / suffix runs."""
    from lstm_ref.frameworks.onnx import graph
    from lstm_ref.frameworks.onnx.cases import build_case_model
    from lstm_ref.frameworks.onnx.observe import session

    model, arrays = build_case_model(case, dtype)
    node = graph.read_node(model)
    fed = {"X": np.asarray(arrays["X"]).astype(node.dtype)}
    for key in ("sequence_lens", "initial_h", "initial_c"):
        if arrays[key] is not None:
            fed[key] = np.asarray(arrays[key], np.int32 if key == "sequence_lens" else node.dtype)
    runnable, _ = graph.runnable_model(node, set(fed))
    return session(runnable, node).run(list(graph.OUTPUTS),
                                       {k: np.ascontiguousarray(v) for k, v in fed.items()})


def flax(case, dtype="float32"):
    """lstm_ref.frameworks.flax.cases.run_case, less the checking: under jax.enable_x64 for
    float64, build_module (the case's weights set) and one call of the nnx.RNN with the case's
    carry and seq_lengths, return_carry=True, under the "highest" matmul precision compare
    uses; no cell stepped by hand."""
    import jax

    from lstm_ref.frameworks.flax.cases import build_module

    with jax.enable_x64(dtype == "float64"), jax.default_matmul_precision("highest"):
        rnn = build_module(case, dtype)
        arrays = case.arrays()
        x = arrays["x"].transpose(1, 0, 2) if case.time_major else arrays["x"]
        carry = arrays["carry"]
        carry = None if carry is None else tuple(jax.numpy.asarray(np.asarray(s).astype(dtype))
                                                 for s in carry)
        lengths = arrays["seq_lengths"]
        carry_out, outputs = rnn(jax.numpy.asarray(np.asarray(x).astype(dtype)),
                                 initial_carry=carry,
                                 seq_lengths=None if lengths is None else jax.numpy.asarray(lengths),
                                 return_carry=True)
        return [np.asarray(outputs), *(np.asarray(s) for s in carry_out)]


def export(case, dtype="float32"):
    """lstm_ref.grids.export.run_case, less the checking: the artifact made as the case's kind
    makes it (the source model built and converted, written or exported by the product's own
    builders: conversion is the framework's work) and run once in its runtime on the case's
    input (LiteRT Interpreter with one thread; the SavedModel's serving endpoint;
    onnxruntime, one thread); no per-prefix runs, no weights read back."""
    x32 = np.asarray(case.input(), np.float32)
    if case.kind in ("tflite-while", "tflite-fused"):
        from ai_edge_litert.interpreter import Interpreter

        from lstm_ref.frameworks.tflite.cases import LOWERING
        from lstm_ref.frameworks.tflite.convert import keras_lstm_artifact

        content = keras_lstm_artifact(case.weights(), case.batch, case.time,
                                      LOWERING[case.kind], case.storage,
                                      return_sequences=case.return_sequences,
                                      return_state=case.return_state,
                                      go_backwards=case.go_backwards)
        interpreter = Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x32)
        interpreter.invoke()
        return [np.array(interpreter.get_tensor(d["index"]))
                for d in interpreter.get_output_details()]
    if case.kind == "savedmodel":
        import tensorflow as tf

        from lstm_ref.frameworks.savedmodel.cases import keras_lstm_savedmodel
        from lstm_ref.frameworks.savedmodel.observe import endpoint

        with tempfile.TemporaryDirectory(prefix="bench_savedmodel_") as folder, \
                contextlib.redirect_stdout(io.StringIO()):
            path = keras_lstm_savedmodel(case.weights(), case.time, Path(folder) / "model",
                                         case.writer, return_sequences=case.return_sequences,
                                         return_state=case.return_state,
                                         go_backwards=case.go_backwards)
            _, function = endpoint(tf.saved_model.load(path))
            _, kwargs = function.structured_input_signature
            value = tf.constant(x32)
            result = function(**{next(iter(kwargs)): value}) if kwargs else function(value)
            values = result.values() if isinstance(result, dict) else (
                result if isinstance(result, (list, tuple)) else [result])
            return [np.asarray(v) for v in values]
    import onnxruntime as ort

    from lstm_ref.frameworks.onnx.export_cases import keras_lstm_tf2onnx, torch_lstm_onnx

    if case.kind == "tf2onnx":
        proto = keras_lstm_tf2onnx(case.weights(), case.batch, case.time,
                                   return_sequences=case.return_sequences,
                                   return_state=case.return_state,
                                   go_backwards=case.go_backwards)
    else:
        proto = torch_lstm_onnx(case.torch_parameters(), x32, input_size=case.features,
                                hidden_size=case.units, num_layers=case.num_layers,
                                bidirectional=case.bidirectional, batch_first=case.batch_first)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x32})


ALONE = {"keras": keras, "tf_keras": tf_keras, "tf1": tf1, "torch": torch, "onnx": onnx,
         "flax": flax, "export": export}
