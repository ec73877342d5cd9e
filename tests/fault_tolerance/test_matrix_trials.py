"""`--ft-trials N`: the matrix runs each pair as N trials, checks every trial as a run, and
keeps their spread; run here as a user would, through pytest, on one pair."""

import subprocess
import sys

import pytest

from faultsuite.layout import TrialsLayout
from tests.e2e.harness import records_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PAIR = "tests/fault_tolerance/test_runner.py::test_fault_tolerance[agg-dp1-none]"


def test_each_pair_runs_as_trials_each_with_its_directory_and_the_spread_in_its_summary(tmp_path):
    results = tmp_path / "matrix"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PAIR, "--ft-trials", "2", "--ft-results", str(results)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    layout = TrialsLayout(results / "agg-dp1" / "none")
    for k in (1, 2):
        assert records_in(layout.trial(k)), f"trial {k} recorded nothing"
        assert (layout.trial(k) / "summary.json").is_file()
    trials_md = layout.trials_md.read_text(encoding="utf-8")
    assert "2 trials" in trials_md and "| Failed | 2 |" in trials_md
    assert trials_md in done.stdout  # printed as the matrix goes
    # The deployment's group table has one row per trial.
    group = (results / "agg-dp1" / "group_summary.csv").read_text(encoding="utf-8").splitlines()
    assert len(group) == 1 + 2


def test_ft_trials_below_one_is_a_usage_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PAIR, "--ft-trials", "0", "--ft-results", str(tmp_path)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]  # pytest's usage error
    assert "--ft-trials must be at least 1, got 0" in done.stderr
