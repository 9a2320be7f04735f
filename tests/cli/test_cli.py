"""lstm-ref verify: the table, the exit codes, the errors."""

import os
import re
import subprocess
import sys

import pytest

from lstm_ref import cli
from lstm_ref._optional import require
from lstm_ref.errors import FrameworkMissingError


def run_keras_cases_with_a_bug(monkeypatch, bug, broken=lambda case: True):
    """Make the Keras cases verify runs compute with a BrokenLSTMCell that has ``bug``: the
    cases ``broken`` picks (every one by default); the others run as they are."""
    from lstm_ref.frameworks.keras import cases as keras_cases
    from tests.frameworks.keras.broken import BrokenLSTMCell

    correct = keras_cases.run_case

    def run_case(case, dtype, api):
        if not broken(case):
            return correct(case, dtype)
        return correct(case, cell=BrokenLSTMCell(
            case.units, bug=bug, activation=case.activation,
            recurrent_activation=case.recurrent_activation, use_bias=case.use_bias))

    monkeypatch.setattr(keras_cases, "run_case", run_case)


@pytest.mark.keras
def test_verify_passes_and_prints_the_table(capsys):
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features1", "-v"]) == 0
    out = capsys.readouterr().out
    assert "cases of the keras grid 'small' in float32 (keras 3" in out
    assert "0 failed, 0 inconclusive" in out and "ok           units7-features1" in out
    for tensor in ("h ", "c ", "output"):
        assert f"\n{tensor}" in out
    assert "largest at step" in out and "closest at step" in out
    assert "tolerance float32" in out


@pytest.mark.keras
def test_verify_in_a_mixed_precision_policy(capsys):
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2",
                     "--dtype", "mixed_float16"]) == 0
    out = capsys.readouterr().out
    assert "in mixed_float16 (keras" in out and "0 failed" in out
    assert "tolerance float16" in out


@pytest.mark.keras
def test_verify_exits_1_and_names_the_failing_case(capsys, monkeypatch):
    run_keras_cases_with_a_bug(monkeypatch, "gates i/f swapped")
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2"]) == 1
    out = capsys.readouterr().out
    assert "FAILED       units7-features3-batch2" in out and ", tensor h, batch" in out
    assert " 0 passed" in out


@pytest.mark.keras
def test_verify_counts_inconclusive_cases_apart_and_exits_3(capsys, monkeypatch):
    # A case whose reference no probe can determine (here: every probe of every row strays
    # at step 0) compares nothing: not a pass, not a failure.
    from lstm_ref import tolerance

    real = tolerance.row_horizons
    monkeypatch.setattr(tolerance, "row_horizons", lambda reference, *args, **kwargs: (
        real(reference, *args, **kwargs)[0] * 0, real(reference, *args, **kwargs)[1] * 0 + 2))
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2"]) == 3
    out = capsys.readouterr().out
    assert "INCONCLUSIVE units7-features3-batch2" in out and "past the horizon" in out
    assert re.search(r" 0 passed, 0 failed, [1-9]\d* inconclusive", out), out


def test_a_closed_pipe_ends_quietly_with_exit_2(monkeypatch, capsys):
    """``lstm-ref verify | head -1``: the reader goes away; no traceback, exit 2 (the run did
    not finish), and nothing more is written to the closed stdout."""
    import io
    import os

    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return 1

    read, write = os.pipe()
    saved = os.dup(1)
    try:
        monkeypatch.setattr(sys, "stdout", Closed())
        os.dup2(write, 1)  # main points fd 1 at /dev/null: not at the test's own stdout
        assert cli.main(["verify", "--framework", "torch", "--grid", "small", "--list"]) == 2
    finally:
        os.dup2(saved, 1)
        for fd in (read, write, saved):
            os.close(fd)
    assert capsys.readouterr().err == ""


def test_verify_list_prints_the_case_ids_without_running(capsys):
    pytest.importorskip("allpairspy")
    assert cli.main(["verify", "--framework", "torch", "--grid", "small", "--list"]) == 0
    ids = capsys.readouterr().out.split()
    from lstm_ref.grids import torch as grid_torch

    assert ids == [case.id for case in grid_torch.cases("small")]


