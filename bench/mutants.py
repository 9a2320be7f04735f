"""Mutation run: plant known bugs in the reference, the comparison and the tolerance, one at a
time, and check that the NumPy-only tests catch every one (a suite that cannot fail proves
nothing). Restores each file after its run.

Usage:  python bench/mutants.py        (from the repository root, in the project's venv)
"""

import shutil
import subprocess
import sys
import tempfile
MUTANTS = [
    ("lstm_ref/reference.py", "i = rec_act(z[:, :units])", "i = rec_act(z[:, units:2 * units])"),
    ("lstm_ref/reference.py", "            projected += bias", "            pass"),
    ("lstm_ref/reference.py", "output = np.where(valid, h_new, 0.0 if zero_output_for_mask else output)", "output = np.where(valid, h_new, 0.0 if zero_output_for_mask else h)"),
    ("lstm_ref/reference.py", "c = np.where(valid, c_new, c)", "c = c_new"),
    ("lstm_ref/reference.py", "        x = x[:, ::-1]\n", "        x = x\n"),
    ("lstm_ref/reference.py", "h_new = o * act(c_new)", "h_new = o * c_new"),
    ("lstm_ref/reference.py", "c_new = f * c + i * g", "c_new = f * c + i * g * 1.00001"),
    ("lstm_ref/reference.py", "0.0 if zero_output_for_mask else output", "output"),
    ("lstm_ref/reference.py", "z = projected[:, j] + h @ recurrent", "z = projected[:, j] + c @ recurrent"),
    ("lstm_ref/activations.py", "return relu6(x + 3) / 6", "return np.clip(0.2 * x + 0.5, 0, 1)"),
    ("lstm_ref/activations.py", "return np.where(x >= 0, 1 / (1 + e), e / (1 + e))", "return np.where(x >= 0, 1 / (1 + e), 1 / (1 + e))"),
    ("lstm_ref/compare.py", "failing = err > bound", "failing = err > 100 * bound"),
    ("lstm_ref/compare.py", "step_index = int(np.argmax(failing.any(axis=(0, 2))))", "step_index = int(failing.shape[1] - 1 - np.argmax(failing.any(axis=(0, 2))[::-1]))"),
    ("lstm_ref/tolerance.py", "return np.maximum.accumulate(diff.max(axis=(0, 1, 3))) / EPS32", "return np.maximum.accumulate(diff.max(axis=(0, 1, 3))) / EPS32 * 100"),
    ("lstm_ref/tolerance.py", "steps = np.flatnonzero(overflow | (deviation > HORIZON * scale))", "steps = np.flatnonzero(deviation > HORIZON * scale)"),
    ("lstm_ref/tolerance.py", "steps = np.flatnonzero(overflow | (deviation > HORIZON * scale))", "steps = np.flatnonzero(overflow | (deviation > 1e-8 * scale))"),
]


def main():
    missed = 0
    backup = tempfile.mktemp()
    for path, old, new in MUTANTS:
        source = open(path).read()
        assert old in source, (path, old)
        shutil.copy(path, backup)
        open(path, "w").write(source.replace(old, new, 1))
        try:
            run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:warnings",
                                  "-m", "not keras", "tests"], capture_output=True, text=True)
        finally:
            shutil.copy(backup, path)
        caught = run.returncode == 1
        missed += not caught
        first = [line for line in run.stdout.splitlines() if line.startswith("FAILED")][:1]
        print(f"{'CAUGHT' if caught else 'MISSED'} {path}: {new.strip()[:60]!r} {first}")
    print(f"{len(MUTANTS) - missed} of {len(MUTANTS)} mutants caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
