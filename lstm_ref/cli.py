"""The lstm-ref command line.

    lstm-ref verify [--framework keras|tf_keras|tf1|torch|onnx|flax|export]
                    [--grid small|default|full] [--only PATTERN] [--dtype DTYPE] [--seed N]
                    [--list] [--json PATH] [--junit-xml PATH] [--report DIR] [--workers N]
                    [-v]
    lstm-ref golden record PATH [--grid G] [--only PATTERN] [--dtype DTYPE]
    lstm-ref golden check PATH [--json PATH] [--junit-xml PATH]
    lstm-ref explain --units U --features F [--batch B --time T --bidirectional --proj P]
    lstm-ref convert SOURCE DESTINATION --from LAYOUT --to LAYOUT [--layer N] [--reverse]
    lstm-ref check-export SOURCE ARTIFACT [--input NPY | --batch B --time T --seed N]
                          [--json PATH] [-v] [--batch-first --input-size F --hidden-size H
                          --num-layers L --bidirectional]

``verify`` runs a framework's grid against the reference, prints a line per case that did
not pass (every case with -v) and a summary table. Exit codes, everywhere: 0 every case
passed; 1 a case failed or could not run; 2 the run itself could not happen (bad arguments,
a missing framework, an unwritable output); 3 nothing failed but some case was inconclusive
(a tensor the reference could not determine anywhere: nothing compared there).
"""

import argparse
import importlib
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO, cast

import numpy as np

from lstm_ref import files, known, run_outputs
from lstm_ref._version import VERSION
from lstm_ref.convert import LAYOUTS
from lstm_ref.errors import LSTMRefError, OptionError
from lstm_ref.grids import GRIDS
from lstm_ref.grids.registry import FRAMEWORKS, KERAS_DTYPES, framework, grid_cases
from lstm_ref.grids.sweep import (ERROR, XFAIL, CaseRun, run_cases, summarize,
                                  summary_lines)
from lstm_ref.report import FAILED, INCONCLUSIVE, Report

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_ERROR", "EXIT_INCONCLUSIVE", "main", "run_verify"]

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3
EXIT_CODES = ("exit codes: 0 every case passed; 1 a case failed or could not run; 2 the run "
              "could not happen; 3 nothing failed but a case was inconclusive")
DTYPES = tuple(dict.fromkeys(KERAS_DTYPES + FRAMEWORKS["torch"].dtypes))
# Cases per grid (small / default / full) of each framework, as the grids build them (a test
# holds these figures to the grids: they are here so that --help needs no grid built).
GRID_SIZES = {"keras": (31, 43, 1016), "tf_keras": (31, 43, 331), "tf1": (28, 49, 837),
              "torch": (11, 37, 736), "onnx": (18, 38, 742), "flax": (8, 13, 84),
              "export": (9, 9, 37)}
