"""The PyTorch case grid: torch.nn.LSTM's options crossed with lstm_ref.grid's sizes.

Every pair of values of every two parameters meets in some case (an all-pairs covering array
from allpairspy, as lstm_ref.grid does). Each case seeds its random draws from its id, so it
reproduces alone, under ``pytest -k`` and under pytest-xdist. This module imports NumPy only;
:func:`run_case` imports torch.
"""

import zlib
from collections import OrderedDict
from dataclasses import asdict, dataclass
from itertools import combinations, cycle, product

import numpy as np

from lstm_ref.errors import OptionError
from lstm_ref.grid import SIZES, SMALL_SIZES

# hidden_size / input_size / batch / time: lstm_ref.grid's sizes under torch's names.
TORCH_SIZES = OrderedDict(hidden_size=SIZES["units"], input_size=SIZES["features"],
                          batch=SIZES["batch"], time=SIZES["time"])
SMALL_TORCH_SIZES = OrderedDict(hidden_size=SMALL_SIZES["units"],
                                input_size=SMALL_SIZES["features"],
                                batch=SMALL_SIZES["batch"], time=SMALL_SIZES["time"])
OPTIONS = OrderedDict(num_layers=(1, 2, 3), bidirectional=(False, True), proj=(False, True),
                      batch_first=(False, True), bias=(True, False),
                      initial_state=(False, True), packed=(False, True))
GRIDS = ("small", "default", "full")


def proj_size_for(hidden_size):
    """The proj_size a case with a projection uses: half the hidden size (torch needs
    0 < proj_size < hidden_size, so a hidden size of 1 has none)."""
    return hidden_size // 2


@dataclass(frozen=True)
class TorchCase:
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
    def seed(self):
        return zlib.crc32(self.id.encode())

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def output_size(self):
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
        arrays = {"x": rng.uniform(-1, 1, (self.batch, self.time, self.input_size)),
                  "params": {}, "initial_state": None, "lengths": None}
        for k in range(self.num_layers):
            features = self.input_size if k == 0 else self.num_directions * output
            for direction in range(self.num_directions):
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
            rows = self.num_layers * self.num_directions
            arrays["initial_state"] = (rng.uniform(-1, 1, (rows, self.batch, output)),
                                       rng.normal(0, 1, (rows, self.batch, hidden)))
        if self.packed:
            lengths = rng.integers(1, self.time + 1, self.batch)
            lengths[rng.integers(self.batch)] = self.time
            arrays["lengths"] = lengths
        return arrays

    def as_dict(self):
        return asdict(self)


def cases(grid="default"):
    """The cases of a grid: "small" (small sizes), "default" (all pairs of lstm_ref.grid's
    sizes and the options) or "full" (all pairs, plus every combination of sizes with options
    taken in turn)."""
    from lstm_ref.adapters import require

    AllPairs = require("allpairspy", "torch").AllPairs  # noqa: N806 - the library's class
    if grid not in GRIDS:
        raise OptionError(f"grid must be one of {GRIDS}; received {grid!r}")
    parameters = OrderedDict(SMALL_TORCH_SIZES if grid == "small" else TORCH_SIZES, **OPTIONS)
    rows = [dict(zip(parameters, row)) for row in AllPairs(parameters)]
    if grid == "full":
        option_rows = cycle([row for row in AllPairs(OPTIONS)])
        rows += [dict(zip(parameters, list(size) + list(next(option_rows))))
                 for size in product(*TORCH_SIZES.values())]
    rows += _missing_pairs(parameters, rows)
    return list({case.id: case for case in map(_case, rows)}.values())


def possible(row):
    """Whether a row of parameter values makes an nn.LSTM: a projection needs hidden_size > 1
    (0 < proj_size < hidden_size)."""
    return not (row["proj"] and row["hidden_size"] == 1)


def _missing_pairs(parameters, rows):
    """Rows that cover the pairs the others miss. allpairspy covers every pair, but a row
    that cannot be (hidden_size 1 with a projection) becomes one without the projection,
    and its other pairs with proj=True are lost; each gets a row of its own here."""
    made = [{**row, "proj": row["proj"] and possible(row)} for row in rows]
    have = {(a, row[a], b, row[b]) for row in made for a, b in combinations(parameters, 2)}
    extra = []
    for a, b in combinations(parameters, 2):
        for u, v in product(parameters[a], parameters[b]):
            if (a, u, b, v) in have:
                continue
            # The first row that can take both values (none: the pair itself cannot be).
            row = next((r for r in ({**base, a: u, b: v} for base in rows) if possible(r)), None)
            if row is not None:
                extra.append(row)
                have |= {(p, row[p], q, row[q]) for p, q in combinations(parameters, 2)}
    return extra


