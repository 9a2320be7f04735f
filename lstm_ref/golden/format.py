"""The golden file format: what a recording holds, and reading it back validated.

A recording is a directory::

    PATH/manifest.json        format id, versions, platform, grid, dtype, and per case:
                              id, options, seed, file, sha256, arrays (shape and dtype), and
                              reference: the reference check of what was recorded (its
                              verdict, and what it could not compare, where and why)
    PATH/<case id>.npz        inputs and weights as the layer used them (x, kernel,
                              recurrent_kernel[, bias][, h0, c0][, mask]) and what it computed
                              (h, c at every step; output[, state_h, state_c])

Both files are plain data: the manifest is JSON, and an .npz is read as untrusted bytes
(lstm_ref.golden.archive): its size is bounded by what its case needs, its sha256 is
checked before it is parsed, every member's .npy header is validated against the case and
the manifest before any array data is read, and nothing is ever unpickled. A recording's
inputs and weights are finite: one whose are not is refused, since the reference would
propagate them and agree with anything they make.
"""

import json
import math
import os
from dataclasses import MISSING, Field, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lstm_ref.errors import GoldenError
from lstm_ref.files import StrPath
from lstm_ref.golden.archive import ALLOWANCE, PICKLE_MESSAGE, Archive, read_hashed
from lstm_ref.grids import keras as grids
from lstm_ref.report import FAILED, INCONCLUSIVE, PASSED

__all__ = ["FORMAT", "MANIFEST", "DTYPES", "WIDENED", "FLOATS", "MASKS", "INPUTS", "VERDICTS",
           "storable", "read_manifest", "parse_case", "expected_arrays", "allowed_dtypes",
           "size_limit", "load_case"]

FORMAT = "lstm-ref-golden/2"


MANIFEST = "manifest.json"


# Layer dtypes and Keras mixed-precision policies a recording may use (as lstm-ref verify).
DTYPES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


# NumPy has no bfloat16 of its own: ml_dtypes' would be saved as opaque 2-byte voids, so such
# arrays are stored widened to float32 (exact) and the manifest keeps their dtype.
WIDENED = {"bfloat16": "float32"}


# The dtypes a manifest may give an array: a float array in the dtype its layer used (one of
# FLOATS, stored as WIDENED says), a mask as booleans (MASKS).
FLOATS = ("float16", "float32", "float64", "bfloat16")
MASKS = ("bool",)


# The arrays a recording's layer was given: they must be finite (see the module docstring).
INPUTS = ("x", "kernel", "recurrent_kernel", "bias", "h0", "c0")


# The reference verdicts a manifest may record for a case (lstm_ref.report).
VERDICTS = (PASSED, FAILED, INCONCLUSIVE)


def storable(array: ArrayLike) -> np.ndarray:
    """A NumPy array .npz can hold without pickle, with the same values."""
    array = np.asarray(array)
    widened = WIDENED.get(array.dtype.name)
    return array.astype(widened) if widened else array


