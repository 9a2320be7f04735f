"""Known divergences (lstm_ref.known): the shipped list loads, a user's file is validated with
one-line errors, and under ``lstm-ref verify`` a known failure is XFAIL (no failed exit), a
known case that passes is XPASS, and a new failure still fails."""

import json
import xml.etree.ElementTree as ET

import pytest

from lstm_ref import cli, known
from lstm_ref.errors import OptionError
from tests.cli.test_cli import run_keras_cases_with_a_bug


def write(path, divergences, fmt=known.FORMAT):
    path.write_text(json.dumps({"format": fmt, "divergences": divergences}))
    return path


ENTRY = {"id": "mine", "frameworks": ["keras"], "dtypes": ["float32"],
         "where": {"units": 7, "features": 3, "batch": 2}, "reason": "a planted bug"}


def test_the_shipped_list_loads_and_matches_by_framework_dtype_and_options():
    divergences = known.shipped()
    gelu = next(d for d in divergences if d.id == "tensorflow-float64-gelu")
    assert known.match(divergences, "keras", "float64", {"activation": "gelu"}) == gelu
    assert known.match(divergences, "keras", "float32", {"activation": "gelu"}) is None
    assert known.match(divergences, "torch", "float64", {"activation": "gelu"}) is None
    assert known.match(divergences, "keras", "float64", {"activation": "tanh"}) is None


@pytest.mark.parametrize("data, message", [
    ({"format": "other"}, "expected a JSON object of format 'lstm-ref-known-divergences/1'"),
    ({"format": known.FORMAT, "divergences": {}}, "'divergences' must be a list"),
    ({"format": known.FORMAT, "divergences": [3]}, "entry 0: expected an object; received int"),
    ({"format": known.FORMAT, "divergences": [{**ENTRY, "dtypes": "float32"}]},
     "entry 0: 'dtypes' must be a list; received 'float32'"),
    ({"format": known.FORMAT, "divergences": [{**ENTRY, "why": "x"}]},
     r"entry 0: unknown field\(s\) \['why'\]"),
])
def test_a_bad_file_is_one_clear_error(data, message, tmp_path):
    path = tmp_path / "known.json"
    path.write_text(json.dumps(data))
    with pytest.raises(OptionError, match=message):
        known.load(path)
    path.write_text("{not json")
    with pytest.raises(OptionError, match="not a readable JSON file"):
        known.load(path)


@pytest.mark.keras
def test_a_known_failure_is_xfail_and_a_new_one_fails(tmp_path, capsys, monkeypatch):
    run_keras_cases_with_a_bug(monkeypatch, "gates i/f swapped")
    argv = ["verify", "--grid", "small", "--only", "units7-features3-batch2"]
    mine = write(tmp_path / "known.json", [ENTRY])
    assert cli.main([*argv, "--known-divergences", str(mine),
                     "--junit-xml", str(tmp_path / "run.xml")]) == 0
    out = capsys.readouterr().out
    assert "XFAIL        units7-features3-batch2" in out and "a planted bug" in out
    assert " 0 failed" in out and "known divergences (xfail)" in out
    suite = ET.parse(tmp_path / "run.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("skipped")) >= 1
    assert "mine: a planted bug" in [s.get("message") for s in suite.iter("skipped")]
    # a divergence that matches other cases leaves this one a new failure
    other = write(tmp_path / "other.json", [{**ENTRY, "where": {"units": 1}}])
    assert cli.main([*argv, "--known-divergences", str(other)]) == 1
    assert "FAILED       units7-features3-batch2" in capsys.readouterr().out


@pytest.mark.keras
def test_a_known_case_that_passes_is_xpass(tmp_path, capsys):
    mine = write(tmp_path / "known.json", [ENTRY])
    assert cli.main(["verify", "--grid", "small", "--only", "units7-features3-batch2",
                     "--known-divergences", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "XPASS        units7-features3-batch2" in out and "did not show here" in out


def test_an_unreadable_known_file_exits_2_before_running(tmp_path, capsys):
    pytest.importorskip("allpairspy")
    assert cli.main(["verify", "--framework", "onnx", "--grid", "small", "--known-divergences",
                     str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-ref: error: known divergences") and "\n" not in err
