"""Checking golden files: re-run the recorded cases on the installed framework, and report
per case the drift from the recording (lstm_ref.golden.drift) and the verdict against the
reference.

A case's verdict follows lstm_ref.report's rules: FAILED when the installed framework could
not run it, drifts beyond the bound (or its tensor changed shape or went missing), or fails
the reference; else INCONCLUSIVE when the recording says its reference check was, or the
installed framework's is, or a recorded tensor had nothing the reference determines to
compare its drift on; else PASSED. A recording passes only when every case does.
"""

import functools
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from lstm_ref.engine import TENSORS, check_observation
from lstm_ref.errors import GoldenError, LSTMRefError
from lstm_ref.frameworks.keras import golden as keras_golden
from lstm_ref.files import StrPath
from lstm_ref.golden.drift import DriftExcess, TensorDrift, drift
from lstm_ref.golden.format import load_case, read_manifest
from lstm_ref.golden.record import Progress, stale_staging
from lstm_ref.grids.workers import Outcome, run_all
from lstm_ref.grids.keras import Case
from lstm_ref.report import FAILED, INCONCLUSIVE, PASSED, Report

__all__ = ["CaseResult", "GoldenResult", "check"]


@dataclass
class CaseResult:
    """One recorded case checked against the installed framework.

    Attributes:
        case_id: the case's id.
        file: its .npz file.
        drift: tensor name -> TensorDrift (against the recording).
        report: the lstm_ref.engine.Report of the installed framework against the reference,
            or None when the framework could not run the case.
        error: why the framework could not run the case, or None.
        recorded: the manifest's reference check of the recorded results (its ``verdict``,
            what it compared and what not).
    """

    case_id: str
    file: str
    drift: dict[str, TensorDrift] = field(default_factory=dict)
    report: Report | None = None
    error: str | None = None
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        """Every tensor bit-identical to the recording."""
        return self.error is None and bool(self.drift) and all(
            d.identical for d in self.drift.values())

    @property
    def drift_passed(self) -> bool:
        """The case ran and every tensor stayed within the drift bound of the recording."""
        return self.error is None and all(d.passed for d in self.drift.values())

    @property
    def verdict(self) -> str:
        """PASSED, FAILED or INCONCLUSIVE (see the module docstring)."""
        if not self.drift_passed or self.report is None or self.report.failed:
            return FAILED
        if self.undetermined():
            return INCONCLUSIVE
        return PASSED

    @property
    def passed(self) -> bool:
        """Within the drift bound of the recording and within tolerance of the reference,
        with something compared in every tensor of both: the verdict is PASSED."""
        return self.verdict == PASSED

    def undetermined(self) -> list[str]:
        """Why the case is not determined, one line each (empty when it is)."""
        lines = []
        if self.recorded.get("verdict") == INCONCLUSIVE:
            lines.append("  recorded: INCONCLUSIVE: the reference determined nothing of some "
                         "recorded tensor")
        if self.report is not None and self.report.inconclusive:
            lines.append(f"  reference: {self.report.verdict_line()}")
        if not self.drift:
            lines.append("  drift: no recorded tensor to compare")
        lines += [f"  drift: nothing the reference determines in tensor {d.name} (0 of {d.size} "
                  "elements compared)" for d in self.drift.values()
                  if d.problem is None and not d.compared]
        return lines

    @property
    def max_drift(self) -> float:
        """The largest |installed - recorded| over every tensor (NaN if the case did not run)."""
        values = [float(np.nanmax(d.max_drift)) for d in self.drift.values()
                  if np.isfinite(d.max_drift).any()]
        return max(values, default=float("nan") if self.error else 0.0)

    @property
    def worst_ratio(self) -> float:
        """The largest drift / bound over every tensor (inf for a tensor that could not be
        compared, or a case that did not run)."""
        return max((np.inf if d.problem else d.worst_ratio for d in self.drift.values()),
                   default=np.inf if self.error else 0.0)

    @property
    def first_excess(self) -> DriftExcess | None:
        """The first element beyond the drift bound, in processing order (ties: TENSORS order)."""
        excesses = [d.first_excess for d in self.drift.values() if d.first_excess]
        return min(excesses, key=lambda e: (e.step, TENSORS.index(e.tensor)), default=None)

    def describe_failure(self) -> list[str]:
        """Lines saying why the case failed (empty if it passed)."""
        lines = []
        if self.error:
            lines.append(f"  {self.error}")
        lines += [f"  drift: tensor {d.name}: {d.problem}" for d in self.drift.values()
                  if d.problem]
        if self.first_excess:
            lines.append(f"  drift from the recording at {self.first_excess}")
        if self.report is not None and self.report.failed:
            lines.append(f"  reference: FAILED at {self.report.first_failure}")
        return lines


