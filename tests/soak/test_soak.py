"""Soundness at volume: a hypothesis-driven soak over random configurations, sizes and
options, the evidence that the tolerance table (lstm_ref/tolerance.py) has no false failures.

Each soak test runs N examples (``pytest tests/soak/test_soak.py --soak=N``; without ``--soak``
they are skipped, see conftest.py). An example draws sizes (units 1-64, features 1-32, batch
1-6, time 1-120, skewed toward small), every usable activation and gate activation, every
option of the layer, an initial state or not, a mask or not (right-, left-padded, holes, a
fully masked row), and a weight scale (every weight its own random draw, std 0.3, 0.7 or
1.5, so saturated and chaotic cases occur), all arrays seeded from a drawn integer. Its
layer is compared step by step with the reference (``lstm_ref.compare``) and must pass; a
failure's message is the report's summary and the drawn configuration. One combination is
not drawn: a Keras bug the soak found (unrolled, backward, zeroed masked outputs; see the
constants below), pinned in tests/frameworks/keras/test_known_divergences.py.

Every example's worst error-to-bound ratio and the steps cut at the format's horizon are
recorded, and at the end of the module one line per test is printed (count, failures,
worst ratio and its configuration, median ratio, seconds per example); with
``LSTM_REF_SOAK_SUMMARY=path.json`` the summary is also written there.

Hypothesis runs derandomized (the same examples on every run, never flaky) with no example
database (nothing carried between runs or machines).
"""

import json
import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import lstm_ref
from lstm_ref.frameworks.keras.twin import keras_of
from lstm_ref.grids.keras import FULL_OPTIONS
from lstm_ref.report import HORIZON, UNDETERMINED

# The drawn ranges: the largest sizes of the calibration, time cut to 120.
UNITS, FEATURES, BATCH, TIME = 64, 32, 6, 120
# unroll builds one graph node per step: only for short sequences, to keep graphs small.
MAX_UNROLL_TIME = 40
# The std of every weight (kernel, recurrent kernel, bias; as tests/helpers.py's
# build_with_random_weights, which uses 0.7): 0.3 keeps gates near their linear range, 1.5
# saturates them and, with many units, makes the recurrence chaotic.
WEIGHT_STDS = (0.3, 0.7, 1.5)
MASKS = (None, "right", "left", "holes")
# Every path a Keras layer runs by (lstm_ref.frameworks.keras.execution); unrolled layers and
# 16-bit ones drawn long stay eager, see keras_configs.
EXECUTIONS = ("eager", "function", "xla", "predict")
SUMMARY_ENV = "LSTM_REF_SOAK_SUMMARY"
# A Keras 3.15 (TensorFlow backend) bug the soak found: unrolled, go_backwards and
# zero_output_for_mask with a mask, keras.src.backend.tensorflow.rnn zeroes the returned
# sequence (in processing order) with the mask in time order, so the wrong outputs are
# zeroed (Bidirectional(LSTM(unroll=True), return_sequences=True) over a padded batch has
# it too). The soak does not draw that combination (it tests the tolerance, not Keras's
# masking); tests/frameworks/keras/test_known_divergences.py pins the bug
# (test_unrolled_backward_lstm_zeroing_masked_outputs) and says when Keras fixes it.


# ---------------------------------------------------------------- strategies


def skewed(low, high, small):
    """Integers in low..high, half of them drawn from low..small: small sizes are cheap and
    hold the edge cases (one unit, one step), large ones the ill-conditioned cases."""
    return st.one_of(st.integers(low, small), st.integers(low, high))


