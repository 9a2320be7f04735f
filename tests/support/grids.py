"""What the grid test modules share: parametrizing a test's ``case`` with the grid that
``--grid`` names, running a case and failing with its report, and the checks every grid's
ids, seeds and sizes are held to."""

from itertools import combinations, product

__all__ = ["parametrize_cases", "assert_case_passes", "assert_ids_and_seeds_are_unique",
           "sizes_of", "every_combination", "assert_every_pair_covered"]


def parametrize_cases(cases):
    """A ``pytest_generate_tests`` hook that parametrizes a test's ``case`` argument with
    ``cases(name)``, ``name`` the grid --grid names, each case under its id."""

    def pytest_generate_tests(metafunc):
        if "case" in metafunc.fixturenames:
            found = cases(metafunc.config.getoption("--grid"))
            metafunc.parametrize("case", found, ids=[c.id for c in found])

    return pytest_generate_tests


def assert_case_passes(run_case, case, *args, **kwargs):
    """Run ``case`` with ``run_case(case, *args, **kwargs)``; fail with the report's summary
    (first failing step and tensor, case id, seed, reproducer) unless it passed. Returns the
    report."""
    report = run_case(case, *args, **kwargs)
    assert report.passed, report.summary()
    return report


def assert_ids_and_seeds_are_unique(cases):
    """No two cases share an id, nor a seed (a case's seed is drawn from its id)."""
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.seed for c in cases}) == len(cases)


def sizes_of(cases, names):
    """The tuples of sizes (in the order of ``names``) the cases take."""
    return {tuple(getattr(c, name) for name in names) for c in cases}


def every_combination(sizes):
    """Every tuple of sizes that ``sizes`` ({name: values}) can make."""
    return set(product(*sizes.values()))


def assert_every_pair_covered(name, cases, parameters, value=getattr, impossible=()):
    """Every pair of values of every two of ``parameters`` ({name: values}) is taken by some
    case (all-pairs), but the pairs in ``impossible`` ((a, u, b, v) tuples) that no case can
    be; ``value(case, parameter)`` reads a case's value. ``name`` names the grid in the error."""
    for a, b in combinations(parameters, 2):
        have = {(value(c, a), value(c, b)) for c in cases}
        possible = {(u, v) for u, v in product(parameters[a], parameters[b])
                    if (a, u, b, v) not in impossible}
        missing = possible - have
        assert not missing, (f"grid {name}: pairs of {a} and {b} never tested: "
                             f"{sorted(missing)[:5]}")
