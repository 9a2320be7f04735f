"""Golden files for the upgrade gate: record what the installed Keras computes, check it later.

A team records the grid with its *current* TensorFlow/Keras (``record``), upgrades in a new
environment, and checks the recording there (``check``): per case, how far the new version
drifts from the recording, and whether it still matches the reference.

A recording is a directory::

    PATH/manifest.json        format id, versions, platform, grid, dtype, and per case:
                              id, options, seed, file, sha256, arrays (shape and dtype)
    PATH/<case id>.npz        inputs and weights as the layer used them (x, kernel,
                              recurrent_kernel[, bias][, h0, c0]) and what it computed
                              (h, c at every step; output[, state_h, state_c])

Both files are plain data: the manifest is JSON and the arrays are read with
``np.load(allow_pickle=False)``, so a recording from elsewhere runs no code when read.

The drift bound. Both versions are held to the same float64 reference: the recorded one
within b_rec (the per-element bound of lstm_ref.engine.expectations, for the kernels it ran)
and the installed one within b_now. By the triangle inequality two sound versions differ by
at most b_rec + b_now elementwise (2 b_t when both ran the same kernels); a larger drift means
at least one of them departs from the reference. A drift of 0 everywhere is bit-identity.

This module imports NumPy only: running a case on Keras, and describing the installation,
is lstm_ref.adapters.keras_golden's, imported when a recording is made or checked.
"""

import datetime
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import MISSING, dataclass, field, fields, replace

import numpy as np

from lstm_ref import grid as grids
from lstm_ref import tolerance as tolerances
from lstm_ref.engine import (TENSORS, Expectation, check_observation, check_tensors,
                              observation_part)
from lstm_ref.errors import LSTMRefError

FORMAT = "lstm-ref-golden/1"
MANIFEST = "manifest.json"
# Layer dtypes and Keras mixed-precision policies a recording may use (as lstm-ref verify).
DTYPES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
# NumPy has no bfloat16 of its own: ml_dtypes' would be saved as opaque 2-byte voids, so such
# arrays are stored widened to float32 (exact) and the manifest keeps their dtype.
_WIDENED = {"bfloat16": "float32"}
# Exceptions np.load raises on a damaged archive (zipfile and zlib have their own).
_DAMAGED = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class GoldenError(LSTMRefError, ValueError):
    """A golden recording that cannot be written or read: the message names the file and
    what is wrong with it."""


# --------------------------------------------------------------------------------------------
# record


