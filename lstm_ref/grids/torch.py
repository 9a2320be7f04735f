"""The PyTorch grid: torch.nn.LSTM's options crossed with the Keras grid's sizes, all pairs.

Each case seeds its random draws from its id (lstm_ref.grids.common.seed_of), so it
reproduces alone, under ``pytest -k`` and under pytest-xdist. NumPy only: running a case is
lstm_ref.frameworks.torch.cases's.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lstm_ref.grids.allpairs import every_size_rows, pair_rows
from lstm_ref.grids.common import GridCase, check_grid, memoized, draw_lengths, unique
from lstm_ref.grids.keras import SIZES, SMALL_SIZES

__all__ = ["TORCH_SIZES", "SMALL_TORCH_SIZES", "OPTIONS", "DTYPES", "TorchCase", "cases",
           "possible", "proj_size_for"]

# hidden_size / input_size / batch / time: the Keras grid's sizes under torch's names (with
# sizes past a full block of 8, 16 and 32 by less than a block: a kernel's tail).
TORCH_SIZES = OrderedDict(hidden_size=SIZES["units"], input_size=SIZES["features"],
                          batch=SIZES["batch"], time=SIZES["time"])
SMALL_TORCH_SIZES = OrderedDict(hidden_size=SMALL_SIZES["units"],
                                input_size=SMALL_SIZES["features"],
                                batch=SMALL_SIZES["batch"], time=SMALL_SIZES["time"])
OPTIONS = OrderedDict(num_layers=(1, 2, 3), bidirectional=(False, True), proj=(False, True),
                      batch_first=(False, True), bias=(True, False),
                      initial_state=(False, True), packed=(False, True))
# The parameter dtypes a torch grid runs in (each held to its own tolerance entry).
DTYPES = ("float32", "float64", "float16", "bfloat16")


def proj_size_for(hidden_size):
    """The proj_size a case with a projection uses: half the hidden size (torch needs
    0 < proj_size < hidden_size, so a hidden size of 1 has none)."""
    return hidden_size // 2


@dataclass(frozen=True)
class TorchCase(GridCase):
    """One torch.nn.LSTM configuration and its sizes.

    ``packed``: the rows have random lengths (one of them the full length) and the module
    runs on pack_padded_sequence(x, lengths, enforce_sorted=False).
    """

    hidden_size: int
    input_size: int
    batch: int
    time: int
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    batch_first: bool = False
    bias: bool = True
    initial_state: bool = False
    packed: bool = False

    @property
    def id(self):
        """Readable and usable in ``pytest -k``:
        hidden7-input3-batch2-time9-layers2-bidirectional-proj3-batch_first-no_bias."""
        parts = [f"hidden{self.hidden_size}", f"input{self.input_size}", f"batch{self.batch}",
                 f"time{self.time}", f"layers{self.num_layers}"]
        parts += ["bidirectional"] if self.bidirectional else []
        parts += [f"proj{self.proj_size}"] if self.proj_size else []
        parts += [flag for flag in ("batch_first", "initial_state", "packed")
                  if getattr(self, flag)]
        parts += [] if self.bias else ["no_bias"]
        return "-".join(parts)

    @property
    def output_size(self):
        """The size of h: proj_size with a projection, hidden_size without."""
        return self.proj_size or self.hidden_size

    def module_options(self):
        """The keyword arguments of torch.nn.LSTM for this case."""
        return dict(input_size=self.input_size, hidden_size=self.hidden_size,
                    num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                    bidirectional=self.bidirectional, proj_size=self.proj_size)

    def arrays(self):
        """The case's seeded random draws, in float64.

        Returns:
            dict with ``x`` (batch, time, input_size), batch first whatever the module's
            layout; ``params``: state_dict name -> array, every gate its own independent
            weights (identical gates would hide a wrong gate order), scaled so that
            pre-activations are of order 1, and b_ih and b_hh both non-zero (a bias not
            summed must show); ``initial_state``: None or (h_0, c_0) as nn.LSTM takes hx;
            ``lengths``: None or (batch,) valid lengths in 1..time, one row full.
        """
        rng = np.random.default_rng(self.seed)
        hidden, output = self.hidden_size, self.output_size
        directions = 2 if self.bidirectional else 1  # a layer's output is both directions' h
        arrays = {"x": rng.uniform(-1, 1, (self.batch, self.time, self.input_size)),
                  "params": {}, "initial_state": None, "lengths": None}
        for k in range(self.num_layers):
            features = self.input_size if k == 0 else directions * output
            for direction in range(directions):
                suffix = f"_l{k}" + ("_reverse" if direction else "")
                params = {"weight_ih": rng.normal(0, 1 / np.sqrt(features), (4 * hidden, features)),
                          "weight_hh": rng.normal(0, 1 / np.sqrt(output), (4 * hidden, output))}
                if self.bias:
                    params["bias_ih"] = rng.uniform(-0.7, 0.7, 4 * hidden)
                    params["bias_hh"] = rng.uniform(-0.7, 0.7, 4 * hidden)
                if self.proj_size:
                    params["weight_hr"] = rng.normal(0, 1 / np.sqrt(hidden), (output, hidden))
                arrays["params"].update({name + suffix: v for name, v in params.items()})
        if self.initial_state:
            rows = self.num_layers * directions
            arrays["initial_state"] = (rng.uniform(-1, 1, (rows, self.batch, output)),
                                       rng.normal(0, 1, (rows, self.batch, hidden)))
        if self.packed:
            arrays["lengths"] = draw_lengths(rng, self.batch, self.time)
        return arrays


@memoized
def cases(grid="default"):
    """The cases of a grid: "small" (small sizes), "default" (all pairs of the Keras grid's
    sizes and the options) or "full" (all pairs, plus every combination of sizes with options
    taken in turn)."""
    check_grid(grid)
    parameters = OrderedDict(SMALL_TORCH_SIZES if grid == "small" else TORCH_SIZES, **OPTIONS)
    rows = pair_rows(parameters, possible, adjust=lambda row: {**row, "proj": False})
    if grid == "full":
        rows += [row if possible(row) else {**row, "proj": False}
                 for row in every_size_rows(TORCH_SIZES, OPTIONS)]
    return unique(map(_case, rows))


def possible(row):
    """Whether a row of parameter values makes an nn.LSTM: a projection needs hidden_size > 1
    (0 < proj_size < hidden_size). A partial row (as the all-pairs generator fills one) is
    possible until its values decide."""
    return not (row.get("proj") and row.get("hidden_size") == 1)


def _case(row):
    values = dict(row)
    proj = values.pop("proj")
    return TorchCase(**values, proj_size=proj_size_for(values["hidden_size"]) if proj else 0)