GRID_HELP = "cases per grid (small / default / full): " + "; ".join(
    f"{name} {' / '.join(map(str, sizes))}" for name, sizes in GRID_SIZES.items())


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (and exit 2), as every other error."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("lstm-ref").strip()
        self.exit(EXIT_ERROR, f"lstm-ref: error: {where + ': ' if where else ''}{message} "
                              f"(see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    top = _Parser(prog="lstm-ref", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES)
    top.add_argument("--version", action="version", version=f"lstm-ref {VERSION}")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    verify = commands.add_parser("verify", help="run a framework's grid against the reference",
                                 epilog=f"{GRID_HELP}. {EXIT_CODES}")
    verify.add_argument("--framework", default="keras", choices=tuple(FRAMEWORKS),
                        help="whose LSTMs to check (default keras)")
    verify.add_argument("--grid", default="default", choices=GRIDS,
                        help="small (a quick check), default (all pairs of the options), "
                             "full (every option value and size; the longest)")
    verify.add_argument("--only", metavar="PATTERN", help="only cases whose id contains PATTERN")
    verify.add_argument("--dtype", default="float32", choices=DTYPES,
                        help="the dtype (or Keras mixed-precision policy) the layers compute "
                             "in (default float32); each case is held to that dtype's entry")
    verify.add_argument("--seed", type=int, default=0,
                        help="draw other random weights and inputs (default 0: seeded by id)")
    verify.add_argument("--list", action="store_true", help="print the case ids and stop")
    verify.add_argument("--known-divergences", metavar="FILE",
                        help="known divergences of your own (JSON, the format of "
                             "lstm_ref/known_divergences.json), added to the shipped ones: a "
                             "case one matches is XFAIL when it fails, XPASS when it passes")
    verify.add_argument("--json", metavar="PATH", help="write the run as JSON")
    verify.add_argument("--junit-xml", metavar="PATH", help="write the run as JUnit XML")
    verify.add_argument("--report", metavar="DIR", help="write an HTML report with plots")
    verify.add_argument("--workers", type=_workers, default=0, metavar="N",
                        help="run the cases in N worker processes (default 0: in this "
                             "process); a case that crashes its worker fails alone, with the "
                             "signal, and the run goes on")
    verify.add_argument("-v", "--verbose", action="store_true", help="a line for every case")
    verify.add_argument("-q", "--quiet", action="store_true",
                        help="no progress line on a terminal (it is never written to a pipe or a file)")
    golden = commands.add_parser("golden", help="record golden files, or check the installed "
                                                "Keras against them", epilog=EXIT_CODES)
    golden_commands = golden.add_subparsers(dest="golden_command", required=True,
                                            parser_class=_Parser)
    record = golden_commands.add_parser("record", help="record the installed Keras's results")
    record.add_argument("path", help="the folder to create")
    record.add_argument("--grid", default="small", choices=GRIDS)
    record.add_argument("--only", metavar="PATTERN", help="only cases whose id contains PATTERN")
    record.add_argument("--dtype", default="float32", choices=KERAS_DTYPES)
    record.add_argument("-q", "--quiet", action="store_true", help="no progress line on a terminal (it is never written to a pipe or a file)")
    check = golden_commands.add_parser("check", help="re-run the recorded cases and compare")
    check.add_argument("path", help="a folder written by golden record")
    check.add_argument("--json", metavar="PATH", help="write the check as JSON")
    check.add_argument("--junit-xml", metavar="PATH", help="write the check as JUnit XML")
    check.add_argument("-q", "--quiet", action="store_true", help="no progress line on a terminal (it is never written to a pipe or a file)")
    explain = commands.add_parser("explain", help="the shapes, parameter count and one step "
                                                  "of an LSTM: what is units?")
    explain.add_argument("--units", type=int, required=True, help="U: the state size")
    explain.add_argument("--features", type=int, required=True, help="F: the input size")
    explain.add_argument("--batch", type=int, help="B: the batch size of the example shapes")
    explain.add_argument("--time", type=int, help="T: the number of steps of the example")
    explain.add_argument("--bidirectional", action="store_true", help="two directions")
    explain.add_argument("--proj", type=int, help="P < U: a projection of h (TF1, PyTorch)")
    convert = commands.add_parser("convert", help="convert saved LSTM weights between layouts")
    convert.add_argument("source", help="the weights: .npz (or a torch .pt state dict)")
    convert.add_argument("destination", help="where to write them (.npz, or .pt for torch)")
    convert.add_argument("--from", dest="source_layout", required=True, choices=LAYOUTS)
    convert.add_argument("--to", dest="target_layout", required=True, choices=LAYOUTS)
    convert.add_argument("--layer", type=int, default=0, help="torch: which layer (default 0)")
    convert.add_argument("--reverse", action="store_true",
                         help="torch / onnx: the backward direction")
    export = commands.add_parser(
        "check-export", help="hold an exported artifact (.tflite, SavedModel, .onnx) to the "
                             "reference of the LSTM it was exported from", epilog=EXIT_CODES)
    export.add_argument("source", help="the exported model: a .keras file with one LSTM layer "
                                       "(loaded with safe_mode=True), or a torch.nn.LSTM's "
                                       "state dict (.pt, read with weights_only=True; for an "
                                       ".onnx artifact)")
    export.add_argument("artifact", help="the export: a .tflite file, a SavedModel directory "
                                         "or a .onnx file")
    shape = export.add_argument_group(
        "a .pt source's nn.LSTM", "read from the state dict; given ones are checked against it")
    shape.add_argument("--input-size", type=int, help="the module's input_size")
    shape.add_argument("--hidden-size", type=int, help="the module's hidden_size")
    shape.add_argument("--num-layers", type=int, help="the module's num_layers")
    shape.add_argument("--bidirectional", action="store_true", default=None,
                       help="the module is bidirectional")
    shape.add_argument("--batch-first", action="store_true",
                       help="the module is batch_first: its input (and the artifact's) is "
                            "(batch, time, features), not (time, batch, features)")
    export.add_argument("--input", metavar="NPY", help="the input, (batch, time, features) in "
                                                       "a .npy file ((time, batch, features) "
                                                       "for a .pt source without "
                                                       "--batch-first; default: drawn at "
                                                       "random)")
    export.add_argument("--batch", type=int, help="rows of the drawn input (default: the "
                                                  "artifact's input shape; 2 where it is open)")
    export.add_argument("--time", type=int, help="steps of the drawn input (default: the "
                                                 "artifact's input shape; 5 where it is open)")
    export.add_argument("--seed", type=int, default=0, help="seed of the drawn input (default 0)")
    export.add_argument("--json", metavar="PATH", help="write the report as JSON")
    export.add_argument("-v", "--verbose", action="store_true",
                        help="the whole report, also when it passed")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit code (see the
    module docstring)."""
    args = parser().parse_args(argv)
    quiet_frameworks(uses_tensorflow(args))
    try:
        if args.command == "convert":
            return run_convert(args)
        if args.command == "golden":
            return run_golden(args)
        if args.command == "check-export":
            return run_check_export(args)
        if args.command == "explain":
            from lstm_ref.explain import explain as explain_text

            print(explain_text(args.units, args.features, args.batch, args.time,
                               args.bidirectional, args.proj))
            return EXIT_OK
        return run_verify(args.grid, args.only, args.verbose, dtype=args.dtype, seed=args.seed,
                          json_path=args.json, junit_path=args.junit_xml,
                          report_dir=args.report, framework_name=args.framework,
                          list_only=args.list, known_path=args.known_divergences,
                          quiet=args.quiet, workers=args.workers)
    except LSTMRefError as exc:
        print(f"lstm-ref: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader closed the pipe (``lstm-ref verify | head -1``): end quietly, the run not
        # finished. What is still buffered for stdout goes nowhere instead of raising again
        # when Python flushes it at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


def uses_tensorflow(args: argparse.Namespace) -> bool:
    """Whether the command runs TensorFlow (Keras, tf_keras, TF1 cells, golden files)."""
    return args.command in ("golden", "check-export") or (args.command == "verify"
                                                          and not args.list
                                         and args.framework in ("keras", "tf_keras", "tf1"))


def quiet_frameworks(tensorflow: bool = False) -> None:
    """Lower TensorFlow's logging while the CLI runs. Its Python warnings about retracing,
    which the grid's one new tf.function per case sets off, say nothing about the check (a
    level the user set is kept). With ``tensorflow``, TensorFlow and Keras are imported here
    with the process's stderr pointed at /dev/null: their native libraries print start-up
    lines (CUDA probes, oneDNN notes) before any logging setting applies. An import that
    fails still raises, and is reported later as a missing or broken framework."""
    tensorflow_logger = logging.getLogger("tensorflow")
    if tensorflow_logger.level == logging.NOTSET:
        tensorflow_logger.setLevel(logging.ERROR)
    # The TF1 grid builds the deprecated cells on purpose: their deprecation notices, once per
    # cell class, are not news to whoever runs it.
    for message in (r"`tf\.nn\.rnn_cell\.\w+` is deprecated", r"`layer\.updates` will be removed"):
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
    if not tensorflow or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # its C++ logging, once it is set up
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        for name in ("tensorflow", "keras"):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - missing or broken: said where it is needed
                break
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _workers(text: str) -> int:
    """--workers: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; received {text!r}")
    return value


