"""A grid run in worker processes is the run in this process: the same verdicts and worst
ratios, case by case, in the cases' order (lstm_ref.grids.workers)."""

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from lstm_ref.grids.registry import grid_cases  # noqa: E402
from lstm_ref.grids.sweep import run_cases  # noqa: E402
from lstm_ref.report import PASSED  # noqa: E402


def test_onnx_cases_in_two_workers_are_the_runs_of_this_process():
    cases = grid_cases("onnx", "small")[:6]
    here = run_cases("onnx", cases)
    there = run_cases("onnx", cases, workers=2)
    assert [run.case.id for run in there] == [case.id for case in cases]
    assert [run.verdict for run in there] == [run.verdict for run in here] == [PASSED] * 6
    assert [run.report.worst_ratio for run in there] == [run.report.worst_ratio
                                                         for run in here]


def test_verify_says_when_it_hands_the_rest_to_a_worker(capsys, monkeypatch):
    from lstm_ref import cli
    from lstm_ref.grids import workers

    argv = ["verify", "--framework", "onnx", "--grid", "small", "-v"]
    assert cli.main(argv) == 0
    here = capsys.readouterr().out
    calls = []

    def near(share):  # this process: near the memory-map limit from its third case on
        calls.append(share)
        return len(calls) > 2

    monkeypatch.setattr(workers, "near_map_limit", near)
    assert cli.main(argv) == 0
    there = capsys.readouterr().out
    total = len(grid_cases("onnx", "small"))
    assert (f"note: this process nears the system's limit on memory maps (vm.max_map_count; "
            f"XLA keeps every compiled function mapped): the {total - 2} cases left run in a "
            f"worker process") in there

    def cases(out):
        return [line for line in out.splitlines() if line.startswith("ok ")]

    assert len(cases(here)) == total and cases(there) == cases(here)
