"""The TensorFlow/Keras upgrade gate: lstm-ref's equivalence suite against each version.

    nox -f ci/noxfile.py                             # the baseline version, then the table
    nox -f ci/noxfile.py -l                          # the sessions
    nox -f ci/noxfile.py -s tf-2.19 tf-2.21          # verify against those versions
    nox -f ci/noxfile.py -t matrix                   # every version of MATRIX (nightly too)
    nox -f ci/noxfile.py -s record -- ci/golden/tf2.21   # golden files, baseline version
    LSTM_REF_GOLDEN=ci/golden/tf2.21 nox -f ci/noxfile.py -s tf-2.21   # ... and check them
    nox -f ci/noxfile.py -s compare                  # the table across the runs so far
    nox -f ci/noxfile.py -s conformance-2.21 -- --shard 2/4   # shard 2 of the full grids
    nox -f ci/noxfile.py -s conformance-merge -- 2.21 4       # those 4 shards: one verdict

Each tf-X session installs that TensorFlow, its Keras pin and lstm-ref[keras] (this checkout,
not editable: what a user installs) into its own virtualenv, then runs ci/gate.py:
`lstm-ref verify --grid default` (JSON, JUnit XML, log under ci/runs/) and, when a recording is
given (a posarg after --, or LSTM_REF_GOLDEN), `lstm-ref golden check PATH`. The session fails
when either exits non-zero. Environment knobs: LSTM_REF_RUNS (the output folder, default
ci/runs), LSTM_REF_GRID (default "default"), LSTM_REF_DTYPE (float32), LSTM_REF_TIMEOUT
(seconds per step, 900), LSTM_REF_BASELINE (the version `record` uses, 2.21),
LSTM_REF_PYTHON (3.11).

Each conformance-X session runs the equivalence suite's grids at their full tier (every
framework's tests/frameworks/*/test_grid.py, deployed artifacts' included, pytest
--grid=full) against that TensorFlow, on one shard of N (pytest-split, by the durations stored in .test_durations; xdist on every
core), and writes runs/conformance-tfX-K-of-N.xml (JUnit). conformance-merge merges a
version's N shard files into runs/conformance-tfX.xml with one verdict (ci/merge_junit.py):
a missing shard is exit 2, never a pass. LSTM_REF_TORCH_INDEX: where torch's CPU wheel comes
from (default PyTorch's CPU index; "none": the torch grid is skipped).
"""

import os
import subprocess
import sys
from pathlib import Path

import nox

CI = Path(__file__).resolve().parent
ROOT = CI.parent

# One row per TensorFlow minor: (the tensorflow requirement, its Keras pin). TensorFlow 2.16+
# ships Keras 3 and asks for keras>=3.0 (2.16), >=3.2 (2.17), >=3.5 (2.18, 2.19), >=3.10 (2.20),
# >=3.12 (2.21); pip resolves each to the newest Keras, which is what a user upgrading gets, so
# the pin is that one (measured working with each version here). tf-nightly brings its own
# keras-nightly; its row is skipped where the index has no tf-nightly.
MATRIX = {
    "2.16": ("tensorflow==2.16.2", "keras==3.15.1"),
    "2.17": ("tensorflow==2.17.1", "keras==3.15.1"),
    "2.18": ("tensorflow==2.18.1", "keras==3.15.1"),
    "2.19": ("tensorflow==2.19.1", "keras==3.15.1"),
    "2.20": ("tensorflow==2.20.0", "keras==3.15.1"),
    "2.21": ("tensorflow==2.21.0", "keras==3.15.1"),
    "nightly": ("tf-nightly", None),
}
BASELINE = os.environ.get("LSTM_REF_BASELINE", "2.21")
PYTHON = os.environ.get("LSTM_REF_PYTHON", "3.11")
GRID = os.environ.get("LSTM_REF_GRID", "default")
DTYPE = os.environ.get("LSTM_REF_DTYPE", "float32")
TIMEOUT = os.environ.get("LSTM_REF_TIMEOUT", "900")

# A bare `nox -f ci/noxfile.py` checks the baseline version only (one environment of some
# 2 GB) and tabulates the runs; the whole matrix is `-t matrix`.
nox.options.sessions = [f"tf-{BASELINE}", "compare"]


def _path(session, value):
    """A path given on the command line or in the environment, relative to where nox was
    invoked (nox itself runs from ci/)."""
    return str((Path(session.invoked_from) / value).resolve())


def _runs(session):
    return _path(session, os.environ.get("LSTM_REF_RUNS", str(CI / "runs")))


def _install(session, version):
    tensorflow, keras = MATRIX[version]
    if version == "nightly":
        found = session.run("python", "-m", "pip", "index", "versions", "tf-nightly",
                            silent=True, success_codes=[0, 1])
        if "tf-nightly (" not in (found or ""):
            session.skip("tf-nightly is not on the package index here")
        # tf-nightly pulls keras-nightly, and provides the `tensorflow` module that the keras
        # extra would ask for again as the `tensorflow` distribution: install without it.
        session.install(tensorflow, "allpairspy>=2.5", str(ROOT))
    else:
        session.install(tensorflow, keras, f"{ROOT}[keras]")