def run_verify(grid_name: str, pattern: str | None, verbose: bool, out: TextIO | None = None,
               dtype: str = "float32", seed: int = 0, json_path: str | None = None,
               junit_path: str | None = None, report_dir: str | None = None,
               framework_name: str = "keras", list_only: bool = False,
               known_path: str | None = None, quiet: bool = False, workers: int = 0) -> int:
    """``lstm-ref verify``: returns the exit code (see the module docstring)."""
    out = out or sys.stdout
    chosen = framework(framework_name)
    if dtype not in chosen.dtypes:
        raise OptionError(f"--dtype {dtype} is not one {framework_name} runs in; it runs in "
                          f"{', '.join(chosen.dtypes)}")
    cases = grid_cases(framework_name, grid_name, pattern, salt=seed)
    if not cases:
        raise OptionError(f"no case of grid {grid_name!r} matches {pattern!r}")
    if list_only:
        for case in cases:
            print(case.id, file=out)
        return EXIT_OK
    for path, what in ((json_path, "--json"), (junit_path, "--junit-xml")):
        if path is not None:
            files.check_file_target(path, what)
    if report_dir is not None:
        from lstm_ref import html_report

        html_report.check_folder(report_dir)
    divergences = known.shipped() + (known.load(known_path) if known_path else [])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    versions = chosen.versions()
    print(f"lstm-ref verify: {len(cases)} cases of the {framework_name} grid {grid_name!r} in "
          f"{dtype} ({', '.join(f'{k} {v}' for k, v in versions.items())})", file=out)
    start = time.perf_counter()
    progress = _Progress(len(cases), quiet=quiet)

    def each(run: CaseRun) -> None:
        case_id: str = cast(Any, run.case).id
        progress.show(case_id)
        if run.verdict in (FAILED, INCONCLUSIVE, ERROR):
            progress.clear()
            print(f"{run.verdict:<12} {case_id}\n  {_why(run)}", file=out)
        elif run.known is not None:
            progress.clear()
            why = (f"known divergence {run.known.id}: {run.known.reason}" if run.verdict == XFAIL
                   else f"known divergence {run.known.id} did not show here (where it shows "
                        "in no case, the entry can go)")
            print(f"{run.verdict:<12} {case_id}\n  {why}", file=out)
        elif verbose:
            progress.clear()
            print(f"ok           {case_id} (worst err/bound "
                  f"{cast(Report, run.report).worst_ratio:.3f})", file=out)

    def handover(remaining: int) -> None:
        progress.clear()
        print(f"note: this process nears the system's limit on memory maps (vm.max_map_count; "
              f"XLA keeps every compiled function mapped): the {remaining} cases left run in a "
              f"worker process", file=out)

    runs = run_cases(framework_name, cases, dtype, progress=each, known=divergences,
                     workers=workers, on_handover=handover)
    progress.done()
    elapsed = time.perf_counter() - start
    summary = summarize(runs)
    print("", *summary_lines(summary), sep="\n", file=out)
    print(f"{elapsed:.1f} s in all", file=out)
    meta = {"lstm_ref": VERSION, "framework": framework_name, "versions": versions,
            "numpy": np.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "grid": grid_name, "only": pattern,
            "dtype": dtype, "seed": seed, "seconds": round(elapsed, 3)}
    records = [run_outputs.case_record(run) for run in runs]
    if json_path is not None:
        files.write_atomic(json_path, run_outputs.to_json(meta, records), "--json")
    if junit_path is not None:
        files.write_atomic(junit_path, run_outputs.to_junit(meta, records), "--junit-xml")
    if report_dir is not None:
        html_report.write(report_dir, meta, [(cast(Any, r.case).id, cast(Report, r.report))
                                             for r in runs if r.report is not None])
        print(f"report: {os.path.join(report_dir, 'index.html')}", file=out)
    counts = summary.counts
    if counts[FAILED] or counts[ERROR]:
        return EXIT_FAILED
    return EXIT_INCONCLUSIVE if counts[INCONCLUSIVE] else EXIT_OK


