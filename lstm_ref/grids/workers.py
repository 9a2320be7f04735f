"""Cases run in worker processes, so that a long run survives what a framework does to its
process.

Two things end a process that runs many cases, whatever the cases check:

- **A framework that crashes** (a segmentation fault in its native code): in a worker, only the
  case it was running fails, as ERROR with the signal; a new worker goes on with the rest.
- **Memory maps that are never unmapped.** XLA's CPU compiler maps each executable's code in
  maps of its own and keeps them for the life of the process (jax-ml/jax#27201); TensorFlow's
  ``jit_compile=True`` functions do the same. Linux allows a process
  ``/proc/sys/vm/max_map_count`` maps (65530 by default); past them the next map fails and
  the process dies. The Keras full grid (425 XLA cases) reaches it after about 900 cases.
  A worker whose maps pass :data:`MAP_SHARE` of the limit retires after its case and a fresh
  one takes its place; a run in this process (``workers=0``) hands the cases still to run
  to a worker when it gets there.

Workers are started by "spawn" (a fresh interpreter: forking a process whose framework runs
threads is unsafe), so ``run`` must be picklable (a module-level function or a
``functools.partial`` of one) and so must the cases and what ``run`` returns.
"""

import functools
import multiprocessing
import signal
import time
from multiprocessing.connection import wait

from lstm_ref.errors import OptionError

__all__ = ["MAP_SHARE", "Outcome", "framework_runner", "map_count", "map_limit",
           "near_map_limit", "run_all"]

# The share of the system's memory-map limit past which a process stops running cases: the
# largest case seen adds a few hundred maps, a far smaller share of the limit than what is
# left above this one.
MAP_SHARE = 0.75


def map_count():
    """The number of memory maps of this process, or None where the system does not say
    (no /proc)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def map_limit():
    """The most memory maps a process may have (Linux's vm.max_map_count), or None."""
    try:
        with open("/proc/sys/vm/max_map_count") as limit:
            return int(limit.read())
    except (OSError, ValueError):
        return None


def near_map_limit(share=MAP_SHARE):
    """Whether this process has more than ``share`` of the memory maps it may have (False
    where the system does not say)."""
    count, limit = map_count(), map_limit()
    return count is not None and limit is not None and count > share * limit


class Outcome:
    """What running one case gave: ``value`` (what ``run`` returned, None if it raised or its
    process died), ``error`` (a one-line description, or None) and ``seconds``."""

    __slots__ = ("value", "error", "seconds")

    def __init__(self, value, error, seconds):
        self.value, self.error, self.seconds = value, error, seconds


def _attempt(run, case, catch=True):
    start = time.perf_counter()
    try:
        value, error = run(case), None
    except Exception as exc:  # noqa: BLE001 - the case's own error, named in its outcome
        if not catch:
            raise
        value, error = None, f"{type(exc).__name__}: {exc}"
    return Outcome(value, error, time.perf_counter() - start)


def run_all(run, cases, workers=0, on_outcome=None, share=MAP_SHARE, catch=True,
            on_handover=None):
    """``run(case)`` for every case: a list of :class:`Outcome`, in the order of ``cases``.

    Args:
        run: the function that runs one case; an exception it raises is that case's error.
        cases: the cases.
        workers: 0 runs the cases in this process, until its memory maps pass ``share`` of
            the limit (see the module's docstring): the rest then go to one worker. N > 0
            runs them in N worker processes, each replaced when it dies (its case is an
            error that names the signal) or when its maps pass ``share``.
        on_outcome: None, or ``on_outcome(index, outcome)`` called as each case ends (in
            the order they end, with workers).
        share: the share of the memory-map limit a process stops at.
        catch: False lets an exception of ``run`` in this process end the run (in a worker,
            it is the case's ``error`` whatever ``catch`` says: the caller decides).
        on_handover: None, or ``on_handover(remaining)`` called when this process hands the
            ``remaining`` cases to a worker (``workers=0`` only).

    KeyboardInterrupt ends the run (and its workers).
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise OptionError(f"workers must be an int >= 0; received {workers!r}")
    cases = list(cases)
    outcomes = [None] * len(cases)

    def done(index, outcome):
        outcomes[index] = outcome
        if on_outcome is not None:
            on_outcome(index, outcome)

    start = 0
    if workers == 0:
        workers = 1
        for start, case in enumerate(cases):
            if near_map_limit(share):
                if on_handover is not None:
                    on_handover(len(cases) - start)
                break
            done(start, _attempt(run, case, catch))
        else:
            return outcomes
    _run_in_workers(run, list(enumerate(cases))[start:], workers, done, share)
    return outcomes


def _serve(run, share, conn):
    """A worker: runs the cases it is sent, sends back (index, Outcome, retiring) for each,
    and ends on None or once its memory maps pass ``share`` of the limit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the run
    while True:
        item = conn.recv()
        if item is None:
            return
        index, case = item
        outcome = _attempt(run, case)
        retiring = near_map_limit(share)
        try:
            conn.send((index, outcome, retiring))
        except Exception as exc:  # noqa: BLE001 - a result pickle cannot carry
            conn.send((index, Outcome(None, f"its result could not be sent back from the "
                                            f"worker: {type(exc).__name__}: {exc}",
                                      outcome.seconds), retiring))
        if retiring:
            return


class _Worker:
    def __init__(self, context, run, share):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(run, share, child), daemon=True)
        self.process.start()
        child.close()
        self.task = None  # (index, case, started)

    def give(self, index, case):
        self.task = (index, case, time.perf_counter())
        self.conn.send((index, case))

    def stop(self):
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _death(process):
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _run_in_workers(run, tasks, workers, done, share):
    context = multiprocessing.get_context("spawn")
    pending = list(reversed(tasks))  # popped from the end: in order
    idle, busy = [], []
    try:
        while pending or busy:
            while pending and len(busy) < workers:
                worker = idle.pop() if idle else _Worker(context, run, share)
                task = pending.pop()
                try:
                    worker.give(*task)
                except OSError:  # it ended while idle: a fresh one takes the case
                    worker.task = None
                    worker.stop()
                    pending.append(task)
                    continue
                busy.append(worker)
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in list(busy):
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                message = None
                try:
                    if worker.conn.poll():
                        message = worker.conn.recv()
                except (EOFError, OSError):  # it died before sending a whole result
                    message = None
                if message is None and worker.process.sentinel not in ready \
                        and worker.process.is_alive():
                    continue  # not a result, not an end: waited on again
                busy.remove(worker)
                task, worker.task = worker.task, None
                if message is not None:
                    index, outcome, retiring = message
                    done(index, outcome)
                    if retiring:
                        worker.stop()
                    else:
                        idle.append(worker)
                    continue
                worker.process.join()
                index, _, started = task
                done(index, Outcome(None, f"the worker process running it died "
                                          f"({_death(worker.process)})",
                                    time.perf_counter() - started))
                worker.conn.close()
    finally:
        for worker in idle + busy:
            if worker.task is not None:
                worker.process.kill()
            worker.stop()


def _framework_run(framework, dtype, case):
    from lstm_ref.grids.registry import framework as framework_named

    return framework_named(framework).run(case, dtype)


def framework_runner(framework, dtype):
    """``run(case)`` for :func:`run_all`: the case's Report on a framework of
    lstm_ref.grids.registry, picklable for workers."""
    return functools.partial(_framework_run, framework, dtype)

