"""The public entry points that take a framework's object: pick its framework, then compare.

``compare`` / ``compare_gradients`` return a :class:`~lstm_ref.report.Report`; the
``assert_*`` forms raise :class:`AssertionError` with the report's summary when the verdict is
FAILED, and :class:`~lstm_ref.errors.InconclusiveError` (an AssertionError too) when it is
INCONCLUSIVE, unless ``allow_inconclusive=True``. ``from_*`` return the reference twin of a
framework object: called like it, it returns what it returns, computed by the reference.

Nothing here imports a framework: each call imports the subpackage of lstm_ref.frameworks
its object belongs to, which imports the framework itself.
"""

from collections.abc import Callable, Sequence
from typing import Any

from numpy.typing import ArrayLike

from lstm_ref.checks import describe
from lstm_ref.errors import InconclusiveError, OptionError, UnsupportedLayerError
from lstm_ref.report import Report
from lstm_ref.tolerance import Tolerance

__all__ = ["compare", "assert_equivalent", "compare_gradients", "assert_gradients_equivalent",
           "check_verdict", "check_tolerance", "from_keras", "from_torch", "from_onnx",
           "from_tf1_cell", "from_tflite", "from_flax", "compare_export",
           "assert_export_equivalent",
           "ARTIFACT_KINDS", "GRADIENTS_SUPPORTED", "Twin"]

# A reference twin: called with the framework object's arguments, it returns the same
# structure (lstm_ref.frameworks.*.twin).
Twin = Callable[..., Any]

GRADIENTS_SUPPORTED = ("Keras 3 (TensorFlow backend) and tf_keras LSTM, RNN(LSTMCell), RNN "
                       "over stacked LSTMCells, Bidirectional over an LSTM or RNN(LSTMCell) "
                       "in every merge mode, and chain models of Input, Masking and these "
                       "layers, in float32 or float64")


def compare(layer: object, x: ArrayLike, initial_state: Sequence[Any] | None = None,
            mask: ArrayLike | None = None, tolerance: Tolerance | None = None,
            **options: Any) -> Report:
    """Run ``layer`` on ``x`` step by step and compare every h_t, c_t and output with the
    reference.

    Args:
        layer: a framework LSTM, built: a Keras 3 or tf_keras LSTM, RNN(LSTMCell), stacked
            cells, Bidirectional or model; a TF1 cell; a torch.nn.LSTM / LSTMCell; an ONNX model;
            a flax.nnx.RNN over an LSTMCell / OptimizedLSTMCell, or such a cell.
        x: (batch, time, features) input (torch and ONNX: in the module's own layout).
        initial_state: None, or [h0, c0] ([h_f, c_f, h_b, c_b] for a Bidirectional).
        mask: None or (batch, time) booleans.
        tolerance: a Tolerance to use instead of the table's entry for the layer's dtype.
        **options: the framework's options: for Keras ``execution="eager"|"function"|"xla"|
            "predict"`` (how the whole layer is run; its cell is always stepped); for torch
            ``lengths=`` (packed sequences); for TF1 cells ``sequence_length=`` and
            ``execution="eager"|"function"|"session"|"keras_rnn"``; for ONNX ``node=``,
            ``sequence_lens=``, ``semantics=``; for Flax ``seq_lengths=``, ``time_major=``,
            ``reverse=``, ``keep_order=``, ``precision=`` (and ``initial_state`` is the carry
            ``(c, h)``).

    Returns:
        A :class:`~lstm_ref.report.Report`: PASSED, FAILED or INCONCLUSIVE (nothing could be
        compared in some tensor), with the first failing step and a summary().

    Raises:
        UnsupportedLayerError: an object of no supported framework, or a layer it cannot
            mirror; ShapeError, DTypeError, OptionError: inputs or options that do not fit
            the layer (each message names the argument, expected and received);
        FrameworkMissingError: a package the comparison needs is not installed (e.g.
            onnxruntime, which runs an ONNX model); the message names the extra to install.

    Example:
        >>> import keras, numpy as np, lstm_ref                      # doctest: +SKIP
        >>> layer = keras.layers.LSTM(4); layer.build((2, 5, 3))     # doctest: +SKIP
        >>> lstm_ref.compare(layer, np.ones((2, 5, 3))).verdict      # doctest: +SKIP
        'PASSED'
    """
    from lstm_ref.frameworks import framework_of

    check_tolerance(tolerance)
    report: Report = framework_of(layer).compare(layer, x, initial_state=initial_state,
                                                 mask=mask, tolerance=tolerance, **options)
    return report


