"""One version's upgrade gate, run inside the environment under test (stdlib only).

    python ci/gate.py verify --label tf2.19 --out ci/runs [--golden PATH] [--grid default]
                             [--dtype float32] [--timeout 900]
    python ci/gate.py record --golden PATH [--grid default] [--dtype float32] [--timeout 1800]

verify runs `lstm-ref verify` (JSON, JUnit XML and its log under --out, named after --label),
then `lstm-ref golden check PATH` if a recording is given, each under a wall-clock timeout,
and writes gate-LABEL.json (versions, exit codes, times) and env-LABEL.txt (pip freeze).
Both steps always run; the exit code is the worst of theirs: 0 all passed, 1 a case failed
(or was inconclusive),
2 a step could not run (an error, a timeout, a missing recording or golden command).

record writes a golden recording with the installed version (`lstm-ref golden record`).
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
TIMED_OUT = 124
PACKAGES = ("tensorflow", "tf-nightly", "keras", "keras-nightly", "numpy", "ml-dtypes",
            "lstm-ref", "allpairspy")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify")
    verify.add_argument("--label", required=True, help="names the outputs, e.g. tf2.19")
    verify.add_argument("--out", required=True, help="folder for the outputs (created)")
    verify.add_argument("--golden", help="a recording to check (lstm-ref golden check)")
    record = commands.add_parser("record")
    record.add_argument("--golden", required=True, help="the recording folder to write")
    for command in (verify, record):
        command.add_argument("--grid", default="default")
        command.add_argument("--dtype", default="float32")
        command.add_argument("--only", help="only cases whose id contains it")
        command.add_argument("--timeout", type=float, default=None,
                             help="seconds for each step (verify 900, record 1800)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.command == "record":
        return run_record(args)
    return run_verify(args)


def run_verify(args):
    os.makedirs(args.out, exist_ok=True)
    label, out = args.label, args.out
    timeout = args.timeout or 900
    versions = installed_versions()
    print(f"gate {label}: {describe(versions)} (python {platform.python_version()})")
    write_freeze(os.path.join(out, f"env-{label}.txt"))
    json_path = os.path.join(out, f"verify-{label}.json")
    for stale in (json_path, os.path.join(out, f"verify-{label}.xml")):
        if os.path.exists(stale):  # a failed run must not leave last run's files looking new
            os.remove(stale)
    command = lstm_ref_command() + ["verify", "--grid", args.grid, "--dtype", args.dtype,
                                    "--json", json_path,
                                    "--junit-xml", os.path.join(out, f"verify-{label}.xml")]
    if args.only:
        command += ["--only", args.only]
    steps = [run_step("verify", command, os.path.join(out, f"verify-{label}.log"), timeout)]
    steps[0].update(verify_totals(json_path))
    if args.golden:
        steps.append(golden_check(args.golden, os.path.join(out, f"golden-{label}.log"),
                                  timeout))
    code = max(step["rc_gate"] for step in steps)
    summary = {"format": "lstm-ref-gate/1", "label": label, "versions": versions,
               "python": platform.python_version(), "platform": platform.platform(),
               "grid": args.grid, "dtype": args.dtype, "only": args.only,
               "golden": args.golden, "steps": steps, "exit_code": code,
               "verdict": {0: "pass", 1: "FAIL", 2: "ERROR"}[code]}
    with open(os.path.join(out, f"gate-{label}.json"), "w") as stream:
        json.dump(summary, stream, indent=1)
        stream.write("\n")
    print(f"\n== gate {label}: {summary['verdict']} ({describe(versions)})")
    for step in steps:
        rc = "-" if step["rc"] is None else str(step["rc"])
        print(f"   {step['name']:<13} exit {rc:<4} {step['seconds']:>7.1f} s  "
              f"{step.get('note', '')}")
    reproducers(json_path, args.grid, args.dtype)
    return code


def run_record(args):
    versions = installed_versions()
    print(f"record: {describe(versions)} (python {platform.python_version()})")
    if importlib.util.find_spec("lstm_ref.golden") is None:
        print("record: this lstm-ref has no lstm_ref.golden (no `lstm-ref golden` command)",
              file=sys.stderr)
        return EXIT_ERROR
    target = os.path.abspath(args.golden)
    if os.path.isdir(target) and os.listdir(target):
        print(f"record: {target} exists and is not empty: remove it, or record elsewhere",
              file=sys.stderr)
        return EXIT_ERROR
    os.makedirs(os.path.dirname(target), exist_ok=True)
    command = lstm_ref_command() + ["golden", "record", target, "--grid", args.grid]
    if args.only:
        command += ["--only", args.only]
    if args.dtype != "float32":
        command += ["--dtype", args.dtype]
    step = run_step("golden record", command, None, args.timeout or 1800)
    print(f"record: exit {step['rc']} in {step['seconds']:.1f} s -> {target}")
    return step["rc_gate"]


def golden_check(path, log, timeout):
    name = "golden check"
    if not os.path.isfile(os.path.join(path, "manifest.json")):
        note = f"no recording at {path} (no manifest.json): record one with `nox -s record`"
        print(f"{name}: {note}", file=sys.stderr)
        return {"name": name, "rc": None, "rc_gate": EXIT_ERROR, "seconds": 0.0, "note": note}
    if importlib.util.find_spec("lstm_ref.golden") is None:
        note = "this lstm-ref has no `lstm-ref golden` command (lstm_ref.golden)"
        print(f"{name}: {note}", file=sys.stderr)
        return {"name": name, "rc": None, "rc_gate": EXIT_ERROR, "seconds": 0.0, "note": note}
    step = run_step(name, lstm_ref_command() + ["golden", "check", path], log, timeout)
    step["recording"] = os.path.abspath(path)
    try:  # its headline, e.g. "golden check PATH: 31 cases, 31 passed, 0 failed; 31 bit-..."
        with open(log) as stream:
            step["summary"] = next((line.strip() for line in stream
                                    if line.startswith("golden check ")), None)
    except OSError:
        pass
    return step


def run_step(name, command, log, timeout):
    """Run ``command`` in its own process group, its output streamed to stdout and to
    ``log``; past ``timeout`` seconds the group is killed (exit 124). Returns the step as
    data: rc (the command's), rc_gate (0, 1 or 2), seconds, note."""
    print(f"\n$ {' '.join(command)}", flush=True)
    start = time.monotonic()
    sink = open(log, "w") if log else None
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1, start_new_session=True)
    timer = _Killer(process, timeout)
    try:
        for line in process.stdout:
            sys.stdout.write(line)
            if sink:
                sink.write(line)
        rc = process.wait()
    finally:
        timer.cancel()
        if sink:
            sink.close()
    seconds = time.monotonic() - start
    if timer.fired:
        rc, note = TIMED_OUT, f"timed out after {timeout:.0f} s"
    else:
        note = {0: "passed", 1: "a case failed", 3: "a case was inconclusive"}.get(
            rc, "could not run")
    # lstm-ref's 3 (nothing failed, a case inconclusive) does not pass a gate either.
    rc_gate = rc if rc in (EXIT_OK, EXIT_FAILED) else EXIT_FAILED if rc == 3 else EXIT_ERROR
    step = {"name": name, "command": command, "rc": rc, "rc_gate": rc_gate,
            "seconds": round(seconds, 2), "note": note}
    if log:
        step["log"] = os.path.basename(log)
    return step


