"""A golden check passes only what the reference determines: a recorded case's manifest entry
holds the reference check of what was recorded (verdict, what was not compared), an
INCONCLUSIVE case is reported INCONCLUSIVE, never passed, and a NaN where the reference is
finite fails; stale staging folders are removed by record and named by check.

What the reference cannot determine is made to happen by cutting rows in
lstm_ref.tolerance.row_horizons, the one place the engine decides it.
"""

import os
import re

import numpy as np
import pytest

from lstm_ref import cli, files, golden
from lstm_ref import tolerance as tolerances
from lstm_ref.report import HORIZON
from tests.golden.support import (ONE, SEQUENCE, load_arrays, manifest_of, npz_bytes,
                                  record_cases, replace_file)

pytestmark = [pytest.mark.keras, pytest.mark.framework]


def cut_rows(monkeypatch, step, rows=None):
    """Make the reference unable to determine ``rows`` (all: None) from ``step`` on (past the
    horizon), wherever the engine asks."""
    def row_horizons(reference, probe, horizon=None, tainted=None, floor=0.0):
        batch, time = reference.shape[:2]
        cut = np.full(batch, time)
        cut[slice(None) if rows is None else rows] = step
        return cut, np.where(cut < time, HORIZON, 0).astype(np.uint8)

    monkeypatch.setattr(tolerances, "row_horizons", row_horizons)


def case_of(result, case):
    return next(c for c in result.cases if c.case_id == case.id)


# --- INCONCLUSIVE ----------------------------------------------------------------------------


def test_an_inconclusive_case_is_recorded_and_reported_inconclusive(tmp_path, monkeypatch,
                                                                     capsys):
    cut_rows(monkeypatch, 0)
    with pytest.warns(UserWarning) as caught:
        record_cases(tmp_path / "rec", [SEQUENCE, ONE])
    assert [str(w.message) for w in caught if str(w.message).startswith("case ")] == [
        f"case {case.id} against the reference: INCONCLUSIVE: nothing could be compared in h, "
        "c, output (see below); no compared element exceeded its bound; recorded as INCONCLUSIVE"
        for case in (SEQUENCE, ONE)]
    entries = manifest_of(tmp_path / "rec")["cases"]
    assert [e["reference"]["verdict"] for e in entries] == ["INCONCLUSIVE", "INCONCLUSIVE"]
    reference = entries[0]["reference"]
    assert reference["compared"] == 0 and reference["size"] == 3 * 2 * 9 * 7
    assert reference["not_compared"][0].startswith("h: 126 of 126 elements not compared, rows "
                                                   "0, 1 from step 0: past the horizon")

    # Checked where the reference cannot determine anything either.
    result = golden.check(tmp_path / "rec")
    case = case_of(result, SEQUENCE)
    assert case.verdict == "INCONCLUSIVE" and not case.passed and not result.passed
    assert case.report.inconclusive and case.drift_passed and case.identical
    assert all(d.compared == 0 for d in case.drift.values())
    assert result.inconclusive == result.cases and result.failed == []
    summary = result.summary()
    assert "2 cases, 0 passed, 0 failed, 2 inconclusive" in summary
    assert f"INCONCLUSIVE {SEQUENCE.id}\n  recorded: INCONCLUSIVE" in summary
    assert "  reference: INCONCLUSIVE: nothing could be compared in h, c, output" in summary
    assert "  drift: nothing the reference determines in tensor h (0 of 126" in summary

    # Checked where it determines everything: the recording still says what it was.
    monkeypatch.undo()
    result = golden.check(tmp_path / "rec")
    case = case_of(result, SEQUENCE)
    assert case.report.passed and case.drift_passed and all(
        d.compared == d.size for d in case.drift.values())
    assert case.verdict == "INCONCLUSIVE" and not result.passed
    assert cli.main(["golden", "check", str(tmp_path / "rec")]) == 3  # as verify: apart
    assert "0 passed, 0 failed, 2 inconclusive" in capsys.readouterr().out


