"""Where a Keras grid run's time goes: a per-case breakdown, printed as shares of each case's
time, and the shares over the whole grid.

    python bench/profile.py [--framework keras|tf_keras] [--grid small|default|full]
                            [--only PATTERN] [--dtype D] [--cases]

Buckets (exclusive time: a bucket's time leaves out the buckets called inside it):

- build: the case's layer built and its weights set (lstm_ref.frameworks.keras.cases);
- trace: TensorFlow tracing a tf.function (the function, xla and predict paths; XLA's
  compilation happens at the first call and counts as "layer call");
- layer call: the layer's own run by the case's execution path, less its tracing;
- stepped cell: the cell stepped for h and c at every step (its tracing counted in "trace");
- validate: the inputs checked by the reference before the framework sees them;
- reference: the float64 reference's forward;
- probes: the tolerance probes' forward (all of them, stacked);
- step check: the 16-bit exact step check (16-bit dtypes only);
- compare: expectations, bounds and the verdict (lstm_ref.engine);
- other: the rest of the case (arrays drawn, the case's own bookkeeping).

The header names the machine: CPU model, SIMD level, NumPy's BLAS and its threads, and the
frameworks' thread settings. These machines are shared: read the shares, not the seconds.
"""

import argparse
import functools
import os
import platform
import sys
import time
from collections import defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

BUCKETS = ("build", "trace", "layer call", "stepped cell", "validate", "reference", "probes",
           "step check", "compare", "other")


class Clock:
    """Exclusive time per bucket: entering a bucket pauses the one it was called from."""

    def __init__(self):
        self.totals = defaultdict(float)
        self.stack = []

    def enter(self, name):
        now = time.perf_counter()
        if self.stack:
            outer, since = self.stack[-1]
            self.totals[outer] += now - since
        self.stack.append([name, now])

    def leave(self):
        now = time.perf_counter()
        name, since = self.stack.pop()
        self.totals[name] += now - since
        if self.stack:
            self.stack[-1][1] = now

    def wrap(self, owner, attribute, bucket):
        """Time ``owner.attribute`` (a function) in ``bucket``; ``bucket`` may be a function
        of the call's arguments returning the bucket's name."""
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self.enter(bucket(*args, **kwargs) if callable(bucket) else bucket)
            try:
                return original(*args, **kwargs)
            finally:
                self.leave()

        setattr(owner, attribute, timed)


def machine():
    """Lines naming the machine: CPU, SIMD, BLAS and threads."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            text = info.read()
        cpu = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                   if line.startswith("model name"))
        flags = set(next(line for line in text.splitlines() if line.startswith("flags"))
                    .split(":", 1)[1].split())
        simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    except (OSError, StopIteration):
        simd = "?"
    lines = [f"machine: {cpu}, {os.cpu_count()} cores, {simd}, Python "
             f"{platform.python_version()}, NumPy {np.__version__}"]
    try:
        import threadpoolctl

        for pool in threadpoolctl.threadpool_info():
            lines.append(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                         f"({pool.get('architecture')}), {pool.get('num_threads')} threads")
    except ImportError:
        lines.append("BLAS: (threadpoolctl not installed)")
    import tensorflow as tf

    lines.append(f"TensorFlow {tf.__version__}: intra-op threads "
                 f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
                 f"inter-op {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    return lines


def instrument(clock):
    """Put the clock on the functions a Keras case runs through."""
    from tensorflow.python.eager.polymorphic_function import tracing_compilation

    from lstm_ref import engine, reference, step_check
    from lstm_ref.frameworks.keras import cases, execution, observe

    clock.wrap(cases, "build_case_layer", "build")
    clock.wrap(tracing_compilation, "trace_function", "trace")
    clock.wrap(execution, "call", "layer call")
    clock.wrap(observe, "step_cell", "stepped cell")
    clock.wrap(observe, "prepare_inputs", "validate")
    def which(*args, dtype="float64", keep="states", **kwargs):
        return ("validate" if keep == "final" else
                "reference" if dtype == "float64" else "probes")

    # forward is imported by name where it is called: time it in each of those modules
    for module in (reference, engine, observe):
        clock.wrap(module, "forward", which)
    clock.wrap(step_check, "observation_step_check", "step check")
    clock.wrap(engine, "compare_parts", "compare")
    clock.wrap(engine, "tensor_expectations", "compare")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="keras", choices=("keras", "tf_keras"))
    parser.add_argument("--grid", default="default", choices=("small", "default", "full"))
    parser.add_argument("--only", default=None)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--cases", action="store_true", help="a line per case too")
    args = parser.parse_args(argv)

    from lstm_ref.grids.registry import framework, grid_cases

    print("\n".join(machine()))
    clock = Clock()
    instrument(clock)
    runner = framework(args.framework)
    cases = grid_cases(args.framework, args.grid, args.only)
    grand = defaultdict(float)
    rows = []
    for case in cases:
        clock.totals.clear()
        clock.enter("other")
        runner.run(case, args.dtype)
        clock.leave()
        total = sum(clock.totals.values())
        for name, seconds in clock.totals.items():
            grand[name] += seconds
        rows.append((case.id, total, dict(clock.totals)))

    def shares(totals, total):
        return "".join(f"{100 * totals.get(name, 0.0) / total:>7.1f}%" for name in BUCKETS)

    header = f"{'':<12}" + "".join(f"{name[:7]:>8}" for name in BUCKETS)
    print(f"\n{args.framework} grid {args.grid!r} in {args.dtype}: {len(cases)} cases, "
          f"{sum(r[1] for r in rows):.1f} s; exclusive shares of the time")
    print(header)
    if args.cases:
        for case_id, total, totals in rows:
            print(f"{total:>10.2f}s" + shares(totals, total) + f"  {case_id}")
    all_time = sum(grand.values())
    print(f"{'all cases':<12}" + shares(grand, all_time))
    by_execution = defaultdict(lambda: [0.0, 0])
    for case, (_, total, _) in zip(cases, rows):
        by_execution[case.execution][0] += total
        by_execution[case.execution][1] += 1
    print("per execution path: " + ", ".join(
        f"{name} {seconds / count:.2f} s a case ({count})"
        for name, (seconds, count) in sorted(by_execution.items())))


if __name__ == "__main__":
    main(sys.argv[1:])
