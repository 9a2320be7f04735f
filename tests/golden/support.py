"""Helpers of the golden tests: the recorded cases, and reading, rewriting and tampering with
a recording's files."""

import hashlib
import io
import json
import zipfile
from dataclasses import fields

import numpy as np
import pytest

from lstm_ref import golden
from lstm_ref.grids import keras as grids
from lstm_ref.grids.keras import Case

__all__ = ["HAS_MASK", "SEQUENCE", "STATES", "BIAS", "ONE", "MASKED", "CASES", "record_cases",
           "manifest_of",
           "write_manifest", "entry_of", "replace_file", "load_arrays", "npz_bytes",
           "npy_bytes", "members_of", "zip_bytes"]

# Whether the installed grid draws masks (Case.mask).
HAS_MASK = "mask" in {f.name for f in fields(Case)}

# Fixed cases, not the all-pairs grid's (which changes with the grid's options): one with
# sequences and an initial state, one with returned states, one with a bias, the 1-step
# 1-unit one, and a masked case where the grid draws masks.
SEQUENCE = Case(units=7, features=3, batch=2, time=9, activation="relu",
                recurrent_activation="hard_sigmoid", go_backwards=True, initial_state=True,
                unroll=True, use_bias=False, implementation=1, returns="sequences")
STATES = Case(units=1, features=3, batch=1, time=9, activation="softsign",
              recurrent_activation="tanh", initial_state=True, implementation=1,
              returns="last+state")
BIAS = Case(units=7, features=1, batch=2, time=9, returns="sequences+state")
ONE = Case(units=1, features=1, batch=1, time=1)
MASKED = Case(units=7, features=3, batch=2, time=9, mask="right") if HAS_MASK else None
CASES = [c for c in (SEQUENCE, STATES, BIAS, ONE, MASKED) if c is not None]


def record_cases(path, cases=CASES, **options):
    """golden.record of exactly ``cases`` (the grid's cases replaced for the call)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grids, "cases", lambda grid="default": list(cases))
        return golden.record(path, grid="small", **options)


def manifest_of(path):
    with open(path / "manifest.json", encoding="utf-8") as stream:
        return json.load(stream)


def write_manifest(path, manifest):
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2))


def entry_of(manifest, case_id):
    return next(e for e in manifest["cases"] if e["id"] == case_id)


def replace_file(path, case_id, data):
    """Write ``data`` as the case's file AND update its sha256: a consistent recording whose
    content differs (another framework version, or a damaged file recorded as such)."""
    manifest = manifest_of(path)
    entry = entry_of(manifest, case_id)
    (path / entry["file"]).write_bytes(data)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    write_manifest(path, manifest)


def load_arrays(path, case_id):
    with np.load(path / f"{case_id}.npz", allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(shape, dtype, data):
    """One .npy member: a version 1.0 header declaring ``shape`` and ``dtype``, then ``data``
    (bytes, whatever the header says)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str,
                                                   "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def members_of(arrays):
    """name.npy -> the .npy bytes np.savez would store for each array."""
    members = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        members[f"{name}.npy"] = buffer.getvalue()
    return members


def zip_bytes(members):
    """An uncompressed zip of name -> bytes, as np.savez writes it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
