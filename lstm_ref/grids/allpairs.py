"""All-pairs covering arrays: every grid's cases.

A grid covers every *pair* of values of every two parameters (from allpairspy, a small
well-kept package: a covering-array generator is easy to get subtly wrong by hand) rather
than the full product: a bug that needs two options together to show is still caught, at a
fraction of the cost. Where some combinations cannot be (a torch projection of a hidden size
of 1), rows are adjusted and the pairs lost are covered by rows of their own.
"""

from collections import OrderedDict
from itertools import combinations, cycle, product

from lstm_ref._optional import require

__all__ = ["pair_rows", "every_size_rows", "missing_pairs"]


def _all_pairs(parameters):
    AllPairs = require("allpairspy").AllPairs  # noqa: N806 - the library's class
    return [dict(zip(parameters, row)) for row in AllPairs(OrderedDict(parameters))]


def pair_rows(parameters, possible=None, adjust=None):
    """Rows (dicts) covering every pair of values of every two parameters.

    Args:
        parameters: an ordered mapping, parameter name -> the values it takes.
        possible: None, or ``possible(row)``: whether a combination can be built.
        adjust: with ``possible``, ``adjust(row)`` -> a row that can (the all-pairs array's
            impossible rows are adjusted; the pairs that loses get rows of their own).
    """
    rows = _all_pairs(parameters)
    if possible is None:
        return rows
    made = [row if possible(row) else adjust(row) for row in rows]
    return made + missing_pairs(parameters, made, possible, bases=rows)


def missing_pairs(parameters, rows, possible, bases=None):
    """Rows that cover the possible pairs ``rows`` miss: for each, the first of ``bases``
    (default ``rows``) that can take both values with them set (a pair none can take cannot
    be)."""
    have = {(a, row[a], b, row[b]) for row in rows for a, b in combinations(parameters, 2)}
    extra = []
    for a, b in combinations(parameters, 2):
        for u, v in product(parameters[a], parameters[b]):
            if (a, u, b, v) in have:
                continue
            candidates = ({**base, a: u, b: v} for base in (rows if bases is None else bases))
            row = next((r for r in candidates if possible(r)), None)
            if row is not None:
                extra.append(row)
                have |= {(p, row[p], q, row[q]) for p, q in combinations(parameters, 2)}
    return extra


def every_size_rows(sizes, options):
    """Every combination of the sizes, each with the options of the next row of an all-pairs
    array of the options, in turn (the full grids: every size meets every other)."""
    option_rows = cycle(_all_pairs(options))
    return [{**dict(zip(sizes, size)), **next(option_rows)} for size in product(*sizes.values())]
