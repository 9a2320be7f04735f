"""TF1 grid cases (lstm_ref.grids.tf1) as cells: built with the case's seeded variables, run
and compared; each Report names the case, its seed and the line that reproduces it alone."""

from lstm_ref.frameworks.tf1.cells import VARIABLES, legacy_cells
from lstm_ref.frameworks.tf1.observe import compare

__all__ = ["build_cell", "run_case"]

def build_cell(case, dtype="float32"):
    """The case's tf_keras legacy cell in ``dtype``, built, with the case's variables set."""
    legacy = legacy_cells()
    cell = getattr(legacy, case.cell)(**case.cell_options(), dtype=dtype)
    cell.build((case.batch, case.features))
    for name, value in case.arrays()["variables"].items():
        getattr(cell, VARIABLES[name]).assign(value.astype(dtype))
    return cell


def run_case(case, dtype="float32", tolerance=None):
    """Build the case's cell, compare it (lstm_ref.frameworks.tf1.observe.compare) on the
    case's inputs and return the Report, whose context names the case, its seed and a
    reproducer."""
    cell = build_cell(case, dtype)
    arrays = case.arrays()
    report = compare(cell, arrays["x"], initial_state=arrays["initial_state"],
                     sequence_length=arrays["lengths"], tolerance=tolerance,
                     execution=case.execution)
    report.context = case.report_context(report.context, run_case, dtype=dtype)
    return report
