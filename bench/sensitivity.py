"""What the suite can see: the smallest planted bug of each class that the default check
(lstm_ref.compare with the table's entry) catches, per dtype and execution path; writes the
page docs/sensitivity.md.

    nice -n 10 python bench/sensitivity.py [--out docs/sensitivity.md] [--cases N]
        [--dtypes float32,float16,bfloat16] [--columns cell,eager,...] [--classes ...]

(from the repository root, in the project's venv). Each bug is planted in a Keras LSTMCell
(tests/frameworks/keras/broken_drift.py and the cells here) where one route alone can see it:

- column "cell": in the cell only where lstm_ref steps it (h and c of every step, and the
  exact step check of a 16-bit layer); the layer's own run is faithful;
- columns "eager", "unroll", "function", "xla", "predict": only in the layer's own run by
  that path (lstm_ref.frameworks.keras.execution; "unroll": eager, unroll=True); the stepped
  cell is faithful, so what the layer returns (output, state_h, state_c) must show it.

A bug in the cell itself is in both, and caught at the smaller of its "cell" and path figures.

Classes: a relative drift in c or in h (the cell's last operation scaled by 1 + d), from
step 0 or from mid-sequence; every matrix product off by k eps of the format, relative (k ulps
at the bottom of a binade), the sign alternating over the columns (no drift); gates i and f
swapped (yes/no); the bias of the units in a kernel's tail (past the last full block of 8:
units 9, 17, 33) losing a fraction of itself. For each class and case the smallest magnitude
caught is found by bisection over a log grid (GRID steps a decade), assuming a larger bug of
the class is caught whenever a smaller one is; the page gives the largest over the cases (the
smallest bug caught on every case) and, in its details, every case's figure. ``--save`` keeps
the figures in a JSON file, from which ``--load`` writes the page again without measuring.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import lstm_ref  # noqa: E402
from lstm_ref import precision  # noqa: E402
from lstm_ref.grids.keras import Case  # noqa: E402
from lstm_ref.step_check import STEP_TOLERANCES  # noqa: E402
from lstm_ref.tolerance_table import lookup  # noqa: E402
from machine import header as machine_header  # noqa: E402

import keras  # noqa: E402
from keras import ops  # noqa: E402

from tests.frameworks.keras.broken import tail  # noqa: E402
from tests.frameworks.keras.broken_drift import (DriftLSTMCell, bug_active,  # noqa: E402
                                                 build_marked_layer, marked_inputs)

DTYPES = ("float32", "float16", "bfloat16")
# column -> (execution, unrolled, where the bug sits)
COLUMNS = {"cell": ("function", False, "stepped"), "eager": ("eager", False, "layer"),
           "unroll": ("eager", True, "layer"), "function": ("function", False, "layer"),
           "xla": ("xla", False, "layer"), "predict": ("predict", False, "layer")}
TIME, MID = 100, 50
GRID = 8  # grid points a decade: magnitudes 10 ** (k / GRID)
# The cases: long sequences, both directions, masks of every kind, each return structure.
CASES = (Case(9, 3, 4, TIME, returns="sequences+state"),
         Case(9, 3, 4, TIME, go_backwards=True, mask="all_kinds", returns="sequences+state"),
         Case(9, 3, 4, TIME, initial_state=True, mask="right", returns="sequences"),
         Case(9, 3, 4, TIME, go_backwards=True, recurrent_activation="hard_sigmoid",
              returns="last+state"),
         Case(9, 3, 4, TIME, activation="softsign", initial_state=True, mask="middle",
              returns="sequences+state"))
# Units with a tail past a full block of 8 (one unit each).
TAIL_CASES = (Case(9, 3, 4, TIME, returns="sequences+state"),
              Case(17, 3, 4, TIME, go_backwards=True, returns="sequences+state"),
              Case(33, 3, 4, TIME, mask="all_kinds", returns="sequences+state"),
              Case(9, 3, 4, TIME, initial_state=True, returns="last+state"),
              Case(17, 3, 4, TIME, recurrent_activation="hard_sigmoid", mask="left",
                   returns="sequences"))


@dataclasses.dataclass(frozen=True)
class BugClass:
    """A class of planted bug: its row label, its cases, and the log range its magnitude is
    searched over (grid points, per dtype kind: "32" for float32, "16" for 16-bit), or None
    for a yes/no class; a drift's tensor and the processing step it starts at."""

    name: str
    label: str
    unit: str
    cases: tuple
    span: dict | None
    tensor: str | None = None
    start: int = 0


