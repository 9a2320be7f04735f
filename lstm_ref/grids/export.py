"""The deployed-artifact grid: an LSTM exported each way lstm_ref reads, held by compare_export
to the reference of the weights it was exported from.

Kinds (:data:`KINDS`): a Keras 3 LSTM converted to TFLite (a WHILE loop), a tf_keras LSTM
converted to TFLite (the fused UNIDIRECTIONAL_SEQUENCE_LSTM op), each with float32, float16 or
int8 (dynamic range) weights; a Keras 3 LSTM written as a SavedModel (Keras ``model.export``
or ``tf.saved_model.save``); a Keras 3 LSTM converted by tf2onnx; a torch.nn.LSTM exported by
torch.onnx.export. Each case takes the layer options its kind can express; the rest keep
their defaults.

Sizes straddle vector widths (units 9, 17, 33; batch 9), and int8 cases are sized so that the
converter quantizes: it quantizes only tensors of 1024 elements or more, so the fused op (one
(units, features) block per gate) needs units 33 and features 32, the loop (kernel
(features, 4 units)) units 17 and features 16 or more.

"full" is an all-pairs array over the kind and storage, the sizes and the options (pairs no
kind can take left out); "default" (and "small") is its first case of every kind and storage.
Each case seeds its draws from its id (lstm_ref.grids.common.seed_of). :func:`run_case`
imports the frameworks a case needs when called.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lstm_ref.grids.allpairs import pair_rows
from lstm_ref.grids.common import GridCase, check_grid, memoized, unique
from lstm_ref.weights import LSTMWeights

__all__ = ["KINDS", "STORAGES", "ARTIFACTS", "SIZES", "OPTIONS", "RETURNS", "PACKAGES",
           "ExportCase", "cases", "possible", "run_case", "swap_permutation"]

KINDS = ("tflite-while", "tflite-fused", "savedmodel", "tf2onnx", "torch-onnx")
# Weight storages of the kinds that have a choice (the TFLite converter's); the others store
# float32.
STORAGES = {"tflite-while": ("float32", "float16", "int8"),
            "tflite-fused": ("float32", "float16", "int8")}
# Every (kind, storage) the grid builds, as "kind/storage".
ARTIFACTS = tuple(f"{kind}/{storage}" for kind in KINDS
                  for storage in STORAGES.get(kind, ("float32",)))
SIZES = OrderedDict(units=(9, 17, 33), features=(3, 16, 32), batch=(2, 9), time=(4, 7))
# What a Keras layer returns: "sequences" (return_sequences), "last" (the last step's h),
# "sequences_state" and "last_state" (with return_state: the output, h and c).
RETURNS = {"sequences": (True, False), "last": (False, False),
           "sequences_state": (True, True), "last_state": (False, True)}
OPTIONS = OrderedDict(returns=tuple(RETURNS), go_backwards=(False, True),
                      activation=("tanh", "relu"), writer=("export", "save"),
                      num_layers=(1, 2), bidirectional=(False, True), batch_first=(False, True))
# The packages a kind needs (besides NumPy), for skips and messages.
PACKAGES = {"tflite-while": ("tensorflow", "keras", "ai_edge_litert"),
            "tflite-fused": ("tensorflow", "tf_keras", "ai_edge_litert"),
            "savedmodel": ("tensorflow", "keras"),
            "tf2onnx": ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"),
            "torch-onnx": ("torch", "onnx", "onnxruntime")}
# Options each kind can express (the others must keep their first value): the fused op
# cannot return the states (with return_state the converter keeps the WHILE loop) and is
# emitted only for tanh (a relu layer stays a WHILE loop); nn.LSTM has neither go_backwards
# nor an activation, and returns its sequence and states always.
KIND_OPTIONS = {"tflite-while": ("returns", "go_backwards", "activation"),
                "tflite-fused": ("returns", "go_backwards"),
                "savedmodel": ("returns", "go_backwards", "activation", "writer"),
                "tf2onnx": ("returns", "go_backwards", "activation"),
                "torch-onnx": ("num_layers", "bidirectional", "batch_first")}


@dataclass(frozen=True)
class ExportCase(GridCase):
    """One exported LSTM: its kind, weight storage, sizes and layer options.

    ``writer``: how a SavedModel is written ("export": Keras ``model.export``; "save":
    ``tf.saved_model.save``). ``num_layers``, ``bidirectional``, ``batch_first``: the
    nn.LSTM's (torch-onnx only).
    """

    kind: str
    storage: str
    units: int
    features: int
    batch: int
    time: int
    returns: str = "sequences"
    go_backwards: bool = False
    activation: str = "tanh"
    writer: str = "export"
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False

    @property
    def id(self):
        """Readable and usable in ``pytest -k``:
        tflite-while-int8-units17-features16-batch9-time4-last_state-go_backwards-relu."""
        parts = [self.kind, self.storage, f"units{self.units}", f"features{self.features}",
                 f"batch{self.batch}", f"time{self.time}"]
        if self.kind == "torch-onnx":
            parts += [f"layers{self.num_layers}"]
            parts += [flag for flag in ("bidirectional", "batch_first") if getattr(self, flag)]
        else:
            parts += [self.returns] + (["go_backwards"] if self.go_backwards else [])
            parts += [self.activation] if self.activation != "tanh" else []
            parts += [self.writer] if self.kind == "savedmodel" else []
        return "-".join(parts)

    @property
    def return_sequences(self):
        return RETURNS[self.returns][0]

    @property
    def return_state(self):
        return RETURNS[self.returns][1]

    def weights(self, swapped=False):
        """The Keras-layout LSTMWeights of a Keras kind, drawn from the case's seed: every
        gate its own independent weights (identical gates would hide a wrong gate order),
        pre-activations of order 1, float32 values (what a Keras layer holds, so the stored
        weights can be held bit for bit). ``swapped``: the input and forget gates' blocks
        exchanged in every array (the planted bug)."""
        rng = np.random.default_rng(self.seed)
        u, f = self.units, self.features
        arrays = [rng.normal(0, 1 / np.sqrt(f), (f, 4 * u)),
                  rng.normal(0, 1 / np.sqrt(u), (u, 4 * u)), rng.uniform(-0.7, 0.7, 4 * u)]
        if swapped:
            arrays = [a[..., swap_permutation(u)] for a in arrays]
        return LSTMWeights(*(a.astype(np.float32) for a in arrays), activation=self.activation)

    def torch_parameters(self, swapped=False):
        """The nn.LSTM's state dict (name -> float32 array) of a torch-onnx case, drawn from the
        case's seed, every gate and direction independent, b_ih and b_hh both non-zero.
        ``swapped``: the input and forget gates' rows exchanged (torch's order i, f, g, o)."""
        rng = np.random.default_rng(self.seed)
        hidden, directions = self.units, 2 if self.bidirectional else 1
        params = {}
        for k in range(self.num_layers):
            features = self.features if k == 0 else directions * hidden
            for direction in range(directions):
                suffix = f"_l{k}" + ("_reverse" if direction else "")
                params.update({
                    "weight_ih" + suffix: rng.normal(0, 1 / np.sqrt(features),
                                                     (4 * hidden, features)),
                    "weight_hh" + suffix: rng.normal(0, 1 / np.sqrt(hidden), (4 * hidden, hidden)),
                    "bias_ih" + suffix: rng.uniform(-0.7, 0.7, 4 * hidden),
                    "bias_hh" + suffix: rng.uniform(-0.7, 0.7, 4 * hidden)})
        if swapped:
            params = {name: a[swap_permutation(hidden)] for name, a in params.items()}
        return {name: a.astype(np.float32) for name, a in params.items()}

    def input(self):
        """x, drawn from the case's seed (after the weights' draws): (batch, time, features),
        or (time, batch, features) for a torch-onnx case without batch_first."""
        rng = np.random.default_rng([self.seed, 1])
        x = rng.uniform(-1, 1, (self.batch, self.time, self.features))
        if self.kind == "torch-onnx" and not self.batch_first:
            x = x.transpose(1, 0, 2)
        return x


def swap_permutation(units):
    """The column (row, for torch) order that exchanges the first two gate blocks: Keras's and
    torch's input and forget gates."""
    return np.r_[units:2 * units, 0:units, 2 * units:4 * units]


