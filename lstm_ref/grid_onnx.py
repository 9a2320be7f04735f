"""The ONNX LSTM case grid: sizes and node attributes, all pairs (as lstm_ref.grid), each case
run in onnxruntime and compared with the reference step by step (lstm_ref.adapters.onnx).

Each case builds its own graph (one LSTM node, random W, R, B = [Wb, Rb] with both halves
non-zero, P, drawn independently for every gate and direction) and seeds its draws from its
id, so it reproduces alone, under ``pytest -k`` and under pytest-xdist.
"""

import zlib
from collections import OrderedDict
from dataclasses import asdict, dataclass
from itertools import cycle, product

import numpy as np

from lstm_ref import grid as keras_grid
from lstm_ref.errors import OptionError

# Activation sets (f, g, h), each activation (name, alpha, beta) with its parameters given
# where the spec and onnxruntime default them differently. Together they use all eleven.
ACTIVATIONS = {
    "Sigmoid.Tanh.Tanh": (("Sigmoid",), ("Tanh",), ("Tanh",)),
    "HardSigmoid.Relu.Elu": (("HardSigmoid",), ("Relu",), ("Elu",)),
    "Sigmoid.ScaledTanh.Softsign": (("Sigmoid",), ("ScaledTanh", 1.5, 0.7), ("Softsign",)),
    "HardSigmoid.LeakyRelu.Affine": (("HardSigmoid", 0.25, 0.45), ("LeakyRelu", 0.1),
                                     ("Affine", 0.5, 0.1)),
    "Sigmoid.Softplus.ThresholdedRelu": (("Sigmoid",), ("Softplus",), ("ThresholdedRelu", 0.2)),
    "Tanh.Elu.Sigmoid": (("Tanh",), ("Elu", 0.8), ("Sigmoid",)),
}
SIZES = OrderedDict(hidden_size=(1, 2, 7, 32), input_size=(1, 3, 16), batch=(1, 2, 5),
                    seq_length=(1, 2, 9, 40))
FULL_SIZES = OrderedDict(zip(SIZES, keras_grid.SIZES.values()))   # up to 128, 64, 5, 200
SMALL_SIZES = OrderedDict(zip(SIZES, keras_grid.SMALL_SIZES.values()))
OPTIONS = OrderedDict(
    direction=("forward", "reverse", "bidirectional"),
    peepholes=(False, True),
    clip=(None, 1.0),
    input_forget=(False, True),
    layout=(0, 1),
    initial_state=(False, True),
    sequence_lens=(False, True),
    use_bias=(True, False),
    activations=tuple(ACTIVATIONS),
)
FULL_OPTIONS = OrderedDict(OPTIONS, clip=(None, 0.5, 1.0, 3.0))
GRIDS = keras_grid.GRIDS


@dataclass(frozen=True)
class Case:
    """One ONNX LSTM node and its input sizes."""

    hidden_size: int
    input_size: int
    batch: int
    seq_length: int
    direction: str = "forward"
    peepholes: bool = False
    clip: float | None = None
    input_forget: bool = False
    layout: int = 0
    initial_state: bool = False
    sequence_lens: bool = False
    use_bias: bool = True
    activations: str = "Sigmoid.Tanh.Tanh"

    @property
    def id(self):
        """Readable and usable with ``pytest -k``:
        hidden7-input3-batch2-seq9-bidirectional-peepholes-clip1-layout1-Sigmoid.Tanh.Tanh."""
        parts = [f"hidden{self.hidden_size}", f"input{self.input_size}", f"batch{self.batch}",
                 f"seq{self.seq_length}", self.direction]
        parts += [flag for flag in ("peepholes", "input_forget", "initial_state", "sequence_lens")
                  if getattr(self, flag)]
        parts += [] if self.clip is None else [f"clip{self.clip:g}"]
        parts += [f"layout{self.layout}"] + ([] if self.use_bias else ["no_bias"])
        return "-".join(parts + [self.activations])

    @property
    def seed(self):
        return zlib.crc32(self.id.encode())

    @property
    def num_directions(self):
        return 2 if self.direction == "bidirectional" else 1

    def attributes(self):
        """The LSTM node's attributes."""
        triple = ACTIVATIONS[self.activations]
        flat = list(triple) * self.num_directions
        attributes = {"hidden_size": self.hidden_size, "direction": self.direction,
                      "input_forget": int(self.input_forget), "layout": self.layout,
                      "activations": [a[0] for a in flat]}
        alphas = [a[1] for a in flat if len(a) > 1]
        betas = [a[2] for a in flat if len(a) > 2]
        if alphas:
            attributes["activation_alpha"] = alphas
        if betas:
            attributes["activation_beta"] = betas
        if self.clip is not None:
            attributes["clip"] = self.clip
        return attributes

    def arrays(self):
        """The case's seeded random draws: W, R, B, P (as the node takes them), X, and the
        optional sequence_lens, initial_h, initial_c (None where the case has none).

        Every gate of every direction gets its own weights (identical gates would hide a wrong
        gate order), scaled so pre-activations are of order 1; Wb and Rb are both non-zero (a
        converter that drops one fails).
        """
        rng = np.random.default_rng(self.seed)
        d, h, f = self.num_directions, self.hidden_size, self.input_size
        b, t = self.batch, self.seq_length
        arrays = {"W": rng.normal(0, 1 / np.sqrt(f), (d, 4 * h, f)),
                  "R": rng.normal(0, 1 / np.sqrt(h), (d, 4 * h, h)),
                  "B": rng.uniform(-1, 1, (d, 8 * h)) if self.use_bias else None,
                  "P": rng.uniform(-1, 1, (d, 3 * h)) if self.peepholes else None,
                  "X": rng.uniform(-1, 1, (b, t, f) if self.layout else (t, b, f)),
                  "sequence_lens": None, "initial_h": None, "initial_c": None}
        states = (b, d, h) if self.layout else (d, b, h)
        if self.initial_state:
            arrays["initial_h"] = rng.uniform(-1, 1, states)
            arrays["initial_c"] = rng.normal(0, 1, states)
        if self.sequence_lens:
            arrays["sequence_lens"] = rng.integers(1, t + 1, b).astype(np.int32)
        return arrays

    def as_dict(self):
        return asdict(self)


