"""Compare `lstm-ref verify --json` runs of several TensorFlow/Keras versions (stdlib only).

    python ci/compare_runs.py [PATH ...] [--baseline LABEL] [--factor 2] [--floor 0.02]
                              [--markdown FILE] [--fail-on-change]

PATH: verify-LABEL.json files, or folders searched recursively for them (default: ci/runs; a
folder of downloaded CI artifacts works as is). A gate-LABEL.json beside one (ci/gate.py)
adds its golden check's verdict. Prints, per run: the versions, cases passed and failed, and
the worst error/bound of each tensor; then, between consecutive runs in version order (or each
run against --baseline), the cases that changed verdict and those whose worst error of some
tensor (its error/bound, at its worst step) moved by more than --factor; ratios under --floor
count as --floor, so that noise near zero is not a move. Moves are for reading: a run fails
on its verdicts alone.

Exit status: 0; 1 with --fail-on-change when some case changed verdict or moved; 2 when no
run could be read.
"""

import argparse
import json
import os
import re
import sys

FORMATS = ("lstm-ref-verify/2", "lstm-ref-verify/1")
TENSORS = ("h", "c", "output", "state_h", "state_c")
DEFAULT_RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs")


class Run:
    def __init__(self, path, data, gate):
        self.path, self.meta, self.gate = path, normalized(data), gate
        name = os.path.basename(path)[:-len(".json")]
        self.label = name[len("verify-"):] if name.startswith("verify-") else name
        self.cases = {case["id"]: case for case in self.meta["cases"]}

    @property
    def framework(self):
        """The framework's own version line, e.g. 'tensorflow 2.21.0'."""
        versions = self.meta.get("versions") or {}
        name = {"keras": "tensorflow", "tf_keras": "tensorflow", "tf1": "tensorflow"}.get(
            self.meta.get("framework"), self.meta.get("framework"))
        return f"{name} {versions.get(name, '?')}"

    @property
    def version_key(self):
        version = self.framework.split()[-1]
        match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?(.*)", version)
        if not match:
            return (9999, 0, 0, 0, version, self.label)
        major, minor, patch, rest = match.groups()
        release = 0 if re.search(r"dev|rc|a\d|b\d", rest) else 1
        return (int(major), int(minor), int(patch or 0), release, rest, self.label)

    def golden(self):
        """The golden check's verdict from gate-LABEL.json: pass, FAIL, ERROR or -."""
        if not self.gate:
            return "-"
        for step in self.gate.get("steps", []):
            if step.get("name") == "golden check":
                verdict = {0: "pass", 1: "FAIL"}.get(step.get("rc_gate"), "ERROR")
                identical = re.search(r"(\d+) bit-identical", step.get("summary") or "")
                return verdict + (f" ({identical.group(1)} identical)" if identical else "")
        return "-"