@st.composite
def keras_configs(draw, activations=FULL_OPTIONS["activation"]):
    """A Keras LSTM example: sizes, options, inputs and a seed, as a JSON-friendly dict.

    Args:
        draw: hypothesis's draw.
        activations: the cell activations to draw from (float64 leaves some out).

    Returns:
        dict with the sizes, every keras.layers.LSTM option drawn, ``initial_state``
        (bool), ``mask`` (None or a kind of MASKS), ``masked_row`` (one row fully masked),
        ``weight_std``, ``seed`` and ``execution``.
    """
    time_steps = draw(skewed(1, TIME, 12))
    mask = draw(st.sampled_from(MASKS))
    config = {
        "units": draw(skewed(1, UNITS, 8)),
        "features": draw(st.integers(1, FEATURES)),
        "batch": draw(st.integers(1, BATCH)),
        "time": time_steps,
        "activation": draw(st.sampled_from(activations)),
        "recurrent_activation": draw(st.sampled_from(FULL_OPTIONS["recurrent_activation"])),
        "go_backwards": draw(st.booleans()),
        "use_bias": draw(st.booleans()),
        "implementation": draw(st.sampled_from((1, 2))),
        "unroll": draw(st.booleans()) if time_steps <= MAX_UNROLL_TIME else False,
        "return_sequences": draw(st.booleans()),
        "return_state": draw(st.booleans()),
        "initial_state": draw(st.booleans()),
        "mask": mask,
        # A fully masked row, as tests/frameworks/keras/test_masks.py has: its state stays
        # the initial one.
        "masked_row": draw(st.booleans()) if mask is not None else False,
        "zero_output_for_mask": False,
        "weight_std": draw(st.sampled_from(WEIGHT_STDS)),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }
    if not unrolled_backward_zeroing(config, zero_output_for_mask=True):
        config["zero_output_for_mask"] = draw(st.booleans())
    # How the whole layer runs: eagerly, in tf.function (the graph model.fit runs, with
    # TensorFlow's graph optimizer), compiled by XLA, or by Model.predict; unrolled layers
    # stay eager (tracing one graph node per step is slow).
    config["execution"] = "eager" if config["unroll"] else draw(st.sampled_from(EXECUTIONS))
    return config


def unrolled_backward_zeroing(config, zero_output_for_mask=None):
    """Whether a Keras config meets the Keras 3.15 bug described with the constants above:
    unrolled, backward, masked, a returned sequence, zeroed masked outputs.

    Args:
        config: a :func:`keras_configs` dict.
        zero_output_for_mask: the value to assume for it (None: the config's own).

    Returns:
        bool.
    """
    zero = config["zero_output_for_mask"] if zero_output_for_mask is None else zero_output_for_mask
    return bool(config["unroll"] and config["go_backwards"] and config["mask"] is not None
                and config["return_sequences"] and zero)


