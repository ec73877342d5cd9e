"""Writing a run's summary files: `summary.csv`, `summary.json` and `summary.md`.

The values come from `reports.summary`; this module only renders them. A missing value
(`None`) reads "N/A" in CSV and Markdown and `null` in JSON.
"""

import csv
import json
from pathlib import Path

from faultsuite.layout import RunLayout
from faultsuite.manifest import RunManifest
from reports.summary import ALL_COLUMNS, SUMMARY_COLUMNS, Summary, Value

__all__ = ["GENERATOR_LAG_NOTE_S", "MISSING", "UNITS", "format_value", "heading", "run_notes", "write_summary", "summary_markdown"]

MISSING = "N/A"
#: An open-loop generator this far behind its schedule did not offer the rate it was given.
GENERATOR_LAG_NOTE_S = 0.05


#: The unit of each summary column whose name does not give one: the report's headers show
#: it ("Recovery Time (s)"); the CSV, JSON and terminal tables keep the reference's names.
UNITS = {
    "Startup Time": "s",
    "Success": "requests",
    "Failed": "requests",
    "Latency Before": "s, mean",
    "Latency After": "s, mean",
    "Pending Before": "requests, mean",
    "Pending After": "requests, mean",
    "Violations Before": "requests",
    "Violations After": "requests",
    "Recovery Time": "s",
    "Failed During Outage": "requests",
    "Migrated Requests": "requests",
    "Corrupt Outputs": "requests",
    "Migrations Counted": "migrations",
    "Bad Requests": "requests",
    "In Flight Unfaulted Before": "requests, mean",
    "In Flight Unfaulted During": "requests, mean",
}


def heading(column: str) -> str:
    """A summary column's name with its unit, for the report's tables."""
    return f"{column} ({UNITS[column]})" if column in UNITS else column


def format_value(value: Value, decimals: int = 2) -> str:
    """A summary cell as text: "N/A" for no value, floats with `decimals` decimals."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def summary_markdown(rows: list[dict[str, Value]], title: str | None = None) -> str:
    """A Markdown table of `SUMMARY_COLUMNS`, one line per row, floats with 2 decimals.

    Each row must hold every column of `SUMMARY_COLUMNS` (extra keys are ignored). With a
    `title`, a level-3 heading and a blank line come first.
    """
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(SUMMARY_COLUMNS) + " |")
    lines.append("|" + "---|" * len(SUMMARY_COLUMNS))
    for row in rows:
        lines.append("| " + " | ".join(format_value(row[c], 2) for c in SUMMARY_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def run_notes(manifest: RunManifest) -> list[str]:
    """One line for each way the run did not go as planned: it did not start, a signal ended
    it early, its records stopped reaching the disk."""
    notes = []
    if manifest.error:
        notes.append(f"Did not start: {manifest.error}")
    if manifest.interrupted:
        notes.append(f"Interrupted by {manifest.interrupted}: these numbers cover only the part of the run that ran.")
    if manifest.records_lost:
        notes.append(f"Incomplete: {manifest.records_lost}.")
    if manifest.generator_lag_s is not None and manifest.generator_lag_s > GENERATOR_LAG_NOTE_S:
        notes.append(f"The load generator fell behind its schedule by up to {manifest.generator_lag_s:.3f} s: the offered rate was not met.")
    return notes


def write_summary(summary: Summary, run_dir: Path, notes: list[str] | None = None) -> None:
    """Write `summary.csv` (header + one row, floats with 3 decimals), `summary.json` (the row
    as one object, with `notes`) and `summary.md` (the table, the notes, and the error
    breakdown if anything failed) into `run_dir`, replacing any that exist."""
    run_dir.mkdir(parents=True, exist_ok=True)
    row = summary.row()

    layout = RunLayout(run_dir)
    with layout.summary_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(ALL_COLUMNS)
        writer.writerow([format_value(row[c], 3) for c in ALL_COLUMNS])

    layout.summary_json.write_text(json.dumps({**row, **({"notes": notes} if notes else {})}, indent=2) + "\n", encoding="utf-8")

    markdown = summary_markdown([row])
    for note in notes or []:
        markdown += f"\n{note}\n"
    if summary.error_breakdown:
        markdown += f"\nError breakdown: {summary.error_breakdown}\n"
    layout.summary_md.write_text(markdown, encoding="utf-8")
