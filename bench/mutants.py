"""Mutation run: plant known bugs in the reference, the comparison and the tolerance, one at a
time, and check that the NumPy-only tests catch every one (a suite that cannot fail proves
nothing). Restores each file after its run.

Usage:  python bench/mutants.py [PATH_PART]   (from the repository root, in the project's venv;
        PATH_PART: only the mutants of files whose path contains it, e.g. backprop)
"""

import shutil
import subprocess
import sys
import tempfile
from machine import header  # noqa: E402
MUTANTS = [
    ("lstm_ref/reference.py", "i = self.fmt.activate(w.recurrent_activation, z_i)", "i = self.fmt.activate(w.recurrent_activation, z_f)"),
    ("lstm_ref/reference.py", 'projected = r(projected + arrays["bias"])', "projected = r(projected)"),
    ("lstm_ref/reference.py", "output = np.where(valid, h_new, 0.0 if zero_output_for_mask else output)", "output = np.where(valid, h_new, 0.0 if zero_output_for_mask else h)"),
    ("lstm_ref/reference.py", "c = np.where(valid, c_new, c)", "c = c_new"),
    ("lstm_ref/reference.py", "        x = x[:, ::-1]\n", "        x = x\n"),
    ("lstm_ref/reference.py", 'p["m"] = h_new = r(o * self.fmt.activate(w.output_activation, p["c_out"]))', 'p["m"] = h_new = r(o * p["c_out"])'),
    ("lstm_ref/reference.py", "c_new = r(r(f * c) + r(i * g))", "c_new = r(r(f * c) + r(i * g * 1.00001))"),
    ("lstm_ref/reference.py", "0.0 if zero_output_for_mask else output", "output"),
    ("lstm_ref/reference.py", 'z = r(projected[:, j] + r(h @ arrays["recurrent_kernel"]))', 'z = r(projected[:, j] + r(h[:, ::-1] @ arrays["recurrent_kernel"]))'),
    ("lstm_ref/reference.py", "z_f = r(z_f + self.forget_bias)", "z_f = z_f"),
    ("lstm_ref/reference.py", "z_o = r(z_o + r(self.peephole[2] * c_new))", "z_o = r(z_o + r(self.peephole[2] * c))"),
    ("lstm_ref/reference.py", "f = r(1 - i) if w.input_forget else", "f = r(1 - i) if False else"),
    ("lstm_ref/reference.py", "h_new = np.clip(h_new, -w.proj_clip, w.proj_clip)", "pass"),
    ("lstm_ref/reference.py", "z_o=self.gate_clip(z_o)", "z_o=z_o"),
    # the backward pass (lstm_ref.backprop)
    ("lstm_ref/backprop.py", 'dc_prev = dc * p["f"]', "dc_prev = dc * 0"),
    ("lstm_ref/backprop.py", '"bias": grouped(dz_all).sum(axis=1) if', '"bias": 0 * grouped(dz_all).sum(axis=1) if'),
    ("lstm_ref/backprop.py", "di, dz_f = di - df, np.zeros_like(df)", "di, dz_f = di, np.zeros_like(df)"),
    ("lstm_ref/backprop.py", 'dh_state = dz @ arrays["recurrent_kernel"].T', 'dh_state = 0 * (dz @ arrays["recurrent_kernel"].T)'),
    ("lstm_ref/backprop.py", "0.0 if zero_output_for_mask else g_out", "0.0"),
    ("lstm_ref/backprop.py", "return (value >= -limit) & (value <= limit)", "return value == value"),
    ("lstm_ref/backprop.py", 'extra["peephole"][:, 2] += group_sum(dz_o * p["c_new"])', 'extra["peephole"][:, 2] += group_sum(dz_o * c_prev)'),
    ("lstm_ref/backprop.py", "result.x = result.x[:, ::-1]", "result.x = result.x"),
    ("lstm_ref/layouts.py", 'GATE_ORDERS = {"keras": KERAS_GATE_ORDER, "torch": KERAS_GATE_ORDER,\n               "onnx": ("i", "o", "f", "c")', 'GATE_ORDERS = {"keras": KERAS_GATE_ORDER, "torch": KERAS_GATE_ORDER,\n               "onnx": ("i", "f", "o", "c")'),
    ("lstm_ref/layouts.py", "bias = reorder_gates(wb + rb, \"onnx\", \"keras\")", "bias = reorder_gates(wb, \"onnx\", \"keras\")"),
    ("lstm_ref/layouts.py", 'ONNX_PEEPHOLE_ORDER = ("i", "o", "f")', 'ONNX_PEEPHOLE_ORDER = ("i", "f", "o")'),
    ("lstm_ref/layouts.py", "bias[weights.units:2 * weights.units] += weights.forget_bias", "bias[:weights.units] += weights.forget_bias"),
    ("lstm_ref/stack.py", "halves = [runs[0].outputs] + ([runs[1].outputs[:, ::-1]]", "halves = [runs[0].outputs] + ([runs[1].outputs]"),
    ("lstm_ref/reference.py", "c_new = r(r(f * c) + r(i * g))", "c_new = r(f * c + i * g)"),
    ("lstm_ref/activations.py", "return relu6(x + 3) / 6", "return np.clip(0.2 * x + 0.5, 0, 1)"),
    ("lstm_ref/activations.py", "return np.where(x >= 0, 1 / (1 + e), e / (1 + e))", "return np.where(x >= 0, 1 / (1 + e), 1 / (1 + e))"),
    ("lstm_ref/precision.py", "(np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))", "np.uint32(0x8000)"),
    ("lstm_ref/precision.py", '"float16": Format("float16", 2.0 ** -10, F32, F16, _round_float16, _as_float16)', '"float16": Format("float16", 2.0 ** -10, F32, F16, _identity, _as_float16)'),
    ("lstm_ref/precision.py", '"float16": Format("float16", 2.0 ** -10, F32, F16, _round_float16, _as_float16)', '"float16": Format("float16", 2.0 ** -10, F32, F16, _round_float16, _identity)'),
    ("lstm_ref/compare.py", "failing = err > bound", "failing = err > 100 * bound"),
    ("lstm_ref/compare.py", 'step_index = int(failing_steps[-1] if order == "backward" else failing_steps[0])', "step_index = int(failing_steps[-1])"),
    ("lstm_ref/compare.py", "limits.append(time if limit is None else limit)", "limits.append(limit or time)"),
    ("lstm_ref/tolerance.py", "return np.maximum.accumulate(diff.max(axis=(0, 1, 3))) / eps", "return np.maximum.accumulate(diff.max(axis=(0, 1, 3))) / eps * 100"),
    ("lstm_ref/tolerance.py", "steps = np.flatnonzero(overflow | (deviation > horizon * scale))", "steps = np.flatnonzero(deviation > horizon * scale)"),
    ("lstm_ref/tolerance.py", "steps = np.flatnonzero(overflow | (deviation > horizon * scale))", "steps = np.flatnonzero(overflow | (deviation > 1e-8 * scale))"),
    ("lstm_ref/tolerance.py", "\n                | np.isinf(reference).any(axis=(0, 2)))", ")"),
    ("lstm_ref/tolerance.py", "return array * (1 + eps * rng.integers(-1, 2, array.shape))", "return array * (1 + EPS32 * rng.integers(-1, 2, array.shape))"),
]


def main(argv):
    """Plant every mutant (or those in files whose path contains argv[0]) and run the tests."""
    print(header())
    chosen = [m for m in MUTANTS if not argv or argv[0] in m[0]]
    missed = 0
    backup = tempfile.mktemp()
    for path, old, new in chosen:
        source = open(path).read()
        assert old in source, (path, old)
        shutil.copy(path, backup)
        open(path, "w").write(source.replace(old, new, 1))
        try:
            run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:warnings",
                                  "-m", "not framework", "tests"], capture_output=True, text=True)
        finally:
            shutil.copy(backup, path)
        caught = run.returncode == 1
        missed += not caught
        first = [line for line in run.stdout.splitlines() if line.startswith("FAILED")][:1]
        print(f"{'CAUGHT' if caught else 'MISSED'} {path}: {new.strip()[:60]!r} {first}")
    print(f"{len(chosen) - missed} of {len(chosen)} mutants caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
