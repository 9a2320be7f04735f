"""The ONNX grid: sizes and LSTM node attributes, all pairs (lstm_ref.grids.allpairs).

Each case is one LSTM node (random W, R, B = [Wb, Rb] with both halves non-zero, P, drawn
independently for every gate and direction) and seeds its draws from its id, so it
reproduces alone, under ``pytest -k`` and under pytest-xdist. NumPy only: building and
running a case's model is lstm_ref.frameworks.onnx.cases's.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lstm_ref.grids import keras as keras_grid
from lstm_ref.grids.allpairs import every_size_rows, pair_rows
from lstm_ref.grids.common import GridCase, check_grid, memoized, unique

__all__ = ["ACTIVATIONS", "SIZES", "FULL_SIZES", "SMALL_SIZES", "OPTIONS", "FULL_OPTIONS",
           "Case", "cases"]

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
# With hidden sizes and batches past a full block of 8 (and 16, 32) by less than a block,
# which reach a kernel's tail.
SIZES = OrderedDict(hidden_size=(1, 2, 7, 9, 32, 33), input_size=(1, 3, 16),
                    batch=(1, 2, 5, 9, 17), seq_length=(1, 2, 9, 40))
FULL_SIZES = OrderedDict(zip(SIZES, keras_grid.SIZES.values()))   # up to 128, 64, 17, 200
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


@dataclass(frozen=True)
class Case(GridCase):
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


@memoized
def cases(grid="default"):
    """The cases of a grid: "small", "default" (all pairs) or "full" (all pairs over more
    sizes and clips, plus every combination of sizes)."""
    check_grid(grid)
    if grid in ("small", "default"):
        sizes = SMALL_SIZES if grid == "small" else SIZES
        return [Case(**row) for row in pair_rows(OrderedDict(sizes, **OPTIONS))]
    rows = (pair_rows(OrderedDict(FULL_SIZES, **FULL_OPTIONS))
            + every_size_rows(FULL_SIZES, FULL_OPTIONS))
    return unique(Case(**row) for row in rows)
