"""The verdict of a comparison: Mismatch, TensorReport, Report, and what a verdict claims.

A Report says, per tensor a framework showed, how far it departs from the reference at every
step, where it first exceeds its bound, and which elements were *not compared* and why.
Its verdict is one of:

- ``PASSED``: something was compared in every tensor it reports, and no compared element
  exceeded its bound;
- ``FAILED``: some compared element exceeded its bound (a NaN bound or a NaN error counts
  as exceeding: ``not error <= bound``), or the framework showed a non-finite value where
  the reference is finite;
- ``INCONCLUSIVE``: nothing failed, but some reported tensor had no element that could be
  compared (every step past the horizon, every element undetermined). Not a pass.

Elements are classified by a status code (see :data:`STATUS`): compared within a bound,
compared exactly (a non-finite value that propagates from a non-finite input), or not
compared, with the reason.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["PASSED", "FAILED", "INCONCLUSIVE", "COMPARED", "EXACT", "HORIZON", "UNDETERMINED",
           "FORWARD_UNDETERMINED", "AT_JUMP", "STATUS", "ALL_STEPS", "ToleranceLike", "Mismatch",
           "TensorReport", "Report", "reason_text"]

PASSED, FAILED, INCONCLUSIVE = "PASSED", "FAILED", "INCONCLUSIVE"

# Element status codes, in increasing precedence: an element derived from several (a merged
# Bidirectional output) takes the largest of theirs.
COMPARED = 0              # held to its bound
EXACT = 1                 # a non-finite value reached from a non-finite input: must match exactly
HORIZON = 2               # past what the probes' format can determine
UNDETERMINED = 3          # the reference is not finite although every input it depends on is
FORWARD_UNDETERMINED = 4  # a gradient whose forward pass is not determined in its row
AT_JUMP = 5               # a gradient through a derivative's jump its probes straddle
STATUS = {COMPARED: "compared", EXACT: "compared exactly", HORIZON: "past the horizon",
          UNDETERMINED: "undetermined", FORWARD_UNDETERMINED: "forward pass undetermined",
          AT_JUMP: "at a derivative's jump"}
NOT_COMPARED = (HORIZON, UNDETERMINED, FORWARD_UNDETERMINED, AT_JUMP)

# The step of a tensor that accumulates over every step (a weight's gradient).
ALL_STEPS = -1


class ToleranceLike(Protocol):
    """What a report reads of the tolerance it was held to: a
    :class:`lstm_ref.tolerance.Tolerance` (a protocol: that module builds on this one)."""

    @property
    def probe(self) -> str: ...

    @property
    def horizon(self) -> float: ...

    def describe(self) -> str: ...


def reason_text(code: int, tolerance: ToleranceLike) -> str:
    """Why elements of status ``code`` were not compared, in words."""
    if code == HORIZON:
        return (f"past the horizon: {tolerance.probe} cannot determine them (its probes leave "
                f"its range or stray beyond {tolerance.horizon:g} of the values' scale, or the "
                f"rounding they bound leaves float64's)")
    if code == UNDETERMINED:
        return ("undetermined: the reference is not finite although every input it depends "
                "on is (an overflow, 0 * inf); no framework value is more right than another")
    if code == FORWARD_UNDETERMINED:
        return "the forward pass of their row is not determined (past its horizon or not finite)"
    if code == AT_JUMP:
        return ("at a derivative's jump: an activation's argument is within rounding of a "
                "point where its derivative jumps (relu's 0, hard_sigmoid's +-3...), so which "
                "side's derivative applies depends on the order a framework rounds in")
    raise ValueError(f"status {code} is compared, not a reason")


@dataclass
class Mismatch:
    """One element: where it is, both values, the error and the bound it was held to."""

    tensor: str
    step: int
    batch: int
    unit: int
    actual: float
    expected: float
    error: float
    bound: float
    axes: tuple[str, str] | None = ("batch", "unit")

    @property
    def exceeds(self) -> bool:
        """Whether the element fails: ``not error <= bound`` (a NaN on either side fails), a
        bound that is not finite (NaN or inf claims nothing), or a non-finite framework value
        where the reference is finite."""
        return (not self.error <= self.bound or not math.isfinite(self.bound)
                or (math.isfinite(self.expected) and not math.isfinite(self.actual)))

    @property
    def ratio(self) -> float:
        """error / bound; inf for a failing element whose bound is 0, NaN or inf."""
        if self.exceeds:
            finite = self.bound > 0 and math.isfinite(self.bound)
            ratio = self.error / self.bound if finite else float("inf")
            return ratio if ratio > 1 else float("inf")
        return 0.0 if self.error == 0 else self.error / self.bound

    def __str__(self) -> str:
        # A weight gradient sums over every step: its "step" is ALL_STEPS; a statistic over a
        # whole step (lstm_ref.bias) has no axes.
        where = "all steps" if self.step == ALL_STEPS else f"step {self.step}"
        at = "" if self.axes is None else f", {self.axes[0]} {self.batch}, {self.axes[1]} {self.unit}"
        return (f"{where}, tensor {self.tensor}{at}: "
                f"framework {self.actual:.9g}, reference {self.expected:.9g}, "
                f"|error| {self.error:.3e} {'>' if self.exceeds else '<='} "
                f"tolerance {self.bound:.3e}")


@dataclass
class TensorReport:
    """The comparison of one tensor.

    Attributes:
        name: the tensor's name in the report.
        steps: (S,) the step number of each slice (processing order, or time order where the
            report says so; ALL_STEPS for what sums over every step).
        max_abs, max_rel, max_bound: (S,) per step, over the compared elements (NaN where a
            step has none).
        worst: the compared element with the largest error / bound, or None if nothing was
            compared.
        first_failure: the first failing element (see Report.order), or None.
        compared: how many elements were compared (within a bound or exactly).
        size: how many elements the tensor has.
        failures: how many compared elements failed.
        not_compared: status code -> how many elements were not compared for that reason.
        cuts: status code -> (first step not compared in report order, rows affected), for
            each reason in ``not_compared``.
        drift: None, or the TensorReport of the tensor's step drift (``name:drift``, one
            value per step over its compared elements, lstm_ref.bias): a failure there fails
            the tensor too.
    """

    name: str
    steps: np.ndarray
    max_abs: np.ndarray
    max_rel: np.ndarray
    max_bound: np.ndarray
    worst: Mismatch | None
    first_failure: Mismatch | None
    compared: int = 0
    size: int = 0
    failures: int = 0
    not_compared: dict[int, int] = field(default_factory=dict)
    cuts: dict[int, tuple[int, Iterable[int]]] = field(default_factory=dict)
    drift: "TensorReport | None" = None

    @property
    def failures_here(self) -> list[Mismatch | None]:
        """The first failure of the elements, then of the step drift (either may be None)."""
        return [self.first_failure, None if self.drift is None else self.drift.first_failure]

    @property
    def passed(self) -> bool:
        """No compared element failed, nor the step drift (see :attr:`verdict` for whether
        anything was compared)."""
        return not any(self.failures_here)

    @property
    def verdict(self) -> str:
        """PASSED, FAILED, or INCONCLUSIVE when nothing of the tensor was compared."""
        if not self.passed:
            return FAILED
        return PASSED if self.compared else INCONCLUSIVE

    @property
    def worst_ratio(self) -> float:
        """The largest error-to-bound ratio of the elements and of the step drift."""
        ratios = [0.0 if self.worst is None else self.worst.ratio]
        if self.drift is not None:
            ratios.append(self.drift.worst_ratio)
        return max(ratios)


@dataclass
class Report:
    """The verdict of one comparison.

    Attributes:
        tensors: name -> TensorReport, for each tensor the framework showed.
        tolerance: the table entry used (the first part's, for several).
        time: the number of steps.
        context: layer config, sizes, seed and versions: what reproduces the case.
        order: "forward", or "backward" for gradients, which are computed from the last step
            down: the first failure is then the one at the latest step.
    """

    tensors: dict[str, TensorReport]
    tolerance: ToleranceLike
    time: int
    context: dict[str, Any] = field(default_factory=dict)
    order: str = "forward"

    @property
    def verdict(self) -> str:
        """PASSED, FAILED or INCONCLUSIVE (see the module docstring)."""
        if any(not t.passed for t in self.tensors.values()):
            return FAILED
        if not self.tensors or any(not t.compared for t in self.tensors.values()):
            return INCONCLUSIVE
        return PASSED

    @property
    def passed(self) -> bool:
        """True only for a PASSED verdict: something compared everywhere, nothing exceeded."""
        return self.verdict == PASSED

    @property
    def failed(self) -> bool:
        """The verdict is FAILED."""
        return self.verdict == FAILED

    @property
    def inconclusive(self) -> bool:
        """The verdict is INCONCLUSIVE: nothing failed, and some tensor compared nothing."""
        return self.verdict == INCONCLUSIVE

    @property
    def first_failure(self) -> Mismatch | None:
        """The first failing element in report order (ties: in the order of ``tensors``), or None."""
        order = list(self.tensors)

        def rank(m: Mismatch) -> tuple[int, bool]:
            return order.index(m.tensor.removesuffix(":drift")), m.tensor.endswith(":drift")

        failures = [m for t in self.tensors.values() for m in t.failures_here if m is not None]
        if self.order == "backward":  # latest step first; the all-steps sums come last
            return min(failures, key=lambda m: (m.step == ALL_STEPS, -m.step, rank(m)),
                       default=None)
        return min(failures, key=lambda m: (m.step, rank(m)), default=None)

    @property
    def first_failing_step(self) -> int | None:
        """The step of :attr:`first_failure`, or None when nothing failed."""
        failure = self.first_failure
        return None if failure is None else failure.step

    @property
    def worst_ratio(self) -> float:
        """The largest error-to-bound ratio over every compared element (<= 1: none failed)."""
        return max((t.worst_ratio for t in self.tensors.values()), default=0.0)

    @property
    def compared_steps(self) -> int:
        """How many steps, from the first in report order, were compared in every row of
        every per-step tensor (``time`` when nothing was cut)."""
        count = self.time
        for tensor in self.tensors.values():
            for step, _ in tensor.cuts.values():
                if step == ALL_STEPS:
                    continue
                count = min(count, self.time - 1 - step if self.order == "backward" else step)
        return count

    @property
    def not_compared(self) -> int:
        """How many elements were not compared, over every tensor (of elements)."""
        return sum(sum(t.not_compared.values()) for t in self.tensors.values())

    @property
    def size(self) -> int:
        """How many elements the tensors have."""
        return sum(t.size for t in self.tensors.values())

    def verdict_line(self) -> str:
        """The first line of :meth:`summary`."""
        verdict = self.verdict
        backward = "; gradients flow from the last step down" if self.order == "backward" else ""
        if verdict == FAILED:
            failure = self.first_failure
            count = sum(t.failures for t in self.tensors.values())
            return (f"FAILED at {failure} (step numbers in processing order, of {self.time}"
                    f"{backward}); {count} of {self.size - self.not_compared} compared "
                    f"element{'s' if self.size - self.not_compared != 1 else ''} over the bound")
        if verdict == INCONCLUSIVE:
            empty = [name for name, t in self.tensors.items() if not t.compared]
            if not self.tensors:
                return "INCONCLUSIVE: no tensor to compare"
            return (f"INCONCLUSIVE: nothing could be compared in {', '.join(empty)} (see below); "
                    "no compared element exceeded its bound")
        line = (f"PASSED: all {len(self.tensors)} tensors within tolerance over {self.time} "
                f"step{'s' if self.time != 1 else ''}")
        if self.not_compared:
            line += (f"; {self.not_compared} of {self.size} elements not compared "
                     "(see below)")
        return line

    def not_compared_lines(self) -> list[str]:
        """One line per tensor and reason: how many elements, from which step, which rows."""
        lines = []
        for t in self.tensors.values():
            for code, count in t.not_compared.items():
                step, rows = t.cuts[code]
                where = "the sum over all steps" if step == ALL_STEPS else (
                    f"from step {step}{' down' if self.order == 'backward' else ''}")
                lines.append(f"{t.name}: {count} of {t.size} elements not compared, "
                             f"{_rows(rows)} {where}: {reason_text(code, self.tolerance)}")
        return lines

    def summary(self) -> str:
        """A multi-line, human-readable account: verdict, per-tensor table, what was not
        compared and why, the tolerance and the reproducer."""
        lines = [self.verdict_line()]
        rows = [r for t in self.tensors.values() for r in (t, t.drift) if r is not None]
        width = max([8, *(len(r.name) for r in rows)])
        lines.append(f"{'tensor':<{width}} {'compared':>11} {'largest |err|':>13} "
                     f"{'max rel':>9} {'err/bound':>9} {'at step':>7} {'bound there':>11}  status")
        lines.extend(_table_row(r, width) for r in rows)
        lines.extend(self.not_compared_lines())
        lines.append(f"tolerance {self.tolerance.describe()}")
        lines.extend(f"{key}: {value}" for key, value in self.context.items())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (JSON-ready): verdict, first failure, per tensor the
        counts, the worst element and what was not compared and why."""
        failure = self.first_failure
        return {
            "verdict": self.verdict, "passed": self.passed, "time": self.time,
            "order": self.order, "compared_steps": self.compared_steps,
            "worst_ratio": _finite_or_none(self.worst_ratio),
            "first_failure": None if failure is None else str(failure),
            "tensors": {name: _tensor_dict(t, self.tolerance) for name, t in self.tensors.items()},
            "tolerance": self.tolerance.describe(),
        }

    def __repr__(self) -> str:
        name = ", ".join(self.tensors)
        return (f"<Report {self.verdict}: {len(self.tensors)} tensors ({name}), {self.time} "
                f"steps, worst error/bound {self.worst_ratio:.3g}"
                f"{f', {self.not_compared} elements not compared' if self.not_compared else ''}>")


def _table_row(t: TensorReport, width: int) -> str:
    """One line of the summary's table: a tensor's elements, or its step drift."""
    compared = f"{t.compared}/{t.size}"
    if t.worst is None:
        return (f"{t.name:<{width}} {compared:>11} {'-':>13} {'-':>9} {'-':>9} {'-':>7} "
                f"{'-':>11}  not compared")
    step = "all" if t.worst.step == ALL_STEPS else t.worst.step
    rel = "-" if t.name.endswith(":drift") else f"{np.nanmax(t.max_rel):.2e}"
    return (f"{t.name:<{width}} {compared:>11} {np.nanmax(t.max_abs):>13.3e} {rel:>9} "
            f"{t.worst.ratio:>9.3f} {step:>7} {t.worst.bound:>11.3e}  "
            f"{'FAIL' if t.first_failure is not None else 'ok'}")


def _rows(rows: Iterable[int]) -> str:
    rows = list(rows)
    if len(rows) > 8:
        return f"{len(rows)} rows ({', '.join(map(str, rows[:8]))}, ...)"
    return f"row{'s' if len(rows) != 1 else ''} {', '.join(map(str, rows))}"


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _tensor_dict(t: TensorReport, tolerance: ToleranceLike) -> dict[str, Any]:
    worst = t.worst
    return {
        "verdict": t.verdict, "compared": int(t.compared), "size": int(t.size),
        "failures": int(t.failures),
        "worst": None if worst is None else {
            "step": worst.step, "batch": worst.batch, "unit": worst.unit,
            "error": _finite_or_none(worst.error), "bound": _finite_or_none(worst.bound),
            "ratio": _finite_or_none(worst.ratio)},
        "not_compared": [{"reason": STATUS[code], "count": int(count),
                          "from_step": int(t.cuts[code][0]),
                          "rows": [int(r) for r in t.cuts[code][1]],
                          "why": reason_text(code, tolerance)}
                         for code, count in t.not_compared.items()],
        "drift": None if t.drift is None else _tensor_dict(t.drift, tolerance),
    }
