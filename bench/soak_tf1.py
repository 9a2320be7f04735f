"""Soundness of the tolerance table on TF1 cells: N random LSTMCell / BasicLSTMCell
configurations (sizes, every option, activation and execution; seeded by index) compared
with the reference; prints the false failures (must be 0) and the largest error-to-bound
ratios. The Keras calibration (bench/calibrate_tolerance.py) does not cover what only TF1
cells have: a projection (h = m @ projection, summed over num_units) and its clip, peepholes,
cell_clip and forget_bias.

Usage:  python bench/soak_tf1.py [N] [--dtype D] [--max-time T]
"""

import argparse
import dataclasses
import os
import time
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from lstm_ref.frameworks.tf1 import cases as tf1_cases
from lstm_ref.grids import tf1 as grid_tf1  # noqa: E402
from machine import header  # noqa: E402


@dataclasses.dataclass(frozen=True)
class SoakCase(grid_tf1.TF1Case):
    """A TF1Case whose random draws also depend on its index in the soak."""

    index: int = 0

    @property
    def seed(self):
        return zlib.crc32(f"{self.id}-soak{self.index}".encode())


def random_case(index, max_time, dtype):
    rng = np.random.default_rng(20_000 + index)
    pick = lambda values: values[rng.integers(len(values))]  # noqa: E731
    options = {name: pick(values) for name, values in grid_tf1.OPTIONS.items()}
    activations = grid_tf1.FULL_ACTIVATIONS
    if dtype == "float64":  # TensorFlow's float64 gelu is float32-accurate (docs/findings.md)
        activations = tuple(a for a in activations if a != "gelu")
    options["activation"] = pick(activations)
    sizes = {name: pick(values) for name, values in grid_tf1.TF1_SIZES.items()}
    sizes["time"] = min(sizes["time"], max_time)
    cell = pick(("LSTMCell", "BasicLSTMCell"))
    if cell == "BasicLSTMCell":
        options = {name: options[name] for name in grid_tf1.BASIC_OPTIONS}
    return SoakCase(**sizes, **options, cell=cell, index=index)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=300)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--max-time", type=int, default=200)
    args = parser.parse_args()
    print(header())
    start, failed, ratios = time.perf_counter(), [], []
    for index in range(args.n):
        case = random_case(index, args.max_time, args.dtype)
        report = tf1_cases.run_case(case, dtype=args.dtype)
        ratios.append((report.worst_ratio, case.id, index))
        if not report.passed:
            failed.append(case.id)
            print(f"FALSE FAILURE? #{index} {case.id}\n{report.summary()}\n", flush=True)
    ratios.sort(reverse=True)
    print(f"{args.n} random TF1 cells in {args.dtype}, {time.perf_counter() - start:.0f} s: "
          f"{len(failed)} failed; worst err/bound:")
    for ratio, case_id, index in ratios[:5]:
        print(f"  {ratio:.3f}  #{index} {case_id}")


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    main()
