"""Where a framework's grid run goes: a per-case breakdown of each case's time into buckets,
printed as shares of the case's time, the shares over the whole grid, and the split between
the framework's own work and the checking around it.

    python bench/profile.py --framework F|all [--grid small|default|full] [--cases]
                            [--dtype D] [--only PATTERN]

F is a framework of lstm_ref.grids.registry.FRAMEWORKS (keras, tf_keras, tf1, torch, onnx,
flax, export); "all" runs each in turn, each in a fresh Python process. --dtype (default
float32) must be one of the framework's dtypes (with "all", a framework that lacks it is
skipped); the export grid runs its artifacts in float32 whatever is asked.

Buckets (exclusive time: a bucket's time leaves out the buckets called inside it):

- build: the framework's object built with the case's weights (a Keras layer, a TF1 cell, an
  nn.LSTM, an ONNX model, a Flax RNN; for the export grid the source model the artifact is
  made from);
- trace (layer): TensorFlow tracing a tf.function anywhere but in the stepped cell (the
  function/xla/predict paths, TF1's "function" runner, a SavedModel's or a converter's
  tracing); XLA's and JAX's compilation happen at the first call and count as "layer call";
- layer call: the framework's own run of the case (Keras: by the case's execution path; TF1:
  dynamic_rnn by the case's runner; torch: the module's call, packed where the case has
  lengths; ONNX: the onnxruntime session made and run once; Flax: the RNN's call; export: the
  artifact's runtime run once), less its tracing;
- I/O: artifacts written, converted and loaded (TFLite conversion and LiteRT Interpreters,
  SavedModel writing and loading, tf2onnx and torch.onnx.export, onnxruntime loading an
  exported model); the export grid only;
- trace (stepped cell): TensorFlow tracing the stepped cell's loop;
- stepped cell: the framework's own cell run one step at a time for h and c at every step
  (ONNX and TFLite: the runs on every prefix / suffix);
- validate: the inputs checked by the reference before the framework sees them;
- reference: the float64 reference's forward (lstm_ref.forward / forward_stack);
- probes: the tolerance probes (their inputs drawn and their forward in the probe format;
  the int8 artifacts' activation-quantization bound);
- step check: the 16-bit exact step check (16-bit dtypes only);
- compare: expectations, bounds and the verdict (lstm_ref.engine), and the checker reading
  an artifact's stored weights back for its weights check;
- other: the rest of the case (arrays drawn, twins built, inputs converted, bookkeeping).

"framework's own" = build + trace (layer) + layer call + I/O: what the framework alone would
cost building and calling the case once (bench/overhead.py measures that directly);
"checking" = the rest. The lines "checking top 3" name the three largest checking buckets.

The header names the machine (bench/machine.py). These machines are shared and their speed
varies: read the shares, not the seconds.
"""

import argparse
import contextlib
import functools
import importlib
import os
import subprocess
import sys
import time
from collections import defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

# (bucket, column label), in the order printed: the framework's own, then the checking.
COLUMNS = (("build", "build"), ("trace (layer)", "trace-L"), ("layer call", "call"),
           ("I/O", "I/O"), ("trace (stepped cell)", "trace-S"), ("stepped cell", "stepped"),
           ("validate", "validate"), ("reference", "ref64"), ("probes", "probes"),
           ("step check", "stepchk"), ("compare", "compare"), ("other", "other"))
BUCKETS = tuple(name for name, _ in COLUMNS)
OWN = ("build", "trace (layer)", "layer call", "I/O")
CHECKING = tuple(name for name in BUCKETS if name not in OWN)


class Clock:
    """Exclusive time per bucket: entering a bucket pauses the one it was called from."""

    def __init__(self):
        self.totals = defaultdict(float)
        self.stack = []

    def enter(self, name):
        now = time.perf_counter()
        if self.stack:
            outer, since = self.stack[-1]
            self.totals[outer] += now - since
        self.stack.append([name, now])

    def leave(self):
        now = time.perf_counter()
        name, since = self.stack.pop()
        self.totals[name] += now - since
        if self.stack:
            self.stack[-1][1] = now

    def inside(self, name):
        """Whether ``name`` is on the stack (the call is made from within that bucket)."""
        return any(entry[0] == name for entry in self.stack)

    def timed(self, original, bucket):
        """``original`` timed in ``bucket`` (a name, or a function of the call's arguments
        returning one)."""

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self.enter(bucket(*args, **kwargs) if callable(bucket) else bucket)
            try:
                return original(*args, **kwargs)
            finally:
                self.leave()

        timed.__profiled__ = True
        return timed

    def wrap(self, owner, attribute, bucket):
        """Time ``owner.attribute`` (a function, or a method when ``owner`` is a class) in
        ``bucket``."""
        original = getattr(owner, attribute)
        if getattr(original, "__profiled__", False):
            return
        setattr(owner, attribute, self.timed(original, bucket))

    def wrap_everywhere(self, owner, attribute, bucket):
        """Time ``owner.attribute`` in ``bucket`` in its module and in every lstm_ref module
        that imported it by name (``from module import function``)."""
        original = getattr(owner, attribute)
        if getattr(original, "__profiled__", False):
            return
        timed = self.timed(original, bucket)
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "lstm_ref" or name.startswith("lstm_ref.")):
                continue
            for key, value in list(vars(module).items()):
                if value is original:
                    setattr(module, key, timed)
        setattr(owner, attribute, timed)