def find(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            for folder, _, names in sorted(os.walk(path)):
                files += [os.path.join(folder, n) for n in sorted(names)
                          if n.startswith("verify-") and n.endswith(".json")]
        else:
            files.append(path)
    return files


def normalized(data):
    """A verify JSON in format 2's shape: format 1 (lstm-ref before verdicts) had 'passed'
    per case, the worst element's fields flat per tensor, and versions at the top."""
    if data.get("format") == FORMATS[0]:
        return data
    framework = data.get("framework", "")  # format 1: "tensorflow 2.21.0"
    data = {**data, "framework": "keras",
            "versions": {"keras": data.get("keras"), "tensorflow": framework.split()[-1]
                         if framework else None}}
    for case in data["cases"]:
        case["verdict"] = "PASSED" if case["passed"] else "FAILED"
        case["tensors"] = {name: {"worst": {"error": t["worst_error"], "bound": t["bound"],
                                            "step": t["step"],
                                            "ratio": t["worst_error"] / t["bound"]}}
                           for name, t in case["tensors"].items()}
    return data


def load(path):
    with open(path) as stream:
        data = json.load(stream)
    if data.get("format") not in FORMATS or "cases" not in data:
        raise ValueError(f"not an lstm-ref verify JSON ({' or '.join(FORMATS)}): format "
                         f"{data.get('format')!r}")
    gate_path = os.path.join(os.path.dirname(path),
                             "gate-" + os.path.basename(path)[len("verify-"):])
    gate = None
    if os.path.basename(path).startswith("verify-") and os.path.isfile(gate_path):
        try:
            with open(gate_path) as stream:
                gate = json.load(stream)
        except (OSError, ValueError):
            gate = None
    return Run(path, data, gate)


def worst_per_tensor(run):
    """tensor -> (ratio, error, bound, step, case id) of the largest error/bound."""
    worst = {}
    for case in run.cases.values():
        for name, tensor in (case.get("tensors") or {}).items():
            w = tensor["worst"]
            if w is None or w["ratio"] is None:  # nothing compared, or no finite ratio
                continue
            if name not in worst or w["ratio"] > worst[name][0]:
                worst[name] = (w["ratio"], w["error"], w["bound"], w["step"], case["id"])
    return worst


def failed_count(run):
    """How many cases of a run did not pass (failed, inconclusive or could not run)."""
    return sum(case["verdict"] != "PASSED" for case in run.cases.values())


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def runs_table(runs):
    header = ["run", "tensorflow", "keras", "numpy", "python", "grid", "dtype", "seed", "cases",
              "passed", "failed", "seconds", "golden"]
    rows = []
    for run in runs:
        m, totals = run.meta, run.meta.get("totals", {})
        versions = m.get("versions") or {}
        rows.append([run.label, versions.get("tensorflow", "?"), versions.get("keras", "?"),
                     m.get("numpy", "?"), m.get("python", "?"), m.get("grid", "?") + (f" --only {m['only']}"
                                                                 if m.get("only") else ""),
                     m.get("dtype", "?"), m.get("seed", "?"), totals.get("cases", "?"),
                     totals.get("passed", "?"), totals.get("failed", "?"),
                     f"{m.get('seconds', 0):.1f}", run.golden()])
    return table(rows, header)


def worst_table(runs):
    lines = ["worst error/bound per tensor (worst |error| in parentheses); over 1 fails"]
    header = ["run"] + list(TENSORS) + ["worst case"]
    rows = []
    for run in runs:
        worst = worst_per_tensor(run)
        cells = [f"{worst[t][0]:.3f} ({worst[t][1]:.1e})" if t in worst else "-"
                 for t in TENSORS]
        top = max(worst.values(), default=None)
        at = (f"{top[0]:.3f} in {[t for t in worst if worst[t] is top][0]} at step {top[3]} of "
              f"{top[4]}") if top else "-"
        rows.append([run.label] + cells + [at])
    return lines + table(rows, header)


def compare_pair(old, new, factor, floor):
    """(lines, flips, moves) between two runs."""
    common = [i for i in old.cases if i in new.cases]
    only_old = [i for i in old.cases if i not in new.cases]
    only_new = [i for i in new.cases if i not in old.cases]
    flips, moves, same, notes = [], [], 0, []
    same_dtype = old.meta.get("dtype") == new.meta.get("dtype")
    if not same_dtype:
        notes.append(f"  note    dtypes differ ({old.meta.get('dtype')} vs "
                     f"{new.meta.get('dtype')}): verdicts compared, errors not")
    for case_id in common:
        a, b = old.cases[case_id], new.cases[case_id]
        if a.get("seed") != b.get("seed"):
            notes.append(f"  note    {case_id}: other random draws (seed {a.get('seed')} vs "
                         f"{b.get('seed')}): errors not comparable")
            continue
        if a["verdict"] != b["verdict"]:
            verdict = lambda c: c["verdict"]  # noqa: E731
            why = b.get("first_failure") or a.get("first_failure") or b.get("error") or ""
            flips.append(f"  verdict {case_id}: {verdict(a)} -> {verdict(b)}\n"
                         f"          {why}")
        moved = []
        identical = True
        for name in TENSORS:
            ta = ((a.get("tensors") or {}).get(name) or {}).get("worst")
            tb = ((b.get("tensors") or {}).get(name) or {}).get("worst")
            if not ta or not tb or ta["ratio"] is None or tb["ratio"] is None:
                continue
            identical &= ta["error"] == tb["error"]
            # error/bound, not |error| alone: the worst step may move to one whose bound
            # (and so error) is larger, which is no change in accuracy.
            ra, rb = ta["ratio"], tb["ratio"]
            change = max(rb, floor) / max(ra, floor)
            if same_dtype and (change > factor or change < 1 / factor):
                moved.append(f"{name} err/tol {ra:.3f} -> {rb:.3f} (x{change:.2f}; |err| "
                             f"{ta['error']:.2e} at step {ta['step']} -> "
                             f"{tb['error']:.2e} at step {tb['step']})")
        same += identical
        if a.get("compared_steps") != b.get("compared_steps"):
            notes.append(f"  note    {case_id}: compared {a.get('compared_steps')} -> "
                         f"{b.get('compared_steps')} of {b.get('time')} steps")
        if moved:
            moves.append(f"  moved   {case_id}\n          " + "\n          ".join(moved))
    title = (f"{old.label} -> {new.label} ({old.framework} -> {new.framework}, keras "
             f"{(old.meta.get('versions') or {}).get('keras')} -> "
             f"{(new.meta.get('versions') or {}).get('keras')}): {len(common)} common cases, "
             f"{len(flips)} changed verdict, {len(moves)} moved by more than {factor:g}x, "
             f"{same} with bit-identical worst errors")
    lines = [title] + flips + moves + notes
    for what, ids in ((f"only in {old.label}", only_old), (f"only in {new.label}", only_new)):
        if ids:
            lines.append(f"  {what}: {len(ids)} cases: " + ", ".join(ids[:5])
                         + (" ..." if len(ids) > 5 else ""))
    return lines, len(flips), len(moves)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help=f"files or folders (default {DEFAULT_RUNS})")
    parser.add_argument("--baseline", help="compare every run to this label (e.g. tf2.21) "
                                           "instead of each to the previous version")
    parser.add_argument("--factor", type=float, default=2.0,
                        help="flag a worst error/bound that moves by more than this factor "
                             "(default 2)")
    parser.add_argument("--floor", type=float, default=0.02,
                        help="error/bound ratios under this count as this (default 0.02)")
    parser.add_argument("--markdown", metavar="FILE",
                        help="also append the report to FILE (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--fail-on-change", action="store_true",
                        help="exit 1 when a case changed verdict or moved")
    args = parser.parse_args(argv)
    files = find(args.paths or [DEFAULT_RUNS])
    runs, problems = [], []
    for path in files:
        try:
            runs.append(load(path))
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"skipped {path}: {exc}")
    labels = [run.label for run in runs]
    for run in runs:  # the same label twice (two folders): tell them apart by folder
        if labels.count(run.label) > 1:
            run.label += "@" + os.path.basename(os.path.dirname(os.path.abspath(run.path)))
    runs.sort(key=lambda run: run.version_key)
    for line in problems:
        print(line, file=sys.stderr)
    if not runs:
        print(f"compare_runs: no verify JSON found in {args.paths or [DEFAULT_RUNS]}",
              file=sys.stderr)
        return 2
    lines = [f"lstm-ref upgrade gate: {len(runs)} runs", ""] + runs_table(runs) + [""]
    lines += worst_table(runs) + [""]
    if len({(r.meta.get("grid"), r.meta.get("dtype"), r.meta.get("seed")) for r in runs}) > 1:
        lines += ["warning: the runs differ in grid, dtype or seed; cases are matched by id", ""]
    if args.baseline:
        base = [r for r in runs if r.label == args.baseline]
        if not base:
            print(f"compare_runs: no run labelled {args.baseline!r} (have "
                  f"{', '.join(r.label for r in runs)})", file=sys.stderr)
            return 2
        pairs = [(base[0], r) for r in runs if r is not base[0]]
    else:
        pairs = list(zip(runs, runs[1:]))
    flips = moves = 0
    for old, new in pairs:
        pair_lines, f, m = compare_pair(old, new, args.factor, args.floor)
        lines += pair_lines
        flips, moves = flips + f, moves + m
    failed = [f"{r.label}: {c} ({case['verdict']})" for r in runs
              for c, case in r.cases.items() if case["verdict"] != "PASSED"]
    lines += ["", f"verdict: {sum(not failed_count(r) for r in runs)} of {len(runs)}"
              f" runs passed every case; {flips} verdict changes and {moves} moves by more than "
              f"{args.factor:g}x between runs"]
    lines += [f"  failed {item}" for item in failed]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as stream:
            stream.write(f"## lstm-ref upgrade gate\n\n```text\n{text}\n```\n")
    return 1 if args.fail_on_change and (flips or moves) else 0


if __name__ == "__main__":
    sys.exit(main())
