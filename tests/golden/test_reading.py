"""Reading a recording as untrusted data (lstm_ref.golden.format.load_case,
lstm_ref.golden.archive): bounded in size and hashed in chunks before it is parsed, members
and .npy headers validated against the case and the manifest before any data is read, and
non-finite inputs or weights refused.

Each test rewrites one case's file of a copy of the recording (updating its sha256 unless
the hash is what is tested): a consistent recording with one flaw.
"""

import builtins
import hashlib
import math
import os
import re
import zipfile

import numpy as np
import pytest

from lstm_ref import golden
from lstm_ref.golden import GoldenError
from tests.golden.support import (BIAS, HAS_MASK, MASKED, SEQUENCE, entry_of, load_arrays,
                                  manifest_of, members_of, npy_bytes, npz_bytes, replace_file,
                                  write_manifest, zip_bytes)

pytestmark = [pytest.mark.keras, pytest.mark.framework]


@pytest.fixture
def spy(monkeypatch):
    """``spy()`` starts spying (call it once the test has set its files up) on every read of
    a recording's .npz file and of array data, and returns what it sees: ``opened`` (the .npz
    paths opened), ``sizes`` (each read's size argument, -1 for a whole-file read), ``bytes``
    (how many bytes the reads returned), ``zips`` (archives parsed) and ``arrays`` (array
    data read by numpy.lib.format.read_array)."""
    seen = {"opened": [], "sizes": [], "bytes": 0, "zips": 0, "arrays": 0}
    real_open, real_zip = builtins.open, zipfile.ZipFile
    real_read_array = np.lib.format.read_array

    class Stream:
        def __init__(self, stream):
            self.stream = stream

        def read(self, size=-1):
            seen["sizes"].append(-1 if size is None else size)
            data = self.stream.read(size)
            seen["bytes"] += len(data)
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

        def __getattr__(self, name):
            return getattr(self.stream, name)

    def spied_open(file, *args, **kwargs):
        stream = real_open(file, *args, **kwargs)
        if str(file).endswith(".npz"):
            seen["opened"].append(str(file))
            return Stream(stream)
        return stream

    def spied_zip(*args, **kwargs):
        seen["zips"] += 1
        return real_zip(*args, **kwargs)

    def spied_read_array(*args, **kwargs):
        seen["arrays"] += 1
        return real_read_array(*args, **kwargs)

    def start():
        monkeypatch.setattr(builtins, "open", spied_open)
        monkeypatch.setattr(zipfile, "ZipFile", spied_zip)
        monkeypatch.setattr(np.lib.format, "read_array", spied_read_array)
        return seen

    return start


def load(path, case):
    """golden.load_case of one case of the recording at ``path``."""
    return golden.load_case(path, entry_of(golden.read_manifest(path), case.id))


def test_the_spies_see_an_untouched_case_read(copy, spy):
    """The spies of the tests below are live: loading an intact case goes through them."""
    reads = spy()
    case, arrays = load(copy, SEQUENCE)
    assert case.id == SEQUENCE.id
    assert set(arrays) == set(entry_of(manifest_of(copy), SEQUENCE.id)["arrays"])
    assert reads["opened"] == [str(copy / f"{SEQUENCE.id}.npz")]
    assert reads["bytes"] == os.path.getsize(copy / f"{SEQUENCE.id}.npz")
    assert reads["zips"] == 1 and reads["arrays"] == len(arrays)


# --- non-finite inputs and weights -----------------------------------------------------------


def test_an_all_nan_recording_is_refused(copy):
    """All-NaN inputs make an all-NaN reference, which NaN outputs would agree with."""
    arrays = {name: np.full_like(a, np.nan) for name, a in load_arrays(copy, SEQUENCE.id).items()}
    replace_file(copy, SEQUENCE.id, npz_bytes(arrays))
    with pytest.raises(GoldenError, match=r"array 'x' holds 54 non-finite value\(s\), the first "
                                          r"nan at index \(0, 0, 0\); a recording's inputs and "
                                          "weights are finite") as info:
        golden.check(copy)
    assert f"{SEQUENCE.id}.npz" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("case, name, value", [
    (SEQUENCE, "x", np.nan), (SEQUENCE, "kernel", np.inf), (SEQUENCE, "recurrent_kernel", -np.inf),
    (SEQUENCE, "h0", np.nan), (SEQUENCE, "c0", np.inf), (BIAS, "bias", np.nan)],
    ids=["x", "kernel", "recurrent_kernel", "h0", "c0", "bias"])
