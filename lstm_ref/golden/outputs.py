"""What ``lstm-ref golden check`` writes besides its table: a JSON record and a JUnit XML
file, in the shapes ``lstm-ref verify`` writes (lstm_ref.run_outputs), so that a CI system
shows the gate's cases as it shows verify's.

A case is PASSED, FAILED or INCONCLUSIVE as lstm_ref.golden.check.CaseResult says, or ERROR
when the installed framework could not run it; its record adds the drift from the recording
(the largest |installed - recorded|, the largest drift / bound, bit-identical or not) and the
recorded verdict.
"""

from typing import Any

import numpy as np

from lstm_ref import run_outputs
from lstm_ref.golden.check import CaseResult, GoldenResult
from lstm_ref.grids.sweep import ERROR

__all__ = ["FORMAT", "case_record", "meta", "to_json", "to_junit"]

FORMAT = "lstm-ref-golden-check/1"


def _number(value: float) -> float | None:
    """A float for JSON: None for NaN and infinity, which JSON has not."""
    return float(value) if np.isfinite(value) else None


def case_record(case: CaseResult) -> dict[str, Any]:
    """One checked case as plain data (the fields lstm_ref.run_outputs.to_junit reads, and
    the drift)."""
    verdict = ERROR if case.error else case.verdict
    why = case.describe_failure() or case.undetermined()
    report = case.report
    return {"id": case.case_id, "verdict": verdict, "passed": case.passed, "seconds": 0.0,
            "file": case.file, "error": case.error,
            "identical": case.identical, "max_drift": _number(case.max_drift),
            "worst_drift_ratio": _number(case.worst_ratio),
            "recorded_verdict": case.recorded.get("verdict"),
            "reference_verdict": None if report is None else report.verdict,
            "first_failure": why[0].strip() if why else None,
            "summary": "\n".join(line.strip() for line in why) if why else None,
            "not_compared": [] if report is None else report.not_compared_lines()}


def meta(result: GoldenResult) -> dict[str, Any]:
    """What the run was: the recording and the installation that checked it."""
    manifest = result.manifest
    return {"path": result.path, "framework": "keras", "grid": manifest.get("grid"),
            "dtype": manifest.get("dtype"), "recorded": manifest.get("versions"),
            "installed": result.installed.get("versions"), "stale": result.stale}


def to_json(result: GoldenResult) -> str:
    """The check as JSON: the recording's and the installation's versions, the totals by
    verdict and one record per case."""
    records = [case_record(c) for c in result.cases]
    return run_outputs.to_json({"format": FORMAT, **meta(result)}, records)


def to_junit(result: GoldenResult) -> str:
    """The check as a JUnit XML test suite, one testcase per recorded case."""
    records = [case_record(c) for c in result.cases]
    info = meta(result)
    return run_outputs.to_junit(info, records,
                                name=f"lstm-ref golden check ({info['grid']}, {info['dtype']})")
