"""The pytest plugin (entry point ``pytest11``, loaded once lstm-ref is installed).

- fixture ``lstm_ref_check``: ``lstm_ref_check(layer, x=None, **kwargs)`` runs
  lstm_ref.testing.assert_lstm_equivalent with random inputs seeded from the test's id (so a
  case reproduces alone and under pytest-xdist), and records the verdict. Before the test
  builds its layer, the fixture also seeds the frameworks already imported (Keras's
  ``set_random_seed``, TensorFlow's, torch's) from the test's id, so the layer's own random
  weights are the same on every run; a failure ends with the seed and a ``reproduce:`` line;
- fixture ``lstm_ref_rng``: a NumPy Generator seeded from the test's id;
- marker ``lstm_ref``: tags tests that check LSTMs (``pytest -m lstm_ref`` runs them alone);
- the terminal summary counts the checks (the fixture's and direct calls of
  assert_lstm_equivalent alike), names the tests whose checks failed, and the closest call.

It imports no framework: each check imports what its layer needs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # for the annotations only: loading the plugin imports neither
    import numpy as np

    from lstm_ref.report import Report

__all__ = ["pytest_configure", "lstm_ref_rng", "lstm_ref_check", "pytest_runtest_call",
           "pytest_terminal_summary"]

# Per session: (test node id, its worst error/bound, or None for a failed check).
_CHECKS = pytest.StashKey[list[tuple[str, float | None]]]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``lstm_ref`` marker and the session's list of checks."""
    config.addinivalue_line("markers", "lstm_ref: the test checks LSTM layers against "
                                       "lstm_ref's reference")
    config.stash[_CHECKS] = []


def _seed(request: pytest.FixtureRequest) -> int:
    from lstm_ref.testing import seed_of

    return seed_of(request.node.nodeid)


@pytest.fixture
def lstm_ref_rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A NumPy random Generator seeded from the test's id."""
    import numpy as np

    return np.random.default_rng(_seed(request))


@pytest.fixture
def lstm_ref_check(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """A function ``check(layer, x=None, **kwargs)``: assert_lstm_equivalent, seeded from the
    test's id; returns the Report (see lstm_ref.testing)."""
    from lstm_ref.testing import assert_lstm_equivalent, seed_frameworks, with_reproducer

    request.node.add_marker("lstm_ref")
    seed_frameworks(_seed(request))

    def check(layer: object, x: Any = None, **kwargs: Any) -> Report | tuple[Report, Report]:
        __tracebackhide__ = True  # the failure points at the test, not at the plugin
        kwargs.setdefault("seed", _seed(request))
        try:
            return assert_lstm_equivalent(layer, x, **kwargs)  # recorded by the hook below
        except AssertionError as exc:
            raise AssertionError(with_reproducer(
                str(exc), kwargs["seed"], f"python -m pytest '{request.node.nodeid}'")) from None

    return check


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Record every assert_lstm_equivalent the test makes, by the fixture or directly (only
    where lstm_ref.testing is already imported: the plugin imports nothing for other tests)."""
    testing = sys.modules.get("lstm_ref.testing")
    if testing is None:
        yield
        return
    checks = item.config.stash[_CHECKS]
    with testing.recording(lambda outcome: checks.append((item.nodeid, outcome))):
        yield


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line: how many LSTM checks ran and failed, and the closest call."""
    checks = config.stash.get(_CHECKS, [])
    if not checks:
        return
    passed = [(ratio, node) for node, ratio in checks if ratio is not None]
    failed = list(dict.fromkeys(node for node, ratio in checks if ratio is None))
    tests = len({node for node, _ in checks})
    line = (f"lstm_ref: {_plural(len(checks), 'LSTM check')} in {_plural(tests, 'test')}, "
            f"{len(checks) - len(passed)} failed")
    if passed:
        ratio, node = max(passed)
        line += f"; closest to its tolerance: {node} (error/bound {ratio:.3f})"
    terminalreporter.write_sep("-", line)
    for node in failed:
        terminalreporter.write_line(f"lstm_ref: failed check in {node}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
