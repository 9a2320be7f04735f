"""Root pytest configuration: markers, the --grid option, per-test seeds, quiet TF logs,
and a report header with the versions that matter."""

import importlib.util
import os
import platform
import zlib

# Before anything imports TensorFlow: no INFO/WARNING spam from its C++ side.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
    "framework": "runs a framework (Keras, tf_keras, torch, onnxruntime): set by file name "
                 "below; -m 'not framework' is the NumPy-only suite",
}
# Test files that run a framework (each skips cleanly when its framework is missing).
FRAMEWORK_FILES = ("test_keras", "test_sensitivity_keras", "test_tf1", "test_tf_keras",
                   "test_torch", "test_onnx", "test_readme", "test_stepping", "test_soak")


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
    if _has("tensorflow"):
        import tensorflow as tf

        # Correctness runs compare against float32 arithmetic, not TF32's 10-bit mantissa.
        tf.config.experimental.enable_tensor_float_32_execution(False)
    if _has("torch"):  # Keras's torch backend; cuDNN RNNs take TF32 unless told not to
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def pytest_collection_modifyitems(config, items):
    grid = config.getoption("--grid")
    skip_full = pytest.mark.skip(reason="runs only with --grid=full")
    skip_extended = pytest.mark.skip(reason="the extended tier runs only with --extended")
    skip_soak = pytest.mark.skip(reason="the soak runs only with --soak=N")
    skip_keras = pytest.mark.skip(reason="Keras 3 / TensorFlow not installed: "
                                         "pip install 'lstm-ref[keras]'")
    for item in items:
        if item.path.name.startswith(FRAMEWORK_FILES):
            item.add_marker(pytest.mark.framework)
        # Markers, not keywords: keywords also hold test names and parametrize ids.
        if (item.get_closest_marker("full") or item.get_closest_marker("slow")) and grid != "full":
            item.add_marker(skip_full)
        if item.get_closest_marker("extended") and not config.getoption("--extended"):
            item.add_marker(skip_extended)
        if item.get_closest_marker("soak") and not config.getoption("--soak"):
            item.add_marker(skip_soak)
        if item.get_closest_marker("keras") and not _has("keras"):
            item.add_marker(skip_keras)


def pytest_report_header(config):
    lines = [f"lstm_ref: numpy {np.__version__}, python {platform.python_version()}, "
             f"grid={config.getoption('--grid')}"]
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


def _has(module):
    return importlib.util.find_spec(module) is not None
