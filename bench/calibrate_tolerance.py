"""Calibrate the float32 tolerance against the installed Keras: soundness at volume.

Runs N random configurations (sizes, every usable activation, every option; seeded by index)
through the same path as ``compare`` (the layer's cell stepped, the layer called), and for
every element of every tensor records what the bound

    |err| <= max(A * eps, K * kappa_t * eps) + R * eps * |ref|

needs. For each floor (A, R) it prints the smallest scale K that passes *every* element of
every case, and how many cases the floor alone would fail. Pick K with a margin over that.

Usage:  python bench/calibrate_tolerance.py [N] [--max-time T]
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from lstm_ref import grid  # noqa: E402
from lstm_ref.adapters import keras as keras_adapter  # noqa: E402
from lstm_ref.compare import _REFERENCE_OF  # noqa: E402
from lstm_ref.reference import forward  # noqa: E402
from lstm_ref.tolerance import EPS32  # noqa: E402

FLOORS = [(a, r) for a in (1, 2, 4, 8, 16) for r in (1, 2, 4)]
REPORTED_FLOOR = (8, 4)  # the floor whose per-case needs are listed


def random_case(index, max_time):
    rng = np.random.default_rng(10_000 + index)
    pick = lambda values: values[rng.integers(len(values))]  # noqa: E731
    options = {k: pick(v) for k, v in grid.FULL_OPTIONS.items()}
    return grid.Case(units=int(rng.integers(1, 65)), features=int(rng.integers(1, 33)),
                     batch=int(rng.integers(1, 6)), time=int(rng.integers(1, max_time + 1)),
                     **options)


def needs(case):
    """For each floor (A, R): the K this case needs (0 if the floor suffices)."""
    layer = keras_adapter.build_case_layer(case)
    arrays = case.arrays()
    obs = keras_adapter.observe(layer, arrays["x"], initial_state=arrays["initial_state"])
    args = dict(initial_state=obs.initial_state, **obs.options)
    ref = forward(obs.x, obs.weights, **args)
    probe = forward(obs.x, obs.weights, dtype="float32", **args)
    result = {floor: 0.0 for floor in FLOORS}
    worst_floor_ratio = 0.0
    for name, got in obs.actual.items():
        expected = getattr(ref, _REFERENCE_OF[name])
        dev = np.abs(getattr(probe, _REFERENCE_OF[name]).astype(np.float64) - expected)
        kappa = np.maximum.accumulate(np.nan_to_num(dev, posinf=0).max(axis=(0, 2))) / EPS32
        if got.ndim == 2:
            expected, kappa, got = expected[:, -1:], kappa[-1:], got[:, None]
        err = np.abs(got.astype(np.float64) - expected)
        magnitude = np.abs(expected)
        finite = np.isfinite(err) & np.isfinite(magnitude)
        err, magnitude = np.where(finite, err, 0), np.where(finite, magnitude, 0)
        worst_floor_ratio = max(worst_floor_ratio, float((err / (EPS32 * (1 + magnitude))).max()))
        for a, r in FLOORS:
            excess = err - r * EPS32 * magnitude
            over = excess > a * EPS32
            if over.any():
                k = (excess / (np.maximum(kappa, 1e-30)[None, :, None] * EPS32))[over].max()
                result[(a, r)] = max(result[(a, r)], float(k))
    return result, worst_floor_ratio


def main(argv):
    n = int(argv[0]) if argv else 500
    max_time = int(argv[argv.index("--max-time") + 1]) if "--max-time" in argv else 100
    worst = {floor: (0.0, None) for floor in FLOORS}
    floor_fails = {floor: 0 for floor in FLOORS}
    floor_ratios = []
    per_case = []  # (K needed at the chosen floor, case id)
    start = time.time()
    for index in range(n):
        case = random_case(index, max_time)
        result, floor_ratio = needs(case)
        floor_ratios.append(floor_ratio)
        per_case.append((result[REPORTED_FLOOR], case.id))
        if index % 100 == 99:
            print(f"... {index + 1} cases, {time.time() - start:.0f} s", file=sys.stderr)
        for floor, k in result.items():
            floor_fails[floor] += k > 0
            if k > worst[floor][0]:
                worst[floor] = (k, case.id)
    print(f"{n} random cases (time <= {max_time}) in {time.time() - start:.0f} s")
    print(f"floor-only ratio err / (eps (1 + |ref|)): median {np.median(floor_ratios):.2f}, "
          f"99th percentile {np.percentile(floor_ratios, 99):.2f}, max {max(floor_ratios):.2f}")
    print(f"{'A':>3} {'R':>3} {'cases over floor':>17} {'K needed':>9}  worst case")
    for floor in FLOORS:
        k, case_id = worst[floor]
        print(f"{floor[0]:>3} {floor[1]:>3} {floor_fails[floor]:>17} {k:>9.3f}  {case_id}")
    needs_at = np.array([k for k, _ in per_case])
    print(f"at floor A, R = {REPORTED_FLOOR}: K needed, percentiles 50/90/99/99.9: "
          f"{np.percentile(needs_at, [50, 90, 99, 99.9]).round(3).tolist()}; the 15 largest:")
    for k, case_id in sorted(per_case, reverse=True)[:15]:
        print(f"  {k:9.3f}  {case_id}")


if __name__ == "__main__":
    main(sys.argv[1:])