def test_a_non_finite_input_or_weight_is_refused(copy, case, name, value):
    arrays = load_arrays(copy, case.id)
    index = (0,) * arrays[name].ndim
    arrays[name][index] = value
    replace_file(copy, case.id, npz_bytes(arrays))
    message = (rf"{re.escape(case.id)}\.npz: array '{name}' holds 1 non-finite value\(s\), the "
               rf"first {value} at index \({', '.join(['0'] * len(index))},?\)")
    with pytest.raises(GoldenError, match=message):
        golden.check(copy)


# --- members ---------------------------------------------------------------------------------


def test_an_extra_member_is_refused(copy):
    arrays = load_arrays(copy, SEQUENCE.id)
    replace_file(copy, SEQUENCE.id, npz_bytes({**arrays, "notes": np.zeros(3)}))
    with pytest.raises(GoldenError, match=rf"{re.escape(SEQUENCE.id)}\.npz holds array\(s\) "
                                          r"notes that case '.*' does not record \(it records "
                                          r"x, kernel, "):
        golden.check(copy)


def test_a_member_that_is_not_an_array_is_refused(copy):
    members = members_of(load_arrays(copy, SEQUENCE.id))
    replace_file(copy, SEQUENCE.id, zip_bytes({**members, "README.txt": b"hello"}))
    with pytest.raises(GoldenError, match=r"member 'README.txt' is not an array"):
        golden.check(copy)


# --- size ------------------------------------------------------------------------------------


def test_an_oversized_file_is_refused_before_it_is_read(copy, spy):
    """The limit is the case's arrays' bytes (as the manifest lists their dtypes) plus 64 KiB:
    a file past it is refused from its size, never opened."""
    arrays = load_arrays(copy, SEQUENCE.id)
    replace_file(copy, SEQUENCE.id, npz_bytes({**arrays, "padding": np.zeros(20_000)}))
    listed = entry_of(manifest_of(copy), SEQUENCE.id)["arrays"]
    limit = sum(math.prod(a["shape"]) * np.dtype(a["dtype"]).itemsize
                for a in listed.values()) + 64 * 1024
    size = os.path.getsize(copy / f"{SEQUENCE.id}.npz")
    assert size > limit
    reads = spy()
    with pytest.raises(GoldenError, match=rf"{re.escape(SEQUENCE.id)}\.npz is {size} bytes, "
                                          rf"over its size limit of {limit} \(its arrays' "
                                          r"bytes plus 65536"):
        load(copy, SEQUENCE)
    assert reads["opened"] == [] and reads["zips"] == 0 and reads["arrays"] == 0


# --- headers ---------------------------------------------------------------------------------


def _stored_as_float64(arrays, members):
    members["h.npy"] = members_of({"h": arrays["h"].astype(np.float64)})["h.npy"]


def _transposed_shape(arrays, members):  # the same bytes under another shape
    h = arrays["h"]
    members["h.npy"] = npy_bytes((2, 7, 9), h.dtype, h.tobytes())


def _huge_shape(arrays, members):  # a header declaring 10**12 rows of what follows
    h = arrays["h"]
    members["h.npy"] = npy_bytes((10**12, 9, 7), h.dtype, h.tobytes())


def _object_dtype(arrays, members):
    members["h.npy"] = npy_bytes((2, 9, 7), object, b"\x80\x04N.")


def _mask_as_floats(arrays, members):
    members["mask.npy"] = members_of({"mask": arrays["mask"].astype(np.float32)})["mask.npy"]


# A member whose header declares what the case or manifest does not, and the message.
HEADERS = {
    "dtype": (SEQUENCE, _stored_as_float64,
              r"array 'h' is stored as float64; the manifest records it as float32"),
    "shape": (SEQUENCE, _transposed_shape,
              r"array 'h' has shape \(2, 7, 9\); case '.*' needs \(2, 9, 7\)"),
    "huge shape": (SEQUENCE, _huge_shape,
                   r"array 'h' has shape \(1000000000000, 9, 7\); case '.*' needs \(2, 9, 7\)"),
    "object dtype": (SEQUENCE, _object_dtype, r"array 'h' holds pickled data \(an object array"),
    "mask dtype": (MASKED, _mask_as_floats,
                   r"array 'mask' is stored as float32; the manifest records it as bool"),
}


