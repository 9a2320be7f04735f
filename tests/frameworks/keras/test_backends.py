"""The Keras suite on the other Keras backends, each in its own process (Keras fixes the
backend at import). Skipped where a backend is not installed; what differs is tabled in the
documentation (docs/frameworks.md) and pinned in tests/frameworks/keras/test_known_divergences.py."""

import importlib.util
import os
import subprocess
import sys

import pytest

# The extended tier (--extended; CI runs it after the default suite): each part re-runs
# hundreds of tests in a process of its own.
pytestmark = [pytest.mark.keras, pytest.mark.extended]

# The backend-neutral Keras tests (the graph and XLA paths skip themselves off TensorFlow), in
# three parts of similar length, so that pytest-xdist's workers share them (each part is one
# process: Keras fixes the backend at import).
PARTS = {"grid+dtypes": ["tests/frameworks/keras/test_grid.py", "tests/frameworks/keras/test_dtypes.py",
                         "tests/core/test_activations.py"],
         "layers": ["tests/frameworks/keras/test_twin.py", "tests/frameworks/keras/test_masks.py",
                    "tests/frameworks/keras/test_stateful.py", "tests/frameworks/keras/test_bidirectional.py"],
         "models+bugs": ["tests/frameworks/keras/test_stacked.py", "tests/frameworks/keras/test_models.py",
                         "tests/frameworks/keras/test_execution.py", "tests/frameworks/keras/test_sensitivity.py",
                         "tests/frameworks/keras/test_known_divergences.py"]}
# Tests that fail on a backend for a known, tabled reason (docs/frameworks.md, "Keras backends").
# On JAX: leading masked steps output h0 when an initial state is given.
KNOWN = {"jax": ["tests/frameworks/keras/test_masks.py::test_masked_rows_match_the_reference",
                 "tests/frameworks/keras/test_grid.py::"
                 "test_a_case_runs_with_its_mask_and_its_execution_path_through_the_registry",
                 "tests/frameworks/keras/test_execution.py::test_execution_paths_with_a_mask",
                 "tests/frameworks/keras/test_stacked.py::test_stacked_cells_match_the_reference"]}


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="runs the other backends from the TensorFlow run")
@pytest.mark.parametrize("part", list(PARTS))
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_suite_on_another_backend(backend, part):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    files = PARTS[part]
    deselect = [arg for test in KNOWN.get(backend, []) if test.split("::")[0] in files
                for arg in ("--deselect", test)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files,
                          *deselect], cwd=root, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "KERAS_BACKEND": backend})
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, f"KERAS_BACKEND={backend} ({part}): {summary}\n{run.stdout[-4000:]}"
    assert " passed" in summary
