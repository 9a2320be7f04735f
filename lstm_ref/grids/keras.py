"""The Keras grid (Keras 3 and tf_keras layers): sizes and layer options, all pairs.

A case is one LSTM configuration plus sizes (lstm_ref.grids.allpairs builds the grids). Each
case seeds its own random draws from its id (lstm_ref.grids.common.seed_of), so it
reproduces alone, under ``-k`` and under pytest-xdist, whatever the order of the run.
"""

from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np

from lstm_ref.grids.allpairs import every_size_rows, pair_rows
from lstm_ref.grids.common import check_grid, seed_of

__all__ = ["SIZES", "SMALL_SIZES", "RETURNS", "OPTIONS", "FULL_OPTIONS", "Case", "cases"]

SIZES = OrderedDict(units=(1, 2, 7, 32, 128), features=(1, 3, 16, 64), batch=(1, 2, 5),
                    time=(1, 2, 9, 40, 200))
RETURNS = ("sequences", "last", "sequences+state", "last+state")
OPTIONS = OrderedDict(
    activation=("tanh", "relu", "linear", "softsign", "gelu"),
    recurrent_activation=("sigmoid", "hard_sigmoid", "tanh"),
    go_backwards=(False, True),
    initial_state=(False, True),
    use_bias=(True, False),
    implementation=(2, 1),
    unroll=(False, True),
    returns=RETURNS,
)
# The full grid adds every Keras activation an LSTM can use (sparsemax aside: Keras 3.15's
# TensorFlow sparsemax is wrong, see tests/test_keras_known_divergences.py).
FULL_OPTIONS = OrderedDict(OPTIONS, activation=(
    "tanh", "relu", "linear", "softsign", "gelu", "sigmoid", "hard_sigmoid", "relu6",
    "leaky_relu", "elu", "selu", "celu", "softplus", "silu", "hard_silu", "mish", "hard_tanh",
    "tanh_shrink", "soft_shrink", "hard_shrink", "sparse_plus", "sparse_sigmoid", "squareplus",
    "log_sigmoid", "exponential", "softmax", "log_softmax"),
    recurrent_activation=("sigmoid", "hard_sigmoid", "tanh", "sparse_sigmoid", "hard_tanh",
                          "softsign"))
SMALL_SIZES = OrderedDict(units=(1, 7), features=(1, 3), batch=(1, 2), time=(1, 9))


@dataclass(frozen=True)
class Case:
    """One LSTM configuration and its sizes."""

    units: int
    features: int
    batch: int
    time: int
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    go_backwards: bool = False
    initial_state: bool = False
    use_bias: bool = True
    implementation: int = 2
    unroll: bool = False
    returns: str = "sequences"
    # 0: the draws are seeded by the id alone; another value (lstm-ref verify --seed) draws
    # other weights and inputs for the same configuration.
    salt: int = 0

    @property
    def id(self):
        """Readable and usable in ``pytest -k`` (which takes no '='):
        units7-features3-batch2-time9-tanh-sigmoid-go_backwards-impl2-sequences."""
        parts = [f"{k}{getattr(self, k)}" for k in SIZES]
        parts += [self.activation, self.recurrent_activation]
        parts += [flag for flag in ("go_backwards", "initial_state", "unroll") if getattr(self, flag)]
        parts += [] if self.use_bias else ["no_bias"]
        parts += [f"impl{self.implementation}", self.returns]
        return "-".join(parts)

    @property
    def seed(self):
        return seed_of(self.id, self.salt)

    @property
    def return_sequences(self):
        return self.returns.startswith("sequences")

    @property
    def return_state(self):
        return self.returns.endswith("+state")

    def arrays(self):
        """The case's seeded random draws: x, kernel, recurrent_kernel, bias, initial_state.

        Every gate gets its own independent weights (identical gates would hide a wrong gate
        order), scaled so pre-activations are of order 1: gates neither saturated nor linear.
        """
        rng = np.random.default_rng(self.seed)
        u, f = self.units, self.features
        arrays = {
            "x": rng.uniform(-1, 1, (self.batch, self.time, f)),
            "kernel": rng.normal(0, 1 / np.sqrt(f), (f, 4 * u)),
            "recurrent_kernel": rng.normal(0, 1 / np.sqrt(u), (u, 4 * u)),
            "bias": rng.uniform(-1, 1, 4 * u) if self.use_bias else None,
            "initial_state": None,
        }
        if self.initial_state:
            arrays["initial_state"] = [rng.uniform(-1, 1, (self.batch, u)),
                                       rng.normal(0, 1, (self.batch, u))]
        return arrays

    def as_dict(self):
        return asdict(self)


def cases(grid="default"):
    """The cases of a grid: "small", "default" (all pairs) or "full" (all pairs over every
    option value, plus every combination of sizes, each with options taken in turn from an
    all-pairs array of the options)."""
    check_grid(grid)
    if grid != "full":
        sizes = SMALL_SIZES if grid == "small" else SIZES
        return [Case(**row) for row in pair_rows(OrderedDict(sizes, **OPTIONS))]
    rows = pair_rows(OrderedDict(SIZES, **FULL_OPTIONS)) + every_size_rows(SIZES, FULL_OPTIONS)
    return list({case.id: case for case in (Case(**row) for row in rows)}.values())