def _case(row):
    values = dict(row)
    proj = values.pop("proj") and possible(row)
    return TorchCase(**values, proj_size=proj_size_for(values["hidden_size"]) if proj else 0)


def select(all_cases, pattern=None):
    """Cases whose id contains ``pattern`` (all if None)."""
    return [c for c in all_cases if pattern is None or pattern in c.id]


def build_module(case, dtype="float32"):
    """The case's torch.nn.LSTM in ``dtype`` ("float32", "float64", "float16", "bfloat16"),
    in eval mode, with the case's parameters loaded."""
    from lstm_ref.adapters.torch import _torch

    torch = _torch()
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype) or not torch_dtype.is_floating_point:
        raise OptionError(f"dtype must be a torch floating dtype name such as 'float32'; "
                          f"received {dtype!r}")
    module = torch.nn.LSTM(**case.module_options(), dtype=torch_dtype).eval()
    state = {name: torch.as_tensor(value).to(torch_dtype)
             for name, value in case.arrays()["params"].items()}
    module.load_state_dict(state, strict=True)
    return module


def module_inputs(case, dtype="float32"):
    """``(x, hx, lengths)`` as the case's module takes them: x (time, batch, input_size) or
    batch first, torch tensors of ``dtype``."""
    from lstm_ref.adapters.torch import _torch

    torch = _torch()
    arrays = case.arrays()
    torch_dtype = getattr(torch, dtype)
    x = arrays["x"] if case.batch_first else arrays["x"].transpose(1, 0, 2)
    hx = None
    if arrays["initial_state"] is not None:
        hx = tuple(torch.as_tensor(s).to(torch_dtype) for s in arrays["initial_state"])
    return torch.as_tensor(np.ascontiguousarray(x)).to(torch_dtype), hx, arrays["lengths"]


def run_case(case, dtype="float32", tolerance=None):
    """Build the case's module, run lstm_ref.compare on its inputs and return the Report,
    whose context names the case, its seed and a reproducer."""
    from lstm_ref.adapters.torch_compare import compare

    module = build_module(case, dtype)
    x, hx, lengths = module_inputs(case, dtype)
    report = compare(module, x, initial_state=hx, lengths=lengths, tolerance=tolerance)
    report.context = {"case": case.id, "seed": case.seed, **report.context,
                      "reproduce": f"lstm_ref.grid_torch.run_case(lstm_ref.grid_torch."
                                   f"TorchCase(**{case.as_dict()}), dtype={dtype!r})"}
    return report


def sweep(grid="default", dtype="float32", pattern=None):
    """Run every case of a grid; returns ``(reports by case id, summary lines)`` with the
    worst |error| and the worst error-to-bound ratio over the grid."""
    reports = {case.id: run_case(case, dtype) for case in select(cases(grid), pattern)}
    errors = {cid: max((t.worst.error for t in r.tensors.values()), default=0.0)
              for cid, r in reports.items()}
    worst_error = max(errors, key=errors.get)
    worst_ratio = max(reports, key=lambda cid: reports[cid].worst_ratio)
    failed = [cid for cid, r in reports.items() if not r.passed]
    partial = [cid for cid, r in reports.items() if r.compared_steps < r.time]
    lines = [f"torch {dtype}, grid {grid}: {len(reports) - len(failed)} of {len(reports)} passed"
             f"{', failed: ' + ', '.join(failed) if failed else ''}",
             f"worst |error| {errors[worst_error]:.3e} ({worst_error})",
             f"worst error/bound {reports[worst_ratio].worst_ratio:.3f} ({worst_ratio})",
             f"{len(partial)} compared only up to the step {dtype} can determine"]
    return reports, lines


def main(argv=None):
    """``python -m lstm_ref.grid_torch [--grid G] [--dtype D ...] [--only PATTERN]``: sweep the
    PyTorch grid and print the worst figures per dtype; exit 1 if a case failed."""
    import argparse
    import warnings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--grid", default="default", choices=GRIDS)
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64", "float16", "bfloat16"])
    parser.add_argument("--only", default=None, help="cases whose id contains this")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
    ok = True
    for dtype in args.dtype:
        reports, lines = sweep(args.grid, dtype, args.only)
        print("\n".join(lines))
        ok &= all(r.passed for r in reports.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
