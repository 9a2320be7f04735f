"""The Keras grid (Keras 3 and tf_keras layers): sizes, layer options, masks and execution
paths, all pairs.

A case is one LSTM configuration plus sizes (lstm_ref.grids.allpairs builds the grids). Each
case seeds its own random draws from its id (lstm_ref.grids.common.seed_of), so it
reproduces alone, under ``-k`` and under pytest-xdist, whatever the order of the run.

Sizes straddle vector widths and blocking: unit counts and batch sizes above 8 that are not
multiples of 8 (9, 17, 33) put lanes in a vectorised kernel's tail (past the last full block
of 8, 16 or 32) that sizes up to 8 and exact multiples never reach.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lstm_ref.errors import OptionError
from lstm_ref.grids.allpairs import every_size_rows, pair_rows
from lstm_ref.grids.common import GridCase, check_grid, memoized, unique

__all__ = ["SIZES", "FULL_SIZES", "SMALL_SIZES", "RETURNS", "MASKS", "EXECUTIONS",
           "SLOW_TRACE_STEPS", "DROPOUT", "RECURRENT_DROPOUT", "OPTIONS", "FULL_OPTIONS",
           "Case", "cases", "possible", "adjust", "draw_mask", "backwards_padded",
           "backwards_padded_rows"]

SIZES = OrderedDict(units=(1, 2, 7, 9, 32, 33, 128), features=(1, 3, 16, 64),
                    batch=(1, 2, 5, 9, 17), time=(1, 2, 9, 40, 200))
# The full grid meets every size with every other, and 17 units (a tail past 16) too.
FULL_SIZES = OrderedDict(SIZES, units=(1, 2, 7, 9, 17, 32, 33, 128))
RETURNS = ("sequences", "last", "sequences+state", "last+state")
# How a case's mask is drawn (draw_mask): none; every row right-, left- or middle-padded;
# every kind in turn with one row fully masked.
MASKS = ("none", "right", "left", "middle", "all_kinds")
# How the whole layer runs (lstm_ref.frameworks.keras.execution.EXECUTIONS): "eager" is
# Keras's while_loop run op by op; "function" a graph, "xla" a compiled graph, "predict" a
# functional model's predict.
EXECUTIONS = ("eager", "function", "xla", "predict")
# A graph of this many unrolled steps (one copy of the cell per step) is slow to trace, and
# slower to compile with XLA: the grids run unrolled cases this long eagerly (possible /
# adjust).
SLOW_TRACE_STEPS = 200
# The rates a case with dropout sets (inference ignores them: training is False).
DROPOUT = 0.3
RECURRENT_DROPOUT = 0.4
OPTIONS = OrderedDict(
    activation=("tanh", "relu", "linear", "softsign", "gelu"),
    recurrent_activation=("sigmoid", "hard_sigmoid", "tanh"),
    go_backwards=(False, True),
    initial_state=(False, True),
    use_bias=(True, False),
    implementation=(2, 1),
    unroll=(False, True),
    returns=RETURNS,
    mask=MASKS,
    execution=EXECUTIONS,
    dropout=(0.0, DROPOUT),
    recurrent_dropout=(0.0, RECURRENT_DROPOUT),
)
# The full grid adds every Keras activation an LSTM can use (sparsemax aside: Keras 3.15's
# TensorFlow sparsemax is wrong, see tests/frameworks/keras/test_known_divergences.py).
FULL_OPTIONS = OrderedDict(OPTIONS, activation=(
    "tanh", "relu", "linear", "softsign", "gelu", "sigmoid", "hard_sigmoid", "relu6",
    "leaky_relu", "elu", "selu", "celu", "softplus", "silu", "hard_silu", "mish", "hard_tanh",
    "tanh_shrink", "soft_shrink", "hard_shrink", "sparse_plus", "sparse_sigmoid", "squareplus",
    "log_sigmoid", "exponential", "softmax", "log_softmax"),
    recurrent_activation=("sigmoid", "hard_sigmoid", "tanh", "sparse_sigmoid", "hard_tanh",
                          "softsign"))
SMALL_SIZES = OrderedDict(units=(1, 7), features=(1, 3), batch=(1, 2), time=(1, 9))


def possible(row):
    """Whether a row of parameter values is a case the grids run.

    Two combinations are left out: recurrent_dropout with implementation 2 (Keras then runs
    implementation 1, so the case would not be what its id says), and an unrolled layer of
    SLOW_TRACE_STEPS steps in a traced execution (function, xla, predict: slow to trace).
    Their pairs are covered by other rows (the long unrolled layer eagerly, the traced paths
    without unrolling, or unrolled over fewer steps). A partial row (as the all-pairs
    generator fills one) is possible until its values decide.
    """
    if row.get("recurrent_dropout") and row.get("implementation") == 2:
        return False
    return not (row.get("unroll") and row.get("execution", "eager") != "eager"
                and row.get("time", 0) >= SLOW_TRACE_STEPS)


def adjust(row):
    """A row :func:`possible` refuses, made possible: implementation 1 for recurrent_dropout,
    the eager execution for a long unrolled layer."""
    row = dict(row)
    if row.get("recurrent_dropout") and row.get("implementation") == 2:
        row["implementation"] = 1
    if not possible(row):
        row["execution"] = "eager"
    return row


def draw_mask(kind, batch, time, rng):
    """A (batch, time) bool mask of a kind of MASKS (None for "none"), drawn from ``rng``.

    - "right": each row valid for its first n steps, n in 1..time-1 (so padded, and never its
      own reverse: going backwards, the padding comes first); with one step, valid;
    - "left": each row valid for its last n steps, likewise;
    - "middle": each row valid at its first and last step, a run of masked steps strictly
      between (of 1..time-2 steps; with fewer than 3 steps there is no between: all valid);
    - "all_kinds": the rows right-, left-, middle-padded and unpadded in turn, and one row
      (drawn) with no valid step at all, the only row without one.
    """
    if kind not in MASKS:
        raise OptionError(f"mask must be one of {MASKS}; received {kind!r}")
    if kind == "none":
        return None
    steps = np.arange(time)
    kinds = [kind] * batch if kind != "all_kinds" else [
        ("right", "left", "middle", "none")[row % 4] for row in range(batch)]
    mask = np.ones((batch, time), bool)
    for row, row_kind in enumerate(kinds):
        if row_kind == "right":
            mask[row] = steps < rng.integers(1, max(time, 2))
        elif row_kind == "left":
            mask[row] = steps >= time - rng.integers(1, max(time, 2))
        elif row_kind == "middle" and time >= 3:
            start = rng.integers(1, time - 1)
            stop = rng.integers(start + 1, time)
            mask[row, start:stop] = False
    if kind == "all_kinds":
        mask[rng.integers(batch)] = False
    return mask


@dataclass(frozen=True)
class Case(GridCase):
    """One LSTM configuration and its sizes.

    ``mask``: how the case's mask is drawn (MASKS, :func:`draw_mask`). ``execution``: how
    the whole layer runs (EXECUTIONS); None: the fastest path for its length
    (lstm_ref.frameworks.keras.execution.fast_execution). ``dropout``,
    ``recurrent_dropout``: the layer's rates; the layer runs at inference, where they must
    change nothing. The layers are built with zero_output_for_mask False (Keras's default for
    an LSTM), where Keras's unrolled go_backwards path is right (with True it zeroes the wrong
    steps: tests/frameworks/keras/test_known_divergences.py).
    """

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
    mask: str = "none"
    execution: str | None = None
    dropout: float = 0.0
    recurrent_dropout: float = 0.0

    @property
    def id(self):
        """Readable and usable in ``pytest -k`` (which takes no '='):
        units7-features3-batch2-time9-tanh-sigmoid-go_backwards-impl2-sequences, then what a
        case sets beyond that: -mask_left, -dropout0.3, -recurrent_dropout0.4, -xla."""
        parts = [f"{k}{getattr(self, k)}" for k in SIZES]
        parts += [self.activation, self.recurrent_activation]
        parts += [flag for flag in ("go_backwards", "initial_state", "unroll") if getattr(self, flag)]
        parts += [] if self.use_bias else ["no_bias"]
        parts += [f"impl{self.implementation}", self.returns]
        parts += [] if self.mask == "none" else [f"mask_{self.mask}"]
        parts += [f"{name}{getattr(self, name):g}" for name in ("dropout", "recurrent_dropout")
                  if getattr(self, name)]
        parts += [] if self.execution is None else [self.execution]
        return "-".join(parts)

    @property
    def return_sequences(self):
        return self.returns.startswith("sequences")

    @property
    def return_state(self):
        return self.returns.endswith("+state")

    def arrays(self):
        """The case's seeded random draws: x, kernel, recurrent_kernel, bias, initial_state,
        mask ((batch, time) bool, or None).

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
        arrays["mask"] = draw_mask(self.mask, self.batch, self.time, rng)
        return arrays


