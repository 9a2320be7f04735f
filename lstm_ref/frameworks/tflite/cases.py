"""Export-grid cases (lstm_ref.grids.export) of the TFLite kinds: the case's Keras 3 (WHILE
loop) or tf_keras (fused op) LSTM converted with its weight storage, run in LiteRT and held
to the reference of the case's weights."""

from lstm_ref.frameworks.tflite.convert import keras_lstm_artifact
from lstm_ref.frameworks.tflite.observe import compare_export

__all__ = ["LOWERING", "run_export_case"]

# Export-grid kind -> the converter's lowering.
LOWERING = {"tflite-while": "while", "tflite-fused": "fused"}


def run_export_case(case, planted=False):
    """The Report of compare_export on the case's artifact. The source is the case's drawn
    weights and go_backwards (not read back from the built layer, so the layer's own handling
    of them is under test too); ``planted``: the artifact converted from the weights with the
    input and forget gates swapped."""
    weights = case.weights()
    content = keras_lstm_artifact(case.weights(swapped=planted), case.batch, case.time,
                                  LOWERING[case.kind], case.storage,
                                  return_sequences=case.return_sequences,
                                  return_state=case.return_state,
                                  go_backwards=case.go_backwards)
    context = {"source": f"{'Keras 3' if case.kind == 'tflite-while' else 'tf_keras'} LSTM "
                         f"({case.units} units, {case.activation}), converted with "
                         f"{case.storage} weights"}
    return compare_export(weights, content, case.input(), context=context,
                          options={"go_backwards": case.go_backwards}, seed=case.seed)
