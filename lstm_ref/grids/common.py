"""What every grid shares: the grid names, a case's seed, selecting cases by id."""

import zlib

from lstm_ref.errors import OptionError

__all__ = ["GRIDS", "check_grid", "seed_of", "select"]

GRIDS = ("small", "default", "full")


def check_grid(grid):
    """``grid`` if it is one of GRIDS, else OptionError."""
    if grid not in GRIDS:
        raise OptionError(f"grid must be one of {GRIDS}; received {grid!r}")
    return grid


def seed_of(case_id, salt=0):
    """The seed of a case's random draws: from its id alone (so a case reproduces alone,
    under ``pytest -k`` and under pytest-xdist, whatever else runs), or with ``salt`` other
    draws for the same configuration (``lstm-ref verify --seed``)."""
    return zlib.crc32((case_id if not salt else f"{case_id}-seed{salt}").encode())


def select(cases, pattern=None):
    """The cases whose id contains ``pattern`` (all if None), in order."""
    return [case for case in cases if pattern is None or pattern in case.id]