def record(path, grid="small", pattern=None, dtype="float32", progress=None):
    """Record what the installed Keras computes for the cases of a grid.

    Everything is written into a temporary sibling directory, renamed to ``path`` at the end:
    a failure or Ctrl-C leaves neither ``path`` nor the temporary directory behind.

    Args:
        path: the directory to create; it must not exist, or be empty; its parent must exist
            and be writable.
        grid: a grid name of lstm_ref.grid.GRIDS ("small", "default", "full").
        pattern: only the cases whose id contains it (None: all).
        dtype: the layers' dtype or mixed-precision policy (one of DTYPES).
        progress: None, or ``progress(done, total, case_id)``, called after each case.

    Returns:
        The manifest (the dict written to ``path/manifest.json``).

    Raises:
        GoldenError: an unknown grid or dtype, a pattern that matches no case, an existing
            non-empty ``path``, an unwritable parent.
    """
    target, parent = _check_target(path)
    cases = _select_cases(grid, pattern, dtype)
    from lstm_ref.adapters import keras_golden

    try:
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".partial",
                                   dir=parent)
    except OSError as exc:
        raise GoldenError(f"cannot write a recording in {parent}: {exc.strerror or exc}") from exc
    try:
        entries = []
        for done, case in enumerate(cases, 1):
            entries.append(_record_case(keras_golden, case, dtype, staging))
            if progress is not None:
                progress(done, len(cases), case.id)
        manifest = {"format": FORMAT, **keras_golden.environment(), "grid": grid,
                    "pattern": pattern, "dtype": dtype, "created": _now(), "cases": entries}
        _write_bytes(os.path.join(staging, MANIFEST), _to_json(manifest).encode())
        _move_into_place(staging, target)
    except BaseException:  # KeyboardInterrupt too: never leave a half-written recording
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _check_target(path):
    """(absolute path, its parent) of a directory we may create, or GoldenError."""
    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    if os.path.lexists(target):
        if not os.path.isdir(target):
            raise GoldenError(f"cannot record into {path}: it exists and is not a directory")
        if os.listdir(target):
            raise GoldenError(f"cannot record into {path}: it exists and is not empty "
                              "(a recording is never overwritten; pick a new path)")
    if not os.path.isdir(parent):
        raise GoldenError(f"cannot record into {path}: its parent {parent} "
                          f"{'is not a directory' if os.path.exists(parent) else 'does not exist'}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GoldenError(f"cannot record into {path}: its parent {parent} is not writable")
    return target, parent


def _select_cases(grid, pattern, dtype):
    """The cases to record, after refusing an unknown grid or dtype and an empty selection."""
    if grid not in grids.GRIDS:
        raise GoldenError(f"unknown grid {grid!r}; the grids are {', '.join(grids.GRIDS)}")
    if dtype not in DTYPES:
        raise GoldenError(f"unknown dtype {dtype!r}; a recording may use {', '.join(DTYPES)}")
    cases = grids.select(grids.cases(grid), pattern)
    if not cases:
        raise GoldenError(f"no case of grid {grid!r} matches the pattern {pattern!r}")
    return cases


def _record_case(framework, case, dtype, folder):
    """Run one case (``framework``: lstm_ref.adapters.keras_golden), write its .npz into
    ``folder``; returns its manifest entry."""
    inputs, observation = framework.observe_case(case, dtype)
    arrays = {**inputs, **observation.actual}
    stored = {name: _storable(a) for name, a in arrays.items()}
    name = f"{case.id}.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **stored)
    data = buffer.getvalue()
    _write_bytes(os.path.join(folder, name), data)
    return {"id": case.id, "case": case.as_dict(), "seed": case.seed, "file": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "compute_dtype": str(observation.dtype), "layer_path": observation.layer_path,
            "arrays": {n: {"shape": list(np.shape(a)), "dtype": np.asarray(a).dtype.name}
                       for n, a in arrays.items()}}


def _storable(array):
    """A NumPy array .npz can hold without pickle, with the same values."""
    array = np.asarray(array)
    widened = _WIDENED.get(array.dtype.name)
    return array.astype(widened) if widened else array


def _write_bytes(path, data):
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())  # the rename below must not publish unwritten data


def _move_into_place(staging, target):
    """Rename the finished recording to ``target`` (which may be an empty directory)."""
    try:
        if os.path.isdir(target):
            os.rmdir(target)  # refuses if something appeared in it meanwhile
        os.rename(staging, target)
    except OSError as exc:
        raise GoldenError(f"cannot move the recording into place at {target}: "
                          f"{exc.strerror or exc}") from exc


def _to_json(manifest):
    # allow_nan=False: the manifest must be JSON any reader parses, not Python's extension.
    return json.dumps(manifest, indent=2, allow_nan=False) + "\n"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------
# reading a recording


