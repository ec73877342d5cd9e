"""Turn a results directory into its reports: `requests.csv`, `summary.*` and `report.html`;
and a directory of runs into `group_summary.*` and `group_report.html`.

The same code runs at the end of a run and from `python -m reports`, so a report can always
be rebuilt from the files, including those of a run that was interrupted.
"""

import csv
import json
from pathlib import Path

from faultsuite.errors import ConfigError
from reports.html import render_group_report, render_report
from reports.manifest import MANIFEST_FILE
from reports.records import write_requests_csv
from reports.results import summary_markdown, write_summary
from reports.rundata import RunData, load_run
from reports.summary import ALL_COLUMNS

__all__ = ["find_runs", "is_run_dir", "render_group", "render_run"]

REPORT_FILE = "report.html"
GROUP_REPORT_FILE = "group_report.html"


def is_run_dir(path: Path) -> bool:
    """A directory a run wrote to: it has a manifest, events or request records."""
    if not path.is_dir():
        return False
    return (path / MANIFEST_FILE).exists() or (path / "events.csv").exists() or any(path.glob("client_*.jsonl"))


def find_runs(group_dir: Path) -> list[Path]:
    """The run directories directly under `group_dir`, by name."""
    return sorted(p for p in group_dir.iterdir() if is_run_dir(p))


def _load(run_dir: Path) -> RunData:
    try:
        return load_run(run_dir)
    except (json.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{run_dir}: cannot read its files ({type(exc).__name__}: {exc})") from None


def render_run(run_dir: Path) -> RunData:
    """Rewrite every report of one run from its records, events and samples."""
    data = _load(run_dir)
    write_requests_csv(data.records, run_dir / "requests.csv")
    write_summary(data.summary, run_dir)
    render_report(data, run_dir / REPORT_FILE)
    return data


def render_group(group_dir: Path, runs: list[RunData] | None = None) -> list[RunData]:
    """Write `group_summary.md`, `group_summary.csv` and `group_report.html` for the runs in
    `group_dir` (rendering each first, unless they are given already loaded)."""
    if runs is None:
        runs = [render_run(run_dir) for run_dir in find_runs(group_dir)]
    runs = sorted(runs, key=lambda r: (r.manifest.failure != "none", r.manifest.failure, r.run_dir.name))
    rows = [r.summary.row() for r in runs]
    title = runs[0].manifest.deployment if runs else group_dir.name
    (group_dir / "group_summary.md").write_text(summary_markdown(rows, title=title), encoding="utf-8")
    with (group_dir / "group_summary.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(ALL_COLUMNS)
        writer.writerows([["" if row[c] is None else row[c] for c in ALL_COLUMNS] for row in rows])
    render_group_report(runs, group_dir / GROUP_REPORT_FILE)
    return runs