@pytest.mark.parametrize("flaw", HEADERS)
def test_a_header_that_does_not_match_is_refused_before_data_is_read(copy, spy, flaw):
    case, damage, message = HEADERS[flaw]
    if case is None:
        pytest.skip("the installed grid draws no masks")
    arrays = load_arrays(copy, case.id)
    members = members_of(arrays)
    damage(arrays, members)
    replace_file(copy, case.id, zip_bytes(members))
    reads = spy()
    with pytest.raises(GoldenError, match=message) as info:
        load(copy, case)
    assert f"{case.id}.npz" in str(info.value)
    assert reads["zips"] == 1 and reads["arrays"] == 0  # parsed, but no array data read


@pytest.mark.parametrize("change, held", [(-252, 252), (+8, 512)], ids=["short", "long"])
def test_a_header_declaring_other_than_its_member_holds_is_refused(copy, spy, change, held):
    arrays = load_arrays(copy, SEQUENCE.id)
    members = members_of(arrays)
    h = arrays["h"].tobytes()
    data = h[:change] if change < 0 else h + bytes(change)
    members["h.npy"] = npy_bytes((2, 9, 7), arrays["h"].dtype, data)
    replace_file(copy, SEQUENCE.id, zip_bytes(members))
    reads = spy()
    with pytest.raises(GoldenError, match=rf"array 'h''s header declares 504 bytes of data, but "
                                          rf"its member holds {held} after the header"):
        load(copy, SEQUENCE)
    assert reads["arrays"] == 0


@pytest.mark.skipif(not HAS_MASK, reason="the installed grid draws no masks")
def test_a_mask_is_recorded_as_booleans_and_read_back(recording):
    case, arrays = load(recording, MASKED)
    assert arrays["mask"].dtype == bool and arrays["mask"].shape == (case.batch, case.time)
    np.testing.assert_array_equal(arrays["mask"], case.arrays()["mask"])
    assert not arrays["mask"].all()  # a drawn right-padded mask: some step is masked


# --- the manifest's listing ------------------------------------------------------------------


@pytest.mark.parametrize("edit, message", [
    (lambda listed: listed.pop("c0"), r"lists arrays .*; case '.*' records x, "),
    (lambda listed: listed.update(notes={"shape": [3], "dtype": "float32"}),
     r"lists arrays .*notes; case '.*' records"),
    (lambda listed: listed["h"].update(shape=[2, 9, 8]),
     r"array 'h' is listed with shape \[2, 9, 8\]; case '.*' needs \[2, 9, 7\]"),
    (lambda listed: listed["h"].update(dtype="object"),
     r"array 'h' is listed as dtype 'object'; a recording holds it as one of float16, "),
], ids=["missing", "extra", "shape", "dtype"])
def test_a_listing_that_does_not_match_the_case_is_refused_before_the_file_is_read(
        copy, spy, edit, message):
    manifest = manifest_of(copy)
    edit(entry_of(manifest, SEQUENCE.id)["arrays"])
    write_manifest(copy, manifest)
    reads = spy()
    with pytest.raises(GoldenError, match=message) as info:
        load(copy, SEQUENCE)
    assert "manifest.json" in str(info.value) and reads["opened"] == []


# --- the hash --------------------------------------------------------------------------------


def test_a_tampered_file_is_refused_from_its_hash_read_in_chunks(copy, spy):
    """One byte changed, the manifest not: the sha256 differs. The file was read in bounded
    pieces, every byte of it, and never parsed."""
    file = copy / f"{SEQUENCE.id}.npz"
    data = bytearray(file.read_bytes())
    data[-40] ^= 0xFF
    file.write_bytes(bytes(data))
    entry = entry_of(manifest_of(copy), SEQUENCE.id)
    reads = spy()
    with pytest.raises(GoldenError, match="was changed after recording") as info:
        load(copy, SEQUENCE)
    assert entry["sha256"] in str(info.value)
    assert hashlib.sha256(data).hexdigest() in str(info.value)
    assert reads["opened"] == [str(file)] and reads["bytes"] == len(data)
    assert reads["sizes"] and all(0 < size <= 1 << 20 for size in reads["sizes"])
    assert reads["zips"] == 0
