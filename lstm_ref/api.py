"""The public entry points that take a framework's object: pick its framework, then compare.

``compare`` / ``compare_gradients`` return a :class:`~lstm_ref.report.Report`; the
``assert_*`` forms raise :class:`AssertionError` with the report's summary when the verdict is
FAILED, and :class:`~lstm_ref.errors.InconclusiveError` (an AssertionError too) when it is
INCONCLUSIVE, unless ``allow_inconclusive=True``.
"""

from lstm_ref.errors import InconclusiveError, UnsupportedLayerError

__all__ = ["compare", "assert_equivalent", "compare_gradients", "assert_gradients_equivalent",
           "check_verdict", "from_keras", "from_torch", "from_onnx", "from_tf1_cell"]


def compare(layer, x, initial_state=None, mask=None, tolerance=None, **options):
    """Run ``layer`` on ``x`` step by step and compare every h_t, c_t and output with the reference.

    Args:
        layer: a framework LSTM, built: a Keras 3 or tf_keras LSTM, RNN(LSTMCell), stacked
            cells, Bidirectional or model; a TF1 cell; a torch.nn.LSTM / LSTMCell; an ONNX model.
        x: (batch, time, features) input (torch and ONNX: in the module's own layout).
        initial_state: None, or [h0, c0] ([h_f, c_f, h_b, c_b] for a Bidirectional).
        mask: None or (batch, time) booleans.
        tolerance: a Tolerance to use instead of the table's entry for the layer's dtype.
        **options: adapter options, e.g. ``execution="eager"|"function"|"xla"|"predict"``
            for Keras (how the whole layer is run; its cell is always stepped).

    Returns:
        A :class:`~lstm_ref.report.Report`.

    Example:
        >>> import keras, numpy as np, lstm_ref                      # doctest: +SKIP
        >>> layer = keras.layers.LSTM(4); layer.build((2, 5, 3))     # doctest: +SKIP
        >>> lstm_ref.compare(layer, np.ones((2, 5, 3))).verdict      # doctest: +SKIP
        'PASSED'
    """
    from lstm_ref.frameworks import framework_of

    return framework_of(layer).compare(layer, x, initial_state=initial_state, mask=mask,
                                      tolerance=tolerance, **options)


def check_verdict(report, allow_inconclusive=False):
    """Raise for a report that did not pass: AssertionError with its summary if it FAILED,
    InconclusiveError if it is INCONCLUSIVE (unless ``allow_inconclusive``). Returns it."""
    if report.failed:
        raise AssertionError(report.summary())
    if report.inconclusive and not allow_inconclusive:
        raise InconclusiveError(report.summary())
    return report


def assert_equivalent(layer, x, initial_state=None, mask=None, tolerance=None,
                      allow_inconclusive=False, **options):
    """:func:`compare`, raising if the verdict is not PASSED (see :func:`check_verdict`)."""
    __tracebackhide__ = True
    report = compare(layer, x, initial_state=initial_state, mask=mask, tolerance=tolerance,
                     **options)
    return check_verdict(report, allow_inconclusive)


def compare_gradients(layer, x, initial_state=None, mask=None, d_outputs=None, d_states=None,
                      tolerance=None, **options):
    """Backpropagate through ``layer`` and compare every gradient with the reference's
    (lstm_ref.gradients): dL/dh_t and dL/dc_t at every step, dL/dx, the initial state's and
    the weights' gradients.

    Args:
        layer: a built Keras 3 (TensorFlow backend) or tf_keras LSTM or RNN(LSTMCell).
        x, initial_state, mask: as in :func:`compare`.
        d_outputs: dL/d of the layer's output (shaped as it), or None to draw one at random
            (seeded by ``seed=``, an option).
        d_states: [dL/dh_T, dL/dc_T] for a layer that returns its states, or None (random).
        tolerance: a Tolerance instead of the table's gradient entry (lstm_ref.tolerance_table.GRADIENTS).
        **options: the Keras package's options: ``execution=``, ``seed=``.

    Returns:
        A :class:`~lstm_ref.report.Report` in backward order: its first failure is at the
        latest step.
    """
    from lstm_ref.frameworks import framework_of

    framework = framework_of(layer)
    if not hasattr(framework, "compare_gradients"):
        raise UnsupportedLayerError(f"compare_gradients does not support "
                                    f"{type(layer).__qualname__} yet; supported: Keras 3 and "
                                    "tf_keras LSTM / RNN(LSTMCell) (for torch, compare "
                                    "lstm_ref.gradients with autograd)")
    return framework.compare_gradients(layer, x, initial_state=initial_state, mask=mask,
                                     tolerance=tolerance, d_outputs=d_outputs,
                                     d_states=d_states, **options)


def assert_gradients_equivalent(layer, x, initial_state=None, mask=None, d_outputs=None,
                                d_states=None, tolerance=None, allow_inconclusive=False,
                                **options):
    """:func:`compare_gradients`, raising if the verdict is not PASSED (see
    :func:`check_verdict`)."""
    __tracebackhide__ = True
    report = compare_gradients(layer, x, initial_state, mask, d_outputs, d_states, tolerance,
                               **options)
    return check_verdict(report, allow_inconclusive)


def from_keras(layer):
    """The reference twin of a built Keras LSTM, RNN(LSTMCell), RNN over stacked LSTMCells,
    Bidirectional over one of these, or a model made of them (with Input and Masking), from
    Keras 3 or tf_keras (Keras 2): called like it, it returns the same structure, computed by
    the reference."""
    from lstm_ref.frameworks import framework_of

    framework = framework_of(layer)
    if not hasattr(framework, "from_keras"):
        kind, twin = {
            "lstm_ref.frameworks.tf1": ("a TF1 cell", "lstm_ref.from_tf1_cell(cell), run as "
                                                      "dynamic_rnn runs it"),
            "lstm_ref.frameworks.torch": ("a torch module", "lstm_ref.from_torch(module)"),
            "lstm_ref.frameworks.onnx": ("an ONNX model", "lstm_ref.from_onnx(model)"),
        }[framework.__name__]
        raise UnsupportedLayerError(f"{type(layer).__name__} is {kind}, not a Keras layer: its "
                                    f"twin is {twin}")
    return framework.from_keras(layer)


def from_torch(module):
    """The reference twin of a torch.nn.LSTM: ``twin(x, (h0, c0))`` returns
    ``(output, (h_n, c_n))`` shaped as torch returns them."""
    from lstm_ref.frameworks import torch

    return torch.from_torch(module)


def from_onnx(model_or_path, node=None):
    """The reference twin of an ONNX LSTM node (the only one, or the one named ``node``):
    ``twin(X, ...)`` returns ``(Y, Y_h, Y_c)`` in ONNX's shapes."""
    from lstm_ref.frameworks import onnx

    return onnx.from_onnx(model_or_path, node=node)


def from_tf1_cell(cell):
    """The reference twin of a TF1 BasicLSTMCell / LSTMCell (tf_keras's legacy cells), run as
    ``dynamic_rnn`` runs it over a batch-major sequence: ``twin(x, initial_state=None)``
    returns ``(outputs, (c, h))``."""
    from lstm_ref.frameworks import tf1

    return tf1.from_tf1_cell(cell)
