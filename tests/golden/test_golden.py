"""Golden files (lstm_ref.golden): record with the installed Keras, check the recording.

One recording of the fixed cases (tests/golden/support.py) is made per session; tests that
tamper with it work on a copy. Refusals of bad paths, grids and manifests need no Keras.
"""

import hashlib
import os
import pickle

import numpy as np
import pytest

from lstm_ref import golden
from lstm_ref.golden import FORMAT, GoldenError
from tests.golden.support import (CASES, ONE, SEQUENCE, entry_of, load_arrays, manifest_of,
                                  npz_bytes, record_cases, replace_file, write_manifest)

SEQUENCE_CASE = SEQUENCE.id


# --- round trip and layout -------------------------------------------------------------------


@pytest.mark.keras
@pytest.mark.framework
def test_round_trip_is_bit_identical_and_passes(checked):
    result = checked
    assert result.passed, result.summary()
    assert [c.case_id for c in result.cases] == [c.id for c in CASES]
    for case in result.cases:
        assert case.identical and case.max_drift == 0.0 and case.worst_ratio == 0.0
        assert case.report.passed and set(case.drift) >= {"h", "c", "output"}
        assert case.verdict == "PASSED" and case.recorded["verdict"] == "PASSED"
    summary = result.summary()
    n = len(CASES)
    assert f"{n} cases, {n} passed, 0 failed, 0 inconclusive; {n} bit-identical" in summary
    assert "recorded:" in summary and "installed:" in summary and "keras" in summary
    assert "changed:   nothing" in summary


