"""The trials summary: the spread of the key metrics over the runs of one `--trials N` group,
written as `trials_summary.md` and `trials_summary.csv` and shown in the group report.

The statistics are `reports.summary.trial_stats`, over `reports.summary.TRIAL_METRICS`.
"""

import csv
from pathlib import Path

from faultsuite.layout import TrialsLayout
from reports.results import format_value
from reports.rundata import RunData
from reports.summary import TRIAL_METRICS, TrialStats, trial_stats

__all__ = ["TRIALS_COLUMNS", "trials_row", "trials_table", "write_trials_summary"]

TRIALS_COLUMNS = ("Metric", "Trials", "Mean", "Min", "Max", "p95", "95% CI Low", "95% CI High")


def trials_table(runs: list[RunData]) -> list[tuple[str, TrialStats]]:
    """(metric, its statistics over the runs), one per TRIAL_METRICS entry."""
    return [(column, trial_stats(getattr(run.summary, field) for run in runs)) for column, field in TRIAL_METRICS.items()]


def trials_row(column: str, stats: TrialStats) -> list[str]:
    """One metric's row of the trials summary, as text."""
    values = (stats.mean, stats.min, stats.max, stats.p95, stats.ci_low, stats.ci_high)
    return [column, str(stats.n), *(format_value(v) for v in values)]


def write_trials_summary(runs: list[RunData], group_dir: Path) -> list[tuple[str, TrialStats]]:
    """Write the trials summary of `runs` into `group_dir`; returns its table."""
    layout = TrialsLayout(group_dir)
    table = trials_table(runs)
    lines = [f"### {len(runs)} trials", "", "| " + " | ".join(TRIALS_COLUMNS) + " |", "|" + "---|" * len(TRIALS_COLUMNS)]
    lines += ["| " + " | ".join(trials_row(column, stats)) + " |" for column, stats in table]
    layout.trials_md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with layout.trials_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(TRIALS_COLUMNS)
        writer.writerows(trials_row(column, stats) for column, stats in table)
    return table