@st.composite
def torch_configs(draw):
    """A torch.nn.LSTM example, as a JSON-friendly dict: sizes, num_layers 1-2,
    bidirectional, proj_size (0 or 1..hidden_size - 1), bias, batch_first, an initial state
    or not, packed (right-padded rows of 1..time valid steps: all torch packs) or not,
    ``weight_std`` and ``seed``."""
    hidden = draw(skewed(1, UNITS, 8))
    return {
        "hidden_size": hidden,
        "input_size": draw(st.integers(1, FEATURES)),
        "batch": draw(st.integers(1, BATCH)),
        "time": draw(skewed(1, TIME, 12)),
        "num_layers": draw(st.integers(1, 2)),
        "bidirectional": draw(st.booleans()),
        "proj_size": draw(st.one_of(st.just(0), st.integers(1, hidden - 1))) if hidden > 1 else 0,
        "bias": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "initial_state": draw(st.booleans()),
        "packed": draw(st.booleans()),
        "weight_std": draw(st.sampled_from(WEIGHT_STDS)),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def soak(examples, seed):
    """Hypothesis's settings and seed for a soak test running ``examples`` examples.

    derandomize: the same examples on every run (reproducible, never flaky); no database:
    nothing replayed from earlier runs. The seed is the test id's (conftest.py's ``seed``
    fixture), so each test, and each parametrization (torch float32 and float64), draws its
    own examples: derandomized alone, hypothesis seeds from the test function's source,
    the same for every parametrization. Shrinking stays on: a real failure shrunk to its
    smallest configuration is what one wants to read (each shrink step is one more
    comparison, recorded like any example).

    Returns:
        A decorator to put above ``@given``.
    """
    chosen = settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    return lambda test: hypothesis_seed(seed)(chosen(test))


# ---------------------------------------------------------------- the examples


def config_id(config):
    """A short readable id of a drawn configuration, in lstm_ref.grids.keras.Case.id's style
    (units7-features3-...-tanh-sigmoid-...): sizes with their names, activations by name,
    flags named only when set, then the mask, a graph execution, a 16-bit policy, weight std
    and seed."""
    named = ("activation", "recurrent_activation")
    parts = [f"{key}{value}" for key, value in config.items()
             if isinstance(value, int) and not isinstance(value, bool)
             and key not in ("seed", "implementation")]
    parts += [config[key] for key in named if key in config]
    parts += [key for key, value in config.items() if value is True]
    parts += [f"impl{config['implementation']}"] if "implementation" in config else []
    parts += [f"mask_{config['mask']}"] if config.get("mask") else []
    parts += [config["execution"]] if config.get("execution", "eager") != "eager" else []
    parts += [config["policy"]] if "policy" in config else []
    return "-".join(parts + [f"std{config['weight_std']}", f"seed{config['seed']}"])


def random_weights(shapes, rng, std):
    """Independent normal(0, std) draws of the given shapes: every gate its own weights."""
    return [rng.normal(0, std, shape) for shape in shapes]


def draw_mask(rng, kind, batch, steps, masked_row):
    """A (batch, steps) boolean mask of a kind, or None.

    Args:
        rng: the example's generator.
        kind: None, "right" (valid steps, then padding: 1..steps valid), "left" (padding,
            then 1..steps valid steps) or "holes" (each step valid with probability 0.7).
        batch, steps: the shape.
        masked_row: whether one random row is fully masked.

    Returns:
        The mask, or None for kind None.
    """
    if kind is None:
        return None
    index = np.arange(steps)[None, :]
    if kind == "right":
        mask = index < rng.integers(1, steps + 1, (batch, 1))
    elif kind == "left":
        mask = index >= rng.integers(0, steps, (batch, 1))
    else:
        mask = rng.random((batch, steps)) < 0.7
    if masked_row:
        mask[rng.integers(batch)] = False
    return mask


def build_keras_layer(config, dtype, rng, cell=None):
    """The example's Keras layer, built, with random weights from ``rng``.

    Args:
        config: a :func:`keras_configs` dict.
        dtype: the layer's dtype ("float32", "float64").
        rng: the example's generator (the weights are its first draws).
        cell: None for a keras.layers.LSTM with the config's options, or an LSTMCell (a
            subclass: tests/keras_broken.py) to run inside keras.layers.RNN instead.

    Returns:
        The layer.
    """
    import keras

    common = dict(return_sequences=config["return_sequences"],
                  return_state=config["return_state"], go_backwards=config["go_backwards"],
                  unroll=config["unroll"], zero_output_for_mask=config["zero_output_for_mask"],
                  dtype=dtype)
    if cell is None:
        # TensorFlow has no 16-bit QR kernel for the default orthogonal initializer; the drawn
        # weights replace the initial values anyway.
        sixteen = {"recurrent_initializer": "glorot_uniform"} if dtype in ("float16",
                                                                          "bfloat16") else {}
        layer = keras.layers.LSTM(config["units"], activation=config["activation"],
                                  recurrent_activation=config["recurrent_activation"],
                                  use_bias=config["use_bias"],
                                  implementation=config["implementation"], **common, **sixteen)
    else:
        layer = keras.layers.RNN(cell, **common)
    layer.build((config["batch"], config["time"], config["features"]))
    shapes = [w.shape for w in layer.get_weights()]
    layer.set_weights([w.astype(layer.variable_dtype)
                       for w in random_weights(shapes, rng, config["weight_std"])])
    return layer


def keras_inputs(config, rng):
    """x (B, T, F), the initial state [h0, c0] or None, and the mask or None, in float64
    (compare casts them to the layer's compute dtype), drawn as lstm_ref.grids.keras.Case does."""
    batch, steps, units = config["batch"], config["time"], config["units"]
    x = rng.uniform(-1, 1, (batch, steps, config["features"]))
    state = None
    if config["initial_state"]:
        state = [rng.uniform(-1, 1, (batch, units)), rng.normal(0, 1, (batch, units))]
    mask = draw_mask(rng, config["mask"], batch, steps, config["masked_row"])
    return x, state, mask


def check_keras(config, dtype, log, cell=None):
    """Build the example's Keras layer, compare it with the reference, record and assert.

    Args:
        config: a :func:`keras_configs` dict.
        dtype: the layer's dtype.
        log: the list this test's records go to (see :func:`record`).
        cell: see :func:`build_keras_layer` (a broken cell, to see the check fail).

    Returns:
        The Report (when it passed).
    """
    rng = np.random.default_rng(config["seed"])
    start = time.perf_counter()
    layer = build_keras_layer(config, dtype, rng, cell)
    x, state, mask = keras_inputs(config, rng)
    execution = config.get("execution", "eager")
    if keras_of(layer).backend.backend() != "tensorflow":
        execution = "eager"  # no graphs to run in off TensorFlow
    report = lstm_ref.compare(layer, x, initial_state=state, mask=mask, execution=execution)
    return assert_sound(report, config, log, time.perf_counter() - start)


def build_torch_module(config, dtype, rng):
    """The example's torch.nn.LSTM in ``dtype`` (eval mode), every parameter (every gate,
    layer and direction, b_ih and b_hh apart) its own normal(0, weight_std) draw."""
    import torch

    torch_dtype = getattr(torch, dtype)
    options = {key: config[key] for key in ("input_size", "hidden_size", "num_layers", "bias",
                                            "batch_first", "bidirectional", "proj_size")}
    module = torch.nn.LSTM(**options, dtype=torch_dtype).eval()
    with torch.no_grad():
        for parameter in module.parameters():  # a fixed order: the draws are reproducible
            parameter.copy_(torch.as_tensor(rng.normal(0, config["weight_std"],
                                                       tuple(parameter.shape))))
    return module


def torch_inputs(config, rng):
    """x as the module takes it ((T, B, F), or batch first), hx (h_0, c_0) or None, and the
    right-padded mask of the packed rows or None; float64 NumPy arrays."""
    batch, steps = config["batch"], config["time"]
    rows = config["num_layers"] * (2 if config["bidirectional"] else 1)
    output = config["proj_size"] or config["hidden_size"]
    x = rng.uniform(-1, 1, (batch, steps, config["input_size"]))
    hx = None
    if config["initial_state"]:
        hx = (rng.uniform(-1, 1, (rows, batch, output)),
              rng.normal(0, 1, (rows, batch, config["hidden_size"])))
    mask = draw_mask(rng, "right", batch, steps, False) if config["packed"] else None
    return (x if config["batch_first"] else x.transpose(1, 0, 2)), hx, mask


def check_torch(config, dtype, log):
    """Build the example's torch module, compare it with the reference, record and assert
    (see :func:`check_keras`)."""
    rng = np.random.default_rng(config["seed"])
    start = time.perf_counter()
    module = build_torch_module(config, dtype, rng)
    x, hx, mask = torch_inputs(config, rng)
    report = lstm_ref.compare(module, x, initial_state=hx, mask=mask)
    return assert_sound(report, config, log, time.perf_counter() - start)


def assert_sound(report, config, log, seconds):
    """Record the example (see :func:`record`) and assert that its report did not fail (an
    INCONCLUSIVE one, whose case the reference cannot determine somewhere, is counted
    apart); the message is the report's own summary and the drawn configuration. Returns
    the report."""
    record(log, report, config, seconds)
    assert not report.failed, (f"{report.summary()}\nsoak config: {json.dumps(config)}\n"
                               f"soak id: {config_id(config)}")
    return report


def record(log, report, config, seconds):
    """Append one example's figures to ``log``: its worst error-to-bound ratio, its verdict,
    the steps not compared (from the first one the probes' format cannot determine), the
    tensors compared, its configuration and how long it took."""
    log.append({"ratio": report.worst_ratio, "verdict": report.verdict, "time": report.time,
                "compared_steps": report.compared_steps, "not_compared": report.not_compared,
                "size": report.size, "seconds": seconds, "config": config})


# ---------------------------------------------------------------- the summary


def summarize(records):
    """The figures of one test's examples: count, failures, worst ratio and its config,
    median ratio, examples with elements not compared (past the horizon, undetermined) and
    how many, inconclusive examples (a tensor with nothing compared), seconds per example."""
    if not records:
        return {"examples": 0}
    ratios = [r["ratio"] for r in records]
    worst = max(records, key=lambda r: r["ratio"])
    cut = [r for r in records if r["not_compared"]]
    return {
        "examples": len(records),
        "failures": sum(r["verdict"] == "FAILED" for r in records),
        "failed_configs": [r["config"] for r in records if r["verdict"] == "FAILED"],
        "worst_ratio": worst["ratio"],
        "worst_config": worst["config"],
        "worst_id": config_id(worst["config"]),
        "median_ratio": float(np.median(ratios)),
        "cut_at_horizon": len(cut),
        "elements_not_compared": sum(r["not_compared"] for r in cut),
        "elements": sum(r["size"] for r in records),
        "inconclusive": sum(r["verdict"] == "INCONCLUSIVE" for r in records),
        "seconds_per_example": sum(r["seconds"] for r in records) / len(records),
    }


def summary_line(name, figures):
    """One printed line of a test's figures."""
    if not figures["examples"]:
        return f"soak {name}: no examples"
    return (f"soak {name}: {figures['examples']} examples, {figures['failures']} failures, "
            f"worst err/bound {figures['worst_ratio']:.3f} ({figures['worst_id']}), median "
            f"{figures['median_ratio']:.3f}; {figures['cut_at_horizon']} with elements not "
            f"compared ({figures['elements_not_compared']} of {figures['elements']}), "
            f"{figures['inconclusive']} inconclusive; {figures['seconds_per_example']:.2f} "
            "s/example")


@pytest.fixture(scope="module")
def soak_log(request):
    """test node id -> list of example records; on the module's teardown, one summary line
    per test on the terminal (shown in a plain ``-q`` run) and, with LSTM_REF_SOAK_SUMMARY
    set, the summary as JSON in that file."""
    logs = {}
    yield logs
    summary = {name: summarize(records) for name, records in logs.items()}
    if not summary:
        return
    lines = [summary_line(name, figures) for name, figures in summary.items()]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # past pytest's capture, as the summary
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    else:
        print("\n".join(lines))
    path = os.environ.get(SUMMARY_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2, default=str)


@pytest.fixture
def examples(request):
    """N, the number of examples per soak test (``--soak=N``)."""
    return request.config.getoption("--soak")


@pytest.fixture
def log(request, soak_log):
    """This test's list of example records."""
    return soak_log.setdefault(request.node.nodeid, [])


@pytest.fixture
def one_torch_thread():
    """torch on one thread during the test (restored after): these LSTMs are small, and
    OpenMP workers spin-waiting on a shared 2-core machine only slow them down."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the soak tests


@pytest.mark.soak
@pytest.mark.keras
def test_keras_float32_has_no_false_failures(examples, seed, log):
    pytest.importorskip("keras")

    @soak(examples, seed)
    @given(config=keras_configs())
    def example(config):
        check_keras(config, "float32", log)

    example()


@pytest.mark.soak
@pytest.mark.keras
def test_keras_float64_has_no_false_failures(examples, seed, log):
    keras = pytest.importorskip("keras")
    from lstm_ref.frameworks.keras.twin import FLOAT64_DEPARTURES

    # Kernels that are not float64-accurate on this backend depart rightly (as in
    # bench/calibrate_tolerance.py --dtype float64;
    # tests/frameworks/keras/test_known_divergences.py).
    departures = FLOAT64_DEPARTURES.get(keras.backend.backend(), ())
    activations = tuple(a for a in FULL_OPTIONS["activation"] if a not in departures)

    @soak(examples, seed)
    @given(config=keras_configs(activations))
    def example(config):
        check_keras(config, "float64", log)

    example()


@pytest.mark.soak
@pytest.mark.keras
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_keras_16bit_has_no_false_failures(dtype, examples, seed, log):
    """A 16-bit layer, or half the examples a mixed policy (16-bit compute, float32
    variables), held to the table's 16-bit entry and, where lstm_ref.emulation has its
    activations, to the exact step check (lstm_ref.step_check)."""
    keras_on_tensorflow("the 16-bit entries and the step check are calibrated on TensorFlow")

    @soak(examples, seed)
    @given(config=keras_configs(), mixed=st.booleans())
    def example(config, mixed):
        config["policy"] = f"mixed_{dtype}" if mixed else dtype
        check_keras(config, config["policy"], log)

    example()


@pytest.mark.soak
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_has_no_false_failures(dtype, examples, seed, log, one_torch_thread):
    @soak(examples, seed)
    @given(config=torch_configs())
    def example(config):
        check_torch(config, dtype, log)

    example()


# ---------------------------------------------------------------- the soak can fail


@pytest.mark.keras
def test_the_soak_check_fails_a_broken_layer():
    """The soak's own check, on a cell whose c drifts by 1e-5 relative per step (well
    inside any loose tolerance such as atol 1e-4), fails with the report and the config."""
    pytest.importorskip("keras")
    from tests.frameworks.keras.broken import BrokenLSTMCell

    config = {"units": 5, "features": 3, "batch": 2, "time": 6, "activation": "tanh",
              "recurrent_activation": "sigmoid", "go_backwards": False, "use_bias": True,
              "implementation": 2, "unroll": False, "return_sequences": True,
              "return_state": True, "initial_state": True, "mask": "holes",
              "masked_row": False, "zero_output_for_mask": False, "weight_std": 0.7,
              "seed": 7}
    cell = BrokenLSTMCell(config["units"], bug="relative drift 1e-5 in c")
    records = []
    with pytest.raises(AssertionError) as failure:
        check_keras(config, "float32", records, cell=cell)
    message = str(failure.value)
    assert message.startswith("FAILED at step") and "tensor c" in message, message
    assert config_id(config) in message
    assert len(records) == 1 and records[0]["verdict"] == "FAILED" and records[0]["ratio"] > 1
    # The same check passes the unbroken cell on the same draws.
    unbroken = BrokenLSTMCell(config["units"])
    assert check_keras(config, "float32", records, cell=unbroken).passed


def shrunk_config(**fields):
    """A :func:`keras_configs` dict with ``fields`` set and every other option off: how a
    case hypothesis shrank is written down as a test."""
    return {"units": 1, "features": 1, "batch": 1, "time": 1, "activation": "tanh",
            "recurrent_activation": "sigmoid", "go_backwards": False, "use_bias": False,
            "implementation": 1, "unroll": False, "return_sequences": False,
            "return_state": False, "initial_state": False, "mask": None, "masked_row": False,
            "zero_output_for_mask": False, "weight_std": 0.3, "seed": 0, "execution": "eager",
            **fields}


def exponential_config(units, time, return_sequences, seed):
    """A :func:`keras_configs` dict: one feature, one row, exponential activation, no options."""
    return shrunk_config(units=units, time=time, activation="exponential",
                         return_sequences=return_sequences, seed=seed)


def keras_on_tensorflow(why):
    """Keras, skipping the test (saying ``why``) unless its backend is TensorFlow."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(why)
    return keras


