"""The case grids of every framework: one all-pairs builder, one seeding rule, one select,
one sweep and summary.

- :mod:`~lstm_ref.grids.common`: grid names, a case's seed from its id, selection by id;
- :mod:`~lstm_ref.grids.allpairs`: the all-pairs covering arrays every grid is built from;
- :mod:`~lstm_ref.grids.keras`, ``tf1``, ``torch``, ``onnx``: each framework's cases (NumPy
  only: a case is sizes, options and its seeded random draws);
- :mod:`~lstm_ref.grids.export`: deployed artifacts (TFLite, SavedModel, tf2onnx,
  torch.onnx.export), its cases and the runner that exports and compares one;
- :mod:`~lstm_ref.grids.registry`: framework name -> its cases and how to run one;
- :mod:`~lstm_ref.grids.sweep`: run a grid, and the summary of a run;
- :mod:`~lstm_ref.grids.workers`: cases in worker processes, a run that outlives a crash or
  the system's limit on memory maps.
"""

from lstm_ref.grids.common import GRIDS, seed_of, select

__all__ = ["GRIDS", "seed_of", "select"]
