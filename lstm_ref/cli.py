"""The lstm-ref command line.

    lstm-ref verify [--grid small|default|full] [--only PATTERN] [--dtype DTYPE] [--seed N]
                    [--json PATH] [--junit-xml PATH] [--report DIR] [-v]
    lstm-ref golden record PATH [--grid G] [--only PATTERN] [--dtype DTYPE]
    lstm-ref golden check PATH
    lstm-ref explain --units U --features F [--batch B --time T --bidirectional --proj P]
    lstm-ref convert SOURCE DESTINATION --from LAYOUT --to LAYOUT [--layer N] [--reverse]

runs the grid against the installed Keras, prints one line per failing case (every case with
-v) and a summary table, and exits 0 only if every case passed (1 if one failed, 2 if the run
could not happen). --dtype builds the layers in another dtype or mixed-precision policy, each
held to its own tolerance entry; --seed N draws other weights and inputs for the same cases;
--json and --junit-xml write the run for machines (whole or not at all; an unwritable path is
refused before anything runs); --report DIR writes an HTML page with a plot of the error per
step of every case (matplotlib: the report extra); on a terminal, a progress line counts the cases. explain prints
every tensor's shape, the parameter count and one step as text. golden record writes the
installed framework's results on a grid's cases (a folder: manifest.json and one .npz per case,
never pickle); golden check re-runs the installed framework on them and reports the drift
against the recording and the verdict against the reference (exit 1 if a case departs). convert rewrites saved weights (.npz, or torch .pt) from
one framework's layout to another's: keras, torch, onnx, tf1 (lstm_ref.convert).
"""

import argparse
import dataclasses
import os
import platform
import sys
import time

import numpy as np