def _make_matrix_session(version):
    @nox.session(name=f"tf-{version}", python=PYTHON, tags=["matrix"])
    def matrix_session(session):
        _install(session, version)
        golden = session.posargs[0] if session.posargs else os.environ.get("LSTM_REF_GOLDEN")
        command = ["python", str(CI / "gate.py"), "verify", "--label", f"tf{version}",
                   "--out", _runs(session), "--grid", GRID, "--dtype", DTYPE,
                   "--timeout", TIMEOUT]
        if golden:
            command += ["--golden", _path(session, golden)]
        session.run(*command)

    matrix_session.__doc__ = (f"Verify against {MATRIX[version][0]}"
                              f"{' + ' + MATRIX[version][1] if MATRIX[version][1] else ''}.")
    return matrix_session


for _version in MATRIX:
    globals()[f"tf_{_version.replace('.', '_')}"] = _make_matrix_session(_version)


# The conformance run: every framework's grid at its full tier.
CONFORMANCE_TESTS = ("tests/frameworks/keras/test_grid.py", "tests/frameworks/tf1/test_grid.py",
                     "tests/frameworks/torch/test_grid.py", "tests/frameworks/onnx/test_grid.py",
                     "tests/frameworks/flax/test_grid.py", "tests/frameworks/export/test_grid.py")
TORCH = "torch==2.13.0"  # the CPU build (an unpinned torch from PyPI pulls CUDA's, several GB)
TORCH_INDEX = os.environ.get("LSTM_REF_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")
# The test extra without what pins a released TensorFlow (tf_keras: the TF1 grid skips).
NIGHTLY_TEST_TOOLS = ("pytest>=7", "hypothesis>=6", "pytest-xdist>=3", "threadpoolctl>=3",
                      "parameterized>=0.9", "pytest-split>=0.9", "onnx>=1.14",
                      "onnxruntime>=1.16", "matplotlib>=3.5")


def shard_of(posargs):
    """(K, N) from ``--shard K/N`` in the session's arguments (default 1/1), or SystemExit
    naming what came."""
    if "--shard" not in posargs:
        return 1, 1
    index = posargs.index("--shard")
    value = posargs[index + 1] if index + 1 < len(posargs) else ""
    group, _, splits = value.partition("/")
    if not (group.isdigit() and splits.isdigit() and 1 <= int(group) <= int(splits)):
        raise SystemExit(f"--shard must be K/N with 1 <= K <= N; received {value!r}")
    return int(group), int(splits)


def _make_conformance_session(version):
    @nox.session(name=f"conformance-{version}", python=PYTHON, tags=["conformance"])
    def conformance_session(session):
        group, splits = shard_of(session.posargs)
        if TORCH_INDEX != "none":
            session.install(TORCH, "--index-url", TORCH_INDEX)
        _install(session, version)
        if version == "nightly":  # the test extra would ask for a released tensorflow again
            session.install(*NIGHTLY_TEST_TOOLS)
        else:
            session.install(f"{ROOT}[test,torch,tflite,flax]")
        out = Path(_runs(session))
        out.mkdir(parents=True, exist_ok=True)
        session.chdir(ROOT)  # the tests import tests.support from the checkout
        session.run("python", "-m", "pytest", *CONFORMANCE_TESTS, "--grid=full", "-n", "auto",
                    "-p", "no:cacheprovider", "--splits", str(splits), "--group", str(group),
                    "--durations-path", str(ROOT / ".test_durations"),
                    "--junitxml", str(out / f"conformance-tf{version}-{group}-of-{splits}.xml"))

    conformance_session.__doc__ = (f"Every framework's full grid against {MATRIX[version][0]}, "
                                   "one shard: -- --shard K/N.")
    return conformance_session


for _version in MATRIX:
    globals()[f"conformance_{_version.replace('.', '_')}"] = _make_conformance_session(_version)


@nox.session(name="conformance-merge", venv_backend="none")
def conformance_merge(session):
    """One report and one verdict over a version's shards: -- VERSION N."""
    if len(session.posargs) != 2 or not session.posargs[1].isdigit():
        session.error("usage: nox -s conformance-merge -- VERSION N (e.g. 2.21 4)")
    version, splits = session.posargs
    out = Path(_runs(session))
    shards = [str(out / f"conformance-tf{version}-{k}-of-{splits}.xml")
              for k in range(1, int(splits) + 1)]
    session.run(sys.executable, str(CI / "merge_junit.py"),
                str(out / f"conformance-tf{version}.xml"), *shards)


@nox.session(python=PYTHON)
def record(session):
    """Record golden files with the baseline version: nox -s record [-- PATH]."""
    _install(session, BASELINE)
    default = Path(_runs(session)) / f"golden-tf{BASELINE}"
    target = _path(session, session.posargs[0]) if session.posargs else str(default)
    session.run("python", str(CI / "gate.py"), "record", "--golden", target, "--grid", GRID,
                "--dtype", DTYPE, "--timeout", str(2 * int(TIMEOUT)))
    session.log(f"recorded with tensorflow {BASELINE}: {target}")


@nox.session(venv_backend="none")
def compare(session):
    """Compare the runs: nox -s compare [-- FILES OR FOLDERS] [--baseline tf2.21]."""
    args = [_path(session, arg) if not arg.startswith("-")
            and (Path(session.invoked_from) / arg).exists() else arg for arg in session.posargs]
    if not any(Path(arg).is_absolute() for arg in args):
        args = [_runs(session)] + args  # only options given: the runs folder
    session.run(sys.executable, str(CI / "compare_runs.py"), *args)


@nox.session(venv_backend="none")
def versions(session):
    """Which tensorflow releases the index has (to update MATRIX)."""
    for name in ("tensorflow", "tf-nightly", "keras"):
        subprocess.run([sys.executable, "-m", "pip", "index", "versions", name])
