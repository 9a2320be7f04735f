"""Merge the JUnit XML files of a sharded run into one report, and give one verdict.

    python ci/merge_junit.py merged.xml shard-1.xml shard-2.xml ...

Each shard is a run of ``python -m pytest --splits N --group K --junitxml shard-K.xml`` (or any
JUnit file: pytest's, ``lstm-ref verify --junit-xml``'s). The merged file holds every shard's
test suites under one ``<testsuites>`` with the summed counts; the last line printed is the
verdict. Exit 0 when no test failed or errored, 1 when one did, 2 when a shard's file is
missing, unreadable or holds no test (a shard that did not run is not a pass).
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

COUNTS = ("tests", "failures", "errors", "skipped")


def suites(path):
    """The <testsuite> elements of one JUnit file, or SystemExit(2) naming the problem."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        print(f"merge_junit: error: {path}: not a readable JUnit XML file ({exc})",
              file=sys.stderr)
        raise SystemExit(2) from None
    found = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not found or not sum(int(s.get("tests", 0)) for s in found):
        print(f"merge_junit: error: {path}: no test in it (did the shard run?)", file=sys.stderr)
        raise SystemExit(2)
    return found


def merge(paths):
    """One <testsuites> element holding every shard's suites, with the summed counts."""
    merged = ET.Element("testsuites")
    totals = dict.fromkeys(COUNTS, 0)
    seconds = 0.0
    for path in paths:
        for suite in suites(path):
            suite.set("shard", Path(path).name)
            merged.append(suite)
            for name in COUNTS:
                totals[name] += int(suite.get(name, 0))
            seconds += float(suite.get("time", 0))
    for name, value in totals.items():
        merged.set(name, str(value))
    merged.set("time", f"{seconds:.3f}")
    return merged, totals


def main(argv):
    if len(argv) < 2:
        print("usage: python ci/merge_junit.py MERGED.xml SHARD.xml [SHARD.xml ...]",
              file=sys.stderr)
        return 2
    out, paths = argv[0], argv[1:]
    merged, totals = merge(paths)
    ET.indent(merged)
    Path(out).write_text(ET.tostring(merged, encoding="unicode", xml_declaration=True) + "\n")
    bad = totals["failures"] + totals["errors"]
    passed = totals["tests"] - bad - totals["skipped"]
    print(f"{len(paths)} shards, {totals['tests']} tests: {passed} passed, "
          f"{totals['failures']} failed, {totals['errors']} errors, {totals['skipped']} skipped: "
          f"{'FAILED' if bad else 'PASSED'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