DRIFT_SPAN = {"32": (-9 * GRID, -1 * GRID), "16": (-7 * GRID, 0)}
CLASSES = (
    *(BugClass(f"drift_{tensor}{start}", f"relative drift in {tensor}, from step {start}"
               + (f" of {TIME}" if start else ""), "", CASES, DRIFT_SPAN, tensor, start)
      for tensor in ("c", "h") for start in (0, MID)),
    BugClass("ulps", "every matmul off by k ulps (k eps of the format, relative)", " ulps",
             CASES, {"32": (-2 * GRID, 5 * GRID), "16": (-2 * GRID, 3 * GRID)}),
    BugClass("gate_swap", "gates i and f swapped", "", CASES, None),
    BugClass("tail_bias", "tail units (9, 17, 33) lose a fraction of their bias", "",
             TAIL_CASES, {"32": (-8 * GRID, 0), "16": (-6 * GRID, 0)}),
)


class PlantedCell(DriftLSTMCell):
    """A Keras LSTMCell (implementation 2) computed op by op as Keras does, with one bug where
    it is active (``where``, tests/frameworks/keras/broken_drift.py): "ulps" (every matrix
    product off by ``size`` eps of the format, relative, the sign alternating over its
    columns), "gate_swap" (z_i and z_f swapped) or "tail_bias" (the bias of the tail units of
    every gate scaled by 1 - ``size``)."""

    def __init__(self, units, bug, size=0.0, where="everywhere", **kwargs):
        super().__init__(units, where=where, **kwargs)
        if self.implementation != 2:
            raise ValueError("PlantedCell computes implementation 2")
        self.bug, self.size = bug, float(size)

    def planted(self):
        return bug_active(self)

    def pre_activations(self, inputs, h_prev):
        dtype = self.compute_dtype
        if self.bug == "ulps":
            wide = "float64" if dtype == "float32" else "float32"
            sign = np.where(np.arange(4 * self.units) % 2 == 0, 1.0, -1.0)
            factor = ops.convert_to_tensor(1 + self.size * precision.get(dtype).eps * sign, wide)

            def product(a, w):  # accumulated wide, off by k eps, rounded once
                return ops.cast(ops.matmul(ops.cast(a, wide), ops.cast(w, wide)) * factor, dtype)

            z = product(inputs, self.kernel) + product(h_prev, self.recurrent_kernel)
        else:
            z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            bias = self.bias
            if self.bug == "tail_bias":
                keep = np.ones(self.units)
                keep[tail(self.units)] = 1 - self.size
                bias = bias * ops.convert_to_tensor(np.tile(keep, 4), dtype)
            z = z + bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=1)
        if self.bug == "gate_swap":
            z_i, z_f = z_f, z_i
        return z_i, z_f, z_c, z_o


class Runner:
    """Runs one planted case at a time and counts them."""

    def __init__(self):
        self.runs = 0

    def caught(self, dtype, column, bug, case, size):
        """Whether the default check fails on ``case`` with the bug of class ``bug`` of
        magnitude ``size`` planted as ``column`` says."""
        execution, unroll, where = COLUMNS[column]
        arrays = marked_inputs(case, bug.start) if bug.tensor else case.arrays()
        options = dict(activation=case.activation, dtype=dtype,
                       recurrent_activation=case.recurrent_activation,
                       recurrent_initializer="glorot_uniform")
        if bug.tensor:
            cell = DriftLSTMCell(case.units, tensor=bug.tensor, drift=size, where=where,
                                 **options)
        else:
            cell = PlantedCell(case.units, bug.name, size, where=where, **options)
        layer = build_marked_layer(dataclasses.replace(case, unroll=unroll), arrays, cell,
                                   dtype=dtype)
        report = lstm_ref.compare(layer, arrays["x"], initial_state=arrays["initial_state"],
                                  mask=arrays["mask"], execution=execution)
        self.runs += 1
        if self.runs % 25 == 0:
            keras.backend.clear_session()
        return report.failed