@pytest.mark.keras
def test_float64_exponential_case_is_compared_until_it_overflows():
    """The smallest case hypothesis shrank the float64 soak's one false failure to: h =
    o exp(c) carries c's rounding times |c| (c = 3 at step 4). Its error is 9 eps relative, a
    rounding, and was 1.8 times the bound while the float64 probes only nudged the inputs
    (they then compute what the reference computes, and see no rounding of c); the
    float64-perturbed probes round every operation and see it: h and c pass up to step 5.
    From step 6 the reference itself is NaN from finite inputs (exp overflows, 0 * inf): the
    same NaN from Keras is not agreement but an undetermined value, so the last output,
    all this layer returns, is not compared and the check is INCONCLUSIVE, not PASSED."""
    keras_on_tensorflow("seen on Keras's TensorFlow backend")
    records = []
    report = check_keras(exponential_config(units=1, time=9, return_sequences=False, seed=0),
                         "float64", records)
    assert report.verdict == "INCONCLUSIVE" and records[0]["verdict"] == "INCONCLUSIVE"
    assert report.tensors["c"].compared == 6 and report.tensors["output"].compared == 0
    assert report.tensors["c"].cuts == {UNDETERMINED: (6, [0])}, report.summary()


@pytest.mark.keras
def test_float64_exponential_gradients_case_passes():
    """The gradient entry's float64 probes had the same blind spot: with only the inputs
    nudged, this exponential case's gradients failed at 1.68 times the bound (one of 60
    exponential cases drawn like the forward one above); float64-perturbed probes, which
    also round each backward step's dz, dh and dc, bring it to 0.09."""
    keras_on_tensorflow("gradients are taken with tf.GradientTape")
    config = exponential_config(units=4, time=28, return_sequences=True, seed=39)
    rng = np.random.default_rng(config["seed"])
    layer = build_keras_layer(config, "float64", rng)
    x, state, mask = keras_inputs(config, rng)
    report = lstm_ref.compare_gradients(layer, x, initial_state=state, mask=mask)
    assert report.passed, report.summary()
    assert report.compared_steps == config["time"] and report.not_compared == 0