def check_tolerance(tolerance: object) -> None:
    """OptionError unless ``tolerance`` is None or a Tolerance."""
    if tolerance is not None and not isinstance(tolerance, Tolerance):
        raise OptionError(f"tolerance must be None (the table's entry) or a Tolerance "
                          f"(lstm_ref.tolerance_table.lookup(dtype, scale=...)); received "
                          f"{describe(tolerance)}")


def check_verdict(report: Report, allow_inconclusive: bool = False) -> Report:
    """Raise for a report that did not pass: AssertionError with its summary if it FAILED,
    InconclusiveError if it is INCONCLUSIVE (unless ``allow_inconclusive``). Returns it.

    Example:
        >>> from lstm_ref.report import Report
        >>> from lstm_ref.tolerance_table import lookup
        >>> empty = Report(tensors={}, tolerance=lookup("float32"), time=1)
        >>> empty.verdict
        'INCONCLUSIVE'
        >>> check_verdict(empty, allow_inconclusive=True) is empty
        True
        >>> check_verdict(empty)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lstm_ref.errors.InconclusiveError: INCONCLUSIVE: no tensor to compare...
    """
    if report.failed:
        raise AssertionError(report.summary())
    if report.inconclusive and not allow_inconclusive:
        raise InconclusiveError(report.summary())
    return report


def assert_equivalent(layer: object, x: ArrayLike, initial_state: Sequence[Any] | None = None,
                      mask: ArrayLike | None = None, tolerance: Tolerance | None = None,
                      allow_inconclusive: bool = False, **options: Any) -> Report:
    """:func:`compare`, raising if the verdict is not PASSED (see :func:`check_verdict`);
    returns the PASSED (or, with ``allow_inconclusive``, INCONCLUSIVE) Report.

    Example:
        >>> lstm_ref.assert_equivalent(layer, np.ones((2, 5, 3)))    # doctest: +SKIP
        <Report PASSED: 3 tensors (h, c, output), 5 steps, worst error/bound 0.0213>
    """
    __tracebackhide__ = True
    report = compare(layer, x, initial_state=initial_state, mask=mask, tolerance=tolerance,
                     **options)
    return check_verdict(report, allow_inconclusive)