def instrument(clock, name):
    """Put the clock on the functions a case of framework ``name`` runs through (importing the
    framework's modules first, so that every name they imported is wrapped)."""
    from lstm_ref.grids.registry import framework

    # The framework's packages imported before any case runs: a grid's first case would
    # otherwise carry their import (the lstm_ref modules import them when first called).
    for module in PACKAGES[name] + MODULES[name]:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    from lstm_ref import engine, reference, stack, step_check, tolerance

    unless_stepping = own_call(clock)

    def trace(*args, **kwargs):
        return "trace (stepped cell)" if clock.inside("stepped cell") else "trace (layer)"

    def forward_bucket(*args, dtype="float64", keep="states", **kwargs):
        if keep == "final" or clock.inside("validate"):
            return "validate"
        if clock.inside("probes"):
            return "probes"
        return "reference" if dtype == "float64" else "probes"

    if name in TENSORFLOW:
        from tensorflow.python.eager.polymorphic_function import tracing_compilation

        clock.wrap(tracing_compilation, "trace_function", trace)

    clock.wrap_everywhere(reference, "forward", forward_bucket)
    clock.wrap_everywhere(stack, "forward_stack", forward_bucket)
    clock.wrap_everywhere(tolerance, "probe_batch", "probes")
    clock.wrap_everywhere(step_check, "observation_step_check", "step check")
    for function in ("compare_parts", "tensor_expectations", "check_tensors"):
        clock.wrap_everywhere(engine, function, "compare")
    WRAPS[name](clock, unless_stepping)
    return framework(name)


def own_call(clock):
    """A bucket for the framework's own calls that the stepped cell also makes (an ONNX
    session run, a LiteRT Interpreter): "stepped cell" inside it, else ``name``."""

    def bucket(name):
        return lambda *args, **kwargs: "stepped cell" if clock.inside("stepped cell") else name

    return bucket


TENSORFLOW = ("keras", "tf_keras", "tf1", "export")
PACKAGES = {"keras": ("tensorflow", "keras"), "tf_keras": ("tensorflow", "tf_keras"),
            "tf1": ("tensorflow", "tf_keras"), "torch": ("torch",),
            "onnx": ("onnx", "onnxruntime"), "flax": ("jax", "flax.nnx"),
            "export": ("tensorflow", "keras", "tf_keras", "ai_edge_litert.interpreter",
                       "tf2onnx", "torch", "onnx", "onnxruntime")}
MODULES = {
    "keras": ("lstm_ref.frameworks.keras.cases", "lstm_ref.frameworks.keras.observe"),
    "tf_keras": ("lstm_ref.frameworks.keras.cases", "lstm_ref.frameworks.keras.observe"),
    "tf1": ("lstm_ref.frameworks.tf1.cases", "lstm_ref.frameworks.tf1.observe"),
    "torch": ("lstm_ref.frameworks.torch.cases", "lstm_ref.frameworks.torch.observe"),
    "onnx": ("lstm_ref.frameworks.onnx.cases", "lstm_ref.frameworks.onnx.observe"),
    "flax": ("lstm_ref.frameworks.flax.cases", "lstm_ref.frameworks.flax.observe"),
    "export": ("lstm_ref.grids.export", "lstm_ref.frameworks.tflite.cases",
               "lstm_ref.frameworks.tflite.observe", "lstm_ref.frameworks.savedmodel.cases",
               "lstm_ref.frameworks.savedmodel.observe",
               "lstm_ref.frameworks.onnx.export_cases", "lstm_ref.frameworks.onnx.export"),
}


