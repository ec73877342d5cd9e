"""`--trials 3`: three runs, each in its own directory with its own seed, the trials summary
with the 95% interval, and an expectation over the trials that decides the exit code."""

import argparse
import csv
import json

import pytest

from locustfiles.options import add_options
from locustfiles.trials import headless_argv, without_options
from tests.e2e.harness import run_locust

pytestmark = pytest.mark.e2e


def test_three_trials_give_three_runs_and_the_interval_and_an_unmet_statistic_is_exit_1(tmp_path):
    result = run_locust(
        tmp_path, "--deployment", "agg-dp1", "--clients", "2", "--requests-per-client", "10", "--fault-at", "1",
        "--trials", "3", "--expect", "recovery_time_s.max <= 0.001; failed <= 1000", run_dir=tmp_path / "group", timeout_s=400,
    )  # fmt: skip
    group = tmp_path / "group"

    assert result.returncode == 1, result.stderr[-3000:]
    assert "expectation failed: recovery_time_s.max <= 0.001: failed (max of Recovery Time (s) over 3 trials" in result.stderr
    runs = sorted(p.name for p in group.iterdir() if p.is_dir())
    assert runs == ["trial-1", "trial-2", "trial-3"]
    seeds = [json.loads((group / run / "run.json").read_text())["load"]["seed"] for run in runs]
    assert seeds == [0, 1, 2]
    with (group / "trials_summary.csv").open() as src:
        rows = {row["Metric"]: row for row in csv.DictReader(src)}
    recovery = rows["Recovery Time"]
    assert recovery["Trials"] == "3" and float(recovery["95% CI Low"]) <= float(recovery["Mean"]) <= float(recovery["95% CI High"])
    assert "Spread over 3 trials" in (group / "group_report.html").read_text()


def test_each_trial_gets_its_own_directory_seed_and_no_trials_or_junit_of_its_own():
    argv = ["-f", "x.py", "--trials", "3", "--results-dir=out", "--seed", "7", "--junit", "j.xml", "--clients", "2"]

    assert without_options(argv, ("--results-dir", "--seed", "--trials", "--junit")) == ["-f", "x.py", "--clients", "2"]


def test_the_web_ui_forms_options_become_the_trials_headless_command_line():
    parser = argparse.ArgumentParser()
    parser.add_argument("-f", dest="locustfile")
    parser.add_argument("--host", default="")
    add_options(parser)
    # What Locust's form leaves in parsed_options: text, as typed.
    options = parser.parse_args(["-f", "lf.py", "--deployment", "agg-dp1", "--clients", "3", "--trials", "2", "--no-stream"])

    argv = headless_argv(options)

    assert argv[:3] == ["-f", "lf.py", "--headless"]
    again = parser.parse_args([a for a in argv if a != "--headless"])
    assert vars(again) == vars(options)
    assert "--host" not in argv and "--failure" not in argv  # defaults are left to the defaults
