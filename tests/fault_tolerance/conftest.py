"""Options, shared state and the closing tables of the fault-tolerance matrix."""

import argparse
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from chaos.models import load_catalogue
from faultsuite.suggest import did_you_mean
from tests.e2e.harness import start_locust
from tests.fault_tolerance.matrix import FULL, REDUCED, GroupTables, LoadSize, Progress, last_fault_at_s, matrix_deployments
from tests.fault_tolerance.scheduler import MatrixScheduler, StartedRun

MATRIX_TEST = "test_fault_tolerance"
COMMAND = "pytest tests/fault_tolerance/test_runner.py"
#: How long one run (one trial) may take, from its start, before it is killed.
RUN_TIMEOUT_S = 240


def pytest_addoption(parser):
    group = parser.getgroup("fault tolerance matrix")
    group.addoption("--ft-results", default="", help="where the matrix writes its runs (default: results/matrix-<timestamp>)")
    group.addoption("--ft-full", action="store_true", default=False, help="full load and the reference's timeouts (slow)")
    group.addoption(
        "--ft-failure", type=_names(lambda: list(load_catalogue().failures)), default=None, metavar="NAME[,NAME]",
        help="run only these failures (exact names; -k decode_worker also matches every decode_worker_* variant)",
    )  # fmt: skip
    group.addoption(
        "--ft-deployment", type=_names(matrix_deployments), default=None, metavar="NAME[,NAME]",
        help="run only these deployments (exact names; -k agg-dp4 also matches agg-dp4-links, ...)",
    )  # fmt: skip
    group.addoption(
        "--ft-parallel", type=_at_least_one("--ft-parallel"), default=2, metavar="N",
        help="run up to N pairs at once (default 2; 1 for timings taken alone)",
    )  # fmt: skip
    group.addoption(
        "--ft-trials", type=_at_least_one("--ft-trials"), default=1, metavar="N",
        help="run each pair N times (--trials N), each trial checked, with the spread in its trials_summary.md",
    )  # fmt: skip


def _names(known: Callable[[], list[str]]) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of names, each one of `known()`."""

    def names(text: str) -> tuple[str, ...]:
        chosen = tuple(name.strip() for name in text.split(",") if name.strip())
        choices = known()
        for name in chosen:
            if name not in choices:
                raise argparse.ArgumentTypeError(f"unknown name {name!r}{did_you_mean(name, choices)}")
        return chosen

    return names


def pytest_collection_modifyitems(config, items):
    """`--ft-failure` and `--ft-deployment` keep the matrix runs of exactly those names."""
    failures, deployments = config.getoption("--ft-failure"), config.getoption("--ft-deployment")
    if failures is None and deployments is None:
        return
    kept, dropped = [], []
    for item in items:
        params = item.callspec.params if getattr(item, "originalname", "") == MATRIX_TEST else None
        wanted = params is None or (
            (failures is None or params["failure"] in failures) and (deployments is None or params["deployment"] in deployments)
        )
        (kept if wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collection_finish(session):
    """Count the matrix runs left after -k and -m selection, for the progress line."""
    session.config.ft_total = sum(1 for item in session.items if getattr(item, "originalname", "") == MATRIX_TEST)


@pytest.fixture(scope="session")
def load_size(request) -> LoadSize:
    return FULL if request.config.getoption("--ft-full") else REDUCED


def _at_least_one(option: str) -> Callable[[str], int]:
    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{option} must be at least 1, got {value}")
        return value

    return count


@pytest.fixture(scope="session")
def trials(request) -> int:
    return request.config.getoption("--ft-trials")


@pytest.fixture(scope="session")
def matrix_results(request) -> Path:
    chosen = request.config.getoption("--ft-results")
    return Path(chosen or f"results/matrix-{datetime.now():%Y%m%d-%H%M%S}").resolve()


@pytest.fixture(scope="session")
def matrix_runs(request, tmp_path_factory, load_size, trials, matrix_results) -> Iterator[MatrixScheduler]:
    """Each pair's run, started ahead in the order the selected matrix tests will ask."""
    order = [(item.callspec.params["deployment"], item.callspec.params["failure"]) for item in request.session.items if getattr(item, "originalname", "") == MATRIX_TEST]

    def start(pair: tuple[str, str]) -> StartedRun:
        deployment, failure = pair
        run_dir = matrix_results / deployment / failure
        shutil.rmtree(run_dir, ignore_errors=True)  # the matrix owns its folders; a rerun replaces its run
        options = [
            "--deployment", deployment,
            "--failure", failure,
            *load_size.options(last_fault_at_s(failure, load_size, deployment)),
            *(["--trials", str(trials)] if trials > 1 else []),
        ]  # fmt: skip
        cwd = tmp_path_factory.mktemp(f"{deployment}-{failure}")
        proc, tag, run_dir = start_locust(cwd, *options, output=cwd, run_dir=run_dir)
        return StartedRun(proc, tag, run_dir, cwd, deadline=time.monotonic() + RUN_TIMEOUT_S * trials)

    scheduler = MatrixScheduler(order, start, request.config.getoption("--ft-parallel"))
    yield scheduler
    scheduler.close()


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
