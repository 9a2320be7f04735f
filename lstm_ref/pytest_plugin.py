"""The pytest plugin (entry point ``pytest11``, loaded once lstm-ref is installed).

- fixture ``lstm_ref_check``: ``lstm_ref_check(layer, x=None, **kwargs)`` runs
  lstm_ref.testing.assert_lstm_equivalent with random inputs seeded from the test's id (so a
  case reproduces alone and under pytest-xdist), and records the verdict;
- fixture ``lstm_ref_rng``: a NumPy Generator seeded from the test's id;
- marker ``lstm_ref``: tags tests that check LSTMs (``pytest -m lstm_ref`` runs them alone);
- the terminal summary lists how many checks ran and the closest call (worst error/bound).

It imports no framework: each check imports what its layer needs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # for the annotations only: loading the plugin imports neither
    import numpy as np

    from lstm_ref.report import Report

__all__ = ["pytest_configure", "lstm_ref_rng", "lstm_ref_check", "pytest_terminal_summary"]

# Per session: (test node id, its worst error/bound, or None for a failed check).
_CHECKS = pytest.StashKey[list[tuple[str, float | None]]]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``lstm_ref`` marker and the session's list of checks."""
    config.addinivalue_line("markers", "lstm_ref: the test checks LSTM layers against "
                                       "lstm_ref's reference")
    config.stash[_CHECKS] = []


def _seed(request: pytest.FixtureRequest) -> int:
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture
def lstm_ref_rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A NumPy random Generator seeded from the test's id."""
    import numpy as np

    return np.random.default_rng(_seed(request))


@pytest.fixture
def lstm_ref_check(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """A function ``check(layer, x=None, **kwargs)``: assert_lstm_equivalent, seeded from the
    test's id; returns the Report (see lstm_ref.testing)."""
    from lstm_ref.testing import assert_lstm_equivalent

    request.node.add_marker("lstm_ref")
    checks = request.config.stash[_CHECKS]

    def check(layer: object, x: Any = None, **kwargs: Any) -> Report | tuple[Report, Report]:
        kwargs.setdefault("seed", _seed(request))
        try:
            result = assert_lstm_equivalent(layer, x, **kwargs)
        except AssertionError:
            checks.append((request.node.nodeid, None))
            raise
        reports = result if isinstance(result, tuple) else (result,)
        checks.append((request.node.nodeid, max(r.worst_ratio for r in reports)))
        return result

    return check


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line: how many LSTM checks ran and failed, and the closest call."""
    checks = config.stash.get(_CHECKS, [])
    if not checks:
        return
    passed = [(ratio, node) for node, ratio in checks if ratio is not None]
    line = f"lstm_ref: {len(checks)} LSTM checks, {len(checks) - len(passed)} failed"
    if passed:
        ratio, node = max(passed)
        line += f"; closest to its tolerance: {node} (error/bound {ratio:.3f})"
    terminalreporter.write_sep("-", line)