def compare_gradients(layer: object, x: ArrayLike, initial_state: Sequence[Any] | None = None,
                      mask: ArrayLike | None = None, d_outputs: Any = None,
                      d_states: Sequence[Any] | None = None,
                      tolerance: Tolerance | None = None, **options: Any) -> Report:
    """Backpropagate through ``layer`` and compare every gradient with the reference's
    (lstm_ref.gradients), step by step.

    Supported: Keras 3 (TensorFlow backend) and tf_keras LSTM and RNN(LSTMCell) (stateful
    too, from the state it carries), RNN over a list of stacked LSTMCells, Bidirectional over
    an LSTM or RNN(LSTMCell) with every merge mode (concat, sum, ave, mul, None), and chain
    models of Input, Masking and these layers; float32 and float64 layers. A layer made of
    several LSTM runs is checked part by part, each part's upstream gradient derived from
    ``d_outputs`` / ``d_states`` by the layers' documented semantics, never read from the
    framework (lstm_ref.frameworks.keras.gradients_parts).

    What is compared, in backward order: per part (``forward.``, ``backward.``,
    ``cell0.``..., ``<layer name>/`` inside a model), dL/dh_t, dL/dc_t and dL/dx_t at every
    step (processing order), the whole call's input gradient ``dx`` (time order), and the
    initial states' (dh0, dc0, when given) and the weights' gradients (d_kernel,
    d_recurrent_kernel, d_bias).

    Bounds are per element and per row (lstm_ref.gradient_check): a row's bound comes from
    its own reference, probes and scale, so another row cannot widen it, and a NaN bound is
    never a pass. A non-finite reference gradient is compared exactly in a row a non-finite
    input reaches, and is not compared (undetermined) elsewhere; a row whose forward pass the
    probes cannot determine has none of its gradients compared, and the weights' gradients,
    which sum over every row, are compared only when every row is determined. A tensor with
    nothing compared makes the verdict INCONCLUSIVE, which is not a pass.

    Args:
        layer: a built layer or model of those above.
        x: the input, as in :func:`compare`.
        initial_state: as in :func:`compare` (a Bidirectional's [h_f, c_f, h_b, c_b],
            stacked cells' [[h_0, c_0], ...]); a model takes its input alone.
        mask: as in :func:`compare`; a model's masks come from its own Masking layers.
        d_outputs: dL/d of the layer's output, shaped as it ([d_forward, d_backward] for a
            Bidirectional with merge_mode=None), or None to draw one at random (seeded by
            the ``seed=`` option).
        d_states: with return_state, dL/d of each returned state, flat or nested as Keras
            returns them ([dL/dh_T, dL/dc_T] for an LSTM), or None (random).
        tolerance: a Tolerance instead of the table's gradient entry
            (lstm_ref.tolerance_table.GRADIENTS).
        **options: ``execution="eager"|"function"|"xla"`` (how the whole call runs; the
            cells are always stepped eagerly), ``seed=`` (the random upstream gradients).

    Returns:
        A :class:`~lstm_ref.report.Report` in backward order: its first failure is the one at
        the latest step.

    Raises:
        UnsupportedLayerError: a torch module, TF1 cell or ONNX model (their gradients are
            not compared: lstm_ref.gradients gives the reference's, to hold autograd to), or
            a Keras layer outside the list above (a stateful layer inside a Bidirectional,
            a stack or a model);
        OptionError: Keras on another backend than TensorFlow, a 16-bit layer, cells whose
            dtype differs from the layer's, an unknown ``execution``.

    Example:
        >>> report = lstm_ref.compare_gradients(layer, np.ones((2, 5, 3)))  # doctest: +SKIP
        >>> report.order, report.verdict                                    # doctest: +SKIP
        ('backward', 'PASSED')
    """
    from lstm_ref.frameworks import framework_of

    check_tolerance(tolerance)
    framework = framework_of(layer)
    if not hasattr(framework, "compare_gradients"):
        raise UnsupportedLayerError(f"compare_gradients does not support "
                                    f"{type(layer).__qualname__} ({framework.__name__}); it "
                                    f"supports {GRADIENTS_SUPPORTED} (lstm_ref.gradients gives "
                                    "the reference's gradients, e.g. to hold torch's autograd "
                                    "to)")
    report: Report = framework.compare_gradients(layer, x, initial_state=initial_state,
                                                 mask=mask, tolerance=tolerance,
                                                 d_outputs=d_outputs, d_states=d_states,
                                                 **options)
    return report


def assert_gradients_equivalent(layer: object, x: ArrayLike,
                                initial_state: Sequence[Any] | None = None,
                                mask: ArrayLike | None = None, d_outputs: Any = None,
                                d_states: Sequence[Any] | None = None,
                                tolerance: Tolerance | None = None,
                                allow_inconclusive: bool = False, **options: Any) -> Report:
    """:func:`compare_gradients`, raising if the verdict is not PASSED (see
    :func:`check_verdict`); returns the Report.

    Example:
        >>> lstm_ref.assert_gradients_equivalent(layer, np.ones((2, 5, 3)))  # doctest: +SKIP
    """
    __tracebackhide__ = True
    report = compare_gradients(layer, x, initial_state, mask, d_outputs, d_states, tolerance,
                               **options)
    return check_verdict(report, allow_inconclusive)


