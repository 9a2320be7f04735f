"""The TF1-cell grid: BasicLSTMCell / LSTMCell options crossed with the Keras grid's sizes.

Every pair of values of every two parameters meets in some case (lstm_ref.grids.allpairs):
one array for LSTMCell and its options, one for BasicLSTMCell, which has no peepholes,
clipping or projection. Each case seeds its random draws from its id, so it reproduces alone,
under ``pytest -k`` and under pytest-xdist. NumPy only: running a case is
lstm_ref.frameworks.tf1.cases's.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lstm_ref.grids.allpairs import every_size_rows, pair_rows
from lstm_ref.grids.common import GridCase, check_grid, memoized, draw_lengths, unique
from lstm_ref.grids.keras import SIZES, SMALL_SIZES

__all__ = ["TF1_SIZES", "DEFAULT_TF1_SIZES", "SMALL_TF1_SIZES", "OPTIONS", "BASIC_OPTIONS",
           "BASIC_SIZES", "FULL_ACTIVATIONS", "EXECUTIONS", "TF1Case", "cases", "num_proj_for"]

# How a TF1 cell's whole sequence runs (lstm_ref.frameworks.tf1.runners).
EXECUTIONS = ("eager", "function", "session", "keras_rnn")

# num_units / features / batch / time: the Keras grid's sizes under TF1's names (the full
# grid); the default grid takes a subset, up to 40 steps, so that it stays short (every TF1
# case steps the cell eagerly and runs it whole, and the reference's probes cost most in the
# 200-step cases: those run in the full grid). Each keeps unit counts and batch sizes past a
# full block of 8 (and 16, 32) by less than a block, which reach a kernel's tail.
TF1_SIZES = OrderedDict(num_units=SIZES["units"], features=SIZES["features"],
                        batch=SIZES["batch"], time=SIZES["time"])
DEFAULT_TF1_SIZES = OrderedDict(num_units=(1, 7, 9, 32, 33, 128), features=(1, 3, 16, 64),
                                batch=(1, 2, 5, 9, 17), time=(1, 2, 9, 40))
SMALL_TF1_SIZES = OrderedDict(num_units=SMALL_SIZES["units"], features=SMALL_SIZES["features"],
                              batch=SMALL_SIZES["batch"], time=SMALL_SIZES["time"])
# Options of an LSTMCell. cell_clip and proj_clip bind at some steps: |c| (initial c ~ N(0, 1))
# often exceeds 0.5, and |h| = |m @ projection| 0.2. proj_clip without a projection is kept:
# TF1 ignores it there, and so do LSTMWeights and the twin.
OPTIONS = OrderedDict(
    forget_bias=(1.0, 0.0, -1.5),
    use_peepholes=(False, True),
    cell_clip=(None, 0.5),
    projection=("none", "smaller", "larger"),
    proj_clip=(None, 0.2),
    # "tanh" is TF's default (activation=None: tf.tanh); the others by tf_keras name.
    activation=("tanh", "relu", "softsign", "linear"),
    initial_state=(False, True),
    sequence_length=(False, True),
    execution=EXECUTIONS,
)
# A BasicLSTMCell has only forget_bias and activation: its own all-pairs array, over fewer
# sizes (its arithmetic is LSTMCell's without the options; what is its own is its call).
BASIC_OPTIONS = OrderedDict((name, OPTIONS[name]) for name in (
    "forget_bias", "activation", "initial_state", "sequence_length", "execution"))
BASIC_OPTIONS["activation"] = ("tanh", "relu", "softsign")
BASIC_SIZES = OrderedDict(num_units=(1, 7, 33), features=(1, 16), batch=(1, 5, 17),
                          time=(1, 9, 40))
FULL_ACTIVATIONS = ("tanh", "relu", "softsign", "linear", "elu", "sigmoid", "hard_sigmoid",
                    "selu", "softplus", "swish", "gelu", "mish", "exponential")


def num_proj_for(num_units, projection):
    """num_proj for a projection choice: None, "smaller" (half num_units, at least 1) or
    "larger" (twice num_units); TF1 allows any positive size."""
    return {"none": None, "smaller": max(1, num_units // 2), "larger": 2 * num_units}[projection]


@dataclass(frozen=True)
class TF1Case(GridCase):
    """One TF1 LSTM cell configuration and its sizes.

    ``sequence_length``: the rows have random lengths in [1, time] (one of them the full
    length), passed to dynamic_rnn. ``execution``: how the whole sequence runs
    (EXECUTIONS).
    """

    num_units: int
    features: int
    batch: int
    time: int
    forget_bias: float = 1.0
    use_peepholes: bool = False
    cell_clip: float | None = None
    projection: str = "none"
    proj_clip: float | None = None
    activation: str = "tanh"
    initial_state: bool = False
    sequence_length: bool = False
    execution: str = "eager"
    cell: str = "LSTMCell"

    @property
    def id(self):
        """Readable and usable in ``pytest -k``, e.g. units7-features3-batch2-time9-LSTMCell-
        forget_bias1-peepholes-cell_clip0.5-proj3-tanh-eager."""
        parts = [f"units{self.num_units}", f"features{self.features}", f"batch{self.batch}",
                 f"time{self.time}", self.cell, f"forget_bias{self.forget_bias:g}"]
        parts += ["peepholes"] if self.use_peepholes else []
        parts += [f"cell_clip{self.cell_clip:g}"] if self.cell_clip is not None else []
        parts += [f"proj{self.num_proj}"] if self.num_proj else []
        parts += [f"proj_clip{self.proj_clip:g}"] if self.proj_clip is not None else []
        parts += [self.activation]
        parts += [flag for flag in ("initial_state", "sequence_length") if getattr(self, flag)]
        parts += [self.execution]
        return "-".join(parts)

    @property
    def num_proj(self):
        return num_proj_for(self.num_units, self.projection)

    @property
    def output_size(self):
        return self.num_proj or self.num_units

    def cell_options(self):
        """The keyword arguments of the case's tf_keras legacy cell."""
        options = {"num_units": self.num_units, "forget_bias": self.forget_bias,
                   "activation": None if self.activation == "tanh" else self.activation}
        if self.cell == "LSTMCell":
            options.update(use_peepholes=self.use_peepholes, cell_clip=self.cell_clip,
                           num_proj=self.num_proj, proj_clip=self.proj_clip)
        return options

    def arrays(self):
        """The case's seeded random draws, in float64.

        Returns:
            dict with ``x`` (batch, time, features); ``variables``: TF1's variable name ->
            array (kernel with independent weights for every gate, identical gates would hide
            a wrong gate order; bias; peephole diagonals; projection), scaled so that
            pre-activations are of order 1; ``initial_state``: None or (c, h); ``lengths``:
            None or (batch,) lengths in 1..time, one row full.
        """
        rng = np.random.default_rng(self.seed)
        units, output, features = self.num_units, self.output_size, self.features
        kernel = np.concatenate([rng.normal(0, 1 / np.sqrt(features), (features, 4 * units)),
                                 rng.normal(0, 1 / np.sqrt(output), (output, 4 * units))])
        arrays = {"x": rng.uniform(-1, 1, (self.batch, self.time, features)),
                  "variables": {"kernel": kernel, "bias": rng.uniform(-1, 1, 4 * units)},
                  "initial_state": None, "lengths": None}
        if self.cell == "LSTMCell" and self.use_peepholes:
            arrays["variables"].update({name: rng.uniform(-1, 1, units)
                                        for name in ("w_i_diag", "w_f_diag", "w_o_diag")})
        if self.num_proj and self.cell == "LSTMCell":
            arrays["variables"]["projection"] = rng.normal(0, 1 / np.sqrt(units), (units, output))
        if self.initial_state:
            arrays["initial_state"] = (rng.normal(0, 1, (self.batch, units)),
                                       rng.uniform(-1, 1, (self.batch, output)))
        if self.sequence_length:
            arrays["lengths"] = draw_lengths(rng, self.batch, self.time)
        return arrays