def _keras(clock, own):
    """Keras 3 and tf_keras: lstm_ref.frameworks.keras.cases.run_case."""
    from lstm_ref.frameworks.keras import cases, execution, observe

    clock.wrap(cases, "build_case_layer", "build")
    clock.wrap(execution, "call", "layer call")
    clock.wrap(observe, "step_cell", "stepped cell")
    clock.wrap(observe, "prepare_inputs", "validate")


def _tf1(clock, own):
    """TF1 cells: lstm_ref.frameworks.tf1.cases.run_case (observe.observe)."""
    from lstm_ref.frameworks.tf1 import cases, observe

    clock.wrap(cases, "build_cell", "build")
    clock.wrap(observe, "run_sequence", "layer call")
    clock.wrap(observe, "step_cell", "stepped cell")


def _torch(clock, own):
    """torch.nn.LSTM: lstm_ref.frameworks.torch.cases.run_case (observe.compare)."""
    from lstm_ref.frameworks.torch import cases, observe

    clock.wrap(cases, "build_module", "build")
    clock.wrap(observe, "_called", "layer call")
    clock.wrap(observe, "_stepped", "stepped cell")


def _onnx(clock, own):
    """ONNX nodes: lstm_ref.frameworks.onnx.cases.run_case (observe.observe, observe.check)."""
    from lstm_ref.frameworks.onnx import cases, observe
    from lstm_ref.frameworks.onnx.twin import OnnxLSTMTwin

    clock.wrap(cases, "build_case_model", "build")
    clock.wrap(observe, "session", own("layer call"))
    clock.wrap(observe, "run", own("layer call"))
    clock.wrap(observe, "_stepped", "stepped cell")
    clock.wrap(OnnxLSTMTwin, "traces", "validate")  # a float64 run that checks the sizes


def _flax(clock, own):
    """Flax NNX: lstm_ref.frameworks.flax.cases.run_case (observe.compare)."""
    from flax import nnx

    from lstm_ref.frameworks.flax import cases, observe

    clock.wrap(cases, "build_module", "build")
    clock.wrap(nnx.RNN, "__call__", "layer call")
    clock.wrap(observe, "_stepped", "stepped cell")


def _export(clock, own):
    """Artifacts: lstm_ref.grids.export.run_case (TFLite, SavedModel, tf2onnx, torch-onnx)."""
    from lstm_ref.frameworks.onnx import export as onnx_export
    from lstm_ref.frameworks.onnx import export_cases
    from lstm_ref.frameworks.savedmodel import cases as savedmodel_cases
    from lstm_ref.frameworks.savedmodel import observe as savedmodel
    from lstm_ref.frameworks.tflite import cases as tflite_cases
    from lstm_ref.frameworks.tflite import convert, tolerances
    from lstm_ref.frameworks.tflite import observe as tflite

    # The source models, built as the kind builds them, and their conversion or writing.
    clock.wrap(tflite_cases, "keras_lstm_artifact", "build")
    clock.wrap(convert, "convert_model", "I/O")
    clock.wrap(savedmodel_cases, "keras_lstm_savedmodel", "build")
    clock.wrap(export_cases, "keras_lstm_tf2onnx", "build")
    clock.wrap(export_cases, "torch_lstm_onnx", "build")
    for module, attribute in (("keras", "Model"),):
        clock.wrap(getattr(importlib.import_module(module), attribute), "export", "I/O")
    import tensorflow as tf

    clock.wrap(tf.saved_model, "save", "I/O")
    for module, path in (("tf2onnx", ("convert", "from_keras")), ("torch", ("onnx", "export")),
                         ("onnx", ("load_from_string",))):
        try:
            owner = importlib.import_module(module)
        except ImportError:
            continue
        for part in path[:-1]:
            owner = getattr(owner, part)
        clock.wrap(owner, path[-1], "I/O")
    # The artifacts loaded and run once (the framework's side), stepped, and read back.
    clock.wrap(tflite, "interpreter", own("I/O"))
    clock.wrap(tflite, "run", "layer call")
    clock.wrap(tflite, "_stepped_states", "stepped cell")
    clock.wrap(tflite, "read_artifact", "compare")
    clock.wrap(tolerances, "activation_quantization_bound", "probes")
    clock.wrap(savedmodel, "load", "I/O")
    clock.wrap(savedmodel, "_run", "layer call")
    clock.wrap(savedmodel, "variables", "compare")
    clock.wrap(onnx_export, "_session", "I/O")
    try:
        import onnxruntime

        clock.wrap(onnxruntime.InferenceSession, "run", own("layer call"))
    except ImportError:
        pass


