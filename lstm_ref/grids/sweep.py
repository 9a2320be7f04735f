"""Running a grid, and the summary of a run: shared by ``lstm-ref verify`` for every
framework, the benchmarks and the soaks."""

import time
from dataclasses import dataclass, field

from lstm_ref.grids.registry import framework as framework_named
from lstm_ref.report import ALL_STEPS, FAILED, INCONCLUSIVE, PASSED

__all__ = ["ERROR", "CaseRun", "run_cases", "GridSummary", "summarize", "summary_lines",
           "tensor_kind"]

# A case whose run raised (the framework could not build or run it): not a pass.
ERROR = "ERROR"


@dataclass
class CaseRun:
    """One case of a run: its Report (None if it raised), the seconds it took, the error."""

    case: object
    report: object
    seconds: float
    error: str | None = None

    @property
    def verdict(self):
        return ERROR if self.report is None else self.report.verdict


def run_cases(framework, cases, dtype="float32", progress=None):
    """Run every case on a framework (lstm_ref.grids.registry name) and return a CaseRun per
    case, in order. A case that raises is recorded with its error (exceptions of the
    framework's own code count as a failure of that case); KeyboardInterrupt stops the run.

    Args:
        framework: a name of lstm_ref.grids.registry.FRAMEWORKS.
        cases: the cases (lstm_ref.grids.registry.grid_cases).
        dtype: the dtype every case runs in.
        progress: None, or ``progress(run)`` called after each case.
    """
    runner = framework_named(framework)
    runs = []
    for case in cases:
        start = time.perf_counter()
        try:
            report, error = runner.run(case, dtype), None
        except Exception as exc:  # noqa: BLE001 - a framework error fails that case, named
            report, error = None, f"{type(exc).__name__}: {exc}"
        runs.append(CaseRun(case, report, time.perf_counter() - start, error))
        if progress is not None:
            progress(runs[-1])
    return runs


def tensor_kind(name):
    """What a report tensor is, whatever part it belongs to: ``layer0.forward.h`` -> ``h``,
    ``forward/output`` -> ``output``."""
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


@dataclass
class GridSummary:
    """The figures of a run.

    Attributes:
        counts: verdict (PASSED, FAILED, INCONCLUSIVE, ERROR) -> number of cases.
        partial: ids of the cases with elements not compared (past the horizon,
            undetermined), the check still decided on the rest.
        largest: tensor kind -> (|error|, the bound there, step, case id) of the largest
            error over every compared element of every passing case.
        closest: tensor kind -> (error / bound, |error|, bound, step, case id) of the element
            closest to its bound over every passing case.
        tolerances: the tolerance entries the cases were held to, described.
        seconds: the run's total.
    """

    counts: dict = field(default_factory=dict)
    partial: list = field(default_factory=list)
    largest: dict = field(default_factory=dict)
    closest: dict = field(default_factory=dict)
    tolerances: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self):
        return sum(self.counts.values())


def summarize(runs):
    """The GridSummary of a list of CaseRun."""
    summary = GridSummary(counts={PASSED: 0, FAILED: 0, INCONCLUSIVE: 0, ERROR: 0})
    for run in runs:
        summary.counts[run.verdict] += 1
        summary.seconds += run.seconds
        report = run.report
        if report is None:
            continue
        described = report.tolerance.describe()
        if described not in summary.tolerances:
            summary.tolerances.append(described)
        if report.not_compared:
            summary.partial.append(run.case.id)
        if report.failed:
            continue
        for name, tensor in report.tensors.items():
            worst = tensor.worst
            if worst is None:
                continue
            kind = tensor_kind(name)
            largest = max(range(len(tensor.max_abs)), key=lambda i: _finite(tensor.max_abs[i]))
            error = _finite(tensor.max_abs[largest])
            if error > summary.largest.get(kind, (-1.0,))[0]:
                summary.largest[kind] = (error, float(tensor.max_bound[largest]),
                                         int(tensor.steps[largest]), run.case.id)
            if worst.ratio > summary.closest.get(kind, (-1.0,))[0]:
                summary.closest[kind] = (worst.ratio, worst.error, worst.bound, worst.step,
                                         run.case.id)
    return summary


def _finite(value):
    return float(value) if value == value else -1.0  # NaN: a step with nothing compared


def summary_lines(summary):
    """The summary as printed lines: counts, the table of the largest errors and of the
    elements closest to their bounds per tensor kind, the partial cases, the tolerances."""
    c = summary.counts
    lines = [f"{_count(summary.total, 'case')}: {c[PASSED]} passed, {c[FAILED]} failed, "
             f"{c[INCONCLUSIVE]} inconclusive, {c[ERROR]} could not run "
             f"({summary.seconds:.1f} s of cases)"]
    if summary.largest:
        lines.append(f"{'tensor':<8} {'largest |err|':>13} {'(its bound)':>13} "
                     f"{'closest err/bound':>18}")
        for kind, (error, bound, step, case_id) in summary.largest.items():
            ratio, _, _, ratio_step, ratio_case = summary.closest[kind]
            lines.append(f"{kind:<8} {error:>13.3e} {f'({bound:.3e})':>13} {ratio:>18.3f}")
            lines.append(f"{'':<8} largest at step {_step(step)} of {case_id}")
            lines.append(f"{'':<8} closest at step {_step(ratio_step)} of {ratio_case}")
    if summary.partial:
        lines.append(f"{_count(len(summary.partial), 'case')} compared in part (elements past "
                     "the horizon of the format, or undetermined; see each case's report): "
                     + ", ".join(summary.partial))
    lines.extend(f"tolerance {t}" for t in summary.tolerances)
    return lines


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _step(step):
    return "all" if step == ALL_STEPS else step