@dataclass
class GoldenResult:
    """The check of a whole recording.

    Attributes:
        path: the recording directory.
        manifest: its manifest.
        installed: :func:`environment` of the installation that checked it.
        cases: one CaseResult per recorded case, in the manifest's order.
        stale: staging folders an unfinished ``record`` of this path left beside it
            (lstm_ref.golden.record.stale_staging): named in the summary, left alone.
    """

    path: str
    manifest: dict[str, Any]
    installed: dict[str, Any]
    cases: list[CaseResult]
    stale: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every case PASSED (INCONCLUSIVE is not a pass)."""
        return bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def failed(self) -> list[CaseResult]:
        """The FAILED cases."""
        return [c for c in self.cases if c.verdict == FAILED]

    @property
    def inconclusive(self) -> list[CaseResult]:
        """The INCONCLUSIVE cases."""
        return [c for c in self.cases if c.verdict == INCONCLUSIVE]

    def summary(self) -> str:
        """A table (case, verdict, max drift, drift/bound, identical?, the installed and the
        recorded reference verdicts), why each case failed or is inconclusive, what the
        reference could not compare, stale staging folders, then the recorded and installed
        versions."""
        identical = sum(c.identical for c in self.cases)
        passed = sum(c.passed for c in self.cases)
        lines = [f"golden check {self.path}: {len(self.cases)} cases, {passed} passed, "
                 f"{len(self.failed)} failed, {len(self.inconclusive)} inconclusive; "
                 f"{identical} bit-identical to the recording"]
        width = max(len("case"), *(len(c.case_id) for c in self.cases))
        lines.append(f"{'case':<{width}}  {'verdict':<12}  {'max drift':>9}  "
                     f"{'drift/bound':>11}  {'identical':<9}  {'recorded':<12}  reference")
        for c in self.cases:
            lines.append(f"{c.case_id:<{width}}  {c.verdict:<12}  {c.max_drift:>9.2e}  "
                         f"{c.worst_ratio:>11.3f}  {'yes' if c.identical else 'no':<9}  "
                         f"{c.recorded.get('verdict', '?'):<12}  {_verdict(c)}")
        for c in self.failed:
            lines.append(f"FAILED {c.case_id}")
            lines.extend(c.describe_failure())
        for c in self.inconclusive:
            lines.append(f"INCONCLUSIVE {c.case_id}")
            lines.extend(c.undetermined())
        for c in self.cases:
            if c.report is not None and c.report.not_compared:
                lines.extend(f"not compared in {c.case_id}: {line}"
                             for line in c.report.not_compared_lines())
        lines.extend(f"warning: {folder} is a staging folder an unfinished golden record of "
                     f"{self.path} left; remove it (the next record of this path does)"
                     for folder in self.stale)
        lines.append("drift bound: b_recorded + b_installed per element (lstm_ref.golden."
                     "drift_bounds; 2 b_t for the same kernels): beyond it, at least one of the "
                     "two versions departs from the reference")
        created = self.manifest.get("created")
        lines.append(f"recorded:  {_describe_environment(self.manifest)}"
                     f"{f', created {created}' if created else ''}")
        lines.append(f"installed: {_describe_environment(self.installed)}")
        changes = _changes(self.manifest, self.installed)
        lines.append(f"changed:   {', '.join(changes) if changes else 'nothing'}")
        return "\n".join(lines)


def _verdict(case: CaseResult) -> str:
    if case.report is None:
        return "ERROR (not run)"
    failure = case.report.first_failure
    if failure is None:
        return case.report.verdict
    return f"FAILED at step {failure.step}, tensor {failure.tensor}"


def _changes(recorded: dict[str, Any], installed: dict[str, Any]) -> list[str]:
    """'name old -> new' for every version or platform field that differs."""
    changes = []
    for key in ("versions", "platform"):
        before, after = recorded.get(key) or {}, installed.get(key) or {}
        changes += [f"{name} {before.get(name)} -> {after.get(name)}"
                    for name in dict.fromkeys([*before, *after])
                    if before.get(name) != after.get(name)]
    for name in ("lstm_ref", "backend"):
        if recorded.get(name) != installed.get(name):
            changes.append(f"{name} {recorded.get(name)} -> {installed.get(name)}")
    return changes


def _describe_environment(env: dict[str, Any]) -> str:
    versions = env.get("versions") or {}
    system = env.get("platform") or {}
    parts = [f"lstm_ref {env.get('lstm_ref', '?')}"]
    parts += [f"{name} {version}" for name, version in versions.items() if version]
    parts.append(f"backend {env.get('backend', '?')}")
    parts.append(f"python {system.get('python', '?')} on {system.get('system', '?')} "
                 f"{system.get('machine', '?')} ({system.get('device', '?')}"
                 f"{', TF32 on' if system.get('tf32') else ''})")
    return ", ".join(parts)


def check(path: StrPath, progress: Progress | None = None) -> GoldenResult:
    """Check a recording against the installed Keras: drift from the recording and the Report
    against the reference, per case.

    Every file is validated (lstm_ref.golden.format.load_case: size, hash, members and
    headers before any data, finite inputs) before any case runs, so a damaged recording is
    refused whole rather than checked in part. Staging folders an unfinished ``record`` of
    ``path`` left beside it are named in the summary (not an error, not removed).

    Args:
        path: a directory written by :func:`record`.
        progress: None, or ``progress(done, total, case_id)``, called after each case.

    Returns:
        A :class:`GoldenResult`.

    Raises:
        GoldenError: a missing or unparsable manifest, another format id, a changed, damaged,
            oversized or pickled .npz, missing or extra arrays, a header that does not declare
            what the case and manifest say, non-finite inputs or weights, a case the
            installed grid does not know.
    """
    manifest = read_manifest(path)
    for entry in manifest["cases"]:
        load_case(path, entry)  # validation pass: refuse before running anything
    entries = manifest["cases"]
    results: list[Any] = [None] * len(entries)

    def ended(index: int, outcome: Outcome) -> None:
        if outcome.error is not None:  # from a worker: here, the exception propagates
            raise GoldenError(f"cannot check case {entries[index]['id']}: {outcome.error}")
        results[index] = outcome.value
        if progress is not None:
            progress(sum(result is not None for result in results), len(entries),
                     entries[index]["id"])

    # In this process, until its memory maps near the system's limit (XLA's compiled code
    # stays mapped): the rest then in a worker process (lstm_ref.grids.workers).
    run_all(functools.partial(_check_in, os.path.abspath(path), manifest), entries,
            on_outcome=ended, catch=False)
    return GoldenResult(path=os.fspath(path), manifest=manifest,
                        installed=keras_golden.environment(), cases=results,
                        stale=stale_staging(path))


def _check_in(path: str, manifest: dict[str, Any], entry: dict[str, Any]) -> "CaseResult":
    """One recorded case checked on Keras, as a worker process can call it: its files read
    again (what runs is what was hashed)."""
    case, arrays = load_case(path, entry)
    return _check_case(keras_golden, manifest, entry, case, arrays)


def _check_case(framework: ModuleType, manifest: dict[str, Any], entry: dict[str, Any],
                case: Case, arrays: dict[str, np.ndarray]) -> CaseResult:
    """Run one recorded case on the installed framework (lstm_ref.frameworks.keras.golden); a
    CaseResult."""
    result = CaseResult(case_id=case.id, file=entry["file"], recorded=entry["reference"])
    try:
        observation = framework.observe_recorded(case, manifest["dtype"], arrays)
    except Exception as exc:  # noqa: BLE001 - an upgrade that breaks a case fails that case
        result.error = f"the installed framework could not run it: {type(exc).__name__}: {exc}"
        return result
    observation.context = {"case": case.id, "seed": case.seed, "recording": entry["file"],
                           **observation.context}
    result.drift = drift(observation, arrays, entry)
    try:
        result.report = check_observation(observation)
    except LSTMRefError as exc:  # e.g. a tensor of another shape than the reference's
        result.error = f"the reference check could not run: {exc}"
    return result