class _Killer:
    """Kills a process group after a timeout (threading.Timer, so the output keeps
    streaming meanwhile)."""

    def __init__(self, process, timeout):
        import threading

        self.process, self.fired = process, False
        self.timer = threading.Timer(timeout, self._kill)
        self.timer.daemon = True
        self.timer.start()

    def _kill(self):
        self.fired = True
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            time.sleep(10)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def cancel(self):
        self.timer.cancel()


def verify_totals(json_path):
    """The verify step's counts and worst ratio, from its JSON (absent if it wrote none)."""
    try:
        with open(json_path) as stream:
            run = json.load(stream)
    except (OSError, ValueError):
        return {}
    cases = run.get("cases", [])
    worst = max(cases, key=lambda c: c.get("worst_ratio") or 0.0, default=None)
    totals = dict(run.get("totals", {}))
    if worst is not None:
        totals.update(worst_ratio=worst["worst_ratio"], worst_case=worst["id"])
    totals["failed_cases"] = [c["id"] for c in cases if c["verdict"] != "PASSED"]
    totals["json"] = os.path.basename(json_path)
    return totals


def reproducers(json_path, grid, dtype):
    """For each failing case: the command that reruns it alone, and the report's own
    reproduce line (Python, from the failure summary)."""
    failed = verify_totals(json_path).get("failed_cases", [])
    if not failed:
        return
    with open(json_path) as stream:
        summaries = {c["id"]: c.get("summary") or "" for c in json.load(stream)["cases"]}
    print(f"\n{len(failed)} case(s) not passed; rerun one alone with:")
    for case_id in failed:
        print(f"  lstm-ref verify --grid {grid} --dtype {dtype} -v --only '{case_id}'")
        for line in summaries[case_id].splitlines():
            if line.startswith(("reproduce:", "FAILED", "INCONCLUSIVE")):
                print(f"    {line}")


def lstm_ref_command():
    """The lstm-ref of this interpreter's environment (not another one on PATH)."""
    script = os.path.join(os.path.dirname(sys.executable), "lstm-ref")
    if os.path.isfile(script):
        return [script]
    found = shutil.which("lstm-ref")
    return [found] if found else [sys.executable, "-m", "lstm_ref.cli"]


def installed_versions():
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def describe(versions):
    return ", ".join(f"{name} {versions[name]}" for name in
                     ("tensorflow", "tf-nightly", "keras", "keras-nightly", "numpy")
                     if name in versions)


def write_freeze(path):
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"],
                            capture_output=True, text=True)
    with open(path, "w") as stream:
        stream.write(f"# python {platform.python_version()} {platform.platform()}\n")
        stream.write(frozen.stdout)


if __name__ == "__main__":
    sys.exit(main())
