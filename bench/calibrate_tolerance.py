"""Calibrate and check the float32 tolerance against the installed Keras: soundness at volume.

Runs N random configurations (sizes, every usable activation, every option; seeded by index)
through the same path as ``compare`` (the layer's cell stepped, the layer called; the
reference and its probes from ``compare.run_reference``), and for every element of every
tensor records what the bound

    |err| <= max(A * eps, K * kappa * eps) + R * eps * |ref|

needs. For each floor (A, R) it prints the smallest scale K that passes *every* element of
every case; then it checks the table's own entry: false failures (must be 0) and the largest
error-to-bound ratio.

Usage:  python bench/calibrate_tolerance.py [N] [--max-time T] [--dtype D] [--cudnn]
                                            [--horizon H] [--probe FORMAT]

--dtype is the layer's dtype or policy: float32 (default), float64, float16, bfloat16,
mixed_float16 or mixed_bfloat16; the entry used is the compute dtype's, and kappa comes from
that entry's probes (its ``probe`` format). With float64 gelu and leaky_relu are left out:
TensorFlow's float64 gelu is only float32-accurate, and its leaky_relu slope is float32(0.2)
(tests/frameworks/keras/test_known_divergences.py).

--horizon H replaces the entry's horizon, to see how the scale needed grows with the probes'
relative deviation: the K needed is also printed per band of that deviation (the running
max over steps of max |probe - reference| / the step's largest |reference|). --probe FORMAT
replaces the format the entry's probes run in (to compare choices).

With --cudnn the layers are built with use_cudnn=True and only cuDNN-eligible options (tanh,
sigmoid, a bias, not unrolled); on a GPU (KERAS_BACKEND=torch where TensorFlow has none) this
measures cuDNN against the reference, and the report is checked against the cuDNN entry.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402

from lstm_ref import precision, tolerance, tolerance_table
from lstm_ref.grids import keras as grid  # noqa: E402
from lstm_ref.frameworks.keras import cases as keras_cases  # noqa: E402
from lstm_ref.frameworks.keras import observe as keras_observe  # noqa: E402
from lstm_ref.frameworks.keras import twin as keras_twin  # noqa: E402
from lstm_ref.bias import probe_drift, step_bias  # noqa: E402
from lstm_ref.engine import (REFERENCE_OF, compare_parts, observation_part, row_cuts,  # noqa: E402
                             sequence_expectation)
from lstm_ref.report import COMPARED  # noqa: E402
from machine import header  # noqa: E402

FLOORS = [(a, r) for a in (1, 2, 4, 8, 16, 32, 64) for r in (1, 4, 16)]
# Floors of the step-drift bound (lstm_ref.bias), in eps.
DRIFT_FLOORS = (1, 2, 4, 8, 16)
# The longest unrolled layer traced (tf.function, XLA, predict); longer ones run eagerly.
MAX_TRACED_UNROLL = 40
# Bands of the probes' relative deviation (see --horizon), upper edges.
BANDS = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, np.inf)


def random_case(index, max_time, dtype="float32", cudnn=False):
    rng = np.random.default_rng(10_000 + index)
    options = {k: v[rng.integers(len(v))] for k, v in grid.FULL_OPTIONS.items()}
    departures = keras_twin.FLOAT64_DEPARTURES.get(keras_twin.keras_module().backend.backend(), ())
    if dtype == "float64" and options["activation"] in departures:
        options["activation"] = "tanh"
    if cudnn:  # what cuDNN runs (keras cudnn_ok)
        options.update(activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                       unroll=False)
    time_steps = int(rng.integers(1, max_time + 1))
    options = grid.adjust({**options, "time": time_steps})
    if options["unroll"] and time_steps > MAX_TRACED_UNROLL:
        options["execution"] = "eager"  # one graph node per step: slow to trace
    del options["time"]
    return grid.Case(units=int(rng.integers(1, 65)), features=int(rng.integers(1, 33)),
                     batch=int(rng.integers(1, 6)), time=time_steps, **options)


def entry(dtype, cudnn, **replaced):
    """The table's entry for a layer dtype or policy, with fields replaced where asked."""
    compute = dtype.removeprefix("mixed_")
    tol = tolerance_table.lookup(compute, "cudnn" if cudnn else None)
    return dataclasses.replace(tol, **{k: v for k, v in replaced.items() if v is not None})