def smallest(caught, low, high, guess=None):
    """The smallest grid point k in [low, high] at which ``caught(k)``, assuming it holds
    from some k on: None if not even at ``high``; ``low`` if already there. Starts from
    ``guess`` (another case's answer) and widens by doubling steps before bisecting."""
    k = min(max(guess if guess is not None else (low + high) // 2, low), high)
    step = 1
    if caught(k):
        hi, lo = k, None
        while lo is None:
            probe = max(hi - step, low)
            if probe == hi:
                return hi
            if caught(probe):
                hi = probe
                step *= 2
            else:
                lo = probe
    else:
        lo, hi = k, None
        while hi is None:
            probe = min(lo + step, high)
            if probe == lo:
                return None
            if caught(probe):
                hi = probe
            else:
                lo = probe
                step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if caught(mid):
            hi = mid
        else:
            lo = mid
    return hi


def measure(runner, dtype, column, bug, cases, log):
    """Per case: the smallest magnitude caught (None: not caught within the span; for a
    yes/no class, True or False), or an exception's text for a run that failed."""
    results = []
    guess = None
    for case in cases:
        try:
            if bug.span is None:
                results.append(runner.caught(dtype, column, bug, case, 0.0))
                continue
            low, high = bug.span["32" if dtype == "float32" else "16"]
            k = smallest(lambda k: runner.caught(dtype, column, bug, case, 10 ** (k / GRID)),
                         low, high, guess)
            guess = k if k is not None else guess
            results.append(None if k is None else 10 ** (k / GRID))
        except Exception as error:  # a path that cannot run this dtype: say so in the page
            results.append(f"{type(error).__name__}: {str(error).splitlines()[0][:120]}")
        log(f"{dtype} {column} {bug.name} {case.id}: {results[-1]}")
    return results


def bounds(bug, dtype):
    """The smallest and largest magnitude a class is searched over in ``dtype``."""
    low, high = bug.span["32" if dtype == "float32" else "16"]
    return 10 ** (low / GRID), 10 ** (high / GRID)


def cell_text(bug, dtype, results):
    """The page's cell: the smallest bug caught on every case."""
    if any(isinstance(r, str) for r in results):
        return "error"
    if bug.span is None:
        hits = sum(bool(r) for r in results)
        return "yes" if hits == len(results) else f"{hits}/{len(results)}"
    low, high = bounds(bug, dtype)
    if any(r is None for r in results):
        return f"> {high:.2g}{bug.unit}"
    worst = max(results)
    return f"{'<= ' if worst <= low else ''}{worst:.2g}{bug.unit}"


def machine():
    import tensorflow as tf

    model = platform.processor() or "unknown CPU"
    flags = ""
    try:
        with open("/proc/cpuinfo") as info:
            lines = info.read().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines
                     if line.startswith("model name"))
        flags = next(line for line in lines if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    vector = ", AVX-512" if "avx512f" in flags.split() else ""
    return (f"{os.cpu_count()}-core {model}{vector}, Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__} "
            f"({keras.backend.backend()} backend), NumPy {np.__version__}")


def page(results, dtypes, columns, classes, header):
    """The Markdown page; ``header``: how, when and where the figures were measured."""
    f32 = lookup("float32")
    most = max(len(values) for values in results.values())
    lines = [
        "# What the suite can see",
        "",
        f"{header}, with the tolerance table as it was then (float32: bias_floor "
        f"{f32.bias_floor:g}, bias_scale {f32.bias_scale:g}; float16 and bfloat16: no drift "
        f"check, the exact step check {STEP_TOLERANCES['float16'].describe()}).",
        "",
        "## How to read it",
        "",
        "Each figure is the smallest bug of its class that `lstm_ref.compare` fails on "
        f"every one of {most} seeded cases (below: units 9, batch 4, 3 features, {TIME} "
        "steps, both directions, masks of every kind, every return structure; the tail class "
        "on 9, 17 and 33 units), found by bisection on a grid of "
        f"{GRID} points a decade: within a factor {10 ** (1 / GRID):.2f} of the true "
        "threshold. `> x`: not caught at x, the largest tried; `<= x`: caught already at x, "
        "the smallest tried; yes/no classes give how many cases fail. Smaller is better.",
        "",
        "Column `cell` plants the bug only where lstm_ref steps the cell (what its `h`, `c` "
        "and 16-bit step check see); the path columns plant it only in the layer's own run by "
        "that path (what the returned output and states see, the stepped cell faithful). A "
        "bug in the cell itself is in both, caught at the smaller figure; a bug of one path's "
        "kernel only, at that path's.",
        "",
        "A drift d scales h or c of each step by 1 + d from the step named on, inside the "
        "step's last operation (rounded once). A step's drift (lstm_ref.bias) is taken over "
        "the rows still running at that step (a masked step, which carries the state, is "
        "left out). In 16-bit, the `cell` figures of a drift in c are the exact step check's: "
        "any 1 + d > 1 applied to the sum c = f * c_prev + i * g before it is rounded turns "
        "that sum's rounding ties (frequent for a sum of two 16-bit values) the other way, "
        "which the check sees once more than its share of elements differ. `ulps` moves "
        "every matrix product by k eps of the layer's format, relative (the sign alternating "
        "over its columns: no drift), before the product is rounded.",
        "",
    ]
    for dtype in dtypes:
        lines += [f"## {dtype}", "", "| bug | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for bug in classes:
            cells = [cell_text(bug, dtype, results[dtype, column, bug.name])
                     for column in columns]
            lines.append(f"| {bug.label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Goals", ""] + goals(results, dtypes, columns, classes) + [""]
    lines += ["## Cases", "", "Drift, ulps and gate swap:", ""]
    lines += [f"{n}. `{case.id}`" for n, case in enumerate(CASES[:most], 1)]
    lines += ["", "Tail bias:", ""]
    lines += [f"{n}. `{case.id}`" for n, case in enumerate(TAIL_CASES[:most], 1)]
    lines += ["", "## Details: every case's figure", ""]
    for dtype in dtypes:
        lines += [f"### {dtype}", "",
                  "| column | bug | " + " | ".join(f"case {n}" for n in range(1, most + 1)) + " |",
                  "|---|---|" + "---|" * most]
        for column in columns:
            for bug in classes:
                values = results[dtype, column, bug.name]
                shown = [cell_text(bug, dtype, [v]).replace("0/1", "no")
                         for v in values]
                lines.append(f"| {column} | {bug.name} | " + " | ".join(shown) + " |")
        lines.append("")
    errors = sorted({f"{dtype} {column} {name}: {v}" for (dtype, column, name), values
                     in results.items() for v in values if isinstance(v, str)})
    if errors:
        lines += ["## Errors", ""] + [f"- {e}" for e in errors] + [""]
    return "\n".join(lines)


def figure(value, unit=""):
    if isinstance(value, str):
        return "error"
    return "not caught" if value is None else f"{value:.2g}{unit}"


def goals(results, dtypes, columns, classes):
    """The goals (float32: a drift of 1e-6 on every path; 16-bit: 2 ulps per matmul), met or
    missed, with the figures and the cases that miss them."""
    out = []
    drifts = [b for b in classes if b.tensor]
    if "float32" in dtypes and drifts:
        missed = []
        for column in columns:
            for bug in drifts:
                late = [f"{figure(v)} on case {bug.cases.index(case) + 1}"
                        for case, v in zip(bug.cases, results["float32", column, bug.name])
                        if isinstance(v, str) or v is None or v > 1e-6 * (1 + 1e-9)]
                if late:
                    missed.append(f"{column}/{bug.name} ({', '.join(late)})")
        out.append("- float32, a relative drift of 1e-6 in h or c, from step 0 or "
                   f"mid-sequence, caught on every path: **{'missed' if missed else 'met'}**"
                   + (f": {'; '.join(missed)}." if missed else "."))
    ulps = next((b for b in classes if b.name == "ulps"), None)
    for dtype in [d for d in dtypes if d != "float32"] if ulps else []:
        verdicts = []
        for column in columns:
            r = results[dtype, column, "ulps"]
            fine = all(not isinstance(v, str) and v is not None and v <= 2 for v in r)
            verdicts.append(f"{column} **{'met' if fine else 'missed'}** "
                            f"({cell_text(ulps, dtype, r)})")
        out.append(f"- {dtype}, 2 ulps per matmul caught: {', '.join(verdicts)}.")
    return out


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/sensitivity.md")
    parser.add_argument("--cases", type=int, default=len(CASES))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--columns", default=",".join(COLUMNS))
    parser.add_argument("--classes", default=",".join(b.name for b in CLASSES))
    parser.add_argument("--save", help="also write the figures to this JSON file")
    parser.add_argument("--load", help="write the page from figures saved by --save, "
                                       "measuring nothing")
    args = parser.parse_args(argv)
    print(machine_header())
    if args.load:
        with open(args.load) as saved:
            data = json.load(saved)
        results = {tuple(key.split("/")): values for key, values in data["results"].items()}
        dtypes, columns, names, header = (data[k] for k in ("dtypes", "columns", "classes",
                                                           "header"))
    else:
        dtypes, columns = args.dtypes.split(","), args.columns.split(",")
        names = args.classes.split(",")
        runner, began, results = Runner(), time.time(), {}
        log = lambda text: print(f"[{time.time() - began:7.0f}s] {text}", file=sys.stderr,  # noqa: E731
                                 flush=True)
        for dtype in dtypes:
            for column in columns:
                for bug in (b for b in CLASSES if b.name in names):
                    results[dtype, column, bug.name] = measure(runner, dtype, column, bug,
                                                               bug.cases[:args.cases], log)
        shown = [a for a, before in zip(argv, [None, *argv]) if "--save" not in (a, before)]
        command = " ".join(["nice -n 10 python bench/sensitivity.py", *shown])
        header = (f"Generated by `{command}` on {datetime.date.today().isoformat()} "
                  f"({runner.runs} checks, {(time.time() - began) / 60:.0f} minutes), on "
                  f"{machine()}")
        if args.save:
            with open(args.save, "w") as out:
                json.dump({"dtypes": dtypes, "columns": columns, "classes": names,
                           "header": header,
                           "results": {"/".join(k): v for k, v in results.items()}}, out)
    classes = [b for b in CLASSES if b.name in names]
    text = page(results, dtypes, columns, classes, header)
    with open(args.out, "w") as out:
        out.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
