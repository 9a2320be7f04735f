"""What every grid shares: the grid names, a case's seed, what every case is and draws alike,
selecting cases by id."""

import functools
import zlib
from dataclasses import asdict, dataclass, field

from lstm_ref.errors import OptionError

__all__ = ["GRIDS", "check_grid", "seed_of", "select", "GridCase", "unique", "draw_lengths",
           "memoized"]

GRIDS = ("small", "default", "full")


def check_grid(grid):
    """``grid`` if it is one of GRIDS, else OptionError."""
    if grid not in GRIDS:
        raise OptionError(f"grid must be one of {GRIDS}; received {grid!r}")
    return grid


def memoized(cases):
    """A grid's ``cases(...)`` built once per arguments: the all-pairs generator takes a tenth
    of a second a grid, and a test run asks for each grid many times. Every call gets a list
    of its own (of the same frozen cases); unhashable arguments are built anew."""
    built = functools.lru_cache(maxsize=None)(lambda *args, **kwargs: tuple(cases(*args,
                                                                              **kwargs)))

    @functools.wraps(cases)
    def wrapper(*args, **kwargs):
        try:
            return list(built(*args, **kwargs))
        except TypeError:  # an unhashable argument (a list of executions)
            return cases(*args, **kwargs)

    return wrapper


def seed_of(case_id, salt=0):
    """The seed of a case's random draws: from its id alone (so a case reproduces alone,
    under ``pytest -k`` and under pytest-xdist, whatever else runs), or with ``salt`` other
    draws for the same configuration (``lstm-ref verify --seed``)."""
    return zlib.crc32((case_id if not salt else f"{case_id}-seed{salt}").encode())


def select(cases, pattern=None):
    """The cases whose id contains ``pattern`` (all if None), in order."""
    return [case for case in cases if pattern is None or pattern in case.id]


def unique(cases):
    """The cases, each id once (the first case of an id), in order."""
    found = {}
    for case in cases:
        found.setdefault(case.id, case)
    return list(found.values())


def draw_lengths(rng, batch, time):
    """(batch,) valid lengths of right-padded rows, drawn from ``rng``: each in 1..time, and
    one row (drawn) of the full length, so the longest run covers every step."""
    lengths = rng.integers(1, time + 1, batch)
    lengths[rng.integers(batch)] = time
    return lengths


@dataclass(frozen=True)
class GridCase:
    """What a case of every grid has: the seed of its draws from its ``id`` (each grid's
    case class names its cases), its fields as a dict, and a report context that reproduces
    its run alone.

    ``salt`` (keyword only, so every subclass's sizes come first): 0 seeds the draws by the id
    alone; another value (``lstm-ref verify --seed``) draws other weights and inputs for the
    same configuration.
    """

    salt: int = field(default=0, kw_only=True)

    @property
    def seed(self):
        return seed_of(self.id, self.salt)

    def as_dict(self):
        return asdict(self)

    def report_context(self, context, runner, **arguments):
        """``context`` with the case's id and seed first and, last, ``reproduce``: the call of
        ``runner`` (a module-level function) on this case with ``arguments`` that reruns it
        alone."""
        case = f"{type(self).__module__}.{type(self).__qualname__}(**{self.as_dict()})"
        call = "".join(f", {name}={value!r}" for name, value in arguments.items())
        return {"case": self.id, "seed": self.seed, **context,
                "reproduce": f"{runner.__module__}.{runner.__qualname__}({case}{call})"}