@pytest.mark.parametrize("framework", ["tf1", "torch", "onnx", "tf_keras"])
def test_verify_runs_every_framework(framework, capsys):
    extra = {"tf1": "tf_keras", "tf_keras": "tf_keras", "torch": "torch", "onnx": "onnxruntime"}
    pytest.importorskip(extra[framework])
    pattern = {"tf1": "units1-features1-batch1-time1", "torch": "hidden1-input1-batch1",
               "onnx": "hidden1-input1-batch1", "tf_keras": "units1-features1-batch1"}[framework]
    assert cli.main(["verify", "--framework", framework, "--grid", "small", "--only",
                     pattern]) == 0
    out = capsys.readouterr().out
    assert f"of the {framework} grid 'small'" in out and "0 failed" in out


def test_a_dtype_the_framework_does_not_run_in_exits_2(capsys):
    assert cli.main(["verify", "--framework", "onnx", "--dtype", "float64"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("lstm-ref: error: --dtype float64 is not one onnx runs in; it runs in "
                   "float32")


def test_version_and_python_m(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    from lstm_ref import __version__

    assert capsys.readouterr().out.strip() == f"lstm-ref {__version__}"
    result = subprocess.run([sys.executable, "-m", "lstm_ref", "--help"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "exit codes: 0 every case passed" in result.stdout


def test_no_matching_case_exits_2_with_one_line(capsys):
    pytest.importorskip("allpairspy")
    assert cli.main(["verify", "--only", "no-such-case"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "lstm-ref: error: no case of grid 'default' matches 'no-such-case'"


def test_unknown_grid_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["verify", "--grid", "huge"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-ref: error: verify: argument --grid: invalid choice: 'huge'")
    assert "\n" not in err


def test_a_missing_framework_names_the_extra():
    with pytest.raises(FrameworkMissingError, match=r"pip install 'lstm-ref\[keras\]'"):
        require("no_such_framework_xyz", "keras")


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "lstm_ref.cli", "--help"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "verify" in result.stdout


@pytest.mark.keras
def test_a_passing_run_writes_nothing_to_stderr():
    """TensorFlow's start-up lines, its retracing warnings and the TF1 cells' deprecation
    notices are not the run's to print: a passing verify leaves stderr empty."""
    pytest.importorskip("tf_keras")
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "lstm_ref", "verify", "--framework", "tf1",
                             "--grid", "small", "--only", "units7-features3-batch2-time9"],
                            capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr


@pytest.mark.parametrize("units, features, bidirectional", [(7, 3, False), (1, 1, False),
                                                             (32, 16, True)])
def test_explain_counts_what_keras_counts(units, features, bidirectional, capsys):
    keras = pytest.importorskip("keras")
    argv = ["explain", "--units", str(units), "--features", str(features), "--batch", "2",
            "--time", "9"] + (["--bidirectional"] if bidirectional else [])
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    layer = keras.layers.LSTM(units)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    layer.build((2, 9, features))
    count = layer.count_params()
    assert (f"{count} in all" if bidirectional else f"= {count} (Keras count_params())") in out
    assert f"kernel                          ({features}, {4 * units})" in out
    assert f"(2, 9, {(2 if bidirectional else 1) * units})" in out
    assert "not the number of time steps" in out and "c_t = f * c_(t-1) + i * g" in out


def test_explain_with_a_projection_counts_what_torch_counts(capsys):
    torch = pytest.importorskip("torch")
    from lstm_ref.explain import parameter_count

    module = torch.nn.LSTM(3, 7, proj_size=4, bidirectional=True)
    # torch keeps two bias vectors (b_ih, b_hh): 4U more per direction than the count here
    assert parameter_count(7, 3, True, 4) + 2 * 4 * 7 == sum(p.numel() for p in module.parameters())
    assert cli.main(["explain", "--units", "7", "--features", "3", "--proj", "4"]) == 0
    assert "projection                      (7, 4)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--units", "0", "--features", "3"], "units must be a positive integer; received 0"),
    (["--units", "4", "--features", "3", "--proj", "4"], "proj must be smaller than units"),
    (["--units", "1000000000", "--features", "3"],
     "units=1000000000, features=3: the weights explain builds to count would take 2.98e+10 "
     "GiB of float64; at most 2 GiB"),
])
def test_explain_refuses_bad_sizes(argv, message, capsys):
    assert cli.main(["explain", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lstm-ref: error: {message}") and "\n" not in err


@pytest.mark.keras
def test_verify_writes_json_and_junit(tmp_path, capsys, monkeypatch):
    import json
    import xml.etree.ElementTree as ET

    run_keras_cases_with_a_bug(monkeypatch, "bias ignored", broken=lambda case: (
        case.id.startswith("units7-features3-batch2") and case.use_bias))
    code = cli.main(["verify", "--grid", "small", "--only", "features3-batch2", "--json",
                     str(tmp_path / "run.json"), "--junit-xml", str(tmp_path / "run.xml")])
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["format"] == "lstm-ref-verify/2" and run["grid"] == "small"
    assert run["versions"]["keras"] and run["framework"] == "keras"
    failing = [c for c in run["cases"] if c["verdict"] == "FAILED"]
    assert code == (1 if failing else 0) and run["totals"]["failed"] == len(failing)
    assert len(run["cases"]) == run["totals"]["cases"] >= 2
    suite = ET.parse(tmp_path / "run.xml").getroot()
    assert suite.get("tests") == str(len(run["cases"]))
    assert suite.get("failures") == str(len(failing))
    for case in failing:
        assert "tensor" in case["first_failure"] and "FAILED" in case["summary"]
        element = suite.find(f"testcase[@name='{case['id']}']/failure")
        assert element is not None and case["first_failure"] in element.get("message")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.xml"]


@pytest.mark.keras
def test_verify_seed_draws_other_weights_for_the_same_cases(tmp_path, capsys):
    import json

    for seed in (0, 5):
        assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2",
                         "--seed", str(seed), "--json", str(tmp_path / f"{seed}.json")]) == 0
    runs = [json.loads((tmp_path / f"{s}.json").read_text())["cases"] for s in (0, 5)]
    assert [c["id"] for c in runs[0]] == [c["id"] for c in runs[1]]
    assert all(a["seed"] != b["seed"] for a, b in zip(*runs))


def test_unwritable_outputs_exit_2_before_running(tmp_path, capsys):
    pytest.importorskip("allpairspy")
    missing = tmp_path / "no" / "run.json"
    assert cli.main(["verify", "--grid", "small", "--json", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["verify", "--grid", "small", "--junit-xml", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    for pseudo in ("/proc/x.xml", "/sys/x.xml"):  # pseudo-filesystems: refused, never written
        if os.path.isdir(os.path.dirname(pseudo)):
            assert cli.main(["verify", "--grid", "small", "--junit-xml", pseudo]) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith("lstm-ref: error: --junit-xml") and "\n" not in err


@pytest.mark.keras
def test_verify_report_writes_a_page_with_a_plot_per_case(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "report"
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2",
                     "--report", str(folder)]) == 0
    page = (folder / "index.html").read_text()
    images = sorted(p.name for p in folder.glob("*.png"))
    assert "cases passed" in page and images and all(name in page for name in images)
    assert (folder / images[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a summary table first, a row per case linking to its plot, sortable by its headers
    summary = re.search(r"<table class='summary'>(.*?)</table>", page, re.S).group(1)
    anchors = re.findall(r"<a href='#(case-[^']+)'>", summary)
    assert len(anchors) == len(images) and all(f"id='{a}'" in page for a in anchors)
    assert "<th>worst error / bound</th>" in summary and "th').forEach" in page
    assert cli.main(["verify", "--grid", "small", "--report", str(folder)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


@pytest.mark.keras
def test_report_marks_where_a_failing_case_departs(tmp_path):
    pytest.importorskip("matplotlib")
    from lstm_ref import html_report
    from lstm_ref.frameworks.keras import cases as keras_cases
    from lstm_ref.grids import keras as grid
    from tests.frameworks.keras.broken import BrokenLSTMCell

    case = grid.cases("small")[0]
    report = keras_cases.run_case(case, cell=BrokenLSTMCell(
        case.units, bug="bias ignored", activation=case.activation,
        recurrent_activation=case.recurrent_activation, use_bias=True))
    assert not report.passed
    html_report.write(str(tmp_path / "r"), {"grid": "small"}, [(case.id, report)])
    page = (tmp_path / "r" / "index.html").read_text()
    assert "FAILED" in page and f"step {report.first_failing_step}" in page
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging folder left


def check_written(json_path, junit_path):
    """What golden check --json and --junit-xml wrote for a recording that passes."""
    import json
    import xml.etree.ElementTree as ET

    data = json.loads(json_path.read_text())
    assert data["format"] == "lstm-ref-golden-check/1" and data["grid"] == "small"
    assert data["totals"]["cases"] == data["totals"]["passed"] == len(data["cases"]) > 0
    case = data["cases"][0]
    assert case["verdict"] == "PASSED" and case["identical"] and case["max_drift"] == 0.0
    assert case["recorded_verdict"] == case["reference_verdict"] == "PASSED"
    suite = ET.parse(junit_path).getroot()
    assert suite.get("name") == "lstm-ref golden check (small, float32)"
    assert int(suite.get("tests")) == len(data["cases"]) and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == [c["id"] for c in data["cases"]]


@pytest.mark.keras
def test_golden_record_then_check(tmp_path, capsys):
    folder = tmp_path / "golden"
    assert cli.main(["golden", "record", str(folder), "--only", "units7-features1-batch1-"]) == 0
    assert "recorded" in capsys.readouterr().out
    missing = tmp_path / "no" / "such" / "check.json"
    assert cli.main(["golden", "check", str(folder), "--json", str(missing)]) == 2  # before running
    assert "--json" in capsys.readouterr().err
    assert cli.main(["golden", "check", str(folder), "--json", str(tmp_path / "c.json"),
                     "--junit-xml", str(tmp_path / "c.xml")]) == 0
    out = capsys.readouterr().out
    assert "bit-identical to the recording" in out and "changed:   nothing" in out
    check_written(tmp_path / "c.json", tmp_path / "c.xml")
    npz = sorted(folder.glob("*.npz"))[0]
    npz.write_bytes(npz.read_bytes() + b"x")
    assert cli.main(["golden", "check", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "was changed after recording" in err and "\n" not in err
    assert cli.main(["golden", "record", str(folder)]) == 2  # exists: nothing overwritten
    assert "lstm-ref: error:" in capsys.readouterr().err


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_on_a_terminal_unless_quiet(quiet, monkeypatch, capsys):
    """A progress line on stderr when it is a terminal (never in a pipe or a log), none with
    -q; stdout is the same either way."""
    pytest.importorskip("torch")
    pytest.importorskip("allpairspy")
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["verify", "--framework", "torch", "--grid", "small", "--only", "hidden1-input1"]
    assert cli.main([*argv, *(["-q"] if quiet else [])]) == 0
    shown = terminal.getvalue()
    assert ("/" in shown and "[#" in shown) != quiet, shown
    assert "cases of the torch grid" in capsys.readouterr().out


@pytest.mark.parametrize("grid", [
    "small", "default", pytest.param("full", marks=pytest.mark.slow)])  # full: seconds a grid
def test_the_help_gives_each_grids_size_as_the_grids_build_it(grid):
    pytest.importorskip("allpairspy")
    from lstm_ref.grids import registry

    from lstm_ref.errors import FrameworkMissingError

    index = ("small", "default", "full").index(grid)
    checked = 0
    for name, sizes in cli.GRID_SIZES.items():
        try:
            cases = registry.grid_cases(name, grid)
        except FrameworkMissingError:  # tf_keras's grid needs tf_keras to name its cells
            continue
        assert sizes[index] == len(cases), name
        checked += 1
    assert checked and set(cli.GRID_SIZES) == set(registry.FRAMEWORKS)


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_verify_refuses_a_worker_count_that_is_not_one(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["verify", "--workers", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument --workers: expected an integer >= 0; received {value!r}" in err


@pytest.mark.keras
def test_verify_in_worker_processes_prints_what_a_run_here_prints(capsys):
    argv = ["verify", "--grid", "small", "--only", "units7-features3-batch2", "-v"]
    assert cli.main(argv) == 0
    here = capsys.readouterr().out
    assert cli.main([*argv, "--workers", "2"]) == 0
    there = capsys.readouterr().out

    def cases(out):  # the case lines (workers print them as the cases end)
        return sorted(line for line in out.splitlines() if line.startswith("ok "))

    assert len(cases(here)) >= 2 and cases(there) == cases(here)

    def summary(out):  # less the seconds
        return re.sub(r"[\d.]+ s\b", "", out.split("\n\n", 1)[1])

    assert summary(there) == summary(here)
