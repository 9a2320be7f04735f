"""Every framework's grid by name: its cases, the dtypes it runs in, how one case runs.

``lstm-ref verify --framework NAME``, golden files and the test suites take their cases and
runners from here. Each runner imports its framework when called, not before.
"""

import importlib
from dataclasses import dataclass, replace

from lstm_ref._threads import one_blas_thread
from lstm_ref.errors import OptionError
from lstm_ref.grids.common import check_grid, select

__all__ = ["Framework", "FRAMEWORKS", "framework", "grid_cases"]

# Layer dtypes and Keras mixed-precision policies (each case held to the entry of the dtype it
# computes in).
KERAS_DTYPES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Framework:
    """A framework's grid: ``name`` (what --framework takes), the module of its cases, the
    dtypes it runs in, the extra that installs it, and the packages whose versions a run
    reports."""

    name: str
    grid_module: str
    dtypes: tuple
    extra: str
    packages: tuple
    description: str

    def cases(self, grid="default"):
        """The grid's cases (lstm_ref.grids.<module>.cases); for tf_keras, those whose
        activations tf_keras has."""
        check_grid(grid)
        found = importlib.import_module(self.grid_module).cases(grid)
        if self.name == "tf_keras":
            from lstm_ref.frameworks.keras.keras2 import missing_activations

            found = [case for case in found if not missing_activations(case)]
        return found

    def run(self, case, dtype="float32"):
        """Build and compare one case: its Report. NumPy's BLAS runs on one thread meanwhile
        (lstm_ref._threads: the reference's products are small, and an idle BLAS pool
        busy-waits beside the framework's threads)."""
        if dtype not in self.dtypes:
            raise OptionError(f"dtype must be one of {self.dtypes} for {self.name}; "
                              f"received {dtype!r}")
        with one_blas_thread():
            return self._run(case, dtype)

    def _run(self, case, dtype):
        if self.name in ("keras", "tf_keras"):
            from lstm_ref.frameworks.keras.cases import run_case

            return run_case(case, dtype=dtype, api=self.name)
        if self.name == "tf1":
            from lstm_ref.frameworks.tf1.cases import run_case

            return run_case(case, dtype=dtype)
        if self.name == "torch":
            from lstm_ref.frameworks.torch.cases import run_case

            return run_case(case, dtype=dtype)
        if self.name == "flax":
            from lstm_ref.frameworks.flax.cases import run_case

            return run_case(case, dtype=dtype)
        if self.name == "export":  # the storage is the case's; the artifacts run in float32
            from lstm_ref.grids.export import run_case

            return run_case(case)
        from lstm_ref.frameworks.onnx.cases import run_case

        return run_case(case)

    def versions(self):
        """package -> installed version (None where missing), for reports."""
        from importlib.metadata import PackageNotFoundError, version

        found = {}
        for package in self.packages:
            try:
                found[package] = version(package)
            except PackageNotFoundError:
                found[package] = None
        return found


FRAMEWORKS = {
    "keras": Framework("keras", "lstm_ref.grids.keras", KERAS_DTYPES, "keras",
                       ("keras", "tensorflow"), "Keras 3 LSTM layers"),
    "tf_keras": Framework("tf_keras", "lstm_ref.grids.keras", KERAS_DTYPES, "tf_keras",
                          ("tf_keras", "tensorflow"), "tf_keras (Keras 2) LSTM layers"),
    "tf1": Framework("tf1", "lstm_ref.grids.tf1", ("float32", "float64"), "tf_keras",
                     ("tf_keras", "tensorflow"), "TF1 BasicLSTMCell / LSTMCell"),
    "torch": Framework("torch", "lstm_ref.grids.torch", ("float32", "float64", "float16",
                                                         "bfloat16"), "torch", ("torch",),
                       "torch.nn.LSTM"),
    "onnx": Framework("onnx", "lstm_ref.grids.onnx", ("float32",), "onnx",
                      ("onnx", "onnxruntime"), "ONNX LSTM nodes in onnxruntime"),
    "flax": Framework("flax", "lstm_ref.grids.flax", ("float32", "float64"), "flax",
                      ("flax", "jax", "jaxlib"), "Flax NNX LSTMCell / OptimizedLSTMCell"),
    # A case of a kind whose packages are missing (tf2onnx, torch) cannot run: it errors.
    "export": Framework("export", "lstm_ref.grids.export", ("float32",), "tflite",
                        ("tensorflow", "keras", "tf_keras", "ai-edge-litert", "tf2onnx",
                         "torch", "onnx", "onnxruntime"),
                        "deployed artifacts: TFLite, SavedModel, tf2onnx, torch.onnx.export"),
}


def framework(name):
    """The Framework of a name in FRAMEWORKS, or OptionError."""
    if name not in FRAMEWORKS:
        raise OptionError(f"framework must be one of {tuple(FRAMEWORKS)}; received {name!r}")
    return FRAMEWORKS[name]


def grid_cases(name, grid="default", pattern=None, salt=0):
    """A framework's cases of a grid whose id contains ``pattern``, drawn with ``salt``."""
    cases = select(framework(name).cases(grid), pattern)
    return [replace(case, salt=salt) for case in cases] if salt else cases
