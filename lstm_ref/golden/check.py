"""Checking golden files: re-run the recorded cases on the installed framework, and report
per case the drift from the recording (lstm_ref.golden.drift) and the verdict against the
reference."""

import os
from dataclasses import dataclass, field

import numpy as np

from lstm_ref.engine import TENSORS, check_observation
from lstm_ref.errors import LSTMRefError
from lstm_ref.frameworks.keras import golden as keras_golden
from lstm_ref.golden.drift import drift
from lstm_ref.golden.format import load_case, read_manifest

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
    """

    case_id: str
    file: str
    drift: dict = field(default_factory=dict)
    report: object = None
    error: str | None = None

    @property
    def identical(self):
        """Every tensor bit-identical to the recording."""
        return self.error is None and bool(self.drift) and all(
            d.identical for d in self.drift.values())

    @property
    def drift_passed(self):
        return self.error is None and all(d.passed for d in self.drift.values())

    @property
    def passed(self):
        """Within the drift bound of the recording and within tolerance of the reference."""
        return self.drift_passed and self.report is not None and self.report.passed

    @property
    def max_drift(self):
        values = [float(np.nanmax(d.max_drift)) for d in self.drift.values()
                  if np.isfinite(d.max_drift).any()]
        return max(values, default=float("nan") if self.error else 0.0)

    @property
    def worst_ratio(self):
        return max((np.inf if d.problem else d.worst_ratio for d in self.drift.values()),
                   default=np.inf if self.error else 0.0)

    @property
    def first_excess(self):
        """The first element beyond the drift bound, in processing order (ties: TENSORS order)."""
        excesses = [d.first_excess for d in self.drift.values() if d.first_excess]
        return min(excesses, key=lambda e: (e.step, TENSORS.index(e.tensor)), default=None)

    def describe_failure(self):
        """Lines saying why the case failed (empty if it passed)."""
        lines = []
        if self.error:
            lines.append(f"  {self.error}")
        lines += [f"  drift: tensor {d.name}: {d.problem}" for d in self.drift.values()
                  if d.problem]
        if self.first_excess:
            lines.append(f"  drift from the recording at {self.first_excess}")
        if self.report is not None and not self.report.passed:
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
    """

    path: str
    manifest: dict
    installed: dict
    cases: list

    @property
    def passed(self):
        return bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def failed(self):
        return [c for c in self.cases if not c.passed]

    def summary(self):
        """A table (case, max drift, drift/bound, identical?, reference verdict), the failures'
        first departures, then the recorded and installed versions."""
        identical = sum(c.identical for c in self.cases)
        lines = [f"golden check {self.path}: {len(self.cases)} cases, "
                 f"{len(self.cases) - len(self.failed)} passed, {len(self.failed)} failed; "
                 f"{identical} bit-identical to the recording"]
        width = max(len("case"), *(len(c.case_id) for c in self.cases))
        lines.append(f"{'case':<{width}}  {'max drift':>9}  {'drift/bound':>11}  "
                     f"{'identical':<9}  reference")
        for c in self.cases:
            lines.append(f"{c.case_id:<{width}}  {c.max_drift:>9.2e}  {c.worst_ratio:>11.3f}  "
                         f"{'yes' if c.identical else 'no':<9}  {_verdict(c)}")
        for c in self.failed:
            lines.append(f"FAILED {c.case_id}")
            lines.extend(c.describe_failure())
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


def _verdict(case):
    if case.report is None:
        return "ERROR (not run)"
    failure = case.report.first_failure
    if failure is None:
        return "PASSED"
    return f"FAILED at step {failure.step}, tensor {failure.tensor}"


def _changes(recorded, installed):
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


def _describe_environment(env):
    versions = env.get("versions") or {}
    system = env.get("platform") or {}
    parts = [f"lstm_ref {env.get('lstm_ref', '?')}"]
    parts += [f"{name} {version}" for name, version in versions.items() if version]
    parts.append(f"backend {env.get('backend', '?')}")
    parts.append(f"python {system.get('python', '?')} on {system.get('system', '?')} "
                 f"{system.get('machine', '?')} ({system.get('device', '?')}"
                 f"{', TF32 on' if system.get('tf32') else ''})")
    return ", ".join(parts)


def check(path, progress=None):
    """Check a recording against the installed Keras: drift from the recording and the Report
    against the reference, per case.

    Every file is validated (hash, format, arrays) before any case runs, so a damaged
    recording is refused whole rather than checked in part.

    Args:
        path: a directory written by :func:`record`.
        progress: None, or ``progress(done, total, case_id)``, called after each case.

    Returns:
        A :class:`GoldenResult`.

    Raises:
        GoldenError: a missing or unparsable manifest, another format id, a changed, damaged
            or pickled .npz, missing arrays, a case the installed grid does not know.
    """
    manifest = read_manifest(path)
    for entry in manifest["cases"]:
        load_case(path, entry)  # validation pass: refuse before running anything
    results = []
    for done, entry in enumerate(manifest["cases"], 1):
        case, arrays = load_case(path, entry)  # again: what runs is what was hashed
        results.append(_check_case(keras_golden, manifest, entry, case, arrays))
        if progress is not None:
            progress(done, len(manifest["cases"]), entry["id"])
    return GoldenResult(path=os.fspath(path), manifest=manifest,
                        installed=keras_golden.environment(), cases=results)


def _check_case(framework, manifest, entry, case, arrays):
    """Run one recorded case on the installed framework (lstm_ref.frameworks.keras.golden); a
    CaseResult."""
    result = CaseResult(case_id=case.id, file=entry["file"])
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
