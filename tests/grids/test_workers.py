"""lstm_ref.grids.workers: every case ends once, in order, whatever its process does.

The functions a worker runs are defined here at module level: workers are spawned, and
import this module to find them."""

import os
import signal
import sys

import pytest

from lstm_ref.errors import OptionError
from lstm_ref.grids import workers
from lstm_ref.grids.sweep import run_cases
from lstm_ref.grids.workers import run_all

LINUX_MAPS = pytest.mark.skipif(workers.map_limit() is None or workers.map_count() is None,
                                reason="no /proc/self/maps or vm.max_map_count here")


def pid_of(case):
    """The case back, with the process that ran it; case "raise" raises, "crash" kills its
    process with SIGSEGV, as a framework's native code does."""
    if case == "raise":
        raise RuntimeError("the framework's own error")
    if case == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    return case, os.getpid()


def test_in_this_process_every_case_in_order_with_its_error():
    seen = []
    outcomes = run_all(pid_of, ["a", "raise", "b"], on_outcome=lambda i, o: seen.append(i))
    assert [o.value for o in outcomes] == [("a", os.getpid()), None, ("b", os.getpid())]
    assert outcomes[1].error == "RuntimeError: the framework's own error"
    assert outcomes[0].error is None and all(o.seconds >= 0 for o in outcomes)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("count", [1, 2])
def test_in_workers_every_case_once_in_order(count):
    cases = [f"case{i}" for i in range(7)] + ["raise"]
    seen = []
    outcomes = run_all(pid_of, cases, workers=count, on_outcome=lambda i, o: seen.append(i))
    assert [o.value[0] for o in outcomes[:-1]] == cases[:-1]
    assert outcomes[-1].value is None and "the framework's own error" in outcomes[-1].error
    assert sorted(seen) == list(range(len(cases)))
    pids = {o.value[1] for o in outcomes[:-1]}
    assert os.getpid() not in pids and 1 <= len(pids) <= count


def test_a_case_that_crashes_its_worker_fails_alone_and_the_run_goes_on():
    outcomes = run_all(pid_of, ["a", "crash", "b", "c"], workers=1)
    assert outcomes[1].value is None
    assert outcomes[1].error == "the worker process running it died (signal SIGSEGV)"
    assert [o.value[0] for o in (outcomes[0], outcomes[2], outcomes[3])] == ["a", "b", "c"]
    # The crash took the first worker; a fresh one ran the rest.
    assert outcomes[0].value[1] != outcomes[2].value[1] == outcomes[3].value[1]


def test_without_catch_an_error_here_ends_the_run_and_one_in_a_worker_is_its_outcome():
    with pytest.raises(RuntimeError, match="the framework's own error"):
        run_all(pid_of, ["a", "raise", "b"], catch=False)
    outcomes = run_all(pid_of, ["a", "raise"], workers=1, catch=False)
    assert outcomes[1].error == "RuntimeError: the framework's own error"


@LINUX_MAPS
def test_a_worker_past_its_share_of_the_map_limit_retires_after_its_case():
    # share 0: every worker is past it after its first case, so each case gets a fresh one.
    outcomes = run_all(pid_of, ["a", "b", "c"], workers=1, share=0.0)
    assert [o.value[0] for o in outcomes] == ["a", "b", "c"]
    assert len({o.value[1] for o in outcomes}) == 3


def test_this_process_hands_the_rest_to_a_worker_near_the_map_limit(monkeypatch):
    calls = []

    def near(share):  # this process: near the limit from the third case on
        calls.append(share)
        return len(calls) > 2

    monkeypatch.setattr(workers, "near_map_limit", near)
    outcomes = run_all(pid_of, ["a", "b", "c", "d"], share=0.5)
    assert [o.value[0] for o in outcomes] == ["a", "b", "c", "d"]
    pids = [o.value[1] for o in outcomes]
    assert pids[:2] == [os.getpid()] * 2
    assert pids[2] == pids[3] != os.getpid()
    assert calls == [0.5] * 3


@LINUX_MAPS
def test_the_map_count_is_this_process_s_own():
    count, limit = workers.map_count(), workers.map_limit()
    assert 0 < count < limit
    with open("/proc/self/maps") as maps:
        assert abs(sum(1 for _ in maps) - count) <= 8  # the open file itself maps nothing
    assert workers.near_map_limit(0.0) and not workers.near_map_limit(1.0)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "2"])
def test_workers_must_be_a_count(bad):
    with pytest.raises(OptionError, match=rf"workers must be an int >= 0; received {bad!r}"):
        run_all(pid_of, ["a"], workers=bad)


def test_an_unknown_framework_is_one_error_before_any_case():
    with pytest.raises(OptionError, match="framework must be one of"):
        run_cases("caffe", ["a", "b"])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
