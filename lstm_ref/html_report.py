"""``lstm-ref verify --report DIR``: an HTML page with, for every case, a plot of the error per
timestep of each tensor against its tolerance (matplotlib, the ``report`` extra).

A failing case's plot marks the first failing step and the step where its error starts to
grow (the first step whose error exceeds ten times the error at step 0, or at the first
compared step): where a bug shows first is usually where to look. The folder is written
whole or not at all (a temporary sibling, renamed into place)."""

import html
import os
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from lstm_ref import files
from lstm_ref._optional import require
from lstm_ref.errors import OutputError, ReportError
from lstm_ref.files import StrPath
from lstm_ref.report import Report

__all__ = ["check_folder", "growth_step", "plot_case", "summary_table", "write"]

STYLE = ("body{font-family:sans-serif;margin:1em 2em} .fail{color:#b00} "
         "td,th{vertical-align:top;padding:4px 8px;text-align:left} "
         "th{cursor:pointer;background:#eee} th:hover{background:#ddd} "
         "table.summary td:nth-child(3),table.summary td:nth-child(4){text-align:right} "
         "img{max-width:100%}")
# Click a column's header to sort the summary by it (again: the other way); numbers as numbers.
SORT_SCRIPT = """<script>
document.querySelectorAll('table.summary th').forEach((th, column) => th.onclick = () => {
  const body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
  const down = th.dataset.down = th.dataset.down === '1' ? '0' : '1';
  const key = r => { const t = r.cells[column].dataset.sort ?? r.cells[column].textContent;
                     const n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (down === '1' ? -1 : 1));
  rows.forEach(r => body.appendChild(r));
});
</script>"""


def summary_table(entries: Sequence[tuple[str, Report]]) -> str:
    """The cases at a glance, sortable by any column: verdict, worst error / bound, the first
    failing step, and the elements not compared; each case links to its plot."""
    head = ("<h2>Summary</h2><table class='summary'><thead><tr><th>case</th><th>verdict</th>"
            "<th>worst error / bound</th><th>first failing step</th><th>not compared</th>"
            "</tr></thead><tbody>")
    rows = []
    for case_id, report in entries:
        worst = report.worst_ratio
        step = report.first_failing_step
        verdict = html.escape(report.verdict)
        rows.append(
            f"<tr><td><a href='#{_anchor(case_id)}'>{html.escape(case_id)}</a></td>"
            f"<td class='{'' if report.passed else 'fail'}'>{verdict}</td>"
            f"<td data-sort='{worst if np.isfinite(worst) else 1e308}'>{worst:.3g}</td>"
            f"<td data-sort='{-1 if step is None else step}'>{'' if step is None else step}</td>"
            f"<td>{report.not_compared}</td></tr>")
    return head + "".join(rows) + "</tbody></table>"


def _anchor(case_id: str) -> str:
    return "case-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in case_id)


def check_folder(path: StrPath) -> None:
    """Refuse, before anything runs: an existing non-empty folder, a file, a missing parent
    or one where nothing can be created; and a missing matplotlib (naming the extra)."""
    require("matplotlib", "report")
    try:
        files.check_folder_target(path, "--report")
    except OutputError as exc:
        raise ReportError(str(exc)) from exc


def growth_step(report: Report) -> int | None:
    """The first step at which the worst tensor's error exceeds ten times its first compared
    error, or None: where a departure starts to grow."""
    failure = report.first_failure
    if failure is None:
        return None
    tensor = report.tensors[failure.tensor]
    compared = np.flatnonzero(np.isfinite(tensor.max_abs))  # NaN: nothing compared there
    if compared.size < 2:
        return None
    start = max(tensor.max_abs[compared[0]], np.finfo(float).tiny)
    grown = compared[tensor.max_abs[compared] > 10 * start]
    return None if grown.size == 0 else int(tensor.steps[grown[0]])


# One line style and marker per tensor, drawn widest first: tensors that coincide (a layer's
# output is its h) stay visible under one another.
STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "v", "D", "x", "+", "*")