def from_keras(layer: object) -> Twin:
    """The reference twin of a built Keras LSTM, RNN(LSTMCell), RNN over stacked LSTMCells,
    Bidirectional over one of these, or a model made of them (with Input and Masking), from
    Keras 3 or tf_keras (Keras 2): called like it, it returns the same structure, computed by
    the reference.

    Raises:
        UnsupportedLayerError: a TF1 cell, torch module or ONNX model (the message names the
            twin that fits it), or a Keras layer that is none of the above.

    Example:
        >>> twin = lstm_ref.from_keras(layer)                        # doctest: +SKIP
        >>> twin(np.ones((2, 5, 3))).shape                           # doctest: +SKIP
        (2, 4)
    """
    from lstm_ref.frameworks import framework_of

    framework = framework_of(layer)
    if not hasattr(framework, "from_keras"):
        kind, twin = {
            "lstm_ref.frameworks.tf1": ("a TF1 cell", "lstm_ref.from_tf1_cell(cell), run as "
                                                      "dynamic_rnn runs it"),
            "lstm_ref.frameworks.torch": ("a torch module", "lstm_ref.from_torch(module)"),
            "lstm_ref.frameworks.onnx": ("an ONNX model", "lstm_ref.from_onnx(model)"),
            "lstm_ref.frameworks.flax": ("a Flax module", "lstm_ref.from_flax(module)"),
        }[framework.__name__]
        raise UnsupportedLayerError(f"{type(layer).__name__} is {kind}, not a Keras layer: its "
                                    f"twin is {twin}")
    twin_of: Twin = framework.from_keras(layer)
    return twin_of


def from_torch(module: object) -> Twin:
    """The reference twin of a torch.nn.LSTM (``num_layers``, ``bidirectional``,
    ``proj_size``, ``batch_first``, ``bias=False``) or nn.LSTMCell: ``twin(x, (h0, c0))``
    returns ``(output, (h_n, c_n))`` shaped as torch returns them.

    Example:
        >>> module = torch.nn.LSTM(3, 7, batch_first=True)            # doctest: +SKIP
        >>> output, (h_n, c_n) = lstm_ref.from_torch(module)(np.ones((2, 9, 3)))  # doctest: +SKIP
        >>> output.shape, h_n.shape                                   # doctest: +SKIP
        ((2, 9, 7), (1, 2, 7))
    """
    from lstm_ref.frameworks import torch

    twin: Twin = torch.from_torch(module)
    return twin


def from_onnx(model_or_path: object, node: str | None = None) -> Twin:
    """The reference twin of an ONNX LSTM node (the only one, or the one named ``node``) of a
    model, or of the model file at a path: ``twin(X, ...)`` returns ``(Y, Y_h, Y_c)`` in
    ONNX's shapes.

    Example:
        >>> Y, Y_h, Y_c = lstm_ref.from_onnx("lstm.onnx")(x)          # doctest: +SKIP
    """
    from lstm_ref.frameworks import onnx

    twin: Twin = onnx.from_onnx(model_or_path, node=node)
    return twin


def from_tf1_cell(cell: object) -> Twin:
    """The reference twin of a TF1 BasicLSTMCell / LSTMCell (tf_keras's legacy cells), run as
    ``dynamic_rnn`` runs it over a batch-major sequence: ``twin(x, initial_state=None)``
    returns ``(outputs, (c, h))``.

    Example:
        >>> outputs, (c, h) = lstm_ref.from_tf1_cell(cell)(x)         # doctest: +SKIP
    """
    from lstm_ref.frameworks import tf1

    twin: Twin = tf1.from_tf1_cell(cell)
    return twin


def from_flax(module: object) -> Twin:
    """The reference twin of a flax.nnx.RNN over an nnx.LSTMCell or OptimizedLSTMCell
    (``twin(inputs, initial_carry=None, seq_lengths=None, ...)`` returns what the RNN returns),
    or of such a cell (``twin(carry, inputs)`` returns ``((c, h), h)``); carries are ``(c,
    h)``, c first, as Flax's.

    Example:
        >>> rnn = nnx.RNN(nnx.LSTMCell(3, 5, rngs=nnx.Rngs(0)))         # doctest: +SKIP
        >>> lstm_ref.from_flax(rnn)(np.ones((2, 7, 3))).shape         # doctest: +SKIP
        (2, 7, 5)
    """
    from lstm_ref.frameworks import flax

    twin: Twin = flax.from_flax(module)
    return twin


# The artifact kinds compare_export reads: kind -> what it is.
ARTIFACT_KINDS = {
    "tflite": "a TFLite / LiteRT flatbuffer (.tflite path or its bytes)",
    "savedmodel": "a TensorFlow SavedModel (a directory with saved_model.pb: Keras "
                  "model.export, tf.saved_model.save), or what tf.saved_model.load returned",
    "onnx": "an ONNX model of LSTM nodes (.onnx path, its bytes or an onnx.ModelProto: "
            "torch.onnx.export, tf2onnx), run by onnxruntime",
}