def read_manifest(path):
    """The manifest of the recording at ``path``, validated (format id, fields, file names).

    Args:
        path: a recording directory.

    Returns:
        The manifest dict.

    Raises:
        GoldenError: no directory or manifest, unparsable JSON, another format id, a missing
            or ill-typed field.
    """
    folder = os.fspath(path)
    file = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise GoldenError(f"{folder} is not a golden recording: "
                          f"{'not a directory' if os.path.exists(folder) else 'no such directory'}")
    if not os.path.isfile(file):
        raise GoldenError(f"{folder} has no {MANIFEST}: not a golden recording "
                          "(or one whose recording did not finish)")
    try:
        with open(file, encoding="utf-8") as stream:
            manifest = json.load(stream)
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError: ValueError
        raise GoldenError(f"{file} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise GoldenError(f"{file} holds a JSON {type(manifest).__name__}, not a manifest object")
    if manifest.get("format") != FORMAT:
        found = manifest.get("format")
        raise GoldenError(f"{file} has format {found!r}; this lstm_ref reads {FORMAT!r}"
                          if found is not None else f"{file} has no format id; expected {FORMAT!r}")
    _need_fields(manifest, {"dtype": str, "cases": list, "versions": dict}, file)
    if manifest["dtype"] not in DTYPES:
        raise GoldenError(f"{file}: dtype {manifest['dtype']!r} is not one of {', '.join(DTYPES)}")
    if not manifest["cases"]:
        raise GoldenError(f"{file} lists no case")
    seen = set()
    for index, entry in enumerate(manifest["cases"]):
        where = f"{file}, case {index}"
        if not isinstance(entry, dict):
            raise GoldenError(f"{where} is a JSON {type(entry).__name__}, not an object")
        _need_fields(entry, {"id": str, "case": dict, "file": str, "sha256": str,
                             "arrays": dict}, where)
        if entry["id"] in seen:
            raise GoldenError(f"{where}: case {entry['id']!r} is listed twice")
        seen.add(entry["id"])
        name = entry["file"]
        # Only plain names: a manifest must not make us read files outside the recording.
        if os.path.basename(name) != name or name in ("", ".", "..") or not name.endswith(".npz"):
            raise GoldenError(f"{where}: file {name!r} is not a plain .npz name in the recording")
    return manifest


def _need_fields(obj, types, where):
    for key, kind in types.items():
        if key not in obj:
            raise GoldenError(f"{where} has no {key!r} field")
        if not isinstance(obj[key], kind):
            raise GoldenError(f"{where}: {key!r} is a JSON {type(obj[key]).__name__}; expected "
                              f"{ {dict: 'object', list: 'array', str: 'string'}[kind]}")


def parse_case(entry, where):
    """The grid Case a manifest entry names, or GoldenError.

    The installed grid must know it: every option a field of lstm_ref.grid.Case with a value
    the grid knows (the full grid's), and the recorded id the one the installed grid gives
    those options (so a recording made under other case semantics is refused, not misread).

    Args:
        entry: a manifest case entry (``id``, ``case``: Case.as_dict()).
        where: how to name the entry in a message.

    Returns:
        A :class:`lstm_ref.grid.Case`.
    """
    options, known = entry["case"], {f.name: f for f in fields(grids.Case)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise GoldenError(f"{where}: case {entry['id']!r} has options {unknown} the installed "
                          f"lstm_ref grid does not know (it knows {sorted(known)})")
    for name, value in options.items():
        problem = _option_problem(name, value, known[name])
        if problem:
            raise GoldenError(f"{where}: case {entry['id']!r}: option {name}={value!r} does not "
                              f"parse: {problem}")
    try:
        case = grids.Case(**options)
    except TypeError as exc:  # a size without a default missing
        raise GoldenError(f"{where}: case {entry['id']!r}: options do not parse: {exc}") from exc
    if case.id != entry["id"]:
        raise GoldenError(f"{where}: case id {entry['id']!r} is not one the installed lstm_ref "
                          f"grid knows: its options give the id {case.id!r}")
    return case


def _option_problem(name, value, spec):
    """Why ``value`` is not a valid Case field ``name``, or None."""
    if name in grids.SIZES:
        ok = type(value) is int and value >= 1
        return None if ok else "expected a positive integer"
    if name in grids.FULL_OPTIONS:
        allowed = grids.FULL_OPTIONS[name]
        # type(): JSON's 1 must not pass for True, nor True for implementation 1.
        if any(type(value) is type(a) and value == a for a in allowed):
            return None
        return f"the installed grid knows {list(allowed)}"
    if spec.default not in (None, MISSING) and type(value) is not type(spec.default):
        return f"expected a {type(spec.default).__name__}"
    return None


def expected_arrays(case):
    """The arrays a recording of ``case`` holds, name -> shape."""
    b, t, f, u = case.batch, case.time, case.features, case.units
    shapes = {"x": (b, t, f), "kernel": (f, 4 * u), "recurrent_kernel": (u, 4 * u)}
    if case.use_bias:
        shapes["bias"] = (4 * u,)
    if case.initial_state:
        shapes["h0"] = shapes["c0"] = (b, u)
    shapes["h"] = shapes["c"] = (b, t, u)
    shapes["output"] = (b, t, u) if case.return_sequences else (b, u)
    if case.return_state:
        shapes["state_h"] = shapes["state_c"] = (b, u)
    return shapes


def load_case(path, entry):
    """The validated Case and arrays of one manifest entry.

    Checks, in this order: the file exists, its sha256 is the manifest's, it is an .npz
    archive of plain arrays (no pickle), it holds every array the case needs, with the shapes
    and stored dtypes the case and the manifest say.

    Args:
        path: the recording directory.
        entry: one of the manifest's cases (:func:`read_manifest`).

    Returns:
        ``(case, arrays)``: a grid Case and name -> NumPy array (as stored).
    """
    file = os.path.join(os.fspath(path), entry["file"])
    case = parse_case(entry, f"{os.path.join(os.fspath(path), MANIFEST)}, case {entry['id']!r}")
    if not os.path.isfile(file):
        raise GoldenError(f"{file} is missing (the manifest lists it for case {entry['id']!r})")
    with open(file, "rb") as stream:
        data = stream.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"].lower():
        raise GoldenError(f"{file} was changed after recording: its sha256 is {digest}, the "
                          f"manifest's is {entry['sha256']} ({len(data)} bytes)")
    arrays = _read_npz(file, data)
    _check_arrays(file, case, entry, arrays)
    return case, arrays


def _read_npz(file, data):
    """name -> array of an .npz archive's bytes, never unpickling anything."""
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise GoldenError(f"{file} is a single .npy array, not an .npz archive of arrays")
        with loaded:
            # Arrays are read lazily: read all here, where their errors are turned into ours.
            return {name: loaded[name] for name in loaded.files}
    except GoldenError:
        raise
    except _DAMAGED as exc:
        if "pickle" in str(exc):
            raise GoldenError(f"{file} holds pickled data (an object array or a pickle file), "
                              "which lstm_ref never loads (np.load(allow_pickle=False)); a "
                              "recording holds plain float arrays only") from exc
        raise GoldenError(f"{file} is not a readable .npz archive (truncated or corrupt): "
                          f"{type(exc).__name__}: {exc}") from exc


def _check_arrays(file, case, entry, arrays):
    needed = expected_arrays(case)
    missing = [n for n in [*needed, *entry["arrays"]] if n not in arrays]
    if missing:
        raise GoldenError(f"{file} lacks array(s) {', '.join(dict.fromkeys(missing))} (it holds "
                          f"{', '.join(sorted(arrays)) or 'none'})")
    for name, shape in needed.items():
        array, listed = arrays[name], entry["arrays"].get(name)
        listed = listed if isinstance(listed, dict) else {}
        if array.shape != shape:
            raise GoldenError(f"{file}: array {name!r} has shape {array.shape}; case "
                              f"{case.id!r} needs {shape}")
        if array.dtype.kind != "f":
            raise GoldenError(f"{file}: array {name!r} has dtype {array.dtype}; a recording "
                              "holds float arrays")
        recorded = listed.get("dtype", array.dtype.name)
        if array.dtype.name != _WIDENED.get(recorded, recorded):
            raise GoldenError(f"{file}: array {name!r} is stored as {array.dtype}; the manifest "
                              f"records it as {recorded}")


# --------------------------------------------------------------------------------------------
# check


@dataclass
class DriftExcess:
    """The element where the installed framework first drifts beyond the bound."""

    tensor: str
    step: int
    batch: int
    unit: int
    now: float
    recorded: float
    drift: float
    bound: float

    def __str__(self):
        return (f"step {self.step}, tensor {self.tensor}, batch {self.batch}, unit {self.unit}: "
                f"installed {self.now:.9g}, recorded {self.recorded:.9g}, |drift| "
                f"{self.drift:.3e} > bound {self.bound:.3e}")


@dataclass
class TensorDrift:
    """How one tensor computed now departs from the recording.

    Attributes:
        name: the tensor (lstm_ref.engine.TENSORS).
        steps: (S,) the processing steps it covers.
        max_drift: (S,) per step, max |now - recorded| over batch and units.
        max_bound: (S,) per step, the largest element bound (b_rec + b_now) over the compared
            elements; NaN at steps where nothing is compared (what the reference cannot
            determine: past the tolerance's horizon, or not finite).
        identical: the same dtype and the same bytes as recorded.
        first_excess: the first element beyond its bound, or None.
        worst_ratio: the largest drift / bound over the compared elements.
        problem: why the tensor could not be compared (shape changed, not returned), or None.
        compared, size: how many of its elements were compared (what the reference cannot
            determine is not), of how many.
    """

    name: str
    steps: np.ndarray
    max_drift: np.ndarray
    max_bound: np.ndarray
    identical: bool
    first_excess: DriftExcess | None = None
    worst_ratio: float = 0.0
    problem: str | None = None
    compared: int = 0
    size: int = 0

    @property
    def passed(self):
        return self.problem is None and self.first_excess is None


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
    from lstm_ref.adapters import keras_golden

    results = []
    for done, entry in enumerate(manifest["cases"], 1):
        case, arrays = load_case(path, entry)  # again: what runs is what was hashed
        results.append(_check_case(keras_golden, manifest, entry, case, arrays))
        if progress is not None:
            progress(done, len(manifest["cases"]), entry["id"])
    return GoldenResult(path=os.fspath(path), manifest=manifest,
                        installed=keras_golden.environment(), cases=results)


def _check_case(framework, manifest, entry, case, arrays):
    """Run one recorded case on the installed framework (lstm_ref.adapters.keras_golden); a
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


def drift(observation, recorded, entry=None):
    """Per tensor, how the observed values depart from the recorded ones, against the bound
    two sound versions can differ by.

    Args:
        observation: the installed framework's Observation of the recorded inputs.
        recorded: name -> recorded array.
        entry: the manifest entry (its ``layer_path`` and array dtypes), or None (the
            recording ran the same kernels, in the same dtypes).

    Returns:
        name -> :class:`TensorDrift`, for every recorded tensor of TENSORS.
    """
    entry = entry or {}
    bounds = drift_bounds(observation, entry.get("layer_path", observation.layer_path))
    result = {}
    for name in TENSORS:
        if name not in recorded:
            continue
        listed = entry.get("arrays", {}).get(name, {})
        result[name] = _tensor_drift(name, observation.actual.get(name), recorded[name],
                                     listed.get("dtype", recorded[name].dtype.name),
                                     bounds[name])
    return result


def drift_bounds(observation, recorded_path=None):
    """The per-element bound on |now - recorded|, b_rec + b_now, for every tensor.

    Both are the engine's bounds on the same reference (the recorded inputs and weights,
    lstm_ref.engine): b_now with the tolerance of the kernels the installed layer ran,
    b_rec with the tolerance of those the recording ran (``recorded_path``: None or
    "cudnn"). Their status is the reference's: what it cannot determine is not compared.

    Returns:
        name -> Expectation (of the reference's values) whose bound is b_rec + b_now.
    """
    now = observation_part(observation)
    then = replace(now, layer_tolerance=_layer_tolerance(observation.dtype, recorded_path))
    expected, before = now.expectations(), then.expectations()
    for name, expectation in expected.items():
        expectation.bound = expectation.bound + before[name].bound
    return expected


def _layer_tolerance(dtype, layer_path):
    return None if layer_path is None else tolerances.lookup(dtype, layer_path)


def _tensor_drift(name, now, recorded, recorded_dtype, expectation):
    """The TensorDrift of one tensor (see :func:`drift`): the engine's comparison of the
    installed values with the recorded ones, element by element."""
    steps = expectation.steps
    if now is None:
        return _unusable(name, steps, "recorded, but not returned by the installed framework")
    now = np.asarray(now)
    identical = (now.dtype.name == recorded_dtype and now.shape == recorded.shape
                 and _storable(now).tobytes() == recorded.tobytes())
    rec = np.asarray(recorded, np.float64)
    rec = rec[:, None, :] if rec.ndim == 2 else rec
    if now.shape != np.shape(recorded) or rec.shape != expectation.values.shape:
        return _unusable(name, steps, f"shape {now.shape} now, {recorded.shape} recorded")
    against = Expectation(rec, steps, expectation.bound, expectation.status, expectation.axes)
    t = check_tensors({name: now}, {name: against}, None, len(steps)).tensors[name]
    excess = t.first_failure
    return TensorDrift(name=name, steps=steps, max_drift=t.max_abs, max_bound=t.max_bound,
                       identical=bool(identical), worst_ratio=t.worst_ratio,
                       compared=t.compared, size=t.size,
                       first_excess=None if excess is None else DriftExcess(
                           name, excess.step, excess.batch, excess.unit, excess.actual,
                           excess.expected, excess.error, excess.bound))


def _unusable(name, steps, problem):
    nan = np.full(len(steps), np.nan)
    return TensorDrift(name=name, steps=steps, max_drift=nan, max_bound=nan, identical=False,
                       worst_ratio=np.inf, problem=problem)
