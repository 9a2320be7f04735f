"""``lstm-ref verify --report DIR``: an HTML page with, for every case, a plot of the error per
timestep of each tensor against its tolerance (matplotlib, the ``report`` extra).

A failing case's plot marks the first failing step and the step where its error starts to
grow (the first step whose error exceeds ten times the error at step 0, or at the first
compared step): where a bug shows first is usually where to look. The folder is written
whole or not at all (a temporary sibling, renamed into place)."""

import html
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lstm_ref import files
from lstm_ref._optional import require
from lstm_ref.errors import OutputError, ReportError
from lstm_ref.files import StrPath
from lstm_ref.report import Report

__all__ = ["check_folder", "growth_step", "plot_case", "write"]


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


def plot_case(report: Report, title: str, path: StrPath) -> None:
    """A PNG of max |error| (solid) and the tolerance (dashed) per step, per tensor."""
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3.2), dpi=90)
    for index, (name, tensor) in enumerate(report.tensors.items()):
        color = f"C{index % 10}"
        steps = np.where(tensor.steps < 0, report.time, tensor.steps)  # sums over all steps
        style = "-" if steps.size > 1 else "o"
        axes.plot(steps, np.maximum(tensor.max_abs, 1e-300), style, color=color, label=name)
        axes.plot(steps, tensor.max_bound, ":" if steps.size > 1 else "x", color=color)
    failure = report.first_failure
    if failure is not None:
        axes.axvline(failure.step, color="red", linewidth=1, label=f"first failure, step "
                                                                    f"{failure.step}")
        grown = growth_step(report)
        if grown is not None:
            axes.axvline(grown, color="orange", linewidth=1, linestyle="--",
                         label=f"error x10 from step {grown}")
    axes.set_yscale("log")
    axes.set_xlabel("step (processing order)")
    axes.set_ylabel("max |framework - reference|")
    axes.set_title(title[:90], fontsize=8)
    axes.legend(fontsize=6, ncol=3)
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
                f"<style>body{{font-family:sans-serif}} .fail{{color:#b00}} "
                f"td{{vertical-align:top;padding:4px}}</style>"
                f"<h1>lstm-ref verify: {len(entries) - failed} of {len(entries)} cases passed</h1>"
                f"<ul>{facts}</ul><p>Solid: the largest error at each step; dotted: the "
                f"tolerance there. Failing cases first.</p><table>"
                + "".join(row for _, row in sorted(rows, key=lambda r: r[0])) + "</table>")
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
    cell = (f"<tr><td><b>{html.escape(case_id)}</b><br>{verdict}<br>"
            f"<small>{html.escape(report.tolerance.describe())}</small></td>"
            f"<td><img src='{image}' alt='error per step of {html.escape(case_id)}'></td></tr>")
    return (report.passed, cell)