def from_tflite(path_or_bytes: object, op: int | None = None) -> Twin:
    """The reference twin of a fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op of a .tflite model
    (a path or its bytes; ``op``: which, where it has several), on its weights dequantized to
    float64: ``twin(x)`` returns the op's output (every step's h); ``twin.final_state`` is
    then [h, c]; ``twin.weights`` the LSTMWeights read (Keras layout, gate order i, f, c, o).

    Raises:
        UnsupportedLayerError: no fused LSTM op, or one LSTMWeights cannot express (layer
            normalization, a projection bias, CIFG where LSTMWeights has no
            ``coupled_gates="cifg"``): the message names it.

    Example:
        >>> twin = lstm_ref.from_tflite("lstm.tflite")                # doctest: +SKIP
        >>> twin(np.ones((1, 5, 3), np.float32)).shape               # doctest: +SKIP
        (1, 5, 4)
    """
    from lstm_ref.frameworks import tflite

    twin: Twin = tflite.from_tflite(path_or_bytes, op=op)
    return twin


def compare_export(source: object, artifact: object, x: ArrayLike,
                   tolerance: Tolerance | None = None) -> Report:
    """Hold an exported artifact to the reference of the LSTM it was exported from.

    The expected values are the reference's with the *source's* semantics (activations,
    clips, go_backwards) run on the weights the artifact holds, dequantized to float64; and
    the artifact's weights must be the source's within their storage format's own rounding
    (float32: equal; float16: half a float16 spacing; int8: half a step of the scale). Both
    checks are in the one Report (tensors ``weights.*``, then the run's ``output``, ``h``,
    ``c``, ``state_h``, ``state_c``, as the artifact shows them): a corrupted or reordered
    weight fails the first, a runtime that computes otherwise the second.

    Args:
        source: what was exported: a built Keras LSTM layer or a model with one LSTM layer,
            its twin (``lstm_ref.from_keras``), or LSTMWeights; for an ONNX artifact also a
            torch.nn.LSTM (any num_layers, bidirectional, batch_first; no proj_size) or its
            twin (``lstm_ref.from_torch``).
        artifact: the export (see :data:`ARTIFACT_KINDS`): a .tflite path or its bytes; a
            SavedModel directory (Keras ``model.export``, ``tf.saved_model.save``) or the
            loaded object, run through ``serving_default`` (else Keras's ``serve``); an
            ONNX model (.onnx path, bytes, ModelProto) with one LSTM node per source layer.
        x: (batch, time, features) input ((time, batch, features) for a torch source without
            batch_first); the artifact is resized to it where it can be.
        tolerance: a Tolerance for the run instead of its weight storage's entry
            (lstm_ref.frameworks.tflite.tolerances).

    Returns:
        A :class:`~lstm_ref.report.Report`.

    Raises:
        OptionError: an artifact of no known kind (the message lists them);
        UnsupportedLayerError: a source that is not one LSTM (for ONNX: not one nn.LSTM),
            a TFLite or SavedModel artifact of several LSTMs (a stack, a Bidirectional), an
            ONNX one whose LSTM nodes are not the source's layers, or one whose LSTM cannot
            be read; ShapeError: sizes that do not fit, an input the artifact cannot be run
            at (or, for ONNX, laid out otherwise than the source's ``batch_first``).

    Example:
        >>> lstm_ref.compare_export(layer, "lstm.tflite", x).verdict   # doctest: +SKIP
        'PASSED'
        >>> lstm_ref.compare_export(model, "exported/", x).verdict     # doctest: +SKIP
        'PASSED'
        >>> lstm_ref.compare_export(torch_lstm, "lstm.onnx", x).verdict  # doctest: +SKIP
        'PASSED'
    """
    check_tolerance(tolerance)
    from lstm_ref.frameworks import savedmodel, tflite
    from lstm_ref.frameworks.onnx import export as onnx_export

    report: Report
    if tflite.is_tflite(artifact):  # first: its file identifier is definite
        weights, options, context = _export_source(source)
        report = tflite.compare_export(weights, artifact, x, tolerance=tolerance,
                                       options=options, context=context)
        return report
    if onnx_export.is_onnx(artifact):
        layers, batch_first, backwards, context, dtype = _export_layers(source)
        report = onnx_export.compare_export(layers, artifact, x, tolerance=tolerance,
                                            batch_first=batch_first, go_backwards=backwards,
                                            context=context, source_dtype=dtype)
        return report
    if savedmodel.is_savedmodel(artifact):
        weights, options, context = _export_source(source)
        report = savedmodel.compare_export(weights, artifact, x, tolerance=tolerance,
                                           options=options, context=context)
        return report
    kinds = "; ".join(f"{k}: {v}" for k, v in ARTIFACT_KINDS.items())
    raise OptionError(f"artifact must be one of the kinds compare_export reads ({kinds}); "
                      f"received {describe(artifact)}")


