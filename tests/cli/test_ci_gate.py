"""ci/compare_runs.py, the upgrade gate's table: on verify JSON files written by
lstm_ref.run_outputs, a verdict that changes between versions and a worst error that moves
are reported, and --fail-on-change makes them blocking."""

import json

from lstm_ref import run_outputs
from tests.support.helpers import ci_script


def compare_runs():
    return ci_script("compare_runs")


def write_run(folder, label, tensorflow, cases):
    """A verify JSON as `lstm-ref verify --json` writes it, with made-up cases."""
    records = [{"id": case_id, "verdict": "PASSED" if passed else "FAILED", "passed": passed,
                "seconds": 0.1, "options": {}, "seed": 1, "error": None, "time": 9,
                "compared_steps": 9, "worst_ratio": ratio,
                "first_failure": None if passed else "step 3, tensor c, ...",
                "tensors": {"c": {"verdict": "PASSED" if passed else "FAILED", "compared": 9,
                                  "size": 9, "failures": 0 if passed else 1,
                                  "worst": {"step": 3, "batch": 0, "unit": 0,
                                            "error": ratio * 1e-6, "bound": 1e-6,
                                            "ratio": ratio},
                                  "not_compared": []}},
                "tolerance": "float32: ...", "not_compared": [],
                "summary": None if passed else "FAILED at step 3, tensor c, ..."}
               for case_id, passed, ratio in cases]
    meta = {"lstm_ref": "0.1.0", "framework": "keras",
            "versions": {"keras": "3.15.1", "tensorflow": tensorflow}, "numpy": "2.4.6",
            "python": "3.11.7", "platform": "Linux", "grid": "default", "only": None,
            "dtype": "float32", "seed": 0, "seconds": 1.0}
    (folder / f"verify-{label}.json").write_text(run_outputs.to_json(meta, records))
    json.loads((folder / f"verify-{label}.json").read_text())


def test_changes_between_versions_are_reported(tmp_path, capsys):
    write_run(tmp_path, "tf2.20", "2.20.0", [("a", True, 0.1), ("b", True, 0.1), ("c", True, 0.2)])
    write_run(tmp_path, "tf2.21", "2.21.0", [("a", True, 0.1), ("b", False, 3.0), ("c", True, 0.9)])
    module = compare_runs()
    assert module.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "tf2.20" in out and "tf2.21" in out
    assert "1 verdict changes" in out and "failed tf2.21: b (FAILED)" in out
    assert module.main([str(tmp_path), "--fail-on-change"]) == 1


def test_no_runs_is_exit_2(tmp_path, capsys):
    assert compare_runs().main([str(tmp_path)]) == 2
    assert "no verify JSON found" in capsys.readouterr().err