def test_a_partly_determined_case_passes_naming_what_was_not_compared(tmp_path, monkeypatch):
    cut_rows(monkeypatch, 4, rows=[1])
    record_cases(tmp_path / "rec", [SEQUENCE])
    reference = manifest_of(tmp_path / "rec")["cases"][0]["reference"]
    assert reference["verdict"] == "PASSED"
    assert reference["compared"] == reference["size"] - 3 * 5 * 7  # h, c, output: row 1, 4..8
    assert len(reference["not_compared"]) == 3
    for name, line in zip(("h", "c", "output"), reference["not_compared"]):
        assert line.startswith(f"{name}: 35 of 126 elements not compared, row 1 from step 4: "
                               "past the horizon")
    result = golden.check(tmp_path / "rec")
    case = result.cases[0]
    assert case.verdict == "PASSED" and result.passed, result.summary()
    assert case.drift["h"].compared == 126 - 35
    assert (f"not compared in {SEQUENCE.id}: h: 35 of 126 elements not compared, row 1 from "
            "step 4") in result.summary()


# --- NaN where the reference is finite -------------------------------------------------------


@pytest.mark.parametrize("where", [(1, 4, 3), (slice(None),) * 3], ids=["one", "all"])
def test_a_recorded_nan_where_the_reference_is_finite_fails(pair, where):
    arrays = load_arrays(pair, SEQUENCE.id)
    arrays["output"][where] = np.nan
    replace_file(pair, SEQUENCE.id, npz_bytes(arrays))
    result = golden.check(pair)
    case = case_of(result, SEQUENCE)
    assert case.verdict == "FAILED" and result.failed == [case], result.summary()
    assert case.report.passed  # the installed framework still matches the reference
    excess = case.first_excess
    first = (1, 4, 3) if where == (1, 4, 3) else (0, 0, 0)
    assert (excess.tensor, excess.batch, excess.step, excess.unit) == ("output", *first)
    assert np.isnan(excess.recorded) and excess.drift == np.inf
    assert "1 failed, 0 inconclusive" in result.summary()


def test_nan_on_both_sides_where_the_reference_is_finite_fails(pair, monkeypatch):
    """The installed framework computes the NaN the recording holds: they agree with each
    other, not with the reference, which is finite there."""
    from lstm_ref.frameworks.keras import golden as keras_golden

    arrays = load_arrays(pair, SEQUENCE.id)
    arrays["output"][1, 4, 3] = np.nan
    replace_file(pair, SEQUENCE.id, npz_bytes(arrays))
    real = keras_golden.observe

    def nan_there(layer, x, **kwargs):
        observation = real(layer, x, **kwargs)
        if observation.actual["output"].shape == arrays["output"].shape:
            observation.actual["output"] = np.array(observation.actual["output"])
            observation.actual["output"][1, 4, 3] = np.nan
        return observation

    monkeypatch.setattr(keras_golden, "observe", nan_there)
    result = golden.check(pair)
    case = case_of(result, SEQUENCE)
    assert case.verdict == "FAILED"
    failure = case.report.first_failure
    assert (failure.tensor, failure.batch, failure.step, failure.unit) == ("output", 1, 4, 3)
    excess = case.first_excess
    assert (excess.tensor, excess.batch, excess.step, excess.unit) == ("output", 1, 4, 3)
    assert np.isnan(excess.now) and np.isnan(excess.recorded)


# --- stale staging folders -------------------------------------------------------------------


def test_record_removes_its_own_stale_staging_folder_and_no_other(tmp_path):
    target = tmp_path / "rec"
    stale = files.staging_folder(target)  # as a killed record of target left it
    others = files.staging_folder(tmp_path / "rec.other")  # another target's
    for folder in (stale, others):
        with open(os.path.join(folder, f"{ONE.id}.npz"), "wb") as stream:
            stream.write(b"half written")
    assert golden.stale_staging(target) == [stale]
    with pytest.warns(UserWarning, match=rf"removing {re.escape(stale)}: a recording an "
                                         "earlier run left unfinished"):
        record_cases(target, [ONE])
    assert not os.path.exists(stale) and os.path.isfile(os.path.join(others, f"{ONE.id}.npz"))
    assert sorted(os.listdir(tmp_path)) == sorted(["rec", os.path.basename(others)])


def test_check_names_stale_staging_folders_and_leaves_them(copy):
    stale = files.staging_folder(copy)
    result = golden.check(copy)
    assert result.passed and result.stale == [stale]
    assert (f"warning: {stale} is a staging folder an unfinished golden record of {copy} "
            "left; remove it") in result.summary()
    assert os.path.isdir(stale)
