"""Turn a results directory into its reports: `requests.csv`, `summary.*` and `report.html`;
and a directory of runs into `group_summary.*` and `group_report.html`.

The same code runs at the end of a run and from `python -m reports`, so a report can always
be rebuilt from the files, including those of a run that was interrupted.
"""

import csv
import json
from pathlib import Path

from faultsuite.errors import ConfigError
from faultsuite.layout import GroupLayout, RunLayout
from faultsuite.record_table import write_requests_csv
from reports.html import render_group_report, render_report
from reports.results import run_notes, summary_markdown, write_summary
from reports.rundata import RunData, in_group_order, load_run
from reports.summary import ALL_COLUMNS
from reports.trials import write_trials_summary

__all__ = ["render_group", "render_run"]


def _load(run_dir: Path) -> RunData:
    try:
        return load_run(run_dir)
    except (json.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{run_dir}: cannot read its files ({type(exc).__name__}: {exc})") from None


def render_run(run_dir: Path) -> RunData:
    """Rewrite every report of one run from its records, events and samples."""
    data = _load(run_dir)
    layout = RunLayout(run_dir)
    write_requests_csv(data.records, layout.requests)
    write_summary(data.summary, run_dir, run_notes(data.manifest))
    render_report(data, layout.report)
    return data


def render_group(group_dir: Path, runs: list[RunData] | None = None, *, trials: bool = False) -> list[RunData]:
    """Write `group_summary.md`, `group_summary.csv` and `group_report.html` for the runs in
    `group_dir` (rendering each first, unless they are given already loaded); for the trials
    of one scenario (`trials`), the trials summary too, which the group report shows."""
    layout = GroupLayout(group_dir)
    if runs is None:
        runs = [render_run(run.root) for run in layout.runs()]
    runs = in_group_order(runs)
    rows = [r.summary.row() for r in runs]
    title = runs[0].manifest.deployment if runs else group_dir.name
    layout.summary_md.write_text(summary_markdown(rows, title=title), encoding="utf-8")
    with layout.summary_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(ALL_COLUMNS)
        writer.writerows([["" if row[c] is None else row[c] for c in ALL_COLUMNS] for row in rows])
    table = write_trials_summary(runs, group_dir) if trials else None
    render_group_report(runs, layout.report, trials=table)
    return runs
