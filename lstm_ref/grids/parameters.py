"""A framework's grid in the shapes the ``parameterized`` libraries take, so that unittest,
``tf.test.TestCase`` and absl suites can run it (lstm_ref.conformance does):

    from absl.testing import parameterized
    from lstm_ref.grids.parameters import named_parameters

    class Grid(parameterized.TestCase):
        @parameterized.named_parameters(named_parameters("keras", "small"))
        def test_case(self, case, dtype):
            ...

    from parameterized import parameterized
    from lstm_ref.grids.parameters import expand_parameters

    class Grid(unittest.TestCase):
        @parameterized.expand(expand_parameters("keras", "small"))
        def test_case(self, case_id, case, dtype):
            self.assertLSTMReportPassed(run(case, dtype))    # lstm_ref.testing.LSTMAssertions

Each case keeps its id: absl's test names end with it, parameterized.expand's carry it made
safe for a method name, so ``-k units7-features3`` (pytest) or the id's pieces find it.
"""

from lstm_ref.grids.registry import framework as framework_named
from lstm_ref.grids.registry import grid_cases

__all__ = ["named_parameters", "expand_parameters", "class_parameters", "run"]


def named_parameters(framework="keras", grid="default", dtype="float32", pattern=None):
    """Dicts for absl's ``parameterized.named_parameters``: ``testcase_name`` (the case id),
    ``case`` and ``dtype``."""
    return [{"testcase_name": f"_{case.id}", "case": case, "dtype": dtype}
            for case in grid_cases(framework, grid, pattern)]


def expand_parameters(framework="keras", grid="default", dtype="float32", pattern=None):
    """Tuples ``(case_id, case, dtype)`` for ``parameterized.expand``, which names each
    test after the first string of its tuple: the case id."""
    return [(case.id, case, dtype) for case in grid_cases(framework, grid, pattern)]


def class_parameters(framework="keras", grid="default", dtype="float32", pattern=None):
    """Dicts for ``parameterized.parameterized_class``: class attributes ``case_id``, ``case``
    and ``dtype`` (one test class per case)."""
    return [{"case_id": case.id, "case": case, "dtype": dtype}
            for case in grid_cases(framework, grid, pattern)]


def run(case, dtype="float32", framework="keras"):
    """Build one grid case's layer (its seeded weights), run it by its execution path and
    compare it with the reference: the Report (assert it with
    ``LSTMAssertions.assertLSTMReportPassed``)."""
    return framework_named(framework).run(case, dtype)

