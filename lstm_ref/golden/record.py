"""Recording golden files: the installed framework's results on a grid's cases, written
whole or not at all, each with the reference check of what was recorded.

A recording is only as good as what the reference determines of it: every case's manifest
entry says the verdict of the recorded results against the reference (lstm_ref.engine) and
what it could not compare, where and why. A partly determined case is recorded as it is (a
check compares what is determined and names the rest); a case that is INCONCLUSIVE (a
tensor the reference determines nowhere) or FAILED is recorded as such, with a warning, and
lstm_ref.golden.check never reports an INCONCLUSIVE recording as passed.
"""

import datetime
import functools
import glob
import hashlib
import io
import json
import os
import re
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from lstm_ref import files
from lstm_ref.engine import check_observation
from lstm_ref.errors import GoldenError, OutputError
from lstm_ref.files import StrPath
from lstm_ref.golden.format import DTYPES, FORMAT, MANIFEST, storable
from lstm_ref.grids import keras as grids
from lstm_ref.frameworks.keras import golden as keras_golden
from lstm_ref.grids.common import GRIDS, select
from lstm_ref.grids.workers import Outcome, run_all
from lstm_ref.report import FAILED, INCONCLUSIVE, Report

__all__ = ["Progress", "record", "stale_staging", "reference_entry"]

# Called after each case: progress(done, total, case_id).
Progress = Callable[[int, int, str], object]


def record(path: StrPath, grid: str = "small", pattern: str | None = None,
           dtype: str = "float32", progress: Progress | None = None) -> dict[str, Any]:
    """Record what the installed Keras computes for the cases of a grid.

    Everything is written into a temporary sibling directory, renamed to ``path`` at the end:
    a failure or Ctrl-C leaves neither ``path`` nor the temporary directory behind. One that a
    killed process left (see :func:`stale_staging`) is removed first, with a warning naming
    it. A case whose recorded results are not PASSED against the reference is recorded with
    its verdict, and a warning.

    Args:
        path: the directory to create; it must not exist, or be empty; its parent must exist
            and be writable.
        grid: a grid name of lstm_ref.grids.GRIDS ("small", "default", "full").
        pattern: only the cases whose id contains it (None: all).
        dtype: the layers' dtype or mixed-precision policy (one of DTYPES).
        progress: None, or ``progress(done, total, case_id)``, called after each case.

    Returns:
        The manifest (the dict written to ``path/manifest.json``).

    Raises:
        GoldenError: an unknown grid or dtype, a pattern that matches no case, an existing
            non-empty ``path``, an unwritable parent.
    """
    target, _ = _check_target(path)
    cases = _select_cases(grid, pattern, dtype)
    for stale in stale_staging(target):
        warnings.warn(f"removing {stale}: a recording an earlier run left unfinished", stacklevel=2)
        files.discard_folder(stale)
    try:
        staging = files.staging_folder(target, "golden record")
    except OutputError as exc:
        raise GoldenError(f"cannot write a recording: {exc}") from exc
    try:
        entries: list[Any] = [None] * len(cases)

        def ended(index: int, outcome: Outcome) -> None:
            if outcome.error is not None:  # from a worker: here, the exception propagates
                raise GoldenError(f"cannot record case {cases[index].id}: {outcome.error}")
            entries[index] = outcome.value
            if progress is not None:
                progress(sum(entry is not None for entry in entries), len(cases),
                         cases[index].id)

        # In this process, until its memory maps near the system's limit (XLA's compiled
        # code stays mapped): the rest then in a worker process (lstm_ref.grids.workers).
        run_all(functools.partial(_record_in, dtype, staging), cases, on_outcome=ended,
                catch=False)
        manifest = {"format": FORMAT, **keras_golden.environment(), "grid": grid,
                    "pattern": pattern, "dtype": dtype, "created": _now(), "cases": entries}
        _write_bytes(os.path.join(staging, MANIFEST), _to_json(manifest).encode())
        files.publish_folder(staging, target, "golden record")
    except BaseException:  # KeyboardInterrupt too: never leave a half-written recording
        files.discard_folder(staging)
        raise
    return manifest


