"""The worst error the suite sees, per feature: runs the Keras tests and records every Report
they make, then prints, per test file (one feature each: masks, stateful, Bidirectional,
models, execution paths, dtypes...) and per compute dtype, how many comparisons were made and
the worst |framework - reference| and error-to-bound ratio over the comparisons that passed.
Comparisons that fail (deliberately broken layers, pinned divergences) are only counted.

Usage:  python bench/feature_errors.py [pytest arguments, e.g. --grid=full or -k masks]
"""

import collections
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from lstm_ref import engine  # noqa: E402
from machine import header  # noqa: E402


class Recorder:
    """A pytest plugin: wraps lstm_ref.engine.check_tensors (every check ends in it) wherever
    it was imported, files each Report under the running test's file and the Report's dtype."""

    def __init__(self):
        self.current = None
        self.original = engine.check_tensors
        self.seen = collections.defaultdict(lambda: {"reports": 0, "failed": 0, "worst": None,
                                                     "ratio": None})

    def pytest_runtest_setup(self, item):
        self.current = item.nodeid.split("::")[0]
        self.patch()  # modules a test imports lazily

    def patch(self):
        """Every module that imported check_tensors by name holds its own reference: each
        lstm_ref module loaded by now gets the recording one."""
        for name, module in list(sys.modules.items()):
            if (name == "lstm_ref" or name.startswith("lstm_ref.")) and \
                    getattr(module, "check_tensors", None) is self.original:
                module.check_tensors = self.recording

    def recording(self, *args, **kwargs):
        report = self.original(*args, **kwargs)
        self.record(report)
        return report

    def record(self, report):
        if report.tolerance is None:  # golden drift's own comparison
            return
        entry = self.seen[(self.current, report.tolerance.dtype)]
        entry["reports"] += 1
        entry["failed"] += report.failed
        if report.failed:  # a deliberately broken layer (or a pinned divergence)
            return
        for tensor in report.tensors.values():
            worst = tensor.worst
            if worst is None:  # nothing compared
                continue
            if entry["worst"] is None or worst.error > entry["worst"][0]:
                entry["worst"] = (worst.error, tensor.name, worst.step)
            ratio = worst.ratio
            if entry["ratio"] is None or ratio > entry["ratio"][0]:
                entry["ratio"] = (ratio, tensor.name, worst.step)


def main(argv):
    print(header())
    recorder = Recorder()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-m", "keras", "tests", *argv],
                       plugins=[recorder])
    print(f"\n{'test file':<40} {'dtype':<9} {'reports':>7} {'failing':>7} "
          f"{'worst |err| (tensor, step)':>34} {'worst err/bound':>22}")
    for (path, dtype), entry in sorted(recorder.seen.items()):
        worst = entry["worst"] or (0.0, "-", "-")
        ratio = entry["ratio"] or (0.0, "-", "-")
        print(f"{path.removeprefix('tests/'):<40} {dtype:<9} {entry['reports']:>7} "
              f"{entry['failed']:>7} {worst[0]:>14.3e} ({worst[1]}, {worst[2]})"
              f"{'':>4} {ratio[0]:>8.3f} ({ratio[1]}, {ratio[2]})")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