def measure(case, dtype, tol, cudnn=False):
    """(K needed for each floor, K needed per deviation band, the largest relative deviation
    of the probes over the compared elements, the report) for one case. Each element's kappa
    is the engine's (lstm_ref.tolerance.conditioning: its row's, the grid's kernels being
    dense); only the elements the engine compares count."""
    eps = tol.eps
    layer = keras_cases.build_case_layer(case, dtype=dtype,
                                         **({"use_cudnn": True} if cudnn else {}))
    arrays = case.arrays()
    obs = keras_observe.observe(layer, arrays["x"], initial_state=arrays["initial_state"],
                                mask=arrays["mask"],
                                execution=keras_cases.case_execution(case, layer))
    part = observation_part(obs, tol)
    # The verdict as the product gives it: the step drift off for exempt activations.
    exempt, why = tolerance_table.without_drift_check(
        tol, [obs.weights.activation.name, obs.weights.recurrent_activation.name])
    report = compare_parts([part if why is None else observation_part(obs, exempt)])
    expected = part.expectations()
    cut, code = row_cuts(part.reference, part.probe, tol, part.tainted)
    needs = dict.fromkeys(FLOORS, 0.0)
    drift_needs = dict.fromkeys(DRIFT_FLOORS, 0.0)
    bands = dict.fromkeys(BANDS, 0.0)
    strayed = 0.0
    for name, got in obs.actual.items():
        field = REFERENCE_OF[name]
        reference, probed = getattr(part.reference, field), getattr(part.probe, field)
        kappa = tolerance.conditioning(reference, probed, precision.get(tol.probe).eps)
        deviation = relative_deviation(reference, probed)
        if got.ndim == 2:  # the last step only
            kappa, deviation, got = kappa[:, -1:], deviation[:, -1:], got[:, None]
        e = expected[name] if got.shape[1] == expected[name].values.shape[1] else None
        if e is None:  # the last output of a layer returning sequences: not shown
            continue
        compared = e.status == COMPARED
        # The step drift: the K it needs over each floor F (a step within F eps needs none).
        drift = np.abs(step_bias(got.astype(np.float64), e.values, e.drift_weight())) / eps
        # The probes' drift over the same elements as the engine's bound (the field's whole
        # sequence, its compared elements).
        full = sequence_expectation(reference, probed, tol, cut, code, part.tainted)
        own = probe_drift(reference, probed, precision.get(tol.probe).eps,
                          full.drift_weight())
        if got.shape[1] == 1 and own.shape[0] > 1:  # the last step's: the running max at it
            own = own[-1:]
        if own.shape[0] == drift.shape[0]:
            own = np.where(compared.any(axis=(0, 2)), own, np.inf)
            for floor in DRIFT_FLOORS:
                over = drift > floor
                if over.any():
                    k = (drift[over] / np.maximum(own[over], 1e-30)).max()
                    drift_needs[floor] = max(drift_needs[floor], float(k))
        with np.errstate(invalid="ignore"):
            err = np.where(compared, np.abs(got.astype(np.float64) - e.values), 0.0)
            magnitude = np.where(compared, np.abs(e.values), 0.0)
        for a, r in FLOORS:
            excess = err - r * eps * magnitude
            over = compared & (excess > a * eps)
            if over.any():
                k = (excess / (np.maximum(kappa, 1e-30) * eps))[over].max()
                needs[(a, r)] = max(needs[(a, r)], float(k))
        row_compared = compared.any(axis=2)
        strayed = max(strayed, float(np.where(row_compared, deviation, 0.0).max(initial=0.0)))
        excess = err - tol.rtol * magnitude  # the table's floor, per deviation band
        k = np.where(compared & (excess > tol.atol),
                     excess / (np.maximum(kappa, 1e-30) * eps), 0)
        k_row_step = k.max(axis=2)
        band = np.searchsorted(BANDS, deviation)
        for index, edge in enumerate(BANDS):
            where = (band == index) & row_compared
            if where.any():
                bands[edge] = max(bands[edge], float(k_row_step[where].max()))
    return needs, bands, strayed, report, drift_needs


def relative_deviation(expected, probe):
    """Per row and step, the running max of the probes' largest deviation over the row's
    largest |reference| at that step (what the horizon is compared with)."""
    probe = probe.reshape(-1, *expected.shape).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        deviation = np.nan_to_num(np.abs(probe - expected), posinf=0.0).max(axis=(0, 3))
        scale = np.nan_to_num(np.abs(expected), posinf=0.0).max(axis=2)
        return np.maximum.accumulate(np.where(scale > 0, deviation / scale, 0.0), axis=1)