@memoized
def cases(grid="default", executions=EXECUTIONS):
    """The cases of a grid: "small", "default" (all pairs of SIZES and OPTIONS) or "full"
    (all pairs of FULL_SIZES and FULL_OPTIONS, plus every combination of sizes, each with
    options taken in turn from an all-pairs array of the options), and the rows of
    :func:`backwards_padded_rows`. Rows :func:`possible` refuses are adjusted, and the pairs
    that costs are covered by rows of their own.

    ``executions``: the paths the cases run by, "eager" among them (where :func:`adjust`
    puts what the others cannot run): all of EXECUTIONS, or fewer for what only some paths
    give (a gradient: lstm_ref.frameworks.keras.gradients.EXECUTIONS, without "predict").
    """
    check_grid(grid)
    executions = tuple(executions)
    if "eager" not in executions or not set(executions) <= set(EXECUTIONS):
        raise OptionError(f"executions must be some of {EXECUTIONS}, 'eager' among them; "
                          f"received {executions!r}")
    sizes = {"small": SMALL_SIZES, "default": SIZES, "full": FULL_SIZES}[grid]
    options = OrderedDict(FULL_OPTIONS if grid == "full" else OPTIONS, execution=executions)
    rows = pair_rows(OrderedDict(sizes, **options), possible, adjust)
    if grid == "full":
        rows += [row if possible(row) else adjust(row) for row in every_size_rows(sizes, options)]
    rows += backwards_padded_rows(rows)
    return unique(Case(**row) for row in rows)


def backwards_padded(row):
    """Whether a row runs backwards over a padded mask (right or left, 2 steps or more: never
    its own reverse, so a mask applied in the wrong order shows)."""
    return row["go_backwards"] and row["mask"] in ("right", "left") and row["time"] >= 2


def backwards_padded_rows(rows):
    """Rows beyond pairs: one per execution path that ``rows`` never run backwards over a
    padded mask (a path's own handling of the mask going backwards is where Keras's unrolled
    path went wrong: tests/frameworks/keras/test_known_divergences.py), each the first row of
    that path over 2 steps or more, going backwards over a right-padded mask, not unrolled
    (the path Keras's backends all run)."""
    extra = []
    for execution in EXECUTIONS:
        if any(row["execution"] == execution and backwards_padded(row) for row in rows):
            continue
        candidates = ({**row, "go_backwards": True, "mask": "right", "unroll": False}
                      for row in rows if row["execution"] == execution and row["time"] >= 2)
        extra += [row for row in candidates if possible(row)][:1]
    return extra
