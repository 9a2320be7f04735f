"""The cost of checking, as the project's goal states it: a framework's grid run at most 1.2
times the framework alone building and calling the same cases once each.

    python bench/overhead.py --framework F|all [--grid small|default|full] [--repeats R]
                             [--dtype D]

For framework F (a name of lstm_ref.grids.registry.FRAMEWORKS, or "all": each in turn) and
grid G, two kinds of fresh Python process run the grid's cases:

- "alone": imports the framework, then for every case builds the framework's object exactly as
  run_case does (the same weights and dtype) and calls it once by the case's execution path
  (bench/alone.py: one function per framework, saying what of run_case it mirrors);
- "grid": imports lstm_ref and runs ``framework(F).run(case, dtype)`` for every case.

Each is timed from its process's start to its end, as seen by this script (interpreter start
and imports included in both: a user pays them). The two run R times, in pairs, the first of
each pair alternating (alone first, then grid first...), so that a machine slowing down or
speeding up weighs on both. Each pair's line (with the machine's 1-minute load average after
it: above the core count, other work shared the cores) gives both wall times and their ratio; the last
line per framework gives the medians and the median of the pairs' ratios grid / alone (the
goal: at most 1.2).

The dtype defaults to float32; the export grid runs its artifacts in float32 whatever is
asked; with "all", a framework without the dtype is skipped. A case that raises is counted in
both processes (the line says how many) and the run goes on; a process that dies (a crash,
memory) is reported with how many cases it had run, and its pair gives no ratio.

The header names the machine (bench/machine.py). These machines are shared and their speed
varies: quote the ratios of one run, not the seconds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

GOAL = 1.2


def worker(mode, name, grid, dtype):
    """The measured process: every case of the grid, alone or checked; prints one JSON line."""
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    import contextlib

    from lstm_ref.grids.registry import framework, grid_cases

    if mode == "alone":
        from alone import ALONE

        run = ALONE[name]
    else:
        run = framework(name).run
    errors = []
    began = time.perf_counter()
    for index, case in enumerate(grid_cases(name, grid)):
        if index and index % 100 == 0:  # progress on stderr: where a process that dies got to
            print(f"[{mode} {name} {grid}] {index} cases, {time.perf_counter() - began:.0f} s",
                  file=sys.stderr, flush=True)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # what frameworks print while saving
                run(case, dtype)
        except Exception as exc:  # noqa: BLE001 - counted, and the run goes on
            errors.append(f"{case.id}: {type(exc).__name__}: {str(exc)[:200]}")
    print(json.dumps({"cases": len(grid_cases(name, grid)), "errors": errors}))


def timed(mode, name, grid, dtype):
    """(seconds from the process's start to its end, its JSON result); the result is None
    where the process failed, and the line saying how is printed."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--framework",
               name, "--grid", grid, "--dtype", dtype]
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT, check=False)
    seconds = time.perf_counter() - start
    try:
        return seconds, json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        lines = done.stderr.strip().splitlines()
        progress = [line for line in lines if line.startswith(f"[{mode} ")]
        print(f"  {mode} process failed after {seconds:.1f} s (rc {done.returncode}); "
              f"{progress[-1] if progress else 'before its 100th case'}; its last line: "
              f"{lines[-1] if lines else '(none)'}", flush=True)
        return seconds, None


def measure(name, grid, dtype, repeats):
    """R pairs for one framework; prints them and the medians, returns the median ratio (None
    where a process failed)."""
    pairs = []
    for index in range(repeats):
        order = ("alone", "grid") if index % 2 == 0 else ("grid", "alone")
        got = {mode: timed(mode, name, grid, dtype) for mode in order}
        (alone, a), (checked, g) = got["alone"], got["grid"]
        if a is None or g is None:
            print(f"  pair {index + 1}: grid {checked:7.1f} s{'' if g else ' (failed)'}, alone "
                  f"{alone:7.1f} s{'' if a else ' (failed)'}: no ratio", flush=True)
            continue
        pairs.append((alone, checked, g["cases"]))
        errors = f"; errors: alone {len(a['errors'])}, grid {len(g['errors'])}" if (
            a["errors"] or g["errors"]) else ""
        print(f"  pair {index + 1} ({order[0]} first): grid {checked:7.1f} s, alone "
              f"{alone:7.1f} s, ratio {checked / alone:5.2f}; load average "
              f"{os.getloadavg()[0]:.1f}{errors}", flush=True)
        for line in (a["errors"] + g["errors"])[:3]:
            print(f"    {line}")
    if not pairs:
        print(f"{name} {grid}: no pair completed", flush=True)
        return None
    ratio = statistics.median(c / a for a, c, _ in pairs)
    print(f"{name} {grid} ({pairs[0][2]} cases, {dtype}): median grid "
          f"{statistics.median(c for _, c, _ in pairs):.1f} s, alone "
          f"{statistics.median(a for a, _, _ in pairs):.1f} s, ratio grid / alone {ratio:.2f} "
          f"({'within' if ratio <= GOAL else 'over'} the goal of {GOAL})", flush=True)
    return ratio


def main(argv):
    sys.path.insert(0, ROOT)
    from lstm_ref.grids.registry import FRAMEWORKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="all", choices=(*FRAMEWORKS, "all"))
    parser.add_argument("--grid", default="default", choices=("small", "default", "full"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--worker", choices=("alone", "grid"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.framework, args.grid, args.dtype)

    sys.path.insert(0, HERE)
    from machine import header

    print(header())
    print(f"grid {args.grid!r}, {args.repeats} pairs per framework; wall seconds from process "
          "start to end (imports included)", flush=True)
    names = list(FRAMEWORKS) if args.framework == "all" else [args.framework]
    ratios = {}
    for name in names:
        dtype = "float32" if name == "export" else args.dtype
        if dtype not in FRAMEWORKS[name].dtypes:
            print(f"{name}: skipped, it has no {dtype}")
            continue
        print(f"\n{name}:", flush=True)
        ratios[name] = measure(name, args.grid, dtype, args.repeats)
    if len(ratios) > 1:
        print("\nmedian ratio grid / alone: " + ", ".join(
            f"{n} {r:.2f}" if r is not None else f"{n} -" for n, r in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
