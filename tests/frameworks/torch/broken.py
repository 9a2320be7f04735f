"""Deliberately wrong PyTorch LSTMs and converters, for the sensitivity tests, and the check
of a twin's result against its module's. Imports torch."""

import numpy as np
import pytest
import torch

from lstm_ref import layouts
from lstm_ref.frameworks.torch import twin as torch_adapter
from lstm_ref.frameworks.torch.observe import reference_expectations
from lstm_ref.engine import Expectation, check_tensors
from lstm_ref.tolerance_table import lookup

@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch on one thread while a torch test module runs (restored after). These LSTMs are
    tiny: a second thread buys nothing, and on a loaded machine (the suite shares its cores)
    its OpenMP workers spin-wait for one, which made these tests 2 to 4 times slower. Import
    it into a test module to apply it there."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Bugs in the module's own forward (the framework computes something else).
MODULE_BUGS = ("gates i/f swapped", "recurrent bias dropped", "reverse not flipped back",
               "h_n directions swapped", "initial state ignored", "packing ignored",
               "relative drift 1e-5 in c_n")  # any "relative drift X in c_n" multiplies by 1 + X


class BrokenLSTM(torch.nn.LSTM):
    """An nn.LSTM whose forward has one bug (or none). Its parameters and options still say
    what it should compute, so a twin made from it expects the right thing."""

    def __init__(self, *args, bug=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bug = bug

    def forward(self, input, hx=None):  # noqa: A002 - torch's name
        if self.bug == "initial state ignored":
            hx = None
        rnn = torch.nn.utils.rnn
        if self.bug == "packing ignored" and isinstance(input, rnn.PackedSequence):
            # Runs over the padding as if it were data, then packs the result again.
            padded, lengths = rnn.pad_packed_sequence(input, batch_first=self.batch_first)
            self.bug = None
            try:
                output, states = self.forward(padded, hx)
            finally:
                self.bug = "packing ignored"
            return rnn.pack_padded_sequence(output, lengths, batch_first=self.batch_first,
                                            enforce_sorted=False), states
        with torch.no_grad():
            saved = {name: getattr(self, name).clone() for name in self._flat_weights_names}
            for name in self._flat_weights_names:
                param = getattr(self, name)
                if self.bug == "recurrent bias dropped" and name.startswith("bias_hh"):
                    param.zero_()
                if self.bug == "gates i/f swapped" and not name.startswith("weight_hr"):
                    size = self.hidden_size
                    i, f = param[:size].clone(), param[size:2 * size].clone()
                    param[:size], param[size:2 * size] = f, i
        try:
            output, (h_n, c_n) = super().forward(input, hx)
        finally:
            with torch.no_grad():
                for name, value in saved.items():
                    getattr(self, name).copy_(value)
        if self.bug == "reverse not flipped back":
            size = output.shape[-1] // 2
            time_axis = 1 if self.batch_first and output.ndim == 3 else 0
            backward = output[..., size:].flip(time_axis)
            output = torch.cat([output[..., :size], backward], dim=-1)
        if self.bug == "h_n directions swapped":
            h_n = torch.cat([h_n[1:2], h_n[0:1], h_n[2:]])
        if self.bug and self.bug.startswith("relative drift"):
            c_n = c_n * (1 + float(self.bug.split()[2]))
        return output, (h_n, c_n)


def broken_from_torch(bug):
    """lstm_ref.layouts.from_torch with one converter bug: "gates i/f swapped" (torch's i, f
    blocks read in the wrong order), "bias_hh not folded in" (only bias_ih kept)."""
    original = layouts.from_torch

    def convert(weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None):
        if bug == "bias_hh not folded in" and bias_hh is not None:
            bias_hh = np.zeros_like(bias_hh)
        arguments = original(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)
        if bug == "gates i/f swapped":
            for name in ("kernel", "recurrent_kernel", "bias"):
                if arguments[name] is not None:
                    blocks = layouts.split_gates(arguments[name])
                    blocks["i"], blocks["f"] = blocks["f"], blocks["i"]
                    arguments[name] = layouts.join_gates(blocks)
        return arguments

    return convert


def twin_report(twin, module, x, hx=None, lengths=None):
    """The twin's ``(output, (h_n, c_n))`` held to the module's own result, element by element,
    each within the bound the tolerance table gives the module around the reference (the twin
    is the reference, so a correct twin is within it). Both results are put in batch-first
    order here, by torch's documented layout, independently of the adapter's own code.

    Returns:
        A Report with tensors output, h_n[i], c_n[i].
    """
    result = twin(x, hx, lengths=lengths)
    with torch.no_grad():
        if lengths is None:
            torch_result = module(x, hx)
        else:
            rnn = torch.nn.utils.rnn
            packed = rnn.pack_padded_sequence(x, torch.as_tensor(lengths),
                                              batch_first=module.batch_first, enforce_sorted=False)
            output, states = module(packed, hx)
            time = x.shape[1] if module.batch_first else x.shape[0]
            torch_result = (rnn.pad_packed_sequence(output, batch_first=module.batch_first,
                                                    total_length=time)[0], states)
    unbatched = x.ndim == 2

    def batch_first(output):
        output = np.asarray(torch_adapter.to_numpy(output, "output"), np.float64)
        if unbatched:
            return output[None]
        return output if module.batch_first else output.transpose(1, 0, 2)

    def rows(state):
        state = np.asarray(torch_adapter.to_numpy(state, "state"), np.float64)
        return state[:, None] if unbatched else state

    tol = lookup(torch_adapter.parameter_dtype(module))
    base = torch_adapter.TorchLSTMTwin(module)
    x64, states, mask, _ = base.canonical(x, hx, lengths)
    reference = reference_expectations(base, x64, states, mask, tol)
    actual = {"output": batch_first(result[0])}
    expected = {"output": Expectation(batch_first(torch_result[0]), reference["output"].steps,
                                      reference["output"].bound, reference["output"].status)}
    names = [name.removesuffix(".h_n") for name in reference if name.endswith(".h_n")]
    for which, index in (("h_n", 0), ("c_n", 1)):
        ours, theirs = rows(result[1][index]), rows(torch_result[1][index])
        for row, name in enumerate(names):
            bound = reference[f"{name}.{which}"]
            actual[f"{which}[{row}]"] = ours[row]
            expected[f"{which}[{row}]"] = Expectation(theirs[row][:, None], bound.steps,
                                                      bound.bound, bound.status)
    time = x64.shape[1]
    return check_tensors(actual, expected, tol, time, {"module": repr(module)})