def plot_case(report: Report, title: str, path: StrPath) -> None:
    """A PNG of max |error| (solid, dashed...) and the tolerance (thin, dotted) per step, one
    colour per tensor, integer steps, the legend under the plot and the title wrapped; an
    error of 0 on the plot's floor."""
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    figure, axes = pyplot.subplots(figsize=(8, 4.2), dpi=90)
    count = max(len(report.tensors), 1)
    # An error of exactly 0 (bit-identical) sits on the plot's floor, a decade under the
    # smallest error or bound drawn, not at 1e-300 where it would flatten everything else.
    drawn = np.concatenate([np.ravel(a) for t in report.tensors.values()
                            for a in (t.max_abs, t.max_bound)] or [np.ones(1)])
    drawn = drawn[np.isfinite(drawn) & (drawn > 0)]
    floor = float(drawn.min()) / 10 if drawn.size else 1e-300
    for index, (name, tensor) in enumerate(report.tensors.items()):
        color = f"C{index % 10}"
        steps = np.where(tensor.steps < 0, report.time, tensor.steps)  # sums over all steps
        width = 1.0 + 2.0 * (count - 1 - index) / count
        axes.plot(steps, np.maximum(tensor.max_abs, floor), STYLES[index % len(STYLES)],
                  marker=MARKERS[index % len(MARKERS)], markersize=4 + 3 * (index == 0),
                  markerfacecolor="none" if index % 2 else color, color=color,
                  linewidth=width, label=name, alpha=0.9)
        # "_" marks each step's bound, so that one step's bound shows too
        axes.plot(steps, tensor.max_bound, ":", marker="_", markersize=10, color=color,
                  linewidth=0.8)
    failure = report.first_failure
    if failure is not None:
        axes.axvline(failure.step, color="red", linewidth=1, label=f"first failure, step "
                                                                    f"{failure.step}")
        grown = growth_step(report)
        if grown is not None:
            axes.axvline(grown, color="orange", linewidth=1, linestyle="--",
                         label=f"error x10 from step {grown}")
    if report.time <= 20:
        axes.set_xticks(range(report.time + any(t.steps.min(initial=0) < 0
                                                for t in report.tensors.values())))
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(-0.5, max(report.time - 0.5, 0.5))  # one step is a point, not a sliver
    axes.set_yscale("log")
    axes.set_ylim(bottom=floor / 2)
    axes.set_xlabel("step (processing order)")
    axes.set_ylabel("max |framework - reference|")
    axes.set_title(textwrap.fill(title, 100), fontsize=8)
    axes.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18),
                frameon=False)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def write(path: StrPath, meta: dict[str, Any], entries: Sequence[tuple[str, Report]]) -> None:
    """Write the report folder.

    Args:
        path: the folder to create.
        meta: run facts (versions, grid, dtype...) for the page's header.
        entries: ``(case_id, Report)`` pairs in run order.
    """
    staging = files.staging_folder(path, "--report")
    try:
        rows = []
        for number, (case_id, report) in enumerate(entries):
            image = f"case{number:04d}.png"
            plot_case(report, case_id, os.path.join(staging, image))
            rows.append(_row(case_id, report, image))
        failed = sum(not r.passed for _, r in entries)  # failed or inconclusive
        facts = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>"
                        for k, v in meta.items())
        page = (f"<!doctype html><meta charset='utf-8'><title>lstm-ref verify</title>"
                f"<style>{STYLE}</style>"
                f"<h1>lstm-ref verify: {len(entries) - failed} of {len(entries)} cases passed</h1>"
                f"<ul>{facts}</ul>"
                + summary_table(entries)
                + "<h2>Cases</h2><p>Each tensor's largest error at each step (a line per "
                  "tensor, markers at the steps), its tolerance there (the thin dotted line of "
                  "the same colour). Failing cases first.</p><table>"
                + "".join(row for _, row in sorted(rows, key=lambda r: r[0])) + "</table>"
                + SORT_SCRIPT)
        with open(os.path.join(staging, "index.html"), "w") as stream:
            stream.write(page)
        files.publish_folder(staging, path, "--report")  # an empty folder: replaced whole
    except BaseException:
        files.discard_folder(staging)
        raise


def _row(case_id: str, report: Report, image: str) -> tuple[bool, str]:
    if report.failed:
        verdict = "<span class='fail'>FAILED</span> " + html.escape(str(report.first_failure))
    elif report.inconclusive:
        verdict = "<span class='fail'>INCONCLUSIVE</span> " + html.escape(
            "; ".join(report.not_compared_lines()))
    else:
        verdict = f"passed (worst err/tol {report.worst_ratio:.3f})"
    grown = growth_step(report)
    if grown is not None:
        verdict += f"<br>error starts to grow at step {grown}"
    cell = (f"<tr id='{_anchor(case_id)}'><td><b>{html.escape(case_id)}</b><br>{verdict}<br>"
            f"<small>{html.escape(report.tolerance.describe())}</small></td>"
            f"<td><img src='{image}' alt='error per step of {html.escape(case_id)}'></td></tr>")
    return (report.passed, cell)
