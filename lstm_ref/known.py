"""Known divergences: cases where a framework is known to depart from what its documentation
defines (a TensorFlow defect the suite found), so that a gate can run them without failing
forever on them.

A divergence names the frameworks and dtypes it applies to and the case options that show it
(``where``: every option named must have that value). ``lstm-ref verify`` reports a case it
matches that fails as XFAIL, with the reason, not as a failure; a case it matches that passes
as XPASS (the divergence did not show there: one that shows in no case of a grid, on a new
version, can leave the list); anything else as usual. The
package ships :data:`SHIPPED` (lstm_ref/known_divergences.json); a user's own file, in the
same format, adds to it (``lstm-ref verify --known-divergences FILE``)::

    {"format": "lstm-ref-known-divergences/1",
     "divergences": [{"id": "...", "frameworks": ["keras"], "dtypes": ["float64"],
                      "where": {"activation": "gelu"}, "reason": "..."}]}
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_ref.errors import OptionError

__all__ = ["FORMAT", "SHIPPED", "Divergence", "load", "shipped", "match"]

FORMAT = "lstm-ref-known-divergences/1"
SHIPPED = Path(__file__).with_name("known_divergences.json")
FIELDS = {"id": str, "frameworks": list, "dtypes": list, "where": dict, "reason": str}


@dataclass(frozen=True)
class Divergence:
    """One known divergence (see the module docstring)."""

    id: str
    frameworks: tuple[str, ...]
    dtypes: tuple[str, ...]
    where: tuple[tuple[str, Any], ...]
    reason: str

    def matches(self, framework: str, dtype: str, options: dict[str, Any]) -> bool:
        """Whether a case of ``framework`` in ``dtype`` with ``options`` shows it."""
        return (framework in self.frameworks and dtype in self.dtypes
                and all(options.get(name) == value for name, value in self.where))


def load(path: str | Path) -> list[Divergence]:
    """The divergences of a file, or OptionError naming the file, the entry and the field."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OptionError(f"known divergences {path}: not a readable JSON file "
                          f"({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise OptionError(f"known divergences {path}: expected a JSON object of format "
                          f"{FORMAT!r}; received "
                          f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r}")
    entries = data.get("divergences")
    if not isinstance(entries, list):
        raise OptionError(f"known divergences {path}: 'divergences' must be a list")
    divergences = []
    for index, entry in enumerate(entries):
        where = f"known divergences {path}, entry {index}"
        if not isinstance(entry, dict):
            raise OptionError(f"{where}: expected an object; received {type(entry).__name__}")
        for name, kind in FIELDS.items():
            if not isinstance(entry.get(name), kind):
                raise OptionError(f"{where}: {name!r} must be a {kind.__name__}; received "
                                  f"{entry.get(name)!r}")
        unknown = sorted(set(entry) - set(FIELDS) - {"link"})
        if unknown:
            raise OptionError(f"{where}: unknown field(s) {unknown}; an entry has "
                              f"{sorted(FIELDS)} and an optional 'link'")
        divergences.append(Divergence(entry["id"], tuple(entry["frameworks"]),
                                      tuple(entry["dtypes"]), tuple(entry["where"].items()),
                                      entry["reason"]))
    return divergences


def shipped() -> list[Divergence]:
    """The divergences the package ships."""
    return load(SHIPPED)


def match(divergences: list[Divergence], framework: str, dtype: str,
          options: dict[str, Any]) -> Divergence | None:
    """The first divergence a case shows, or None."""
    return next((d for d in divergences if d.matches(framework, dtype, options)), None)
