"""The Flax grid: flax.nnx.LSTMCell and OptimizedLSTMCell in nnx.RNN, their options crossed
with sizes that straddle vector widths (9, 17, 33 units: one past 8, 16 and 32) and a long
sequence, all pairs.

Each case seeds its random draws from its id (lstm_ref.grids.common.seed_of), so it
reproduces alone, under ``pytest -k`` and under pytest-xdist. NumPy only: running a case is
lstm_ref.frameworks.flax.cases's.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lstm_ref.grids.allpairs import every_size_rows, pair_rows
from lstm_ref.grids.common import GridCase, check_grid, draw_lengths, memoized, unique

__all__ = ["FLAX_SIZES", "SMALL_FLAX_SIZES", "OPTIONS", "DTYPES", "CELLS", "ACTIVATIONS",
           "FlaxCase", "cases"]

FLAX_SIZES = OrderedDict(units=(1, 9, 17, 33), features=(1, 3, 9), batch=(1, 9),
                         time=(1, 9, 257))
SMALL_FLAX_SIZES = OrderedDict(units=(1, 9), features=(1, 3), batch=(1, 2), time=(1, 9))
CELLS = ("LSTMCell", "OptimizedLSTMCell")
# gate_fn-activation_fn, as jax.nn names them: Flax's defaults, and a pair that is neither
# (a gate_fn / activation_fn read into the wrong slot fails).
ACTIVATIONS = ("sigmoid-tanh", "hard_sigmoid-soft_sign")
OPTIONS = OrderedDict(cell=CELLS, activations=ACTIVATIONS, time_major=(False, True),
                      reverse=(False, True), keep_order=(False, True),
                      initial_carry=(False, True), seq_lengths=(False, True))
# float64 runs under jax.enable_x64 (lstm_ref.frameworks.flax.cases).
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class FlaxCase(GridCase):
    """One nnx.RNN configuration and its sizes.

    ``seq_lengths``: the rows have random lengths (one of them the full length), passed as
    the RNN's ``seq_lengths``.
    """

    units: int
    features: int
    batch: int
    time: int
    cell: str = "LSTMCell"
    activations: str = "sigmoid-tanh"
    time_major: bool = False
    reverse: bool = False
    keep_order: bool = False
    initial_carry: bool = False
    seq_lengths: bool = False

    @property
    def id(self):
        """Readable and usable in ``pytest -k``:
        LSTMCell-units9-features3-batch9-time257-reverse-keep_order-seq_lengths."""
        parts = [self.cell, f"units{self.units}", f"features{self.features}",
                 f"batch{self.batch}", f"time{self.time}"]
        parts += [] if self.activations == ACTIVATIONS[0] else [self.activations]
        parts += [flag for flag in ("time_major", "reverse", "keep_order", "initial_carry",
                                    "seq_lengths") if getattr(self, flag)]
        return "-".join(parts)

    @property
    def gate_fn(self):
        """The jax.nn name of the cell's gate_fn."""
        return self.activations.split("-")[0]

    @property
    def activation_fn(self):
        """The jax.nn name of the cell's activation_fn."""
        return self.activations.split("-")[1]

    def arrays(self):
        """The case's seeded random draws, in float64.

        Returns:
            dict with ``x`` (batch, time, features), batch first whatever the RNN's layout;
            ``kernel`` (features, 4 units), ``recurrent_kernel`` (units, 4 units) and
            ``bias`` (4 units,) in the reference's layout (gate order i, f, c, o), every gate
            its own independent draw (identical gates would hide a wrong gate order) and the
            bias non-zero (Flax initializes it to zeros: a dropped bias must show);
            ``carry``: None or (c, h) as Flax takes it; ``seq_lengths``: None or (batch,)
            lengths in 1..time, one row full.
        """
        rng = np.random.default_rng(self.seed)
        units, features = self.units, self.features
        arrays = {"x": rng.uniform(-1, 1, (self.batch, self.time, features)),
                  "kernel": rng.normal(0, 1 / np.sqrt(features), (features, 4 * units)),
                  "recurrent_kernel": rng.normal(0, 1 / np.sqrt(units), (units, 4 * units)),
                  "bias": rng.uniform(-0.7, 0.7, 4 * units), "carry": None,
                  "seq_lengths": None}
        if self.initial_carry:
            arrays["carry"] = (rng.normal(0, 1, (self.batch, units)),
                               rng.uniform(-1, 1, (self.batch, units)))
        if self.seq_lengths:
            arrays["seq_lengths"] = draw_lengths(rng, self.batch, self.time)
        return arrays


@memoized
def cases(grid="default"):
    """The cases of a grid: "small" (small sizes), "default" (all pairs of the sizes and the
    options) or "full" (all pairs, plus every combination of sizes with options taken in
    turn)."""
    check_grid(grid)
    parameters = OrderedDict(SMALL_FLAX_SIZES if grid == "small" else FLAX_SIZES, **OPTIONS)
    rows = pair_rows(parameters)
    if grid == "full":
        rows += list(every_size_rows(FLAX_SIZES, OPTIONS))
    return unique(FlaxCase(**row) for row in rows)
