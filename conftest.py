"""Root pytest configuration: markers, the --grid option, per-test seeds, quiet TF logs,
and a report header with the versions that matter."""

import gc
import importlib.util
import os
import platform
import zlib

# Before anything imports TensorFlow: no INFO/WARNING spam from its C++ side.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Under pytest-xdist each worker gets one thread of each pool (pytest_configure): with -n 2
# on 2 cores, two workers each running OpenBLAS's, TensorFlow's and torch's pools of 2
# busy-waiting threads oversubscribed the cores (-n 2 was 1.24 times faster than a serial
# run; see README, Performance and scale).
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

MARKERS = {
    "keras": "needs Keras 3 with a backend (skipped when not installed)",
    "slow": "long-running; run with --grid=full",
    "full": "only with --grid=full",
    "gpu": "needs a GPU (skipped without one)",
    "extended": "the extended tier (the Keras suite again on Keras's other backends); runs "
                "only with --extended: CI runs it as a step of its own",
    "soak": "the soundness soak: random configurations by the thousand; runs only with "
            "--soak=N (N examples per test), outside the default run",
    "framework": "runs a framework (Keras, tf_keras, torch, onnxruntime): every test under "
                 "tests/frameworks, tests/soak and tests/docs (their conftest.py files); "
                 "-m 'not framework' is the NumPy-only suite",
    "tf1": "runs TF1 cells (tf_keras's legacy cells)",
    "torch": "runs torch",
    "onnx": "runs onnxruntime",
    "tflite": "runs LiteRT (ai_edge_litert) on .tflite artifacts",
    "flax": "runs JAX and Flax NNX",
}


def pytest_addoption(parser):
    parser.addoption("--grid", default="default", choices=("small", "default", "full"),
                     help="which case grid the equivalence tests run (lstm_ref.grid)")
    parser.addoption("--extended", action="store_true",
                     help="also run the extended tier (marker extended)")
    parser.addoption("--soak", type=int, default=0, metavar="N",
                     help="run the soak tests (marker soak) with N random examples each")


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    # The unittest form of the Keras grid (lstm_ref.conformance, collected by
    # tests/frameworks/keras/test_grid.py) reads its grid from the environment.
    os.environ["LSTM_REF_GRID"] = config.getoption("--grid")
    if _xdist_controller(config):
        _steal_work(config)
        return  # it runs no test; importing TensorFlow here would delay the workers' start
    if XDIST_WORKER and _has("threadpoolctl"):
        # At run time: NumPy's OpenBLAS was loaded (by lstm_ref's pytest plugin) before this
        # file, so OPENBLAS_NUM_THREADS would come too late.
        import threadpoolctl

        config._lstm_ref_thread_limits = threadpoolctl.threadpool_limits(1)  # kept: in force
    if _has("tensorflow"):
        import tensorflow as tf

        # Correctness runs compare against float32 arithmetic, not TF32's 10-bit mantissa.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        if XDIST_WORKER:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    if _has("torch"):  # Keras's torch backend; cuDNN RNNs take TF32 unless told not to
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        if XDIST_WORKER:
            torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    grid = config.getoption("--grid")
    skip_full = pytest.mark.skip(reason="runs only with --grid=full")
    skip_extended = pytest.mark.skip(reason="the extended tier runs only with --extended")
    skip_soak = pytest.mark.skip(reason="the soak runs only with --soak=N")
    skip_keras = pytest.mark.skip(reason="Keras 3 / TensorFlow not installed: "
                                         "pip install 'lstm-ref[keras]'")
    for item in items:
        # Markers, not keywords: keywords also hold test names and parametrize ids.
        if (item.get_closest_marker("full") or item.get_closest_marker("slow")) and grid != "full":
            item.add_marker(skip_full)
        if item.get_closest_marker("extended") and not config.getoption("--extended"):
            item.add_marker(skip_extended)
        if item.get_closest_marker("soak") and not config.getoption("--soak"):
            item.add_marker(skip_soak)
        if item.get_closest_marker("keras") and not _has("keras"):
            item.add_marker(skip_keras)


def pytest_collection_finish(session):
    """Move what the imports and the collection made (TensorFlow, torch, Keras: about half a
    million objects) out of the garbage collector's sight: each full collection would scan
    them all again (0.25 s each, many times a run). gc.freeze: Python 3.7+."""
    gc.collect()
    gc.freeze()


def pytest_report_header(config):
    lines = [f"lstm_ref: numpy {np.__version__}, python {platform.python_version()}, "
             f"grid={config.getoption('--grid')}"]
    if _xdist_controller(config):  # versions only: the frameworks load in the workers
        found = [f"{name} {_version(name)}" for name in ("tensorflow", "keras", "torch")
                 if _has(name)]
        return lines + [", ".join(found) + " (devices and TF32: run without -n to see)"]
    if _has("tensorflow"):
        import keras
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        lines.append(f"tensorflow {tf.__version__}, keras {keras.__version__} (backend "
                     f"{keras.backend.backend()}), device: {'GPU ' + str(gpus) if gpus else 'CPU'}, "
                     f"TF32 {'on' if tf.config.experimental.tensor_float_32_execution_enabled() else 'off'}")
    else:
        lines.append("tensorflow: not installed")
    if _has("torch"):
        import torch

        lines.append(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}, TF32 "
                     f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'} (cudnn)")
    return lines


@pytest.fixture
def seed(request):
    """A seed derived from the test's id, not the run order: each test reproduces alone."""
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def grid_name(request):
    return request.config.getoption("--grid")


def _steal_work(config):
    """-n N without a --dist of the caller's: xdist's "worksteal" instead of "load". Tests
    take from a millisecond to several seconds, and a worker that runs out takes over the
    other's queue instead of waiting for it (docs/findings/2026-12-04-checking-costs.md)."""
    given = [arg for arg in config.invocation_params.args if isinstance(arg, str)]
    if config.option.dist == "load" and not any(
            arg == "-d" or arg.startswith("--dist") for arg in given):
        config.option.dist = "worksteal"


def _xdist_controller(config):
    """True in pytest-xdist's controlling process (-n N), which only hands out tests."""
    # xdist's own test (xdist.plugin._is_distribution_mode): a --dist mode and workers to
    # start; --dist alone runs the tests in this process.
    return (not XDIST_WORKER and getattr(config.option, "dist", "no") != "no"
            and bool(getattr(config.option, "tx", None)))


def _version(distribution):
    from importlib.metadata import version

    return version(distribution)


def _has(module):
    return importlib.util.find_spec(module) is not None