WRAPS = {"keras": _keras, "tf_keras": _keras, "tf1": _tf1, "torch": _torch, "onnx": _onnx,
         "flax": _flax, "export": _export}


def shares(totals, total):
    return "".join(f"{100 * totals.get(name, 0.0) / total:>9.1f}" for name in BUCKETS)


def profile(name, grid, dtype, only, per_case):
    """Run framework ``name``'s grid under the clock and print its table."""
    from machine import header

    clock = Clock()
    runner = instrument(clock, name)
    cases = __import__("lstm_ref.grids.registry", fromlist=["grid_cases"]).grid_cases(
        name, grid, only)
    grand = defaultdict(float)
    rows = []
    errors = 0
    for case in cases:
        clock.totals.clear()
        clock.stack.clear()
        clock.enter("other")
        try:
            with contextlib.redirect_stdout(sys.stderr):  # what frameworks print while saving
                runner.run(case, dtype)
        except Exception as exc:  # noqa: BLE001 - a case that errors is counted, not fatal
            errors += 1
            print(f"  {case.id}: {type(exc).__name__}: {str(exc)[:160]}", file=sys.stderr)
        while clock.stack:
            clock.leave()
        total = sum(clock.totals.values())
        for bucket, seconds in clock.totals.items():
            grand[bucket] += seconds
        rows.append((case, total, dict(clock.totals)))

    print(header())
    unknown = sorted(set(grand) - set(BUCKETS))
    all_time = sum(grand.values())
    print(f"\n{name} grid {grid!r} in {dtype}: {len(cases)} cases"
          f"{f' ({errors} errored)' if errors else ''}, {all_time:.1f} s; exclusive shares of "
          "the time, %")
    print(f"{'':>11}" + "".join(f"{label:>9}" for _, label in COLUMNS))
    if per_case:
        for case, total, totals in rows:
            print(f"{total:>10.2f}s" + shares(totals, total) + f"  {case.id}")
    print(f"{'all cases':<11}" + shares(grand, all_time))
    own = sum(grand.get(b, 0.0) for b in OWN)
    checking = sum(grand.get(b, 0.0) for b in CHECKING)
    print(f"framework's own {100 * own / all_time:.1f}% (build + trace (layer) + layer call + "
          f"I/O), checking {100 * checking / all_time:.1f}%; checking / own "
          f"{checking / own if own else float('nan'):.2f}")
    top = sorted(CHECKING, key=lambda b: -grand.get(b, 0.0))[:3]
    print("checking top 3: " + ", ".join(f"{b} {100 * grand.get(b, 0.0) / all_time:.1f}%"
                                         for b in top))
    if unknown:
        print(f"(unexpected buckets: {unknown})")
    by_path = defaultdict(lambda: [0.0, 0])
    for case, total, _ in rows:
        path = getattr(case, "execution", None) or getattr(case, "kind", None)
        if path is not None:
            by_path[path][0] += total
            by_path[path][1] += 1
    if by_path:
        print("per execution path / kind: " + ", ".join(
            f"{path} {seconds / count:.2f} s a case ({count})"
            for path, (seconds, count) in sorted(by_path.items())))
    sys.stdout.flush()


def main(argv):
    from lstm_ref.grids.registry import FRAMEWORKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="keras", choices=(*FRAMEWORKS, "all"))
    parser.add_argument("--grid", default="default", choices=("small", "default", "full"))
    parser.add_argument("--only", default=None, help="cases whose id contains this")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--cases", action="store_true", help="a line per case too")
    args = parser.parse_args(argv)
    names = list(FRAMEWORKS) if args.framework == "all" else [args.framework]
    for name in names:
        dtype = "float32" if name == "export" else args.dtype
        if dtype not in FRAMEWORKS[name].dtypes:
            print(f"\n{name}: skipped, it has no {dtype} (its dtypes: "
                  f"{', '.join(FRAMEWORKS[name].dtypes)})")
            continue
        if len(names) == 1:
            profile(name, args.grid, dtype, args.only, args.cases)
            continue
        # Each framework in a fresh process: no framework's imports or threads in another's.
        command = [sys.executable, os.path.abspath(__file__), "--framework", name, "--grid",
                   args.grid, "--dtype", dtype] + (["--cases"] if args.cases else []) + (
                       ["--only", args.only] if args.only else [])
        print(f"\n=== {name} ===", flush=True)
        subprocess.run(command, check=False)


if __name__ == "__main__":
    main(sys.argv[1:])
