"""Reading a recording's .npz file without trusting it, one layer at a time: its size and
sha256 (read in chunks, before anything parses it), then the zip directory, then each
member's .npy header, and only then, once the caller has validated what the headers declare,
the array data.

Nothing here unpickles: a header declaring an object dtype is reported as such, and data is
read with ``numpy.lib.format.read_array(allow_pickle=False)``.
"""

import hashlib
import io
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from types import TracebackType

import numpy as np
from numpy.lib import format as npy

from lstm_ref.errors import GoldenError

__all__ = ["CHUNK", "ALLOWANCE", "PICKLE_MESSAGE", "NpyHeader", "Archive", "read_hashed"]

# Bytes hashed per read: the file is never read in one piece.
CHUNK = 1 << 16

# What a file may hold beyond its arrays' data. np.savez writes, per member, a zip local
# header and a central-directory entry (about 150 bytes with numpy's zip64 extra fields) and
# an .npy header (64-byte aligned: 128 bytes for a recording's shapes), and once the
# end-of-archive records. A case has at most a dozen members, about 4 KiB of such overhead;
# 64 KiB is generous, and a file (or member) beyond its data plus this holds something no
# recording writes.
ALLOWANCE = 64 * 1024

PICKLE_MESSAGE = "which lstm_ref never loads (allow_pickle=False); a recording holds plain arrays"


def read_hashed(file: str, limit: int) -> tuple[bytes, str]:
    """The bytes of ``file`` and their sha256, read in CHUNK-sized pieces.

    What is later parsed is these bytes, the ones that were hashed, not the file read again.

    Args:
        file: the path.
        limit: the most bytes the file may hold (refused from its size before any read, and
            again if it grows while read).

    Returns:
        ``(data, hexdigest)``.
    """
    size = os.stat(file).st_size
    if size > limit:
        raise GoldenError(f"{file} is {size} bytes, over its size limit of {limit} (its arrays' "
                          f"bytes plus {ALLOWANCE} for zip and .npy headers): not read")
    digest, pieces, total = hashlib.sha256(), [], 0
    with open(file, "rb") as stream:
        while piece := stream.read(CHUNK):
            total += len(piece)
            if total > limit:
                raise GoldenError(f"{file} grew past its size limit of {limit} bytes while "
                                  "being read: not parsed")
            digest.update(piece)
            pieces.append(piece)
    return b"".join(pieces), digest.hexdigest()


@dataclass
class NpyHeader:
    """What one member's .npy header declares, read without reading its data.

    Attributes:
        name: the array's name (the member's, without ``.npy``).
        shape: the declared shape.
        dtype: the declared NumPy dtype.
        fortran_order: whether the data is declared in Fortran order.
        offset: the header's length: where the data starts in the member.
        size: the member's size in bytes (header and data), from the zip directory.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int
    size: int

    @property
    def declared(self) -> int:
        """The data bytes the header declares (exact: Python integers, never overflowing)."""
        return math.prod(self.shape) * self.dtype.itemsize


class Archive:
    """An .npz archive's bytes opened as a zip, its members listed and nothing else read.

    Refuses (GoldenError naming ``file``): bytes that are no zip archive (a pickle or a single
    .npy array named as such), members not named ``<name>.npy``, a name listed twice, and
    compressed members (np.savez stores them as they are, so a size the directory declares is
    the size read).

    Attributes:
        file: the path, for messages.
        members: array name -> its zipfile.ZipInfo, in the archive's order.
    """

    def __init__(self, file: str, data: bytes) -> None:
        self.file = file
        if data.startswith(npy.MAGIC_PREFIX):
            raise GoldenError(f"{file} is a single .npy array, not an .npz archive of arrays")
        if data.startswith(b"\x80"):  # the first opcode of every pickle since protocol 2
            raise GoldenError(f"{file} holds pickled data (a pickle file), {PICKLE_MESSAGE}")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
            raise self.damaged(exc) from exc
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in self.zip.infolist():
            name = info.filename
            if not name.endswith(".npy") or "/" in name or name == ".npy":
                raise GoldenError(f"{file}: member {name!r} is not an array (<name>.npy)")
            if name[:-4] in self.members:
                raise GoldenError(f"{file}: member {name!r} is listed twice")
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise GoldenError(f"{file}: member {name!r} is compressed; a recording stores "
                                  "its arrays as np.savez does (uncompressed)")
            self.members[name[:-4]] = info

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.zip.close()

    def damaged(self, exc: BaseException) -> GoldenError:
        """The error for bytes that do not parse (``exc``, what the parser raised)."""
        return GoldenError(f"{self.file} is not a readable .npz archive (truncated or corrupt): "
                           f"{type(exc).__name__}: {exc}")

    def header(self, name: str) -> NpyHeader:
        """The :class:`NpyHeader` of member ``name``: its magic and header only are read."""
        info = self.members[name]
        try:
            with self.zip.open(info) as stream:
                version = npy.read_magic(stream)
                if version == (1, 0):
                    shape, fortran_order, dtype = npy.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, fortran_order, dtype = npy.read_array_header_2_0(stream)
                else:
                    raise GoldenError(f"{self.file}: member {info.filename!r} has .npy format "
                                      f"version {version}; a recording uses 1.0 or 2.0")
                offset = stream.tell()
        except GoldenError:
            raise
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
            raise self.damaged(exc) from exc
        return NpyHeader(name=name, shape=tuple(shape), dtype=dtype,
                         fortran_order=bool(fortran_order), offset=offset, size=info.file_size)

    def array(self, name: str) -> np.ndarray:
        """The array of member ``name`` (call only after validating its :meth:`header`)."""
        try:
            with self.zip.open(self.members[name]) as stream:
                return npy.read_array(stream, allow_pickle=False)
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
            raise self.damaged(exc) from exc
