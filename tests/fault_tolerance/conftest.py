"""Options, shared state and the closing tables of the fault-tolerance matrix."""

import argparse
from datetime import datetime
from pathlib import Path

import pytest

from tests.fault_tolerance.matrix import FULL, REDUCED, GroupTables, LoadSize, Progress

MATRIX_TEST = "test_fault_tolerance"
COMMAND = "pytest tests/fault_tolerance/test_runner.py"


def pytest_addoption(parser):
    group = parser.getgroup("fault tolerance matrix")
    group.addoption("--ft-results", default="", help="where the matrix writes its runs (default: results/matrix-<timestamp>)")
    group.addoption("--ft-full", action="store_true", default=False, help="full load and the reference's timeouts (slow)")
    group.addoption(
        "--ft-trials", type=_trial_count, default=1, metavar="N",
        help="run each pair N times (--trials N), each trial checked, with the spread in its trials_summary.md",
    )  # fmt: skip


def pytest_collection_finish(session):
    """Count the matrix runs left after -k and -m selection, for the progress line."""
    session.config.ft_total = sum(1 for item in session.items if getattr(item, "originalname", "") == MATRIX_TEST)


@pytest.fixture(scope="session")
def load_size(request) -> LoadSize:
    return FULL if request.config.getoption("--ft-full") else REDUCED


def _trial_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ft-trials must be a whole number, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"--ft-trials must be at least 1, got {count}")
    return count


@pytest.fixture(scope="session")
def trials(request) -> int:
    return request.config.getoption("--ft-trials")


@pytest.fixture(scope="session")
def matrix_results(request) -> Path:
    chosen = request.config.getoption("--ft-results")
    return Path(chosen or f"results/matrix-{datetime.now():%Y%m%d-%H%M%S}").resolve()


@pytest.fixture(scope="session")
def group_tables(request, matrix_results) -> GroupTables:
    tables = GroupTables(matrix_results, COMMAND)
    request.config.ft_tables = tables
    return tables


@pytest.fixture(scope="session")
def progress(request) -> Progress:
    return Progress(getattr(request.config, "ft_total", 0))


@pytest.fixture
def report_line(request):
    """Write a line to the terminal as the run goes, even with output captured."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return write


def pytest_terminal_summary(terminalreporter, config):
    tables: GroupTables | None = getattr(config, "ft_tables", None)
    if tables is None or not tables.runs:
        return
    terminalreporter.section("fault-tolerance matrix")
    for deployment in tables.runs:
        terminalreporter.write_line(tables.markdown(deployment))
    terminalreporter.write_line(f"runs and group tables: {tables.results}")