@pytest.mark.keras
@pytest.mark.framework
def test_layout_and_manifest_are_plain_json_with_versions(recording):
    import keras

    manifest = manifest_of(recording)  # json.load: valid JSON, no pickle anywhere
    assert manifest["format"] == FORMAT
    assert manifest["versions"]["keras"] == keras.__version__
    assert manifest["versions"]["numpy"] == np.__version__
    assert "tensorflow" in manifest["versions"] and manifest["backend"] == keras.backend.backend()
    assert {"python", "machine", "system"} <= set(manifest["platform"])
    assert (manifest["grid"], manifest["pattern"], manifest["dtype"]) == ("small", None,
                                                                          "float32")
    assert manifest["lstm_ref"] and manifest["created"]
    files = sorted(os.listdir(recording))
    assert files == sorted(["manifest.json", *(e["file"] for e in manifest["cases"])])
    for entry in manifest["cases"]:
        assert entry["file"] == f"{entry['id']}.npz"
        data = (recording / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        arrays = load_arrays(recording, entry["id"])
        assert sorted(arrays) == sorted(entry["arrays"])
        options = entry["case"]
        assert ("bias" in arrays) == options["use_bias"]
        assert ("h0" in arrays and "c0" in arrays) == options["initial_state"]
        assert ("state_h" in arrays) == options["returns"].endswith("+state")
        assert ("mask" in arrays) == (options.get("mask", "none") != "none")
        assert arrays["h"].shape == (options["batch"], options["time"], options["units"])
        for name, array in arrays.items():
            assert entry["arrays"][name] == {"shape": list(array.shape),
                                             "dtype": array.dtype.name}
        assert entry["reference"]["verdict"] == "PASSED"
        assert 0 < entry["reference"]["compared"] == entry["reference"]["size"]
        assert entry["reference"]["not_compared"] == []


@pytest.mark.keras
@pytest.mark.framework
def test_the_small_grid_round_trips(tmp_path):
    """The grid's own cases (masks, execution paths, dropout, whatever it draws): a check on
    the installation that recorded them finds every case bit-identical, within the drift
    bound, and of the reference verdict recorded. The six one-row cases of 9 steps run by
    tf.function, XLA and predict, over masks of every kind."""
    manifest = golden.record(tmp_path / "rec", grid="small", pattern="batch1-time9")
    assert len(manifest["cases"]) >= 4
    result = golden.check(tmp_path / "rec")
    assert [c.case_id for c in result.cases] == [e["id"] for e in manifest["cases"]]
    for entry, case in zip(manifest["cases"], result.cases):
        assert case.identical and case.drift_passed, result.summary()
        assert case.report.verdict == entry["reference"]["verdict"], result.summary()


@pytest.mark.keras
@pytest.mark.framework
def test_a_recording_handed_to_a_worker_is_the_recording_made_here(recording, tmp_path,
                                                                   monkeypatch):
    """Near the system's memory-map limit, record and check go on in a worker process
    (lstm_ref.grids.workers): the same files, bit for bit, and the same results."""
    from lstm_ref.grids import workers

    calls = []

    def near(share):  # this process: near the limit after its first case
        calls.append(share)
        return len(calls) > 1

    monkeypatch.setattr(workers, "near_map_limit", near)
    there = record_cases(tmp_path / "there")
    here = manifest_of(recording)
    assert len(here["cases"]) >= 3 and len(calls) == 2
    assert [e["sha256"] for e in there["cases"]] == [e["sha256"] for e in here["cases"]]
    assert [e["reference"] for e in there["cases"]] == [e["reference"] for e in here["cases"]]
    calls.clear()
    result = golden.check(recording)
    assert len(calls) == 2 and result.passed, result.summary()
    assert [c.case_id for c in result.cases] == [e["id"] for e in here["cases"]]
    assert all(c.identical for c in result.cases), result.summary()


@pytest.mark.keras
@pytest.mark.framework
def test_drift_bound_is_twice_the_reference_bound(checked):
    """Same kernels both times: the drift bound is exactly 2 b_t, per step."""
    for case in checked.cases:
        for name, drift in case.drift.items():
            reference = case.report.tensors[name]
            np.testing.assert_allclose(drift.max_bound, 2 * reference.max_bound, rtol=1e-12)


@pytest.mark.keras
@pytest.mark.framework
def test_progress_is_called_after_each_case(recording, tmp_path):
    calls = []
    record_cases(tmp_path / "one", [ONE], progress=lambda *a: calls.append(a))
    golden.check(tmp_path / "one", progress=lambda *a: calls.append(a))
    assert calls == [(1, 1, ONE.id), (1, 1, ONE.id)]


@pytest.mark.keras
@pytest.mark.framework
def test_record_into_an_existing_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    manifest = record_cases(tmp_path / "empty", [ONE])
    assert [e["id"] for e in manifest["cases"]] == [ONE.id]
    assert sorted(os.listdir(tmp_path)) == ["empty"]


# --- a recording from a "different framework version" ----------------------------------------


@pytest.mark.keras
@pytest.mark.framework
def test_altered_outputs_are_flagged_with_case_tensor_and_step(pair):
    arrays = load_arrays(pair, SEQUENCE_CASE)
    arrays["output"][1, 4, 3] += 1e-4  # far beyond 2 b_t (about 1e-6 here)
    replace_file(pair, SEQUENCE_CASE, npz_bytes(arrays))
    result = golden.check(pair)
    assert not result.passed
    assert [c.case_id for c in result.failed] == [SEQUENCE_CASE]
    case = result.failed[0]
    assert case.report.passed  # the installed framework still matches the reference
    assert not case.identical and not case.drift_passed
    excess = case.first_excess
    assert (excess.tensor, excess.step, excess.batch, excess.unit) == ("output", 4, 1, 3)
    assert excess.drift == pytest.approx(1e-4, rel=1e-3) and excess.drift > excess.bound
    assert case.drift["h"].passed and case.drift["h"].identical
    assert case.drift["output"].max_drift[4] == excess.drift
    summary = result.summary()
    assert f"FAILED {SEQUENCE_CASE}" in summary
    assert "step 4, tensor output, batch 1, unit 3" in summary


@pytest.mark.keras
@pytest.mark.framework
def test_a_drift_within_the_bound_is_not_identical_but_passes(pair):
    arrays = load_arrays(pair, SEQUENCE_CASE)
    # One float32 ulp: what a sound new version may well differ by.
    arrays["c"][0, 2, 1] = np.nextafter(arrays["c"][0, 2, 1], np.float32(np.inf))
    replace_file(pair, SEQUENCE_CASE, npz_bytes(arrays))
    result = golden.check(pair)
    assert result.passed, result.summary()
    case = next(c for c in result.cases if c.case_id == SEQUENCE_CASE)
    assert not case.identical and 0 < case.worst_ratio < 1
    assert case.drift["c"].max_drift[2] > 0 and not case.drift["c"].identical


@pytest.mark.keras
@pytest.mark.framework
def test_a_framework_error_fails_the_case_not_the_run(recording, monkeypatch):
    from lstm_ref.frameworks.keras import golden as keras_golden

    def broken(*args, **kwargs):
        raise TypeError("LSTM got an unexpected keyword argument 'implementation'")

    monkeypatch.setattr(keras_golden, "observe", broken)
    result = golden.check(recording)
    assert not result.passed and len(result.failed) == len(result.cases) == len(CASES)
    assert all("unexpected keyword" in c.error for c in result.cases)
    assert "ERROR (not run)" in result.summary()


# --- refusals when checking ------------------------------------------------------------------


@pytest.mark.keras
@pytest.mark.framework
def test_tampered_file_is_refused_naming_both_hashes(copy):
    manifest = manifest_of(copy)
    entry = entry_of(manifest, SEQUENCE_CASE)
    data = bytearray((copy / entry["file"]).read_bytes())
    data[-40] ^= 0xFF
    (copy / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(GoldenError) as info:
        golden.check(copy)
    message = str(info.value)
    assert entry["file"] in message and "sha256" in message
    assert entry["sha256"] in message and hashlib.sha256(data).hexdigest() in message


@pytest.mark.keras
@pytest.mark.framework
def test_a_refused_recording_runs_no_case(copy, monkeypatch):
    """Every file is validated first: a bad last file means nothing runs, no partial result."""
    from lstm_ref.frameworks.keras import golden as keras_golden

    calls = []
    monkeypatch.setattr(keras_golden, "observe", lambda *a, **k: calls.append(a))
    last = manifest_of(copy)["cases"][-1]
    (copy / last["file"]).write_bytes(b"PK\x03\x04 damaged")
    with pytest.raises(GoldenError, match="sha256"):
        golden.check(copy)
    assert calls == []


@pytest.mark.keras
@pytest.mark.framework
def test_truncated_file_is_refused(copy):
    data = (copy / f"{SEQUENCE_CASE}.npz").read_bytes()
    replace_file(copy, SEQUENCE_CASE, data[: len(data) // 2])
    with pytest.raises(GoldenError, match=r"truncated or corrupt") as info:
        golden.check(copy)
    assert f"{SEQUENCE_CASE}.npz" in str(info.value)


@pytest.mark.keras
@pytest.mark.framework
def test_pickle_file_is_refused(copy):
    arrays = load_arrays(copy, SEQUENCE_CASE)
    replace_file(copy, SEQUENCE_CASE, pickle.dumps(arrays))
    with pytest.raises(GoldenError, match=r"pickled data .*allow_pickle=False") as info:
        golden.check(copy)
    assert f"{SEQUENCE_CASE}.npz" in str(info.value)


def _object_array(arrays):
    arrays["h"] = np.array([arrays["h"], "not a number"], dtype=object)


def _missing_arrays(arrays):
    del arrays["c"], arrays["h0"]


def _wrong_shape(arrays):
    arrays["h"] = arrays["h"][:, :5]


# A recorded file rewritten (hash updated) with one flaw, and the message that must name it.
DAMAGED_ARRAYS = {
    "object array": (_object_array, r"pickled data \(an object array"),
    "missing arrays": (_missing_arrays, r"lacks array\(s\) h0, c \(it holds"),
    "wrong shape": (_wrong_shape, r"array 'h' has shape \(2, 5, 7\); case .* needs "),
}


@pytest.mark.keras
@pytest.mark.framework
@pytest.mark.parametrize("flaw", DAMAGED_ARRAYS)
def test_damaged_arrays_are_refused(flaw, copy):
    damage, message = DAMAGED_ARRAYS[flaw]
    arrays = load_arrays(copy, SEQUENCE_CASE)
    damage(arrays)
    replace_file(copy, SEQUENCE_CASE, npz_bytes(arrays))
    with pytest.raises(GoldenError, match=message):
        golden.check(copy)


@pytest.mark.keras
@pytest.mark.framework
def test_missing_file_is_refused(copy):
    os.remove(copy / f"{SEQUENCE_CASE}.npz")
    with pytest.raises(GoldenError, match="is missing"):
        golden.check(copy)


@pytest.mark.keras
@pytest.mark.framework
def test_unknown_case_id_is_refused(copy):
    manifest = manifest_of(copy)
    manifest["cases"][0]["id"] = "units7-features3-some-case-from-another-lstm_ref"
    write_manifest(copy, manifest)
    with pytest.raises(GoldenError, match="is not one the installed lstm_ref grid knows"):
        golden.check(copy)


@pytest.mark.keras
@pytest.mark.framework
@pytest.mark.parametrize("option, value, message", [
    ("activation", "swish_v9", "does not parse: the installed grid knows"),
    ("go_backwards", 1, "does not parse"),
    ("units", -3, "expected a positive integer"),
    ("peepholes", True, "options \\['peepholes'\\] the installed lstm_ref grid does not know"),
])
def test_options_that_do_not_parse_are_refused(copy, option, value, message):
    manifest = manifest_of(copy)
    manifest["cases"][0]["case"][option] = value
    write_manifest(copy, manifest)
    with pytest.raises(GoldenError, match=message):
        golden.check(copy)


@pytest.mark.parametrize("other", ["lstm-ref-golden/1", "lstm-ref-golden/99"])
def test_other_format_id_is_refused_naming_both(tmp_path, other):
    """/1 recordings hold no reference verdict per case and no mask: refused, not misread."""
    write_manifest(tmp_path, {"format": other, "cases": []})
    with pytest.raises(GoldenError, match=rf"format '{other}'; this lstm_ref reads "
                                          r"'lstm-ref-golden/2'"):
        golden.check(tmp_path)


def test_missing_manifest_is_refused(tmp_path):
    with pytest.raises(GoldenError, match="has no manifest.json"):
        golden.check(tmp_path)
    with pytest.raises(GoldenError, match="no such directory"):
        golden.check(tmp_path / "nowhere")


def test_unparsable_manifest_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text('{"format": "lstm-ref-golden/1", "cases": [')
    with pytest.raises(GoldenError, match=r"manifest.json is not valid JSON"):
        golden.check(tmp_path)


def test_manifest_without_cases_or_with_unsafe_names_is_refused(tmp_path):
    base = {"format": FORMAT, "dtype": "float32", "versions": {}}
    write_manifest(tmp_path, {**base, "cases": []})
    with pytest.raises(GoldenError, match="lists no case"):
        golden.check(tmp_path)
    entry = {"id": "x", "case": {}, "file": "../outside.npz", "sha256": "0", "arrays": {},
             "reference": {"verdict": "PASSED"}}
    write_manifest(tmp_path, {**base, "cases": [entry]})
    with pytest.raises(GoldenError, match="not a plain .npz name"):
        golden.check(tmp_path)


# --- refusals when recording, and nothing half-written ---------------------------------------


def test_existing_non_empty_path_is_refused(tmp_path):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "keep.txt").write_text("mine")
    with pytest.raises(GoldenError, match="exists and is not empty"):
        golden.record(tmp_path / "rec")
    (tmp_path / "file").write_text("mine")
    with pytest.raises(GoldenError, match="exists and is not a directory"):
        golden.record(tmp_path / "file")
    assert (tmp_path / "rec" / "keep.txt").read_text() == "mine"


def test_unknown_grid_and_dtype_are_refused(tmp_path):
    with pytest.raises(GoldenError, match=r"unknown grid 'huge'; the grids are small, default"):
        golden.record(tmp_path / "rec", grid="huge")
    with pytest.raises(GoldenError, match=r"unknown dtype 'float8'"):
        golden.record(tmp_path / "rec", dtype="float8")
    assert os.listdir(tmp_path) == []


def test_pattern_matching_nothing_is_refused(tmp_path):
    pytest.importorskip("allpairspy")
    with pytest.raises(GoldenError, match=r"no case of grid 'small' matches the pattern "
                                          r"'units999'"):
        golden.record(tmp_path / "rec", pattern="units999")
    assert os.listdir(tmp_path) == []


def test_unwritable_parent_is_refused(tmp_path):
    with pytest.raises(GoldenError, match="parent .* does not exist"):
        golden.record(tmp_path / "missing" / "rec")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(GoldenError, match="parent .* is not a directory"):
        golden.record(tmp_path / "a_file" / "rec")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_read_only_parent_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(GoldenError, match="is not writable"):
            golden.record(locked / "rec")
    finally:
        locked.chmod(0o700)


@pytest.mark.keras
@pytest.mark.framework
@pytest.mark.parametrize("failure", [RuntimeError("the framework crashed"), KeyboardInterrupt()],
                         ids=["error", "ctrl-c"])
def test_a_failing_record_leaves_nothing_behind(tmp_path, monkeypatch, failure):
    from lstm_ref.frameworks.keras import golden as keras_golden

    real, calls = keras_golden.observe, []

    def fails_on_the_third_case(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(keras_golden, "observe", fails_on_the_third_case)
    with pytest.raises(type(failure)):
        record_cases(tmp_path / "rec")
    assert len(calls) == 3
    assert os.listdir(tmp_path) == []  # neither rec nor its temporary sibling