@pytest.mark.keras
@pytest.mark.parametrize("activation", ["elu", "selu"])
def test_float32_elu_case_the_soak_failed_falsely_passes(activation):
    """The case hypothesis shrank the float32 soak's false failures to: one unit, one row,
    tanh gates, elu (or selu) of a cell state near -2e-3. TensorFlow computes elu as
    exp(x) - 1: h is off by 67 ulps of itself (elu's error is within an ulp of 1,
    absolutely): within h's element bound, 8 times its step drift bound, since with one
    element a step's drift is that element's relative error. The drift check is off for
    these activations (DRIFT_EXEMPT); the element bound still holds every element."""
    keras_on_tensorflow("TensorFlow's elu")
    from lstm_ref.engine import DRIFT_NOTE

    config = shrunk_config(time=41, activation=activation, recurrent_activation="tanh",
                           seed=70)
    report = check_keras(config, "float32", [])
    assert report.passed and DRIFT_NOTE in report.context, report.summary()
    assert report.tensors["h"].compared == config["time"]


def test_torch_projection_case_the_soak_failed_falsely_passes(one_torch_thread):
    """The case hypothesis shrank the torch float32 soak's false failure to: one step, two
    rows, two layers projecting 2 units to 1. h = W_hr (o * tanh(c)) is a sum of two
    products that nearly cancel, so h carries their rounding, 18 eps of its own: within its
    element bound, 1.13 times the step drift bound of a step that weighs two elements. A step
    of fewer than lstm_ref.bias.MIN_WEIGHED elements has no drift to measure; the element
    bounds hold it."""
    pytest.importorskip("torch")
    config = {"hidden_size": 2, "input_size": 1, "batch": 2, "time": 1, "num_layers": 2,
              "proj_size": 1, "bias": True, "weight_std": 1.5, "seed": 17720,
              "batch_first": False, "bidirectional": False, "initial_state": False,
              "packed": False}
    report = check_torch(config, "float32", [])
    assert report.passed, report.summary()


