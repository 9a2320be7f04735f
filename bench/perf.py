"""Benchmark: how fast the reference is, how little memory it needs, how long the suite takes.

One run prints four tables (medians of repeated runs; quote the ratios, these machines are
shared):

1. forward: the reference (float64 and float32, keep="states") against Keras's LSTM forward
   (float32, TensorFlow backend) called eagerly and inside tf.function, and torch.nn.LSTM's
   (float32, where torch is installed), at several sizes; "fn / ref32" above 1 means the
   reference is the faster; "paired" is the same ratio with the two timed back to back in
   each round (bench/timing.py paired_ratio), steadier on a shared machine.
2. GFLOP/s: the reference's matmul FLOPs per second (bench/timing.py matmul_flops) against
   NumPy's matmul rate on the same machine: one square matmul of the same FLOPs (the BLAS's
   best) and the reference's own matmuls run bare (the ceiling for a step-by-step
   recurrence, whose h_{t-1} R products are small); and the frameworks' forwards of table 1
   at the same FLOPs, against the same square matmul: what a compiled LSTM reaches here.
3. memory: tracemalloc's peak during forward(keep="final") at T = 1,000 ... 100,000, beyond
   the input itself: it must not grow with T (O(batch * units)).
4. suite: the wall time of the default test suite, serially and with pytest-xdist's -n 2, and
   the speed-up (skipped with --no-suite; several minutes).

Goals: at (64, 100, 128, 256) the float32 reference faster than Keras's tf.function
forward and at least 0.6 of the square matmul's rate; the suite within 60 s on 2 cores with
-n 2, at least 1.6 times faster than serially.

Usage:  python bench/perf.py [--repeats N] [--no-suite] [--no-keras]
"""

import os
import re
import subprocess
import sys
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import lstm_ref  # noqa: E402
from machine import header  # noqa: E402
from timing import SIZES, matmul_flops, median_time, paired_ratio, problem  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_SIZE = (8, 16, 32)  # batch, features, units of the long-sequence runs
MEMORY_STEPS = (1_000, 10_000, 100_000)


def import_frameworks():
    """Imports Keras (TensorFlow) and torch where installed."""
    for name in ("keras", "torch"):
        try:
            __import__(name)
        except ImportError:
            pass


def keras_forward(batch, steps, features, units, repeats, reference):
    """Keras's float32 LSTM forward (return_sequences=True), eager and in tf.function: their
    medians, and the tf.function's time over ``reference``'s timed back to back (paired)."""
    import keras
    import tensorflow as tf

    layer = keras.layers.LSTM(units, return_sequences=True)
    x = tf.random.stateless_uniform((batch, steps, features), (0, 0), -1, 1)
    compiled = tf.function(lambda x: layer(x))
    run = lambda: compiled(x).numpy()  # noqa: E731
    return (median_time(lambda: layer(x).numpy(), repeats), median_time(run, repeats),
            paired_ratio(reference, run, repeats))


def torch_forward(batch, steps, features, units, repeats):
    """torch.nn.LSTM's float32 forward (batch_first, no autograd), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    layer = torch.nn.LSTM(features, units, batch_first=True)
    x = torch.rand(batch, steps, features) * 2 - 1

    def run():
        with torch.no_grad():
            return layer(x)[0].numpy()
    return median_time(run, repeats)


def forward_table(repeats, with_keras):
    """Prints table 1; returns {size: {"keras fn": s, "torch": s}} for table 2."""
    print("1. forward, median seconds (keras: float32, TensorFlow backend, CPU; torch: "
          "float32 nn.LSTM, no autograd)")
    print(f"{'B, T, F, U':>18} {'ref64':>8} {'ref32':>8} {'keras eager':>11} {'keras fn':>9} "
          f"{'torch':>8} {'eager / ref32':>13} {'fn / ref32':>10} {'paired':>6} "
          f"{'torch / ref32':>13}")
    frameworks = {}
    for size in SIZES:
        w, x = problem(*size)
        ref = [median_time(lambda d=d: lstm_ref.forward(x, w, dtype=d), repeats)
               for d in ("float64", "float32")]
        line = f"{str(size):>18} {ref[0]:>8.4f} {ref[1]:>8.4f}"
        if with_keras:
            eager, function, paired = keras_forward(
                *size, repeats, lambda: lstm_ref.forward(x, w, dtype="float32"))
            torch_time = torch_forward(*size, repeats)
            frameworks[size] = {"keras fn": function, "torch": torch_time}
            torch_text = ("-", "-") if torch_time is None else (
                f"{torch_time:.4f}", f"{torch_time / ref[1]:.2f}")
            line += (f" {eager:>11.4f} {function:>9.4f} {torch_text[0]:>8} "
                     f"{eager / ref[1]:>13.2f} {function / ref[1]:>10.2f} {paired:>6.2f} "
                     f"{torch_text[1]:>13}")
        print(line, flush=True)
    return frameworks


def bare_matmuls(batch, steps, features, units, dtype):
    """The reference's matmuls alone, same shapes: x W for all steps, then T times h R."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (steps * batch, features)).astype(dtype)
    kernel = rng.normal(size=(features, 4 * units)).astype(dtype)
    h = rng.uniform(-1, 1, (batch, units)).astype(dtype)
    recurrent = rng.normal(size=(units, 4 * units)).astype(dtype)
    z = np.empty((batch, 4 * units), dtype)

    def run():
        x @ kernel
        for _ in range(steps):
            np.matmul(h, recurrent, out=z)
    return run