def read_manifest(path: StrPath) -> dict[str, Any]:
    """The manifest of the recording at ``path``, validated (format id, fields, file names).

    Args:
        path: a recording directory.

    Returns:
        The manifest dict.

    Raises:
        GoldenError: no directory or manifest, unparsable JSON, another format id, a missing
            or ill-typed field, a reference verdict that is not one of VERDICTS.
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
                             "arrays": dict, "reference": dict}, where)
        if entry["id"] in seen:
            raise GoldenError(f"{where}: case {entry['id']!r} is listed twice")
        seen.add(entry["id"])
        name = entry["file"]
        # Only plain names: a manifest must not make us read files outside the recording.
        if os.path.basename(name) != name or name in ("", ".", "..") or not name.endswith(".npz"):
            raise GoldenError(f"{where}: file {name!r} is not a plain .npz name in the recording")
        verdict = entry["reference"].get("verdict")
        if verdict not in VERDICTS:
            raise GoldenError(f"{where}: reference verdict {verdict!r} is not one of "
                              f"{', '.join(VERDICTS)}")
        if entry.get("layer_path") not in (None, "cudnn"):
            raise GoldenError(f"{where}: layer_path {entry['layer_path']!r} is not null or "
                              "'cudnn'")
    return manifest


def _need_fields(obj: dict[str, Any], types: dict[str, type], where: str) -> None:
    json_names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    for key, kind in types.items():
        if key not in obj:
            raise GoldenError(f"{where} has no {key!r} field")
        if not isinstance(obj[key], kind):
            raise GoldenError(f"{where}: {key!r} is a JSON {type(obj[key]).__name__}; expected "
                              f"{json_names[kind]}")


def parse_case(entry: dict[str, Any], where: str) -> grids.Case:
    """The grid Case a manifest entry names, or GoldenError.

    The installed grid must know it: every option a field of lstm_ref.grids.keras.Case with a
    value the grid knows (the full grid's), and the recorded id the one the installed grid
    gives those options (so a recording made under other case semantics is refused, not
    misread).

    Args:
        entry: a manifest case entry (``id``, ``case``: Case.as_dict()).
        where: how to name the entry in a message.

    Returns:
        A :class:`lstm_ref.grids.keras.Case`.
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


def _option_problem(name: str, value: Any, spec: Field) -> str | None:
    """Why ``value`` is not a valid Case field ``name``, or None (a field's default is valid)."""
    default = spec.default
    if default is not MISSING and type(value) is type(default) and value == default:
        return None
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


def expected_arrays(case: grids.Case) -> dict[str, tuple[int, ...]]:
    """The arrays a recording of ``case`` holds, name -> shape (a mask's dtype is bool, the
    others' a float dtype: see :func:`allowed_dtypes`)."""
    b, t, f, u = case.batch, case.time, case.features, case.units
    shapes = {"x": (b, t, f), "kernel": (f, 4 * u), "recurrent_kernel": (u, 4 * u)}
    if case.use_bias:
        shapes["bias"] = (4 * u,)
    if case.initial_state:
        shapes["h0"] = shapes["c0"] = (b, u)
    if case.arrays().get("mask") is not None:
        shapes["mask"] = (b, t)
    shapes["h"] = shapes["c"] = (b, t, u)
    shapes["output"] = (b, t, u) if case.return_sequences else (b, u)
    if case.return_state:
        shapes["state_h"] = shapes["state_c"] = (b, u)
    return shapes


def allowed_dtypes(name: str) -> tuple[str, ...]:
    """The dtype names a manifest may give array ``name``: MASKS for the mask, else FLOATS."""
    return MASKS if name == "mask" else FLOATS


def size_limit(specs: dict[str, tuple[tuple[int, ...], np.dtype]]) -> int:
    """The most bytes a case's .npz may hold: its arrays' data (``specs``: name -> (shape,
    stored dtype)) plus lstm_ref.golden.archive.ALLOWANCE for the zip and .npy headers."""
    return sum(math.prod(shape) * dtype.itemsize for shape, dtype in specs.values()) + ALLOWANCE


def load_case(path: StrPath,
              entry: dict[str, Any]) -> tuple[grids.Case, dict[str, np.ndarray]]:
    """The validated Case and arrays of one manifest entry.

    Checks, in this order, each before anything later is read: the manifest lists exactly
    the arrays the case needs, with its shapes and a dtype each may have; the file exists
    and is within :func:`size_limit`; its sha256 (hashed in chunks) is the manifest's; it is
    a zip archive holding exactly those arrays, uncompressed, none larger than its data plus
    the allowance; each member's .npy header declares the case's shape, the manifest's
    dtype, and as much data as the member holds. Only then is array data read (never
    unpickling), and the inputs and weights must be finite.

    Args:
        path: the recording directory.
        entry: one of the manifest's cases (:func:`read_manifest`).

    Returns:
        ``(case, arrays)``: a grid Case and name -> NumPy array (as stored, native byte
        order).
    """
    where = f"{os.path.join(os.fspath(path), MANIFEST)}, case {entry['id']!r}"
    case = parse_case(entry, where)
    specs = _listed_arrays(case, entry, where)
    file = os.path.join(os.fspath(path), entry["file"])
    if not os.path.isfile(file):
        raise GoldenError(f"{file} is missing (the manifest lists it for case {entry['id']!r})")
    data, digest = read_hashed(file, size_limit(specs))
    if digest != entry["sha256"].lower():
        raise GoldenError(f"{file} was changed after recording: its sha256 is {digest}, the "
                          f"manifest's is {entry['sha256']} ({len(data)} bytes)")
    with Archive(file, data) as archive:
        _check_headers(file, case, entry, archive, specs)
        arrays = {name: archive.array(name) for name in specs}
    arrays = {name: a.astype(a.dtype.newbyteorder("="), copy=False) for name, a in arrays.items()}
    _check_finite(file, arrays)
    return case, arrays


def _listed_arrays(case: grids.Case, entry: dict[str, Any],
                   where: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """name -> (shape, stored dtype) of the arrays the case needs, after checking that the
    manifest lists exactly those, with those shapes and allowed dtypes."""
    needed, listed = expected_arrays(case), entry["arrays"]
    if set(listed) != set(needed):
        raise GoldenError(f"{where}: lists arrays {', '.join(listed) or 'none'}; case "
                          f"{case.id!r} records {', '.join(needed)}")
    specs = {}
    for name, shape in needed.items():
        item = listed[name] if isinstance(listed[name], dict) else {}
        listed_shape = item.get("shape")
        if not (isinstance(listed_shape, list) and all(type(n) is int for n in listed_shape)
                and tuple(listed_shape) == shape):
            raise GoldenError(f"{where}: array {name!r} is listed with shape {listed_shape!r}; "
                              f"case {case.id!r} needs {list(shape)}")
        dtype = item.get("dtype")
        if dtype not in allowed_dtypes(name):
            raise GoldenError(f"{where}: array {name!r} is listed as dtype {dtype!r}; a "
                              f"recording holds it as one of {', '.join(allowed_dtypes(name))}")
        specs[name] = (shape, np.dtype(WIDENED.get(dtype, dtype)))
    return specs


def _check_headers(file: str, case: grids.Case, entry: dict[str, Any], archive: Archive,
                   specs: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    """The archive's members against ``specs``, from the zip directory and the .npy headers
    alone: no array data is read here."""
    missing = [name for name in specs if name not in archive.members]
    if missing:
        raise GoldenError(f"{file} lacks array(s) {', '.join(missing)} (it holds "
                          f"{', '.join(archive.members) or 'none'})")
    extra = [name for name in archive.members if name not in specs]
    if extra:
        raise GoldenError(f"{file} holds array(s) {', '.join(extra)} that case {case.id!r} does "
                          f"not record (it records {', '.join(specs)})")
    for name, (shape, dtype) in specs.items():
        size, data = archive.members[name].file_size, math.prod(shape) * dtype.itemsize
        if size > data + ALLOWANCE:
            raise GoldenError(f"{file}: member '{name}.npy' is {size} bytes; array {name!r} of "
                              f"case {case.id!r} needs {data} bytes plus at most {ALLOWANCE} of "
                              "header: not read")
        header = archive.header(name)
        if header.dtype.hasobject:
            raise GoldenError(f"{file}: array {name!r} holds pickled data (an object array), "
                              f"{PICKLE_MESSAGE}")
        if header.dtype.name != dtype.name:  # either byte order: converted once read
            recorded = entry["arrays"][name]["dtype"]
            raise GoldenError(f"{file}: array {name!r} is stored as {header.dtype}; the manifest "
                              f"records it as {recorded}"
                              f"{f' (stored as {dtype})' if recorded != dtype.name else ''}")
        if header.shape != shape:
            raise GoldenError(f"{file}: array {name!r} has shape {header.shape}; case "
                              f"{case.id!r} needs {shape}")
        if header.offset + header.declared != header.size:
            raise GoldenError(f"{file}: array {name!r}'s header declares {header.declared} bytes "
                              f"of data, but its member holds {header.size - header.offset} "
                              "after the header")


def _check_finite(file: str, arrays: dict[str, np.ndarray]) -> None:
    """Refuse non-finite recorded inputs or weights (INPUTS)."""
    for name in INPUTS:
        if name not in arrays:
            continue
        bad = ~np.isfinite(arrays[name])
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise GoldenError(f"{file}: array {name!r} holds {int(bad.sum())} non-finite "
                              f"value(s), the first {arrays[name][index]} at index {index}; a "
                              "recording's inputs and weights are finite")