def test_torch_bidirectional_projection_case_the_soak_failed_falsely_passes(one_torch_thread):
    """The second torch float32 case: a bidirectional layer projecting 16 units to 1, four
    rows. Each direction's h weighs 4 elements a step, too few for a drift; the output joins
    the two, 8 elements, and its drift bound comes from its parts': where a part's drift is
    not measured, the joined tensor's is not either (it failed at 1.22 times a floor it had
    inherited from parts that measured nothing)."""
    pytest.importorskip("torch")
    config = {"hidden_size": 16, "input_size": 1, "batch": 4, "time": 4, "num_layers": 1,
              "bidirectional": True, "proj_size": 1, "bias": False, "batch_first": False,
              "initial_state": False, "packed": False, "weight_std": 0.7, "seed": 0}
    report = check_torch(config, "float32", [])
    assert report.passed, report.summary()


@pytest.mark.keras
def test_float16_step_check_after_an_overflowed_state_is_undetermined():
    """The case hypothesis shrank the float16 soak's false failure to: relu with tanh
    gates, weights of std 1.5, the states leaving float16's range from step 16. The exact
    step check recomputes each step from the layer's previous state; a step after a state
    that is no longer finite took an ulp of that state's scale, inf, as its bound, and
    failed an element that agreed (-0 against -0). Such steps are undetermined; the layer's last
    output is past the float16 horizon too, so the check is INCONCLUSIVE, not FAILED."""
    keras_on_tensorflow("the step check is TensorFlow's arithmetic")
    config = shrunk_config(units=6, batch=2, time=41, activation="relu",
                           recurrent_activation="tanh", use_bias=True, weight_std=1.5, seed=3,
                           policy="float16")
    report = check_keras(config, "float16", [])
    assert report.verdict == "INCONCLUSIVE", report.summary()
    step = report.tensors["step.h"]
    assert step.failures == 0 and UNDETERMINED in step.not_compared, report.summary()


