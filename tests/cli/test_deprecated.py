"""The previous release's spellings: each warns (naming the new one) and still works."""

import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from lstm_ref import cli

ROOT = Path(__file__).resolve().parents[2]

# deprecated module -> (what its warning names, {re-exported name: its home now}).
MOVED = {
    "lstm_ref.grid": ("lstm_ref.grids.keras", {
        "Case": "lstm_ref.grids.keras", "cases": "lstm_ref.grids.keras",
        "select": "lstm_ref.grids.common"}),
    "lstm_ref.grid_torch": ("lstm_ref.grids.torch", {
        "TorchCase": "lstm_ref.grids.torch", "cases": "lstm_ref.grids.torch",
        "run_case": "lstm_ref.frameworks.torch.cases"}),
    "lstm_ref.grid_tf1": ("lstm_ref.grids.tf1", {
        "TF1Case": "lstm_ref.grids.tf1", "cases": "lstm_ref.grids.tf1",
        "run_case": "lstm_ref.frameworks.tf1.cases"}),
    "lstm_ref.grid_onnx": ("lstm_ref.grids.onnx", {
        "Case": "lstm_ref.grids.onnx", "cases": "lstm_ref.grids.onnx",
        "run_case": "lstm_ref.frameworks.onnx.cases"}),
    "lstm_ref.adapters": ("lstm_ref.frameworks", {
        "adapter_for": "lstm_ref.frameworks", "require": "lstm_ref._optional"}),
    "lstm_ref.adapters.keras": ("lstm_ref.frameworks.keras", {
        "run_case": "lstm_ref.frameworks.keras.cases", "compare": "lstm_ref.frameworks.keras",
        "from_keras": "lstm_ref.frameworks.keras"}),
    "lstm_ref.adapters.onnx_graph": ("lstm_ref.frameworks.onnx.graph", {
        "build_model": "lstm_ref.frameworks.onnx.graph",
        "read_node": "lstm_ref.frameworks.onnx.graph"}),
}
NEW_NAME = {"adapter_for": "framework_of"}


def fresh_import(name):
    """Import ``name`` anew (a module warns once, when first imported in a process)."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def quiet_import(name):
    """Import ``name`` without its DeprecationWarning (checked above)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


def run(*args):
    """Run a command of this checkout's Python, from the repository root."""
    env = {**os.environ, "PYTHONWARNINGS": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


@pytest.mark.parametrize("name", MOVED)
def test_importing_warns_naming_the_new_spelling_and_reexports(name):
    new, homes = MOVED[name]
    with pytest.warns(DeprecationWarning, match=rf"{name} is deprecated .*; use {new}"):
        module = fresh_import(name)
    assert set(homes) <= set(module.__all__)
    for attribute, home in homes.items():
        original = getattr(importlib.import_module(home), NEW_NAME.get(attribute, attribute))
        assert getattr(module, attribute) is original, (name, attribute)


def test_the_warning_points_at_the_importing_line():
    # Python's default filters show a DeprecationWarning attributed to __main__ only: the
    # importing line of a script, as here, must be the one named.
    result = run("-c", "import sys\nimport lstm_ref.grid_torch")
    assert result.returncode == 0, result.stderr
    assert "<string>:2: DeprecationWarning: lstm_ref.grid_torch is deprecated" in result.stderr


@pytest.mark.parametrize("framework", ["keras", "torch", "onnx"])
def test_a_former_grid_command_lists_what_verify_lists(framework, capsys):
    pytest.importorskip("allpairspy")
    module = quiet_import("lstm_ref.grid" + ("" if framework == "keras" else f"_{framework}"))
    assert module.main(["--list", "--grid", "small"]) == cli.EXIT_OK
    forwarded = capsys.readouterr().out
    assert cli.main(["verify", "--framework", framework, "--list", "--grid", "small"]) == 0
    assert forwarded == capsys.readouterr().out and forwarded.count("\n") > 1


def test_python_m_grid_torch_runs_verify_and_warns_from_main():
    pytest.importorskip("allpairspy")
    old = run("-m", "lstm_ref.grid_torch", "--list", "--grid", "small")
    new = run("-m", "lstm_ref", "verify", "--framework", "torch", "--list", "--grid", "small")
    assert (old.returncode, old.stdout) == (new.returncode, new.stdout) == (0, new.stdout)
    assert ("DeprecationWarning: python -m lstm_ref.grid_torch is deprecated and will be "
            "removed in the next release; use lstm-ref verify --framework torch") in old.stderr


def test_python_m_grid_onnx_passes_a_bad_option_to_verify_which_exits_2():
    old = run("-m", "lstm_ref.grid_onnx", "--grid", "huge")
    assert old.returncode == cli.EXIT_ERROR
    assert "lstm-ref: error: verify: argument --grid: invalid choice: 'huge'" in old.stderr


@pytest.mark.parametrize("argv, expected", [
    ([], ["--framework", "tf1"]),
    (["tf_keras"], ["--framework", "tf_keras"]),
    (["tf1", "full", "float64"], ["--framework", "tf1", "--grid", "full", "--dtype", "float64"]),
    (["tf1", "small", "float32", "units7", "-v"],
     ["--framework", "tf1", "--grid", "small", "--dtype", "float32", "--only", "units7", "-v"]),
    (["--list", "--grid", "small"], ["--framework", "tf1", "--list", "--grid", "small"]),
    (["keras"], None),
    (["tf1", "small", "float32", "units7", "extra"], None),
])
def test_grid_tf1_translates_its_former_positional_form(argv, expected):
    translate = quiet_import("lstm_ref.grid_tf1").translate
    assert translate(argv) == (None if expected is None else ["verify", *expected])


def test_grid_tf1_runs_the_translated_command(capsys):
    pytest.importorskip("allpairspy")
    main = quiet_import("lstm_ref.grid_tf1").main
    assert main(["tf1", "small", "float32", "units7", "--list"]) == cli.EXIT_OK
    forwarded = capsys.readouterr().out
    assert cli.main(["verify", "--framework", "tf1", "--grid", "small", "--dtype", "float32",
                     "--only", "units7", "--list"]) == cli.EXIT_OK
    assert forwarded == capsys.readouterr().out and "units7" in forwarded


def test_grid_tf1_refuses_another_form_in_one_line_naming_the_new_command(capsys):
    main = quiet_import("lstm_ref.grid_tf1").main
    assert main(["lstm", "full"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run: lstm-ref verify --framework tf1" in err


def test_a_former_module_that_was_no_command_exits_2():
    result = run("-m", "lstm_ref.adapters.onnx_graph")
    assert result.returncode == 2
    assert ("python -m lstm_ref.adapters.onnx_graph is not a command; use "
            "lstm_ref.frameworks.onnx.graph") in result.stderr
