"""Calibrate the exact step check of 16-bit Keras layers (lstm_ref.step_check) on random
configurations: how far a faithful layer's steps are from the emulation.

    python bench/calibrate_steps.py N [--dtype float16|bfloat16|mixed_float16|mixed_bfloat16]
                                      [--max-time T]

Draws N random Keras LSTM configurations (the activations the emulation has, both
implementations, masks, go_backwards, initial states, sizes that straddle vector widths),
runs each in the dtype, and prints the largest difference of any element in ulps, the largest
fraction of elements not bit-identical, and the check's verdicts under the table's entry.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from lstm_ref.emulation import ACTIVATIONS  # noqa: E402
from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402
from lstm_ref.frameworks.keras.observe import observe  # noqa: E402
from lstm_ref.grids.keras import Case  # noqa: E402
from lstm_ref.step_check import STEP_TOLERANCES, observation_step_check  # noqa: E402
from machine import header  # noqa: E402

GATES = ("sigmoid", "hard_sigmoid")
MASKS = (None, "right", "left", "middle")


def random_case(index, max_time):
    """A seeded random configuration and its mask (or None)."""
    rng = np.random.default_rng(50_000 + index)
    pick = lambda values: values[rng.integers(len(values))]  # noqa: E731
    case = Case(units=int(pick((1, 2, 7, 8, 9, 16, 17, 33, 64))),
                features=int(pick((1, 3, 8, 9, 17, 32))), batch=int(rng.integers(1, 12)),
                time=int(rng.integers(1, max_time + 1)), activation=pick(ACTIVATIONS),
                recurrent_activation=pick(GATES), go_backwards=bool(rng.integers(2)),
                initial_state=bool(rng.integers(2)), use_bias=bool(rng.integers(2)),
                implementation=int(rng.integers(1, 3)))
    kind = pick(MASKS)
    mask = None
    if kind is not None:
        lengths = rng.integers(1, case.time + 1, case.batch)
        steps = np.arange(case.time)[None, :]
        mask = (steps < lengths[:, None] if kind == "right" else
                steps >= (case.time - lengths)[:, None] if kind == "left" else
                rng.random((case.batch, case.time)) > 0.3)
    return case, mask


def measure(case, mask, dtype):
    """(largest difference in ulps, fraction not bit-identical, verdict) of one case."""
    layer = keras_cases.build_case_layer(case, dtype=dtype)
    arrays = case.arrays()
    obs = observe(layer, arrays["x"], initial_state=arrays["initial_state"], mask=mask)
    actual, expected = observation_step_check(obs)
    if not expected:
        return None
    ulps = 0.0
    for name in ("step.h", "step.c"):
        e = expected[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.abs(np.asarray(actual[name], np.float64) - e.values) / np.where(
                e.bound > 0, e.bound, np.inf)
        ulps = max(ulps, float(np.nanmax(np.where(e.status == 0, ratio, 0.0))))
    fraction = float(actual["step.mismatch"].ravel()[0])
    tol = STEP_TOLERANCES[dtype.removeprefix("mixed_")]
    return ulps * tol.ulps, fraction, ulps <= 1 and fraction <= tol.mismatch


def main(argv):
    n = int(argv[0]) if argv else 200
    dtype = argv[argv.index("--dtype") + 1] if "--dtype" in argv else "float16"
    max_time = int(argv[argv.index("--max-time") + 1]) if "--max-time" in argv else 40
    start, results, failures = time.time(), [], []
    print(header())
    for index in range(n):
        case, mask = random_case(index, max_time)
        result = measure(case, mask, dtype)
        if result is None:
            continue
        results.append((*result[:2], case.id))
        if not result[2]:
            failures.append((index, case.id, result))
        if index % 100 == 99:
            print(f"... {index + 1} cases, {time.time() - start:.0f} s", file=sys.stderr)
    ulps = np.array([r[0] for r in results])
    fractions = np.array([r[1] for r in results])
    worst_ulps, worst_fraction = max(results), max(results, key=lambda r: r[1])
    print(f"{len(results)} random {dtype} cases (time <= {max_time}) in {time.time() - start:.0f} s")
    print(f"largest difference in ulps: max {ulps.max():g} ({worst_ulps[2]}); cases with any: "
          f"{(ulps > 0).sum()}")
    print(f"fraction not bit-identical: max {fractions.max():.5f} ({worst_fraction[2]}), "
          f"99.9th percentile {np.percentile(fractions, 99.9):.5f}, cases with any: "
          f"{(fractions > 0).sum()}")
    print(f"entry {STEP_TOLERANCES[dtype.removeprefix('mixed_')].describe()}: "
          f"{len(failures)} false failures")
    for index, case_id, result in failures:
        print(f"  FAILED #{index} {case_id}: {result[0]:g} ulps, {result[1]:.4f} not identical")


if __name__ == "__main__":
    main(sys.argv[1:])