@memoized
def cases(grid="default"):
    """The cases of a grid: "full" (all pairs of kind/storage, sizes and options, every pair a
    kind can take), "default" and "small" (the first full case of every kind and storage)."""
    check_grid(grid)
    parameters = OrderedDict(artifact=ARTIFACTS, **SIZES, **OPTIONS)
    rows = pair_rows(parameters, possible, adjust=_adjust)
    found = unique(map(_case, rows))
    if grid != "full":
        first = {}
        for case in found:
            first.setdefault((case.kind, case.storage), case)
        found = list(first.values())
    return found


def possible(row):
    """Whether a row of parameter values can be built: options only where the kind expresses
    them, int8 sizes the converter quantizes. A partial row (as the all-pairs generator fills
    one) is possible until its values decide."""
    artifact = row.get("artifact")
    if artifact is None:
        return True
    kind, storage = artifact.split("/")
    for name in OPTIONS:
        if name in row and name not in KIND_OPTIONS[kind] and row[name] != OPTIONS[name][0]:
            return False
    if kind == "tflite-fused" and row.get("returns") in ("sequences_state", "last_state"):
        return False
    if storage == "int8":
        units, features = row.get("units"), row.get("features")
        if kind == "tflite-fused":
            return units in (None, 33) and features in (None, 32)
        if units is not None and units < 17:
            return False
        if units is not None and features is not None and 4 * units * features < 1024:
            return False
    return True


def _adjust(row):
    """A row made possible: options its kind cannot express back to their first values,
    int8 sizes raised to ones the converter quantizes."""
    kind, storage = row["artifact"].split("/")
    made = {name: (value if name not in OPTIONS or name in KIND_OPTIONS[kind]
                   else OPTIONS[name][0]) for name, value in row.items()}
    if kind == "tflite-fused" and made["returns"] not in ("sequences", "last"):
        made["returns"] = "sequences" if made["returns"] == "sequences_state" else "last"
    if storage == "int8" and not possible(made) and kind == "tflite-fused":
        made.update(units=33, features=32)
    elif storage == "int8" and not possible(made):
        made.update(units=max(made["units"], 17), features=max(made["features"], 16))
    return made


def _case(row):
    values = dict(row)
    kind, storage = values.pop("artifact").split("/")
    return ExportCase(kind=kind, storage=storage, **values)


def run_case(case, planted=False):
    """Export the case's LSTM its kind's way and hold the artifact to the reference with
    compare_export; returns the Report, its context naming the case, its seed and a
    reproducer.

    ``planted``: the artifact is exported from the weights with the input and forget gates
    swapped while the source keeps them (a bug every kind must fail).
    """
    if case.kind in ("tflite-while", "tflite-fused"):
        from lstm_ref.frameworks.tflite.cases import run_export_case
    elif case.kind == "savedmodel":
        from lstm_ref.frameworks.savedmodel.cases import run_export_case
    else:
        from lstm_ref.frameworks.onnx.export_cases import run_export_case
    report = run_export_case(case, planted)
    report.context = case.report_context(report.context, run_case, planted=planted)
    return report
