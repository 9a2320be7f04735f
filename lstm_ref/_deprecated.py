"""The previous release's spellings, kept working for one more release.

Each deprecated module warns once, when imported, with a DeprecationWarning that names the new
spelling, and re-exports what it held from where it lives now. The former per-framework grid
commands (``python -m lstm_ref.grid_torch ARGS``) run ``lstm-ref verify --framework torch
ARGS``, which runs the same grid.
"""

import sys
import warnings
from collections.abc import Callable, Sequence

from lstm_ref import cli

__all__ = ["GridCommand", "verify_argv", "grid_command", "announce"]

# A former grid command's entry point: its arguments (None: sys.argv[1:]) -> the exit code.
GridCommand = Callable[[Sequence[str] | None], int]


def verify_argv(framework: str, argv: Sequence[str]) -> list[str]:
    """The ``lstm-ref verify`` arguments that run ``framework``'s grid with options ``argv``."""
    return ["verify", "--framework", framework, *argv]


def grid_command(framework: str) -> GridCommand:
    """The entry point of a former grid command: ``lstm-ref verify --framework <framework>``
    with the command's arguments."""

    def main(argv: Sequence[str] | None = None) -> int:
        return cli.main(verify_argv(framework, sys.argv[1:] if argv is None else argv))

    main.__doc__ = (f"Run ``lstm-ref verify --framework {framework} ARGV`` (ARGV: the given "
                    "arguments, or the command line's); returns its exit code.")
    return main


def announce(name: str, old: str, new: str, command: GridCommand | None = None,
             new_command: str = "") -> None:
    """Called last in a deprecated module's body, with its ``__name__``: warn that ``old`` is
    deprecated in favour of ``new`` (and ``new_command``, for a former grid command).

    Imported, the warning is attributed to the importing line. Run as ``python -m`` (``name``
    is ``"__main__"``), a former grid command warns from ``__main__``, which Python's default
    filters show, naming ``new_command``, then runs ``command`` with the command line's
    arguments and exits with its code; a module that was never a command exits with 2.
    """
    runs = f", and `{new_command}` to run it" if new_command else ""
    if name != "__main__":
        warnings.warn(f"{old} is deprecated and will be removed in the next release; use "
                      f"{new}{runs}", DeprecationWarning, stacklevel=3)
        return
    if command is None:
        print(f"python -m {old} is not a command; use {new}", file=sys.stderr)
        sys.exit(cli.EXIT_ERROR)
    warnings.warn(f"python -m {old} is deprecated and will be removed in the next release; "
                  f"use {new_command}", DeprecationWarning, stacklevel=2)
    sys.exit(command(None))
