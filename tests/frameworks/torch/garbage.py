"""torch LSTMs that are right everywhere but at one marked element, where what they return
is NaN, inf or garbage: what the verdict tests hold the torch paths to. Imports torch.

The mark is in the data, as in tests/frameworks/keras/garbage.py: a module corrupts what it
computed for the rows and steps whose input's first feature is exactly MARK.
"""

import torch

__all__ = ["MARK", "KINDS", "BROKEN", "mark", "GarbageLSTM", "GarbageLSTMCell"]

MARK = 0.5  # exact in every float format; uniform(-1, 1) inputs never hit it
KINDS = {"nan": float("nan"), "inf": float("inf"), "garbage": 12345.0}
BROKEN = tuple(KINDS)


def mark(x, row, step, batch_first=True):
    """A copy of the input tensor with MARK at row ``row``, time ``step``, feature 0."""
    x = x.clone()
    if batch_first:
        x[row, step, 0] = MARK
    else:
        x[step, row, 0] = MARK
    return x


class GarbageLSTM(torch.nn.LSTM):
    """nn.LSTM whose forward returns KINDS[kind] where layer ``layer``, direction ``direction``
    computed for a marked element: in the output's half of that direction at the marked row
    and time (if ``layer`` is the last), and in that layer and direction's h_n and c_n of a
    marked row. Unpacked input only."""

    def __init__(self, *args, kind="nan", layer=0, direction=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.broken_layer, self.broken_direction = kind, layer, direction

    def forward(self, input, hx=None):  # noqa: A002 - torch's name
        output, (h_n, c_n) = super().forward(input, hx)
        bad = KINDS[self.kind]
        marked = input[..., 0] == MARK  # (B, T) batch first, else (T, B); (T,) unbatched
        if input.dim() == 3 and not self.batch_first:
            marked = marked.T
        elif input.dim() == 2:
            marked = marked[None]
        output, h_n, c_n = output.clone(), h_n.clone(), c_n.clone()
        if self.broken_layer == self.num_layers - 1:
            size = self.proj_size or self.hidden_size
            half = slice(size * self.broken_direction, size * (self.broken_direction + 1))
            view = output if input.dim() == 3 and self.batch_first else (
                output.transpose(0, 1) if input.dim() == 3 else output[None])
            view[..., half] = torch.where(marked[..., None], bad, view[..., half])
        index = self.broken_layer * (2 if self.bidirectional else 1) + self.broken_direction
        rows = marked.any(dim=1)
        for state in (h_n, c_n):
            row_view = state[index] if state.dim() == 3 else state[index][None]
            row_view[:] = torch.where(rows[:, None], bad, row_view)
        return output, (h_n, c_n)


class GarbageLSTMCell(torch.nn.LSTMCell):
    """nn.LSTMCell whose new h and c are KINDS[kind] in a row whose input carries the mark."""

    def __init__(self, *args, kind="nan", **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def forward(self, input, hx=None):  # noqa: A002 - torch's name
        h, c = super().forward(input, hx)
        marked = (input[..., :1] == MARK)
        return (torch.where(marked, KINDS[self.kind], h), torch.where(marked, KINDS[self.kind], c))