def assert_export_equivalent(source: object, artifact: object, x: ArrayLike,
                             tolerance: Tolerance | None = None,
                             allow_inconclusive: bool = False) -> Report:
    """:func:`compare_export`, raising if the verdict is not PASSED (see
    :func:`check_verdict`); returns the Report."""
    __tracebackhide__ = True
    return check_verdict(compare_export(source, artifact, x, tolerance), allow_inconclusive)


def _export_layers(source: object) -> tuple[list[Any], bool, bool, dict[str, Any], Any]:
    """(per layer a tuple of LSTMWeights, batch_first, go_backwards, context, the source's
    parameter dtype or None) of an ONNX
    export's ``source``: a torch.nn.LSTM or its twin (:func:`from_torch`); else one LSTM as
    :func:`_export_source` reads it (batch first, as Keras)."""
    from lstm_ref.weights import LSTMWeights

    if isinstance(source, dict):
        raise OptionError("source is a dict (a state dict?): build the torch.nn.LSTM it belongs "
                          "to and load it (module.load_state_dict(state)), then pass the module")
    twin: Any = source
    if type(source).__module__.split(".")[0] == "torch":
        twin = from_torch(source)
    layers = getattr(twin, "layers", None)
    if (isinstance(layers, list) and layers and hasattr(twin, "batch_first")
            and all(isinstance(pair, tuple) and all(isinstance(w, LSTMWeights) for w in pair)
                    for pair in layers)):
        if getattr(twin, "proj_size", 0):
            raise UnsupportedLayerError("source has proj_size: an ONNX LSTM node has no "
                                        "projection, so no export of it holds one")
        return (list(layers), bool(twin.batch_first), False,
                {"source": str(getattr(twin, "config", {}).get("module", repr(twin)))},
                getattr(twin, "dtype", None))
    weights, options, context = _export_source(source)
    if options.get("zero_output_for_mask"):
        raise UnsupportedLayerError("source: an LSTM inside a Bidirectional (zero_output_for_mask)"
                                    " is not one layer's export")
    return [(weights,)], True, options["go_backwards"], context, None


def _export_source(source: object) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(LSTMWeights, forward() options, context) of compare_export's ``source``: LSTMWeights
    as they are; a twin of one LSTM (one with ``weights``), or of a model of one; a Keras
    layer or model through its twin (:func:`from_keras`)."""
    from lstm_ref.weights import LSTMWeights

    if isinstance(source, LSTMWeights):
        return source, {}, {"source": repr(source)}
    twin: Any = source
    if type(source).__module__.split(".")[0] != "lstm_ref":
        twin = from_keras(source)
    layers = getattr(twin, "layers", None)
    if isinstance(layers, list) and all(isinstance(spec, tuple) for spec in layers):
        lstms = [spec for spec in layers if spec[0] == "lstm"]
        if len(lstms) != 1 or len(layers) != 1:
            raise UnsupportedLayerError(f"source must be one LSTM; the model has {len(lstms)} "
                                        f"LSTM layer(s) and {len(layers) - len(lstms)} other(s)")
        twin = lstms[0][1]
    weights = getattr(twin, "weights", None)
    if not isinstance(weights, LSTMWeights):
        raise UnsupportedLayerError(f"source must be one LSTM: a Keras LSTM layer, a model of "
                                    f"one, its twin or LSTMWeights; received {describe(source)}")
    options = {"go_backwards": bool(getattr(twin, "go_backwards", False)),
               "zero_output_for_mask": bool(getattr(twin, "zero_output_for_mask", False))}
    context = {"source": getattr(twin, "config", {}).get("layer", repr(weights))}
    return weights, options, context
