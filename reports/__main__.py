"""`python -m reports RESULTS_DIR...`: rebuild the reports of runs from their files.

A run's results directory gets `requests.csv`, `summary.csv/.json/.md` and `report.html` rewritten; a
directory of runs (one deployment's group, as the matrix writes) gets each run's, plus
`group_summary.md/.csv` and `group_report.html`. Bad input is one line and exit code 2.
"""

import argparse
import sys
from pathlib import Path

from faultsuite.errors import FaultSuiteError
from faultsuite.layout import GroupLayout, RunLayout
from reports.render import render_group, render_run
from reports.results import summary_markdown


def render(path: Path) -> str:
    """Render `path` (a run, or a group of runs); returns what to tell the user."""
    if not path.is_dir():
        raise FaultSuiteError(f"{path}: no such directory")
    if RunLayout(path).is_run():
        data = render_run(path)
        table = summary_markdown([data.summary.row()], title=data.manifest.title)
        return f"{table}\nReport: {RunLayout(path).report}"
    if GroupLayout(path).runs():
        runs = render_group(path)
        return f"{summary_markdown([r.summary.row() for r in runs], title=path.name)}\nReport: {GroupLayout(path).report}"
    raise FaultSuiteError(f"{path}: neither a run's results directory (no run.json, events.csv or client_*.jsonl) nor a directory of runs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dirs", nargs="+", type=Path, metavar="RESULTS_DIR")
    arguments = parser.parse_args(argv)
    try:
        for path in arguments.results_dirs:
            print(render(path), flush=True)
    except FaultSuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