def cases(grid="default"):
    """The cases of a grid: "small", "default" (all pairs) or "full" (all pairs over more
    sizes and clips, plus every combination of sizes)."""
    from lstm_ref.adapters import require

    AllPairs = require("allpairspy", "onnx").AllPairs  # noqa: N806 - the library's class
    if grid not in GRIDS:
        raise OptionError(f"grid must be one of {GRIDS}; received {grid!r}")
    if grid in ("small", "default"):
        sizes = SMALL_SIZES if grid == "small" else SIZES
        return [Case(*row) for row in AllPairs(OrderedDict(sizes, **OPTIONS))]
    paired = [Case(*row) for row in AllPairs(OrderedDict(FULL_SIZES, **FULL_OPTIONS))]
    option_rows = cycle(list(AllPairs(FULL_OPTIONS)))
    every_size = [Case(*sizes, *next(option_rows)) for sizes in product(*FULL_SIZES.values())]
    return list({case.id: case for case in paired + every_size}.values())


def select(all_cases, pattern=None):
    """Cases whose id contains ``pattern`` (all if None)."""
    return [c for c in all_cases if pattern is None or pattern in c.id]


def build_case_model(case, dtype="float32"):
    """The case's model: one LSTM node, its weights as initializers, X and the case's optional
    inputs as graph inputs. Returns (model, arrays)."""
    from lstm_ref.adapters.onnx_graph import make_model

    arrays = case.arrays()
    weights = {k: arrays[k] for k in ("W", "R", "B", "P") if arrays[k] is not None}
    fed = tuple(k for k in ("sequence_lens", "initial_h", "initial_c") if arrays[k] is not None)
    model = make_model(weights, case.attributes(), dtype=dtype, graph_inputs=fed,
                       name=f"lstm_{case.seed}")
    return model, arrays


def run_case(case, tolerance=None, semantics="onnxruntime", twin_class=None):
    """Build the case's graph, run it in onnxruntime and compare it with the reference; the
    Report's context names the case, its seed and a reproducer.

    Args:
        case: a :class:`Case`.
        tolerance: a Tolerance instead of the table's float32 entry.
        semantics: the twin's semantics ("onnxruntime" or "spec", see lstm_ref.adapters.onnx).
        twin_class: an OnnxLSTMTwin subclass to build the twin with (the sensitivity tests'
            deliberately broken ones); None for OnnxLSTMTwin.
    """
    from lstm_ref.adapters import onnx_compare, onnx_graph
    from lstm_ref.adapters.onnx import OnnxLSTMTwin

    model, arrays = build_case_model(case)
    twin = (twin_class or OnnxLSTMTwin)(onnx_graph.read_node(model), semantics)
    state = None
    if arrays["initial_h"] is not None:
        state = [arrays["initial_h"], arrays["initial_c"]]
    observation = onnx_compare.observe(model, arrays["X"], initial_state=state,
                                       sequence_lens=arrays["sequence_lens"],
                                       twin=twin)
    observation.context = {
        "case": case.id, "seed": case.seed, **observation.context,
        "reproduce": f"lstm_ref.grid_onnx.run_case(lstm_ref.grid_onnx.Case(**{case.as_dict()}))"}
    return onnx_compare.check(observation, tolerance)


def main(argv=None):
    """``python -m lstm_ref.grid_onnx [--grid small|default|full] [--only PATTERN] [-v]``: run
    the grid, print each failure's report and the worst figures; exit 0 only if all passed."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m lstm_ref.grid_onnx", description=main.__doc__)
    parser.add_argument("--grid", default="default", choices=GRIDS)
    parser.add_argument("--only", default=None, help="run the cases whose id contains this")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    args = parser.parse_args(argv)
    selected = select(cases(args.grid), args.only)
    start, failed, worst_ratio, worst_error, limited = time.time(), 0, (0.0, ""), (0.0, ""), 0
    for case in selected:
        report = run_case(case)
        error = max((t.worst.error for t in report.tensors.values()), default=0.0)
        worst_ratio = max(worst_ratio, (report.worst_ratio, case.id))
        worst_error = max(worst_error, (error, case.id))
        limited += report.compared_steps < report.time
        if not report.passed:
            failed += 1
            print(report.summary(), end="\n\n")
        elif args.verbose:
            print(f"ok  {case.id}  |err| {error:.3e}  err/bound {report.worst_ratio:.3f}")
    print(f"{len(selected) - failed} of {len(selected)} cases passed in {time.time() - start:.1f} s"
          f" ({limited} compared only up to the step float32 can determine); worst err/bound "
          f"{worst_ratio[0]:.3f} ({worst_ratio[1]}); worst |err| {worst_error[0]:.3e} "
          f"({worst_error[1]})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
