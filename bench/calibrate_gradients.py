"""Calibrate and check the float32 gradient tolerance against the installed Keras (TensorFlow).

Runs N random configurations (sizes, every usable activation, every option of the grid, and
a random mask: none, right-, left- or middle-padded; seeded by index) through
lstm_ref.compare_gradients's own path (the cell stepped under a tape for dL/dh_t and dL/dc_t,
the whole layer under a tape for dx, dh0, dc0 and the weights), and for each case finds the
smallest scale K of the bound (lstm_ref.gradient_check)

    |err| <= max(A eps scale_t, K kappa_t eps) + R eps |ref|

that passes every element of every gradient, for the entry's floor (A, R). Then it checks the
entry itself: false failures (must be 0) and the largest error-to-bound ratio.

Usage:  python bench/calibrate_gradients.py [N] [--max-time T] [--dtype float32|float64]
                                            [--indices I,J,...]

(float64 leaves out gelu and leaky_relu, TensorFlow's float64 departures, as
bench/calibrate_tolerance.py does.)
"""

import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from lstm_ref import tolerance, tolerance_table
from lstm_ref.grids import keras as grid  # noqa: E402
from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402
from lstm_ref.frameworks.keras import twin as keras_twin  # noqa: E402
from lstm_ref.frameworks.keras import gradients as keras_gradients  # noqa: E402
from lstm_ref.engine import nonfinite_reach  # noqa: E402
from lstm_ref.gradient_check import (check_gradients, forward_cuts, probe_gradients,  # noqa: E402
                                     tainted_rows)
from lstm_ref.backprop import gradients  # noqa: E402
from machine import header  # noqa: E402

SCALES = (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 1e9)
MASKS = (None, "right", "left", "middle")


def random_case(index, max_time, dtype="float32"):
    rng = np.random.default_rng(30_000 + index)
    options = {k: v[rng.integers(len(v))] for k, v in grid.FULL_OPTIONS.items()}
    if dtype == "float64" and options["activation"] in keras_twin.FLOAT64_DEPARTURES["tensorflow"]:
        options["activation"] = "tanh"
    case = grid.Case(units=int(rng.integers(1, 33)), features=int(rng.integers(1, 17)),
                     batch=int(rng.integers(1, 6)), time=int(rng.integers(1, max_time + 1)),
                     **options)
    return case, random_mask(rng, case.batch, case.time, MASKS[rng.integers(len(MASKS))])


def random_mask(rng, batch, time, kind):
    """A (batch, time) mask of ``kind`` padding, or None; every row keeps a valid step."""
    if kind is None:
        return None
    lengths = rng.integers(1, time + 1, batch)
    steps = np.arange(time)[None, :]
    if kind == "right":
        return steps < lengths[:, None]
    if kind == "left":
        return steps >= (time - lengths)[:, None]
    mask = rng.random((batch, time)) > 0.3
    mask[:, rng.integers(time)] = True
    return mask


def measure(case, mask, tol):
    """(smallest K of SCALES that passes, the report under the entry) for one case."""
    layer = keras_cases.build_case_layer(case, dtype=tol.dtype)
    arrays = case.arrays()
    obs = keras_gradients.observe_gradients(layer, arrays["x"], arrays["initial_state"], mask,
                                            seed=case.seed)
    reference = gradients(obs.x, obs.weights, initial_state=obs.initial_state, mask=obs.mask,
                          **obs.upstream, **obs.options)
    probe = probe_gradients(obs, tol.probe)
    reached = nonfinite_reach(obs.x, obs.initial_state, obs.mask,
                              obs.options.get("go_backwards", False))
    cut, tainted = forward_cuts(reference, probe, reached), tainted_rows(obs)

    def run(entry):
        return check_gradients(obs.actual, reference, probe, entry, cut, obs.options, None,
                               tainted)

    report = run(tol)
    # The smallest K that does not fail (an inconclusive case passes with any K).
    needed = next(k for k in SCALES if not run(dataclasses.replace(tol, scale=k)).failed)
    return needed, report


def main(argv):
    n = int(argv[0]) if argv else 300
    max_time = int(argv[argv.index("--max-time") + 1]) if "--max-time" in argv else 60
    dtype = argv[argv.index("--dtype") + 1] if "--dtype" in argv else "float32"
    tol = tolerance_table.lookup(dtype, "gradients")
    print(header())
    needs, ratios, failures, inconclusive = [], [], [], 0
    start = time.time()
    indices = range(n)
    if "--indices" in argv:  # re-run chosen cases of the soak
        indices = [int(i) for i in argv[argv.index("--indices") + 1].split(",")]
        n = len(indices)
    for index in indices:
        case, mask = random_case(index, max_time, dtype)
        needed, report = measure(case, mask, tol)
        needs.append((needed, case.id))
        ratios.append((report.worst_ratio, case.id))
        inconclusive += report.inconclusive
        if report.failed:
            failures.append((index, case.id, report.summary()))
            print(f"false failure #{index} {case.id}: err/bound {report.worst_ratio:.3g}, "
                  f"K needed {needed:g}", flush=True)
        if len(needs) % 50 == 0:  # a running account, so a cut-short run still says something
            print(f"... {len(needs)} cases, {time.time() - start:.0f} s: {len(failures)} false "
                  f"failures, K needed max {max(needs)[0]:g}, err/bound max "
                  f"{max(ratios)[0]:.3f}", flush=True)
    ks = np.array([k for k, _ in needs])
    print(f"{n} random {dtype} cases (time <= {max_time}, {tolerance.PROBES} probes) in "
          f"{time.time() - start:.0f} s")
    print(f"K needed over the floor {tol.atol / tol.eps:g} eps * scale + {tol.rtol / tol.eps:g} "
          f"eps |ref|: percentiles 50/90/99/max {np.percentile(ks, [50, 90, 99]).tolist()} / "
          f"{max(needs)[0]} ({max(needs)[1]})")
    print(f"entry {tol.describe()}: {len(failures)} false failures of {n}; error/bound median "
          f"{np.median([r for r, _ in ratios]):.3f}, max {max(ratios)[0]:.3f} "
          f"({max(ratios)[1]}); {inconclusive} inconclusive (a tensor with nothing compared: "
          f"past {tol.probe}'s horizon, or undetermined)")
    for index, case_id, summary in failures:
        print(f"FAILED #{index} {case_id}\n{summary}\n")


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    main(sys.argv[1:])
