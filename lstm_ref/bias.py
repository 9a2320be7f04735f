"""The bias of a step: a systematic drift that no single element shows.

Element bounds (lstm_ref.tolerance) must allow a few ulps of rounding per element, amplified
by the case's conditioning, so a kernel that is wrong by a relative 1e-6 (8 ulps of float32,
spread over every element of every step) can stay under each element's bound. Rounding has
no sign preference, such a drift has one: at each step t, over the compared elements of a
tensor,

    S_t = sum (framework - reference) * sign(reference) / sum |reference|

is the relative drift the step shows as a whole (a relative drift d of every element gives
S_t = d exactly; rounding gives S_t of about eps / sqrt(elements)). Its bound is measured like
the elements' (lstm_ref.tolerance): the nudged probes' own S_t, running max over the steps,
times the entry's ``bias_scale``, with a floor of ``bias_floor`` eps for the small systematic
biases of a framework's math library (an activation rounded consistently one way):

    |S_t| <= max(bias_floor * eps, bias_scale * max over probes and steps s <= t of |S_s|)
"""

import numpy as np

from lstm_ref import precision

__all__ = ["step_bias", "probe_drift", "bias_bound", "carried", "resolved", "measured",
           "RESOLVED", "MIN_WEIGHED"]

# An element enters its step's drift where its |reference| is at least this many times its
# absolute floor: below that, rounding alone moves it by more than an eighth of itself (a
# relu's output at 5e-8, 0 in the framework), and its relative error says nothing about a
# drift of the step.
RESOLVED = 8.0

# A step's drift is measured where it weighs at least this many elements. Over fewer it is
# one or two elements' relative errors, not a drift of the step: an element that is small
# against the terms it is summed from (c = f * c_prev + i * g of opposite signs, a
# projection's few products) carries their rounding, an ulp of the terms but many of its
# own, which the element's bound allows. Such a step is left to its elements' bounds.
MIN_WEIGHED = 8


def measured(reference, weight=None):
    """(S,) booleans: the steps that weigh at least MIN_WEIGHED elements of ``reference``
    ((B, S, U); ``weight`` as in :func:`step_bias`), so that a drift of the step is measured."""
    keep = np.isfinite(reference) if weight is None else np.asarray(weight, bool)
    return keep.sum(axis=(0, 2)) >= MIN_WEIGHED


def step_bias(actual, reference, weight=None):
    """S_t for every step (S,) of (B, S, U) arrays: the relative drift over the elements where
    ``weight`` (booleans, (B, S, U); None: every finite reference element) is True. 0 at a
    step whose weighed reference is all zeros, or that weighs fewer than MIN_WEIGHED elements
    (no drift of the step to measure there: its elements' own bounds hold it)."""
    actual = np.asarray(actual, np.float64)
    reference = np.asarray(reference, np.float64)
    keep = np.isfinite(reference) if weight is None else np.asarray(weight, bool)
    with np.errstate(invalid="ignore", over="ignore"):
        signed = np.where(keep, (actual - reference) * np.sign(reference), 0.0)
        total = np.where(keep, np.abs(reference), 0.0).sum(axis=(0, 2))
        enough = (total > 0) & measured(reference, keep)
        return np.where(enough, signed.sum(axis=(0, 2)) / np.where(enough, total, 1.0), 0.0)


def carried(reference):
    """(B, S, U) booleans: True over a row's step whose every element equals the step
    before exactly, as at a masked step, where an LSTM carries its state (or repeats its
    output) unchanged. Such a step repeats a drift already counted at the row's last valid
    step, and weighed again it would dilute a drift in the rows still running: S_t leaves it
    out (its elements are still each held to their bound)."""
    reference = np.asarray(reference)
    same = np.zeros(reference.shape[:2], bool)
    if reference.shape[1] > 1:
        with np.errstate(invalid="ignore"):
            same[:, 1:] = np.all(reference[:, 1:] == reference[:, :-1], axis=2)
    return np.broadcast_to(same[:, :, None], reference.shape)


def resolved(reference, atol):
    """(B, S, U) booleans: the elements large enough to weigh in a step's drift, |reference|
    >= RESOLVED times their absolute bound (``atol``: (B, S, U), each element's, or (B, S),
    each row's at each step)."""
    atol = np.asarray(atol)
    with np.errstate(invalid="ignore"):
        return np.abs(reference) >= RESOLVED * (atol if atol.ndim == 3 else atol[:, :, None])


def probe_drift(reference, probe, eps, weight=None):
    """The nudged probes' step drift, running max over the steps, in ``eps`` (S,): how far
    rounding alone, amplified as this case amplifies it, moves S_t.

    Args:
        reference: (B, S, U) float64 values.
        probe: (PROBES * B, S, U) the stacked probes (the first copy un-nudged, left out).
        eps: the eps of the probes' format.
        weight: the elements S_t is taken over (see :func:`step_bias`).
    """
    reference = np.asarray(reference, np.float64)
    probes = np.asarray(probe, np.float64).reshape(-1, *reference.shape)[1:]
    # step_bias of every nudged copy at once: the weights, signs and totals are the
    # reference's, the same for every copy.
    keep = np.isfinite(reference) if weight is None else np.asarray(weight, bool)
    with np.errstate(invalid="ignore", over="ignore"):
        signs = np.where(keep, np.sign(reference), 0.0)
        total = np.where(keep, np.abs(reference), 0.0).sum(axis=(0, 2))
        enough = (total > 0) & measured(reference, keep)
        signed = np.where(keep, (probes - reference) * signs, 0.0).sum(axis=(1, 3))
        s = np.abs(np.where(enough, signed / np.where(enough, total, 1.0), 0.0))
    drift = np.where(np.isfinite(s), s, 0.0).max(axis=0, initial=0.0)
    return np.maximum.accumulate(drift) / eps


def bias_bound(reference, probe, tol, weight=None):
    """The bound of S_t at every step (S,) for one (B, S, U) reference tensor and its stacked
    probes, per the entry ``tol``; None when the entry has no drift check
    (``tol.bias_floor`` None) or there are no probes. inf at a step that weighs fewer than
    MIN_WEIGHED elements: its drift is not measured, nor that of a tensor joined from it
    (lstm_ref.engine takes a joined tensor's bound as the largest of its parts')."""
    if tol.bias_floor is None or probe is None:
        return None
    scale = probe_drift(reference, probe, precision.get(tol.probe).eps, weight)
    bound = np.maximum(tol.bias_floor, tol.bias_scale * scale) * tol.eps
    return np.where(measured(np.asarray(reference), weight), bound, np.inf)