@pytest.mark.keras
def test_bfloat16_step_check_near_the_formats_largest_number_is_undetermined():
    """The bfloat16 soak's first false failure: relu with tanh gates, weights of std 1.5,
    states growing to 1e38, where a float32 sum of two terms near bfloat16's largest number
    overflows or not by the order they are added in (the layer: -1e38, the recomputation:
    -0). A step whose state before or after comes within OVERFLOW_MARGIN of that number is
    undetermined, as the element bounds' horizon already holds."""
    keras_on_tensorflow("the step check is TensorFlow's arithmetic")
    config = shrunk_config(units=27, features=27, time=72, activation="relu",
                           recurrent_activation="tanh", use_bias=True, mask="right",
                           weight_std=1.5, seed=1, policy="mixed_bfloat16")
    report = check_keras(config, "mixed_bfloat16", [])
    assert not report.failed, report.summary()
    assert report.tensors["step.h"].failures == 0, report.summary()


@pytest.mark.keras
@pytest.mark.parametrize("execution", ["eager", "function"])
def test_bfloat16_graph_path_of_a_chaotic_case_is_cut_where_it_diverges(execution):
    """The bfloat16 soak's worst case (79.7 times the bound): softplus with hard_sigmoid
    gates, weights of std 1.5, by tf.function (predict failed the same; eager and XLA
    passed). The graph rounds x W + b once where eager rounds the product and the sum: at
    step 0, 61 of 126 outputs differ between the two by up to 7 ulps (a sum that cancels is an
    ulp of its terms), and the case amplifies that chaotically. Probes that round where eager
    does and differ only by their nudged inputs agreed with each other for 72 steps on three
    rows where the graph's run diverged; probes that move every operation's result by an ulp
    (bfloat16-perturbed) leave the horizon within a few steps on every row, on both paths."""
    keras_on_tensorflow("TensorFlow's graph")
    config = shrunk_config(units=21, features=7, batch=6, time=72, activation="softplus",
                           recurrent_activation="hard_sigmoid", use_bias=True,
                           return_sequences=True, weight_std=1.5, seed=540149,
                           execution=execution, policy="bfloat16")
    report = check_keras(config, "bfloat16", [])
    _, rows = report.tensors["output"].cuts[HORIZON]
    assert sorted(rows) == list(range(6)), report.summary()
