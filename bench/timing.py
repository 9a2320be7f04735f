"""What the benchmarks share: medians of repeated runs and the random problems they time.

These machines are shared and noisy: every figure is a median, and the documentation quotes ratios
measured in one run rather than absolute times.
"""

import time

import numpy as np

import lstm_ref

# (batch B, time T, features F, units U); the last is bench/perf.py's goal size.
SIZES = [(8, 50, 16, 32), (32, 100, 64, 128), (64, 100, 128, 256)]


def median_time(fn, repeats):
    """The median of ``repeats`` timed calls of ``fn``, after one untimed warm-up (which also
    traces a tf.function)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def paired_ratio(fn_a, fn_b, repeats):
    """The median over ``repeats`` rounds of time(fn_b) / time(fn_a), the two timed back to
    back in each round (after one untimed warm-up of each): both see the same load, so the
    ratio holds still where the machine's speed does not (medians taken apart swung 30%)."""
    fn_a(), fn_b()
    ratios = []
    for _ in range(repeats):
        times = []
        for fn in (fn_a, fn_b):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        ratios.append(times[1] / times[0])
    return float(np.median(ratios))


def problem(batch, steps, features, units, seed=0):
    """Random weights (per gate, pre-activations of order 1) and inputs: ``(weights, x)``."""
    rng = np.random.default_rng(seed)
    weights = lstm_ref.LSTMWeights(rng.normal(0, 1 / np.sqrt(features), (features, 4 * units)),
                                   rng.normal(0, 1 / np.sqrt(units), (units, 4 * units)),
                                   rng.uniform(-1, 1, 4 * units))
    return weights, rng.uniform(-1, 1, (batch, steps, features))


def matmul_flops(batch, steps, features, units):
    """The forward's matrix-product FLOPs: x_t W and h_{t-1} R at every step (2 per
    multiply-add). The elementwise work (gates, c and h: about 20 operations per unit and
    step) is left out, so GFLOP/s below compare the reference with what its matmuls alone
    could reach."""
    return 2 * batch * steps * 4 * units * (features + units)
