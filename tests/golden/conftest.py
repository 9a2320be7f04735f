"""Fixtures of the golden tests: one recording of the fixed cases, made once, and copies of
it to tamper with."""

import os
import shutil

import pytest

from lstm_ref import golden
from tests.golden.support import SEQUENCE, entry_of, manifest_of, record_cases, write_manifest


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    """A recording of support.CASES, made once (do not modify: copy it)."""
    pytest.importorskip("keras")
    path = tmp_path_factory.mktemp("golden") / "rec"
    record_cases(path)
    return path


@pytest.fixture(scope="session")
def checked(recording):
    """The untouched recording checked on the installation that made it."""
    return golden.check(recording)


@pytest.fixture
def copy(recording, tmp_path):
    """A copy of the recording to tamper with."""
    return shutil.copytree(recording, tmp_path / "copy")


@pytest.fixture
def pair(copy):
    """A copy holding only SEQUENCE and one other case (quicker to check)."""
    manifest = manifest_of(copy)
    keep = [entry_of(manifest, SEQUENCE.id),
            next(e for e in manifest["cases"] if e["id"] != SEQUENCE.id)]
    for entry in manifest["cases"]:
        if entry not in keep:
            os.remove(copy / entry["file"])
    write_manifest(copy, {**manifest, "cases": keep})
    return copy
