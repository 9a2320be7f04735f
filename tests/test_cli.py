"""lstm-ref verify: the table, the exit codes, the errors."""

import subprocess
import sys

import pytest

from lstm_ref import cli
from lstm_ref.adapters import require
from lstm_ref.errors import FrameworkMissingError


@pytest.mark.keras
def test_verify_passes_and_prints_the_table(capsys):
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features1", "-v"]) == 0
    out = capsys.readouterr().out
    assert "cases of grid 'small' in float32 against keras" in out
    assert "0 failed" in out and "ok   units7-features1" in out
    for tensor in ("h ", "c ", "output"):
        assert f"\n{tensor}" in out
    assert "tolerance float32" in out


@pytest.mark.keras
def test_verify_in_a_mixed_precision_policy(capsys):
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2",
                     "--dtype", "mixed_float16"]) == 0
    out = capsys.readouterr().out
    assert "in mixed_float16 against keras" in out and "0 failed" in out
    assert "tolerance float16" in out


@pytest.mark.keras
def test_verify_exits_1_and_names_the_failing_case(capsys, monkeypatch):
    from lstm_ref.adapters import keras as keras_adapter
    from tests.keras_broken import BrokenLSTMCell

    correct = keras_adapter.run_case
    monkeypatch.setattr(keras_adapter, "run_case", lambda case, dtype: correct(
        case, cell=BrokenLSTMCell(case.units, bug="gates i/f swapped", activation=case.activation,
                                  recurrent_activation=case.recurrent_activation,
                                  use_bias=case.use_bias)))
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2"]) == 1
    out = capsys.readouterr().out
    assert "FAIL units7-features3-batch2" in out and "step 0, tensor h" in out
    assert " 0 passed" in out


def test_no_matching_case_exits_2_with_one_line(capsys):
    pytest.importorskip("allpairspy")
    assert cli.main(["verify", "--only", "no-such-case"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "lstm-ref: error: no case of grid 'default' matches 'no-such-case'"


def test_unknown_grid_is_refused_by_the_parser():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["verify", "--grid", "huge"])
    assert exit_info.value.code == 2


def test_a_missing_framework_names_the_extra():
    with pytest.raises(FrameworkMissingError, match=r"pip install 'lstm-ref\[keras\]'"):
        require("no_such_framework_xyz", "keras")


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "lstm_ref.cli", "--help"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "verify" in result.stdout
