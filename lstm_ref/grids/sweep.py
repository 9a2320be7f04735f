"""Running a grid, and the summary of a run: shared by ``lstm-ref verify`` for every
framework, the benchmarks and the soaks."""

from dataclasses import dataclass, field

from lstm_ref import known as known_divergences
from lstm_ref.grids.registry import framework as framework_named
from lstm_ref.grids.workers import framework_runner, run_all
from lstm_ref.report import ALL_STEPS, FAILED, INCONCLUSIVE, PASSED

__all__ = ["ERROR", "XFAIL", "XPASS", "VERDICTS", "CaseRun", "run_cases", "GridSummary",
           "summarize", "summary_lines", "tensor_kind"]

# A case whose run raised (the framework could not build or run it): not a pass.
ERROR = "ERROR"
# A case a known divergence (lstm_ref.known) matches: it failed as known (XFAIL), or passed
# (XPASS: the divergence did not show there; one that shows in no case can leave the list).
# Neither fails a run.
XFAIL, XPASS = "XFAIL", "XPASS"
VERDICTS = (PASSED, FAILED, INCONCLUSIVE, ERROR, XFAIL, XPASS)


@dataclass
class CaseRun:
    """One case of a run: its Report (None if it raised), the seconds it took, the error."""

    case: object
    report: object
    seconds: float
    error: str | None = None
    known: known_divergences.Divergence | None = None

    @property
    def verdict(self):
        verdict = ERROR if self.report is None else self.report.verdict
        if self.known is not None and verdict in (FAILED, PASSED):
            return XFAIL if verdict == FAILED else XPASS
        return verdict


def run_cases(framework, cases, dtype="float32", progress=None, known=(), workers=0,
              on_handover=None):
    """Run every case on a framework (lstm_ref.grids.registry name) and return a CaseRun per
    case, in order. A case that raises is recorded with its error (exceptions of the
    framework's own code count as a failure of that case); KeyboardInterrupt stops the run.

    Args:
        framework: a name of lstm_ref.grids.registry.FRAMEWORKS.
        cases: the cases (lstm_ref.grids.registry.grid_cases).
        dtype: the dtype every case runs in.
        progress: None, or ``progress(run)`` called after each case (in the order the cases
            end).
        known: lstm_ref.known Divergences: a case one matches is XFAIL or XPASS.
        workers: 0 runs the cases in this process (until its memory maps near the system's
            limit: the rest then run in a worker process); N > 0 in N worker processes, where
            a case that kills its process is an error and the run goes on
            (lstm_ref.grids.workers).
        on_handover: None, or ``on_handover(remaining)`` when this process hands the
            ``remaining`` cases to a worker process.
    """
    framework_named(framework)  # an unknown name is one error, not one per case
    cases = list(cases)
    known = list(known)
    runs = [None] * len(cases)

    def ended(index, outcome):
        case = cases[index]
        divergence = known_divergences.match(known, framework, dtype, case.as_dict())
        runs[index] = CaseRun(case, outcome.value, outcome.seconds, outcome.error, divergence)
        if progress is not None:
            progress(runs[index])

    run_all(framework_runner(framework, dtype), cases, workers, ended,
            on_handover=on_handover)
    return runs


def tensor_kind(name):
    """What a report tensor is, whatever part it belongs to: ``layer0.forward.h`` -> ``h``,
    ``forward/output`` -> ``output``."""
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


@dataclass
class GridSummary:
    """The figures of a run.

    Attributes:
        counts: verdict (VERDICTS) -> number of cases.
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
    summary = GridSummary(counts=dict.fromkeys(VERDICTS, 0))
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
        if report.failed or run.known is not None:
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
    known = "".join(f", {c[v]} {what}" for v, what in (
        (XFAIL, "known divergences (xfail)"), (XPASS, "known but passing (xpass)")) if c[v])
    lines = [f"{_count(summary.total, 'case')}: {c[PASSED]} passed, {c[FAILED]} failed, "
             f"{c[INCONCLUSIVE]} inconclusive, {c[ERROR]} could not run{known} "
             f"({summary.seconds:.1f} s of cases)"]
    if summary.largest:
        lines.append(f"{'tensor':<8} {'largest |err|':>13} {'(its bound)':>13} "
                     f"{'closest err/bound':>18}")
        for kind, (error, bound, step, case_id) in summary.largest.items():
            ratio, _, _, ratio_step, ratio_case = summary.closest[kind]
            lines.append(f"{kind:<8} {error:>13.3e} {f'({bound:.3e})':>13} {ratio:>18.3f}")
            lines.append(f"{'':<8} largest at step {_step(step)} of {case_id}")
            lines.append(f"{'':<8} closest at step {_step(ratio_step)} of {ratio_case}")
    if summary.largest:
        lines.append("largest |err|: the largest |framework - reference| of the tensor over "
                     "every passing case, with the bound at that element; closest err/bound: "
                     "the element nearest its bound (1 would fail)")
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