@memoized
def cases(grid="default"):
    """The cases of a grid: "small" (small sizes), "default" (all pairs of a subset of the
    Keras grid's sizes and LSTMCell's options, and all pairs of fewer sizes and
    BasicLSTMCell's) or "full" (the default's, all pairs of the Keras grid's sizes and the
    options with more activations, and every combination of sizes with LSTMCell options
    taken in turn).

    Two arrays rather than one with "cell" as a parameter: allpairspy, given a filter for the
    options a BasicLSTMCell lacks, leaves possible pairs uncovered (even num_units x time).
    """
    check_grid(grid)
    sizes = SMALL_TF1_SIZES if grid == "small" else DEFAULT_TF1_SIZES
    basic_sizes = SMALL_TF1_SIZES if grid == "small" else BASIC_SIZES
    found = [TF1Case(**row) for row in pair_rows(OrderedDict(sizes, **OPTIONS))]
    found += [TF1Case(**row, cell="BasicLSTMCell")
              for row in pair_rows(OrderedDict(basic_sizes, **BASIC_OPTIONS))]
    if grid == "full":
        full = OrderedDict(OPTIONS, activation=FULL_ACTIVATIONS)
        found += [TF1Case(**row) for row in pair_rows(OrderedDict(TF1_SIZES, **full))]
        found += [TF1Case(**row) for row in every_size_rows(TF1_SIZES, full)]
    return unique(found)
