"""The golden file format: what a recording holds, and reading it back validated.

A recording is a directory::

    PATH/manifest.json        format id, versions, platform, grid, dtype, and per case:
                              id, options, seed, file, sha256, arrays (shape and dtype)
    PATH/<case id>.npz        inputs and weights as the layer used them (x, kernel,
                              recurrent_kernel[, bias][, h0, c0]) and what it computed
                              (h, c at every step; output[, state_h, state_c])

Both files are plain data: the manifest is JSON and the arrays are read with
``np.load(allow_pickle=False)``, so a recording from elsewhere runs no code when read.
"""

import hashlib
import io
import json
import os
import zipfile
import zlib
from dataclasses import MISSING, fields

import numpy as np

from lstm_ref.errors import GoldenError
from lstm_ref.grids import keras as grids

__all__ = ["FORMAT", "MANIFEST", "DTYPES", "WIDENED", "storable", "read_manifest", "parse_case",
           "expected_arrays", "load_case"]

FORMAT = "lstm-ref-golden/1"


MANIFEST = "manifest.json"


# Layer dtypes and Keras mixed-precision policies a recording may use (as lstm-ref verify).
DTYPES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


# NumPy has no bfloat16 of its own: ml_dtypes' would be saved as opaque 2-byte voids, so such
# arrays are stored widened to float32 (exact) and the manifest keeps their dtype.
WIDENED = {"bfloat16": "float32"}


# Exceptions np.load raises on a damaged archive (zipfile and zlib have their own).
DAMAGED = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def storable(array):
    """A NumPy array .npz can hold without pickle, with the same values."""
    array = np.asarray(array)
    widened = WIDENED.get(array.dtype.name)
    return array.astype(widened) if widened else array


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
    except DAMAGED as exc:
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
        if array.dtype.name != WIDENED.get(recorded, recorded):
            raise GoldenError(f"{file}: array {name!r} is stored as {array.dtype}; the manifest "
                              f"records it as {recorded}")