def stale_staging(target: StrPath) -> list[str]:
    """The staging folders a killed ``record`` of ``target`` left beside it: folders named
    ``.<name>.<random>.partial`` as lstm_ref.files.staging_folder names them. The random part
    never holds a dot, so another target's (``.<name>.other.<random>.partial``, of
    ``<name>.other``) is not one of them."""
    target = os.path.abspath(os.fspath(target))
    name = os.path.basename(target)
    own = re.compile(rf"\.{re.escape(name)}\.[^./]+\.partial")
    pattern = os.path.join(os.path.dirname(target), f".{glob.escape(name)}.*.partial")
    return sorted(p for p in glob.glob(pattern)
                  if own.fullmatch(os.path.basename(p)) and os.path.isdir(p))


def _check_target(path: StrPath) -> tuple[str, str]:
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


def _select_cases(grid: str, pattern: str | None, dtype: str) -> list[grids.Case]:
    """The cases to record, after refusing an unknown grid or dtype and an empty selection."""
    if grid not in GRIDS:
        raise GoldenError(f"unknown grid {grid!r}; the grids are {', '.join(GRIDS)}")
    if dtype not in DTYPES:
        raise GoldenError(f"unknown dtype {dtype!r}; a recording may use {', '.join(DTYPES)}")
    cases = select(grids.cases(grid), pattern)
    if not cases:
        raise GoldenError(f"no case of grid {grid!r} matches the pattern {pattern!r}")
    return cases


def _record_in(dtype: str, folder: str, case: grids.Case) -> dict[str, Any]:
    """:func:`_record_case` on Keras, as a worker process can call it."""
    return _record_case(keras_golden, case, dtype, folder)


def _record_case(framework: ModuleType, case: grids.Case, dtype: str,
                 folder: str) -> dict[str, Any]:
    """Run one case (``framework``: lstm_ref.frameworks.keras.golden), write its .npz into
    ``folder``; returns its manifest entry."""
    inputs, observation = framework.observe_case(case, dtype)
    report = check_observation(observation)
    if report.verdict in (FAILED, INCONCLUSIVE):
        warnings.warn(f"case {case.id} against the reference: {report.verdict_line()}; "
                      f"recorded as {report.verdict}", stacklevel=3)
    arrays = {**inputs, **observation.actual}
    stored: dict[str, Any] = {name: storable(a) for name, a in arrays.items()}
    name = f"{case.id}.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **stored)
    data = buffer.getvalue()
    _write_bytes(os.path.join(folder, name), data)
    return {"id": case.id, "case": case.as_dict(), "seed": case.seed, "file": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "compute_dtype": str(observation.dtype), "layer_path": observation.layer_path,
            "arrays": {n: {"shape": list(np.shape(a)), "dtype": np.asarray(a).dtype.name}
                       for n, a in arrays.items()},
            "reference": reference_entry(report)}


def reference_entry(report: Report) -> dict[str, Any]:
    """What a manifest keeps of the reference check of a case's recorded results: the
    verdict, how many elements were compared of how many, the first failure, and one line
    per tensor and reason for what was not compared (how many, from which step, which rows,
    why: lstm_ref.report.Report.not_compared_lines)."""
    return {"verdict": report.verdict, "compared": report.size - report.not_compared,
            "size": report.size,
            "first_failure": None if report.first_failure is None else str(report.first_failure),
            "not_compared": report.not_compared_lines()}


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())  # the rename that publishes the folder must not come first


def _to_json(manifest: dict[str, Any]) -> str:
    # allow_nan=False: the manifest must be JSON any reader parses, not Python's extension.
    return json.dumps(manifest, indent=2, allow_nan=False) + "\n"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
