"""Deprecated: the TF1-cell case grid is :mod:`lstm_ref.grids.tf1` (its cases run by
lstm_ref.frameworks.tf1.cases), run by ``lstm-ref verify --framework tf1``.

``python -m lstm_ref.grid_tf1 [tf1|tf_keras] [GRID] [DTYPE] [PATTERN]``, the former positional
form, runs ``lstm-ref verify --framework tf1|tf_keras --grid GRID --dtype DTYPE --only
PATTERN``; arguments that start with ``-`` are ``lstm-ref verify``'s options, passed on.
"""

import sys
from collections.abc import Sequence

from lstm_ref import cli
from lstm_ref._deprecated import announce, verify_argv
from lstm_ref.frameworks.tf1.cases import build_cell, run_case
from lstm_ref.grids import GRIDS, select
from lstm_ref.grids.tf1 import OPTIONS, TF1_SIZES, TF1Case, cases, num_proj_for

__all__ = ["GRIDS", "select", "OPTIONS", "TF1_SIZES", "TF1Case", "cases", "num_proj_for",
           "build_cell", "run_case", "POSITIONAL", "translate", "main"]

# The former command's positional arguments, in order, and the verify option each becomes.
POSITIONAL = (("framework", "--framework"), ("grid", "--grid"), ("dtype", "--dtype"),
              ("pattern", "--only"))
NEW = "lstm-ref verify --framework tf1 (or tf_keras)"


def translate(argv: Sequence[str]) -> list[str] | None:
    """The ``lstm-ref verify`` arguments of a former ``python -m lstm_ref.grid_tf1`` command
    line, or None when its positional part is not the former form (more than four
    arguments, or a first one that is neither tf1 nor tf_keras)."""
    args = list(argv)
    count = next((i for i, arg in enumerate(args) if arg.startswith("-")), len(args))
    positional, rest = args[:count], args[count:]
    if len(positional) > len(POSITIONAL) or (positional and
                                             positional[0] not in ("tf1", "tf_keras")):
        return None
    framework = positional[0] if positional else "tf1"
    options = [part for (_, flag), value in zip(POSITIONAL[1:], positional[1:])
               for part in (flag, value)]
    return verify_argv(framework, options + rest)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lstm_ref.grid_tf1 ARGS``: the former command line translated (see the
    module docstring) and run by ``lstm-ref verify``; exit 2, with a one-line message naming
    the new command, for a command line that is not the former form."""
    given = sys.argv[1:] if argv is None else argv
    translated = translate(given)
    if translated is None:
        print(f"python -m lstm_ref.grid_tf1: cannot read {' '.join(given)!r} as "
              "[tf1|tf_keras] [GRID] [DTYPE] [PATTERN]; run: lstm-ref verify --framework tf1 "
              "--grid GRID --dtype DTYPE --only PATTERN", file=sys.stderr)
        return cli.EXIT_ERROR
    return cli.main(translated)


announce(__name__, "lstm_ref.grid_tf1", "lstm_ref.grids.tf1", main, NEW)
