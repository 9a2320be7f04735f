"""What ``lstm-ref verify`` writes besides its table: a JSON summary and a JUnit XML file (the
format CI systems show as test results), each written whole or not at all."""

import json
import os
import tempfile
import xml.etree.ElementTree as ET

from lstm_ref.errors import LSTMRefError

FORMAT = "lstm-ref-verify/1"


class OutputError(LSTMRefError, OSError):
    """An output path that cannot be written."""


def check_writable(path, what):
    """Refuse, before any case runs, a path whose folder is missing or not writable, or that
    is a folder itself."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{what} {path!r} is a folder; expected a file path")
    if not os.path.isdir(folder):
        raise OutputError(f"{what} {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{what} {path!r}: folder {folder!r} is not writable")


def write_atomic(path, text):
    """Write ``text`` to a temporary file beside ``path``, then rename it into place: a reader
    never sees half a file, and a failure leaves nothing behind."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".lstm-ref-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def case_record(case, report, seconds):
    """One case of the run as plain data."""
    failure = report.first_failure
    return {
        "id": case.id, "passed": report.passed, "seconds": round(seconds, 4),
        "options": case.as_dict(), "seed": case.seed, "time": report.time,
        "compared_steps": report.compared_steps, "worst_ratio": report.worst_ratio,
        "first_failure": None if failure is None else str(failure),
        "tensors": {name: {"worst_error": t.worst.error, "bound": t.worst.bound,
                           "step": t.worst.step, "passed": t.passed}
                    for name, t in report.tensors.items()},
        "tolerance": report.tolerance.describe(),
        "summary": None if report.passed else report.summary(),
    }


def to_json(meta, records):
    """The run as JSON: ``meta`` (versions, grid, dtype...) and one record per case."""
    passed = sum(r["passed"] for r in records)
    return json.dumps({"format": FORMAT, **meta,
                       "totals": {"cases": len(records), "passed": passed,
                                  "failed": len(records) - passed},
                       "cases": records}, indent=1, sort_keys=False) + "\n"


def to_junit(meta, records):
    """The run as a JUnit XML test suite: one testcase per grid case, a <failure> with the
    report's summary for each failing one."""
    failed = sum(not r["passed"] for r in records)
    suite = ET.Element("testsuite", name=f"lstm-ref verify ({meta['grid']}, {meta['dtype']})",
                       tests=str(len(records)), failures=str(failed), errors="0",
                       time=f"{sum(r['seconds'] for r in records):.3f}")
    properties = ET.SubElement(suite, "properties")
    for key, value in meta.items():
        ET.SubElement(properties, "property", name=key, value=str(value))
    for record in records:
        case = ET.SubElement(suite, "testcase", classname=f"lstm_ref.grid.{meta['grid']}",
                             name=record["id"], time=f"{record['seconds']:.3f}")
        if not record["passed"]:
            failure = ET.SubElement(case, "failure", message=record["first_failure"] or "")
            failure.text = record["summary"]
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
