"""ci/merge_junit.py, one verdict over a sharded run: the shards' suites merged with summed
counts; a failure in any shard fails; a shard that did not run is an error, not a pass."""

import xml.etree.ElementTree as ET

import pytest

from tests.support.helpers import ci_script


def merge_junit():
    return ci_script("merge_junit")


def shard(path, tests, failures=0, errors=0, skipped=0, root="testsuites"):
    suite = (f'<testsuite name="pytest" tests="{tests}" failures="{failures}" '
             f'errors="{errors}" skipped="{skipped}" time="1.5">'
             + "".join(f'<testcase name="t{i}"/>' for i in range(tests)) + "</testsuite>")
    path.write_text(f"<{root}>{suite}</{root}>" if root == "testsuites" else suite)
    return str(path)


def test_the_shards_merge_into_one_passing_report(tmp_path, capsys):
    module = merge_junit()
    files = [shard(tmp_path / "1.xml", 5, skipped=1),
             shard(tmp_path / "2.xml", 3, root="testsuite")]
    assert module.main([str(tmp_path / "all.xml"), *files]) == 0
    assert capsys.readouterr().out.strip().endswith(
        "2 shards, 8 tests: 7 passed, 0 failed, 0 errors, 1 skipped: PASSED")
    merged = ET.parse(tmp_path / "all.xml").getroot()
    assert merged.get("tests") == "8" and merged.get("time") == "3.000"
    assert [s.get("shard") for s in merged] == ["1.xml", "2.xml"]
    assert len(merged.findall("./testsuite/testcase")) == 8


def test_a_failure_in_any_shard_fails(tmp_path, capsys):
    files = [shard(tmp_path / "1.xml", 5), shard(tmp_path / "2.xml", 3, failures=1, errors=1)]
    assert merge_junit().main([str(tmp_path / "all.xml"), *files]) == 1
    assert capsys.readouterr().out.strip().endswith(
        "8 tests: 6 passed, 1 failed, 1 errors, 0 skipped: FAILED")


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "not a readable JUnit XML file"),
    (lambda p: p.write_text("<testsuites"), "not a readable JUnit XML file"),
    (lambda p: p.write_text("<testsuites></testsuites>"), "no test in it"),
])
def test_a_shard_that_did_not_run_is_an_error(make, message, tmp_path, capsys):
    missing = tmp_path / "2.xml"
    make(missing)
    with pytest.raises(SystemExit) as exit_:
        merge_junit().main([str(tmp_path / "all.xml"), shard(tmp_path / "1.xml", 2),
                            str(missing)])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "all.xml").exists()
