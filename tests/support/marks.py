"""Marking a test folder's tests: what each framework folder's conftest.py uses."""

import importlib.util
from pathlib import Path

import pytest

__all__ = ["mark_folder"]


def mark_folder(conftest_file, markers, needs=(), extra=None):
    """A ``pytest_collection_modifyitems`` hook that gives every test under the folder of
    ``conftest_file`` the ``markers`` (names of markers registered in the root conftest),
    and skips them, naming the extra to install, when a package in ``needs`` is missing."""
    folder = Path(conftest_file).resolve().parent
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    skip = pytest.mark.skip(reason=f"{', '.join(missing)} not installed: pip install "
                                   f"'lstm-ref[{extra}]'") if missing else None

    def pytest_collection_modifyitems(config, items):
        for item in items:
            # item.path is absolute (pytest resolves the rootdir): no syscall per item
            if not Path(item.path).is_relative_to(folder):
                continue
            for marker in markers:
                item.add_marker(marker)
            if skip is not None:
                item.add_marker(skip)

    return pytest_collection_modifyitems
