"""What the planted-bug tests share: where each class of bug must first show, and the
assertion that it does."""

__all__ = ["FIRST_SHOWS", "assert_flagged_where_it_first_shows"]

# A bug -> (the first step it changes anything at, the first tensor it shows in), for a case
# that starts from zero states: the recurrent term is zero at step 0.
FIRST_SHOWS = {
    "gates i/f swapped": (0, "h"),
    "bias ignored": (0, "h"),
    "recurrent term dropped": (1, "h"),
    "state order swapped": (0, "h"),
    "relative drift 1e-5 in c": (0, "c"),
}


def assert_flagged_where_it_first_shows(report, bug):
    step, tensor = FIRST_SHOWS[bug]
    assert not report.passed, f"{bug} was not flagged:\n{report.summary()}"
    assert (report.first_failing_step, report.first_failure.tensor) == (step, tensor), report.summary()
