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