from lstm_ref import __version__, grid, run_outputs
from lstm_ref.engine import TENSORS
from lstm_ref.convert import LAYOUTS
from lstm_ref.errors import LSTMRefError

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
# Layer dtypes and Keras mixed-precision policies (each case is held to the entry of the
# dtype its layer computes in).
DTYPES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (and exit 2), as every other error."""

    def error(self, message):
        where = self.prog.removeprefix("lstm-ref").strip()
        self.exit(EXIT_ERROR, f"lstm-ref: error: {where + ': ' if where else ''}{message} "
                              f"(see {self.prog} --help)\n")


def main(argv=None):
    parser = _Parser(prog="lstm-ref", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    verify = commands.add_parser("verify", help="run the case grid against the installed Keras")
    verify.add_argument("--grid", default="default", choices=grid.GRIDS)
    verify.add_argument("--only", metavar="PATTERN", help="only cases whose id contains PATTERN")
    verify.add_argument("--dtype", default="float32", choices=DTYPES,
                        help="the layers' dtype or mixed-precision policy (default float32)")
    verify.add_argument("--seed", type=int, default=0,
                        help="draw other random weights and inputs (default 0: seeded by id)")
    verify.add_argument("--json", metavar="PATH", help="write the run as JSON")
    verify.add_argument("--junit-xml", metavar="PATH", help="write the run as JUnit XML")
    verify.add_argument("--report", metavar="DIR", help="write an HTML report with plots")
    verify.add_argument("-v", "--verbose", action="store_true", help="a line for every case")
    golden = commands.add_parser("golden", help="record golden files, or check the installed "
                                                "framework against them")
    golden_commands = golden.add_subparsers(dest="golden_command", required=True,
                                            parser_class=_Parser)
    record = golden_commands.add_parser("record", help="record the installed framework's results")
    record.add_argument("path", help="the folder to create")
    record.add_argument("--grid", default="small", choices=grid.GRIDS)
    record.add_argument("--only", metavar="PATTERN")
    record.add_argument("--dtype", default="float32", choices=DTYPES)
    check = golden_commands.add_parser("check", help="re-run the recorded cases and compare")
    check.add_argument("path", help="a folder written by golden record")
    explain = commands.add_parser("explain", help="the shapes, parameter count and one step "
                                                  "of an LSTM: what is units?")
    explain.add_argument("--units", type=int, required=True, help="U: the state size")
    explain.add_argument("--features", type=int, required=True, help="F: the input size")
    explain.add_argument("--batch", type=int)
    explain.add_argument("--time", type=int)
    explain.add_argument("--bidirectional", action="store_true")
    explain.add_argument("--proj", type=int, help="P < U: a projection of h (TF1, PyTorch)")
    convert = commands.add_parser("convert", help="convert saved LSTM weights between layouts")
    convert.add_argument("source", help="the weights: .npz (or a torch .pt state dict)")
    convert.add_argument("destination", help="where to write them (.npz, or .pt for torch)")
    convert.add_argument("--from", dest="source_layout", required=True, choices=LAYOUTS)
    convert.add_argument("--to", dest="target_layout", required=True, choices=LAYOUTS)
    convert.add_argument("--layer", type=int, default=0, help="torch: which layer (default 0)")
    convert.add_argument("--reverse", action="store_true",
                         help="torch / onnx: the backward direction")
    args = parser.parse_args(argv)
    try:
        if args.command == "convert":
            return run_convert(args)
        if args.command == "golden":
            return run_golden(args)
        if args.command == "explain":
            from lstm_ref.explain import explain as explain_text

            print(explain_text(args.units, args.features, args.batch, args.time,
                               args.bidirectional, args.proj))
            return EXIT_OK
        return run_verify(args.grid, args.only, args.verbose, dtype=args.dtype, seed=args.seed,
                          json_path=args.json, junit_path=args.junit_xml, report_dir=args.report)
    except LSTMRefError as exc:
        print(f"lstm-ref: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def run_verify(grid_name, pattern, verbose, out=None, dtype="float32", seed=0, json_path=None,
               junit_path=None, report_dir=None):
    out = out or sys.stdout
    cases = [dataclasses.replace(c, salt=seed) for c in grid.select(grid.cases(grid_name),
                                                                    pattern)]
    if not cases:
        raise _NoCases(f"no case of grid {grid_name!r} matches {pattern!r}")
    for path, what in ((json_path, "--json"), (junit_path, "--junit-xml")):
        if path is not None:
            run_outputs.check_writable(path, what)
    if report_dir is not None:
        from lstm_ref import html_report

        html_report.check_folder(report_dir)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from lstm_ref.adapters import keras as keras_adapter

    keras = keras_adapter._keras()
    print(f"lstm-ref verify: {len(cases)} cases of grid {grid_name!r} in {dtype} against keras "
          f"{keras.__version__} (backend {keras.backend.backend()})", file=out)
    start = time.perf_counter()
    worst = {}  # tensor -> (error, bound, step, case id) of the largest error/bound ratio
    failed, truncated, records, reports = [], 0, [], []
    progress = _Progress(len(cases))
    for case in cases:
        progress.show(case.id)
        case_start = time.perf_counter()
        report = keras_adapter.run_case(case, dtype=dtype)
        records.append(run_outputs.case_record(case, report, time.perf_counter() - case_start))
        if report_dir is not None:
            reports.append((case.id, report))
        tolerance = report.tolerance
        truncated += report.compared_steps < report.time
        for name, tensor in report.tensors.items():
            ratio = tensor.worst.error / tensor.worst.bound
            if name not in worst or ratio > worst[name][0]:
                worst[name] = (ratio, tensor.worst, case.id)
        if not report.passed:
            failed.append(case)
            print(f"FAIL {case.id}\n  {report.first_failure}", file=out)
        elif verbose:
            print(f"ok   {case.id} (worst err/tol {report.worst_ratio:.3f})", file=out)
    progress.done()
    elapsed = time.perf_counter() - start
    print(f"\n{len(cases)} cases, {len(cases) - len(failed)} passed, {len(failed)} failed "
          f"in {elapsed:.1f} s", file=out)
    if truncated:
        print(f"{truncated} cases compared only up to the step {tolerance.probe} can "
              "determine (lstm_ref.tolerance.horizon_step)", file=out)
    print(f"{'tensor':<8} {'worst |err|':>11} {'tolerance':>10} {'err/tol':>8}  at", file=out)
    for name in TENSORS:
        if name in worst:
            ratio, m, case_id = worst[name]
            print(f"{name:<8} {m.error:>11.3e} {m.bound:>10.3e} {ratio:>8.3f}  step {m.step} "
                  f"of {case_id}", file=out)
    print(f"tolerance {tolerance.describe()}", file=out)
    meta = {"lstm_ref": __version__, "keras": keras.__version__,
            "backend": keras.backend.backend(), "framework": _backend_version(keras),
            "numpy": np.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "grid": grid_name, "only": pattern,
            "dtype": dtype, "seed": seed, "seconds": round(elapsed, 3)}
    if json_path is not None:
        run_outputs.write_atomic(json_path, run_outputs.to_json(meta, records))
    if junit_path is not None:
        run_outputs.write_atomic(junit_path, run_outputs.to_junit(meta, records))
    if report_dir is not None:
        html_report.write(report_dir, meta, reports)
        print(f"report: {os.path.join(report_dir, 'index.html')}", file=out)
    return EXIT_FAILED if failed else EXIT_OK


def _backend_version(keras):
    import importlib

    name = keras.backend.backend()
    module = importlib.import_module({"tensorflow": "tensorflow"}.get(name, name))
    return f"{name} {getattr(module, '__version__', '?')}"


class _Progress:
    """A one-line progress count on stderr, only when stderr is a terminal (CI logs and
    pipes get none)."""

    def __init__(self, total, stream=None):
        self.total, self.count = total, 0
        self.stream = stream or sys.stderr
        self.active = total > 1 and self.stream.isatty()

    def show(self, label):
        self.count += 1
        if self.active:
            width = 30
            filled = width * (self.count - 1) // self.total
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.count}/"
                              f"{self.total} {label[:50]:<50}")
            self.stream.flush()

    def done(self):
        if self.active:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def run_golden(args, out=None):
    """golden record / golden check: exit 0, 1 if a recorded case departs, 2 (raised) if the
    files cannot be written or read."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from lstm_ref import golden

    out = out or sys.stdout
    progress = _Progress(0)

    def report_progress(done, total, case_id):
        progress.total, progress.active = total, total > 1 and progress.stream.isatty()
        progress.show(case_id)

    if args.golden_command == "record":
        manifest = golden.record(args.path, grid=args.grid, pattern=args.only, dtype=args.dtype,
                                 progress=report_progress)
        progress.done()
        print(f"recorded {len(manifest['cases'])} cases of grid {args.grid!r} in {args.dtype} "
              f"to {args.path} ({', '.join(f'{k} {v}' for k, v in manifest['versions'].items())})",
              file=out)
        return EXIT_OK
    result = golden.check(args.path, progress=report_progress)
    progress.done()
    print(result.summary(), file=out)
    return EXIT_OK if result.passed else EXIT_FAILED


def run_convert(args, out=None):
    """Read one direction of one layer in one layout, write it in another."""
    from lstm_ref import convert

    weights = convert.read(args.source, args.source_layout, args.layer, args.reverse)
    convert.write(weights, args.destination, args.target_layout, args.layer, args.reverse)
    print(f"{args.source} ({args.source_layout}) -> {args.destination} ({args.target_layout}): "
          f"{weights!r}", file=out or sys.stdout)
    return EXIT_OK


class _NoCases(LSTMRefError):
    pass


if __name__ == "__main__":
    sys.exit(main())
