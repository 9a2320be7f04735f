"""Writing files and folders: whole or not at all, with the user's umask, refused up front.

Every file the package writes (JSON and JUnit results, converted weights, golden recordings,
HTML reports) goes through here:

- a path is probed before any work runs (:func:`check_file_target`,
  :func:`check_folder_target`): a missing or read-only folder, a path that is a folder, a
  pseudo-filesystem (``/proc``, ``/sys``) where nothing can be created, are refused in one
  line, rather than after minutes of cases;
- a file is written to a temporary sibling, flushed to disk, then renamed into place
  (:func:`write_atomic`); a folder is built in a temporary sibling and renamed
  (:func:`staging_folder`, :func:`publish_folder`): a reader never sees half of either, and
  a failure or Ctrl-C leaves nothing behind;
- what is created gets the permissions a plain ``open``/``mkdir`` would give under the
  current umask (temporary files are made 0600 and 0700 by the standard library, which a CI
  artifact upload or a web server running as another user could not read).
"""

import os
import shutil
import tempfile

from lstm_ref.errors import OutputError

__all__ = ["current_umask", "check_file_target", "check_folder_target", "write_atomic",
           "staging_folder", "publish_folder", "discard_folder", "StrPath"]

# A file or folder path as os.fspath takes it.
StrPath = str | os.PathLike[str]


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _probe(folder: str, what: str, path: StrPath) -> None:
    """Create and remove a file in ``folder``: the only sure test that it takes new files
    (os.access says yes for root on read-only mounts and under /proc)."""
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".lstm-ref-probe-")
    except OSError as exc:
        raise OutputError(f"{what} {path!r}: cannot create files in {folder!r} "
                          f"({exc.strerror or exc})") from exc
    os.close(handle)
    os.remove(probe)


def check_file_target(path: StrPath, what: str) -> None:
    """Refuse, before anything runs, a file path that cannot be written: a folder, a missing
    folder, a folder where no file can be created.

    Args:
        path: the file to write.
        what: how the user named it (``--json``), for the message.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{what} {path!r} is a folder; expected a file path")
    if not os.path.isdir(folder):
        raise OutputError(f"{what} {path!r}: folder {folder!r} does not exist")
    _probe(folder, what, path)


def check_folder_target(path: StrPath, what: str) -> None:
    """Refuse, before anything runs, a folder that cannot be created whole: an existing file,
    a non-empty folder, a missing parent or one where nothing can be created."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutputError(f"{what} {path!r} exists and is not a folder")
    if os.path.isdir(path) and os.listdir(path):
        raise OutputError(f"{what} {path!r} exists and is not empty; name a new folder")
    if not os.path.isdir(parent):
        raise OutputError(f"{what} {path!r}: its parent {parent!r} does not exist")
    _probe(parent, what, path)


def write_atomic(path: StrPath, data: bytes | str, what: str = "output") -> None:
    """Write ``data`` (bytes or str) to ``path`` through a temporary sibling renamed into
    place, with the umask's permissions; nothing is left behind on failure."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if isinstance(data, str):
        data = data.encode()
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".lstm-ref-", suffix=".partial")
    except OSError as exc:
        raise OutputError(f"{what} {path!r}: cannot write in {folder!r} "
                          f"({exc.strerror or exc})") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())  # the rename must not publish unwritten data
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException as exc:
        if os.path.exists(temporary):
            os.remove(temporary)
        if isinstance(exc, OSError):
            raise OutputError(f"{what} {path!r}: {exc.strerror or exc}") from exc
        raise


def staging_folder(target: StrPath, what: str = "output") -> str:
    """A new, empty temporary folder beside ``target`` (named after it, ending ``.partial``):
    build there, then :func:`publish_folder`, or :func:`discard_folder` on failure."""
    target = os.path.abspath(os.fspath(target))
    try:
        return tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".partial",
                                dir=os.path.dirname(target))
    except OSError as exc:
        raise OutputError(f"{what} {target!r}: cannot create a folder beside it "
                          f"({exc.strerror or exc})") from exc


def publish_folder(staging: str, target: StrPath, what: str = "output") -> None:
    """Give the staged folder (and what it holds) the umask's permissions and rename it to
    ``target`` (which may be an empty folder, replaced)."""
    mask = current_umask()
    for root, folders, files in os.walk(staging):
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)
        for name in folders:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
    os.chmod(staging, 0o777 & ~mask)
    try:
        if os.path.isdir(target):
            os.rmdir(target)  # refuses if something appeared in it meanwhile
        os.rename(staging, target)
    except OSError as exc:
        raise OutputError(f"{what}: cannot move the new folder into place at {target}: "
                          f"{exc.strerror or exc}") from exc


def discard_folder(staging: str) -> None:
    """Remove a staging folder and what it holds (after a failure or an interrupt)."""
    shutil.rmtree(staging, ignore_errors=True)
