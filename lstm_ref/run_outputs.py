"""What ``lstm-ref verify`` writes besides its table: a JSON record and a JUnit XML file (the
format CI systems show as test results), each written whole or not at all
(lstm_ref.files.write_atomic).

In JUnit, a FAILED case is a ``<failure>``, a case that could not run an ``<error>``, and an
INCONCLUSIVE one (a tensor with nothing compared) an ``<error type="inconclusive">``: not a
pass, and counted apart from failures. A known divergence that fails (XFAIL) is
``<skipped type="known divergence">`` with its reason; one that passes (XPASS) passes, its
``<system-out>`` saying so. A case compared in part says what was not compared,
and why, in its ``<system-out>`` and in the JSON's ``not_compared``.
"""

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, cast

from lstm_ref.grids.sweep import ERROR, XFAIL, XPASS, CaseRun
from lstm_ref.report import FAILED, INCONCLUSIVE, PASSED, Report

__all__ = ["FORMAT", "case_record", "totals", "to_json", "to_junit"]

FORMAT = "lstm-ref-verify/2"


def case_record(run: CaseRun) -> dict[str, Any]:
    """One case of the run (a lstm_ref.grids.sweep.CaseRun) as plain data."""
    case: Any = run.case  # a grid's Case: id, seed, as_dict()
    record = {"id": case.id, "verdict": run.verdict, "passed": run.verdict == PASSED,
              "seconds": round(run.seconds, 4), "options": case.as_dict(),
              "seed": case.seed, "error": run.error,
              "known_divergence": None if run.known is None else {
                  "id": run.known.id, "reason": run.known.reason}}
    report = cast("Report | None", run.report)
    if report is not None:
        data = report.to_dict()
        record.update(time=data["time"], compared_steps=data["compared_steps"],
                      worst_ratio=data["worst_ratio"], first_failure=data["first_failure"],
                      tensors=data["tensors"], tolerance=data["tolerance"],
                      not_compared=report.not_compared_lines(),
                      summary=None if report.passed else report.summary())
    return record


def totals(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The verdict counts of a run's records, and how many cases there are."""
    counts = {"cases": len(records)}
    for verdict in (PASSED, FAILED, INCONCLUSIVE, ERROR, XFAIL, XPASS):
        counts[verdict.lower()] = sum(r["verdict"] == verdict for r in records)
    return counts


def to_json(meta: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    """The run as JSON: ``meta`` (versions, framework, grid, dtype...; its ``format``, if it
    has one, replaces verify's), the totals by verdict and one record per case."""
    return json.dumps({"format": FORMAT, **meta, "totals": totals(records), "cases": records},
                      indent=1, sort_keys=False, allow_nan=False) + "\n"


def to_junit(meta: dict[str, Any], records: Sequence[dict[str, Any]],
             name: str | None = None) -> str:
    """The run as a JUnit XML test suite: one testcase per grid case (see the module
    docstring for the verdicts); ``name`` the suite's (default: verify's)."""
    counts = totals(records)
    suite = ET.Element("testsuite",
                       name=name or f"lstm-ref verify ({meta['framework']}, {meta['grid']}, "
                                    f"{meta['dtype']})",
                       tests=str(len(records)), failures=str(counts["failed"]),
                       errors=str(counts["inconclusive"] + counts["error"]),
                       skipped=str(counts["xfail"]),
                       time=f"{sum(r['seconds'] for r in records):.3f}")
    properties = ET.SubElement(suite, "properties")
    for key, value in meta.items():
        ET.SubElement(properties, "property", name=key, value=str(value))
    for record in records:
        case = ET.SubElement(suite, "testcase",
                             classname=f"lstm_ref.{meta['framework']}.{meta['grid']}",
                             name=record["id"], time=f"{record['seconds']:.3f}")
        verdict = record["verdict"]
        if verdict == FAILED:
            failure = ET.SubElement(case, "failure", message=record["first_failure"] or "",
                                    type="failed")
            failure.text = record["summary"]
        elif verdict == INCONCLUSIVE:
            error = ET.SubElement(case, "error", type="inconclusive",
                                  message=record["summary"].splitlines()[0])
            error.text = record["summary"]
        elif verdict == ERROR:
            error = ET.SubElement(case, "error", type="could not run", message=record["error"])
            error.text = record["error"]
        elif verdict == XFAIL:
            known = record["known_divergence"]
            skipped = ET.SubElement(case, "skipped", type="known divergence",
                                    message=f"{known['id']}: {known['reason']}")
            skipped.text = record["summary"]
        notes = list(record.get("not_compared") or [])
        if verdict == XPASS:
            notes.insert(0, f"known divergence {record['known_divergence']['id']} did not "
                            "show here (where it shows in no case, the entry can go)")
        if notes:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(notes)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
