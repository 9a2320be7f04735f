"""All-pairs covering arrays: every grid's cases.

A grid covers every *pair* of values of every two parameters (from allpairspy, a small
well-kept package: a covering-array generator is easy to get subtly wrong by hand) rather
than the full product: a bug that needs two options together to show is still caught, at a
fraction of the cost. Where some combinations cannot be (a torch projection of a hidden size
of 1), the generator avoids them, rows it cannot avoid them in are adjusted, and the pairs
still missing are covered by a few rows of their own.
"""

from collections import OrderedDict
from itertools import combinations, cycle, product

from lstm_ref._optional import require

__all__ = ["pair_rows", "every_size_rows", "missing_pairs"]


def _all_pairs(parameters, possible=None):
    AllPairs = require("allpairspy").AllPairs  # noqa: N806 - the library's class
    # The generator is greedy: given the parameters with the most values first, it needs
    # fewer rows. Rows come back in the caller's order of parameters.
    names = sorted(parameters, key=lambda name: -len(parameters[name]))
    ordered = OrderedDict((name, parameters[name]) for name in names)
    if possible is None:
        rows = AllPairs(ordered)
    else:
        rows = AllPairs(ordered, filter_func=lambda values: possible(dict(zip(names, values))))
    return [{name: dict(zip(names, row))[name] for name in parameters} for row in rows]


def pair_rows(parameters, possible=None, adjust=None):
    """Rows (dicts) covering every pair of values of every two parameters.

    Args:
        parameters: an ordered mapping, parameter name -> the values it takes.
        possible: None, or ``possible(row)``: whether a combination can be built. It is also
            given partial rows (the first parameters, in order, as the generator fills a row)
            and must say True where the values present do not yet decide.
        adjust: with ``possible``, ``adjust(row)`` -> a row that can (for a row the generator
            could not keep possible; the pairs that loses get rows of their own).
    """
    rows = _all_pairs(parameters, possible)
    if possible is None:
        return rows
    made = [row if possible(row) else adjust(row) for row in rows]
    return made + missing_pairs(parameters, made, possible, bases=rows)


def missing_pairs(parameters, rows, possible, bases=None):
    """Rows that cover the possible pairs ``rows`` miss (a pair no row can take cannot be).

    Each missing pair goes into an extra row already made, where its two parameters are
    free or already hold its values and the row stays possible; else into a new row, the
    first of ``bases`` (default ``rows``) that can take both values with them set. A pair's
    values are pinned in its row, the others left free for later pairs (a pair counts as
    covered by an extra row only where both its parameters are pinned): few extra rows.
    """
    have = {(a, row[a], b, row[b]) for row in rows for a, b in combinations(parameters, 2)}
    extra, pinned = [], []

    def covered(a, u, b, v):
        return (a, u, b, v) in have or any(
            a in pins and b in pins and row[a] == u and row[b] == v
            for row, pins in zip(extra, pinned))

    for a, b in combinations(parameters, 2):
        for u, v in product(parameters[a], parameters[b]):
            if covered(a, u, b, v):
                continue
            for row, pins in zip(extra, pinned):
                if all(p not in pins or row[p] == value for p, value in ((a, u), (b, v))):
                    candidate = {**row, a: u, b: v}
                    if possible(candidate):
                        row.update(candidate)
                        pins |= {a, b}
                        break
            else:
                candidates = ({**base, a: u, b: v} for base in (rows if bases is None else bases))
                row = next((r for r in candidates if possible(r)), None)
                if row is not None:
                    extra.append(row)
                    pinned.append({a, b})
    return extra


def every_size_rows(sizes, options):
    """Every combination of the sizes, each with the options of the next row of an all-pairs
    array of the options, in turn (the full grids: every size meets every other)."""
    option_rows = cycle(_all_pairs(options))
    return [{**dict(zip(sizes, size)), **next(option_rows)} for size in product(*sizes.values())]