def square_matmul(flops, dtype):
    """One n x n matmul of about ``flops`` FLOPs (2 n^3): ``(run, its exact FLOPs)``."""
    n = max(1, round((flops / 2) ** (1 / 3)))
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(n, n)).astype(dtype) for _ in range(2))
    return (lambda: a @ b), 2 * n ** 3


def gflops_table(repeats, frameworks):
    print("\n2. GFLOP/s of the matmul FLOPs (2 B T 4U (F + U)); the frameworks' float32 "
          "forwards (table 1) at the same FLOPs, for comparison")
    print(f"{'B, T, F, U':>18} {'dtype':>7} {'GFLOP':>6} {'reference':>9} {'bare matmuls':>12} "
          f"{'square matmul':>13} {'ref / square':>12} {'ref / bare':>10} "
          f"{'keras fn / square':>17} {'torch / square':>14}")
    for size in SIZES:
        flops = matmul_flops(*size)
        w, x = problem(*size)
        for dtype in ("float32", "float64"):
            ref = flops / median_time(lambda: lstm_ref.forward(x, w, dtype=dtype), repeats)
            bare = flops / median_time(bare_matmuls(*size, dtype), repeats)
            run, square_flops = square_matmul(flops, dtype)
            square = square_flops / median_time(run, repeats)
            rates = [("-" if dtype != "float32" or frameworks.get(size, {}).get(name) is None
                      else f"{flops / frameworks[size][name] / square:.2f}")
                     for name in ("keras fn", "torch")]
            print(f"{str(size):>18} {dtype:>7} {flops / 1e9:>6.2f} {ref / 1e9:>9.1f} "
                  f"{bare / 1e9:>12.1f} {square / 1e9:>13.1f} {ref / square:>12.2f} "
                  f"{ref / bare:>10.2f} {rates[0]:>17} {rates[1]:>14}", flush=True)


def memory_table():
    batch, features, units = MEMORY_SIZE
    print(f"\n3. peak memory of forward(keep='final') beyond its input, batch {batch}, "
          f"features {features}, units {units} (tracemalloc)")
    print(f"{'T':>8} {'input MiB':>10} {'float64 peak MiB':>16} {'float32 peak MiB':>16} "
          f"{'keep=states MiB':>15}")
    for steps in MEMORY_STEPS:
        w, x = problem(batch, steps, features, units)
        peaks = [traced_peak(lambda d=d: lstm_ref.forward(x, w, dtype=d, keep="final"))
                 for d in ("float64", "float32")]
        states = (traced_peak(lambda: lstm_ref.forward(x, w, keep="states"))
                  if steps <= 10_000 else float("nan"))
        print(f"{steps:>8} {x.nbytes / 2**20:>10.1f} {peaks[0] / 2**20:>16.2f} "
              f"{peaks[1] / 2**20:>16.2f} {states / 2**20:>15.1f}", flush=True)


def traced_peak(fn):
    """The peak bytes tracemalloc sees allocated while ``fn`` runs (NumPy reports its
    buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def suite_table():
    print("\n4. the default test suite (python -m pytest -q), wall seconds")
    runs = {}
    for label, extra in (("serial", []), ("-n 2", ["-n", "2"])):
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              *extra], cwd=ROOT, capture_output=True, text=True)
        runs[label] = time.perf_counter() - start
        summary = next((line for line in reversed(run.stdout.splitlines())
                        if re.search(r"\d+ passed", line)), run.stdout[-300:])
        print(f"{label:>8} {runs[label]:>7.1f} s   {summary.strip('= ')}", flush=True)
    print(f"speed-up of -n 2: {runs['serial'] / runs['-n 2']:.2f}")


def main(argv):
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 5
    if "--no-keras" not in argv:  # imported first, so the header names their threads
        import_frameworks()
    print(header())
    print(f"medians of {repeats}\n")
    frameworks = forward_table(repeats, "--no-keras" not in argv)
    gflops_table(repeats, frameworks)
    memory_table()
    if "--no-suite" not in argv:
        suite_table()


if __name__ == "__main__":
    main(sys.argv[1:])