def main(argv):
    n = int(argv[0]) if argv else 500
    max_time = int(argv[argv.index("--max-time") + 1]) if "--max-time" in argv else 100
    dtype = argv[argv.index("--dtype") + 1] if "--dtype" in argv else "float32"
    horizon = float(argv[argv.index("--horizon") + 1]) if "--horizon" in argv else None
    probe = argv[argv.index("--probe") + 1] if "--probe" in argv else None
    cudnn = "--cudnn" in argv
    table = entry(dtype, cudnn, horizon=horizon, probe=probe)
    print(header())
    worst = dict.fromkeys(FLOORS, (0.0, None))
    band_worst = dict.fromkeys(BANDS, (0.0, None))
    band_cases = dict.fromkeys(BANDS, 0)
    deviations = []
    over_floor = dict.fromkeys(FLOORS, 0)
    at_table, failures, ratios, cut, inconclusive = [], [], [], 0, 0
    drift_worst = {floor: (0.0, None) for floor in DRIFT_FLOORS}
    drift_all = {floor: [] for floor in DRIFT_FLOORS}
    drift_listing = []
    start = time.time()
    for index in range(n):
        case = random_case(index, max_time, dtype, cudnn)
        needs, bands, strayed, report, drift_needs = measure(case, dtype, table, cudnn)
        for floor, k in drift_needs.items():
            drift_worst[floor] = max(drift_worst[floor], (k, case.id), key=lambda v: v[0])
            drift_all[floor].append(k)
        if drift_needs[4] > 4:
            drift_listing.append((drift_needs[4], case.id))
        deviations.append(strayed)
        for edge, k in bands.items():
            band_cases[edge] += k > 0
            band_worst[edge] = max(band_worst[edge], (k, case.id), key=lambda v: v[0])
        ratios.append((report.worst_ratio, case.id))
        cut += report.not_compared > 0
        inconclusive += report.inconclusive
        if report.failed:
            failures.append(case.id)
        for floor, k in needs.items():
            over_floor[floor] += k > 0
            worst[floor] = max(worst[floor], (k, case.id), key=lambda v: v[0])
        at_table.append(needs[(4, 4)])
        if index % 100 == 99:
            print(f"... {index + 1} cases, {time.time() - start:.0f} s", file=sys.stderr)
    print(f"{n} random {dtype}{' cuDNN' if cudnn else ''} cases (time <= {max_time}, "
          f"{tolerance.PROBES} {table.probe} probes, horizon {table.horizon:g}) in "
          f"{time.time() - start:.0f} s")
    print(f"{'A':>3} {'R':>3} {'cases over floor':>17} {'K needed':>9}  worst case")
    for floor in FLOORS:
        k, case_id = worst[floor]
        print(f"{floor[0]:>3} {floor[1]:>3} {over_floor[floor]:>17} {k:>9.3f}  {case_id}")
    print("step drift (lstm_ref.bias): K needed over the floor F eps, max and 99.9th "
          "percentile, and the worst case:")
    for floor in DRIFT_FLOORS:
        k, case_id = drift_worst[floor]
        print(f"  F = {floor:>2}: K needed {k:8.3f}, 99.9th percentile "
              f"{np.percentile(drift_all[floor], 99.9):.3f}  {case_id or ''}")
    for k, case_id in sorted(drift_listing, reverse=True):
        print(f"    drift K needed at F = 4: {k:8.3f}  {case_id}")
    print(f"K needed at A = R = 4, percentiles 50/90/99/99.9: "
          f"{np.percentile(at_table, [50, 90, 99, 99.9]).round(3).tolist()}")
    print("K needed over the table's floor, by band of the probes' relative deviation:")
    low = 0.0
    for edge in BANDS:
        k, case_id = band_worst[edge]
        print(f"  {low:>7.0e} - {edge:<7.0e} {band_cases[edge]:>5} cases over floor, "
              f"K needed {k:8.3f}  {case_id or ''}")
        low = edge
    print("cases whose probes stray beyond H of the values' scale (a horizon H would cut them): "
          + ", ".join(f"H={edge:g}: {sum(d > edge for d in deviations)}" for edge in BANDS[:-1]))
    print(f"table entry {table.describe()}: {len(failures)} false failures of {n}; "
          f"error/bound ratio median {np.median([r for r, _ in ratios]):.3f}, "
          f"max {max(ratios)[0]:.3f} ({max(ratios)[1]})")
    print(f"{cut} cases reach the horizon of {table.probe} or an undetermined reference in some "
          f"row (not compared from there); {inconclusive} of them inconclusive (a tensor with "
          "nothing compared)")
    for case_id in failures:
        print(f"  FAILED {case_id}")


if __name__ == "__main__":
    main(sys.argv[1:])