def _why(run: CaseRun) -> str:
    """One line: the first failure, what was not compared, or the error."""
    report = cast("Report | None", run.report)
    if report is None:
        return f"could not run: {run.error}"
    if report.failed:
        return str(report.first_failure)
    return "; ".join(report.not_compared_lines()) or report.verdict_line()


class _Progress:
    """A one-line progress count on stderr, only when stderr is a terminal (CI logs and
    pipes get none) and not ``quiet``."""

    def __init__(self, total: int, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.total, self.count = total, 0
        self.stream = stream or sys.stderr
        self.active = total > 1 and not quiet and self.stream.isatty()

    def show(self, label: str) -> None:
        self.count += 1
        if self.active:
            width = 30
            filled = width * self.count // self.total
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.count}/"
                              f"{self.total} {label[:50]:<50}")
            self.stream.flush()

    def clear(self) -> None:
        if self.active:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()

    def done(self) -> None:
        self.clear()


def run_golden(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """golden record / golden check: exit 0; 1 if a recorded case departs; 3 if none departs
    but one is inconclusive; 2 (raised) if the files cannot be written or read."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from lstm_ref import golden

    out = out or sys.stdout
    progress = _Progress(0, quiet=args.quiet)

    def report_progress(done: int, total: int, case_id: str) -> None:
        progress.total = total
        progress.active = total > 1 and not args.quiet and progress.stream.isatty()
        progress.show(case_id)

    if args.golden_command == "record":
        manifest = golden.record(args.path, grid=args.grid, pattern=args.only, dtype=args.dtype,
                                 progress=report_progress)
        progress.done()
        print(f"recorded {len(manifest['cases'])} cases of grid {args.grid!r} in {args.dtype} "
              f"to {args.path} ({', '.join(f'{k} {v}' for k, v in manifest['versions'].items())})",
              file=out)
        return EXIT_OK
    targets = [(path, what) for path, what in ((args.json, "--json"),
                                               (args.junit_xml, "--junit-xml")) if path]
    for path, what in targets:  # refused before anything runs
        files.check_file_target(path, what)
    result = golden.check(args.path, progress=report_progress)
    progress.done()
    print(result.summary(), file=out)
    if targets:
        from lstm_ref.golden import outputs

        writers = {"--json": outputs.to_json, "--junit-xml": outputs.to_junit}
        for path, what in targets:
            files.write_atomic(path, writers[what](result), what)
    if result.passed:
        return EXIT_OK
    return EXIT_INCONCLUSIVE if not result.failed and result.inconclusive else EXIT_FAILED


def run_convert(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Read one direction of one layer in one layout, write it in another."""
    from lstm_ref import convert

    weights = convert.read(args.source, args.source_layout, args.layer, args.reverse)
    convert.write(weights, args.destination, args.target_layout, args.layer, args.reverse)
    print(f"{args.source} ({args.source_layout}) -> {args.destination} ({args.target_layout}): "
          f"{weights!r}", file=out or sys.stdout)
    return EXIT_OK


def run_check_export(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``lstm-ref check-export``: 0 passed; 1 failed; 3 inconclusive; 2 (raised) if the
    source, the artifact or the input cannot be read."""
    import json

    from lstm_ref.api import compare_export

    out = out or sys.stdout
    if args.json is not None:
        files.check_file_target(args.json, "--json")
    batch_axis = 0
    if str(args.source).endswith(".pt"):
        model = _load_torch(args)
        batch_axis = 0 if args.batch_first else 1
    else:
        for option in ("input_size", "hidden_size", "num_layers", "bidirectional",
                       "batch_first"):
            if getattr(args, option):
                raise OptionError(f"--{option.replace('_', '-')} applies to a .pt source; "
                                  f"SOURCE is {args.source!r}")
        model = _load_keras(args.source)
    if args.input is not None:
        try:
            x = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise OptionError(f"--input {args.input!r} cannot be read as a .npy array: "
                              f"{exc}") from exc
        origin = f"--input {args.input}"
    else:
        shape = _artifact_input_shape(args.artifact)
        if len(shape) != 3 or shape[2] is None:
            raise OptionError(f"the artifact's input has shape {shape}, not (batch, time, "
                              "features): give --input")
        batch = args.batch or shape[batch_axis] or 2
        time_steps = args.time or shape[1 - batch_axis] or 5
        for value, name in ((batch, "--batch"), (time_steps, "--time")):
            if value < 1:
                raise OptionError(f"{name} must be at least 1; received {value}")
        size = [0, 0, shape[2]]
        size[batch_axis], size[1 - batch_axis] = batch, time_steps
        x = np.random.default_rng(args.seed).normal(size=tuple(size))
        origin = f"drawn: normal, seed {args.seed}, shape {x.shape}"
    report = compare_export(model, args.artifact, x)
    report.context["input"] = origin
    print(report.summary() if args.verbose or not report.passed else report.verdict_line(),
          file=out)
    if args.json is not None:
        data = {"format": "lstm-ref-check-export/1", "lstm_ref": VERSION,
                "source": args.source, "artifact": args.artifact, "input": origin,
                "verdict": report.verdict, **report.to_dict()}
        files.write_atomic(args.json, json.dumps(data, indent=1, allow_nan=False) + "\n",
                           "--json")
    if report.passed:
        return EXIT_OK
    return EXIT_FAILED if report.failed else EXIT_INCONCLUSIVE


def _artifact_input_shape(artifact: str) -> tuple[int | None, ...]:
    """The shape of the artifact's input (None where it is open), by its kind; OptionError
    naming the kinds check-export reads for anything else."""
    from lstm_ref.api import ARTIFACT_KINDS
    from lstm_ref.frameworks import savedmodel, tflite
    from lstm_ref.frameworks.onnx import export as onnx_export

    if tflite.is_tflite(artifact):
        from lstm_ref.frameworks.tflite.observe import input_shape

        return input_shape(artifact)
    if onnx_export.is_onnx(artifact):
        return onnx_export.input_shape(artifact)
    if savedmodel.is_savedmodel(artifact):
        return savedmodel.input_shape(artifact)
    kinds = "; ".join(f"{k}: {v}" for k, v in ARTIFACT_KINDS.items())
    raise OptionError(f"ARTIFACT {artifact!r} is not a TFLite flatbuffer, a SavedModel directory "
                      f"or an ONNX model (the kinds check-export reads: {kinds})")


def _load_torch(args: argparse.Namespace) -> Any:
    """The torch.nn.LSTM whose state dict is at ``args.source`` (torch.load with
    weights_only=True), shaped as it says and checked against the shape options given."""
    from lstm_ref._optional import require
    from lstm_ref.frameworks.torch.state import module_from_state_dict

    torch = require("torch", "torch")
    path = args.source
    if not os.path.isfile(path):
        raise OptionError(f"SOURCE {path!r} is not a file (expected a .pt state dict)")
    try:
        # weights_only: the file is read as data, never as code to run
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises pickle, zip and runtime errors
        raise OptionError(f"SOURCE {path!r} is not a readable torch state dict, as "
                          "torch.save(module.state_dict()) writes") from exc
    if not isinstance(state, dict):
        raise OptionError(f"SOURCE {path!r} holds a {type(state).__name__}, not a state dict")
    return module_from_state_dict(dict(state), batch_first=args.batch_first,
                                  input_size=args.input_size, hidden_size=args.hidden_size,
                                  num_layers=args.num_layers, bidirectional=args.bidirectional)


def _load_keras(path: str) -> Any:
    """The Keras model saved at ``path`` (keras.saving.load_model, safe_mode=True), or
    OptionError in one line."""
    from lstm_ref._optional import require

    keras = require("keras", "keras")
    if not os.path.isfile(path):
        raise OptionError(f"SOURCE {path!r} is not a file (expected a .keras model)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(f"SOURCE {path!r} cannot be loaded as a Keras model: {first}") from exc


if __name__ == "__main__":
    sys.exit(main())
