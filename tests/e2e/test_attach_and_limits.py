"""Runs that launch nothing, that hit their time limit, and whose launch fails."""

import json
import time

import pytest

from tests.e2e.harness import run_locust

pytestmark = pytest.mark.e2e

BROKEN_DEPLOYMENT = """\
name: broken
model: m
endpoint: "{urls[frontend]}"
components:
  - name: frontend
    command: ["{python}", "-c", "import sys; print('loading weights failed', file=sys.stderr); sys.exit(3)"]
    ready: {http: "http://{host}:{port}/health"}
"""


def test_host_without_deployment_sends_load_to_the_running_endpoint_and_launches_nothing(tmp_path, running_graph):
    endpoint, procs = running_graph
    result = run_locust(tmp_path, "--host", endpoint, "--clients", "2", "--requests-per-client", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = result.summary
    assert (summary["Failure"], summary["Success"], summary["Failed"]) == ("none", 6, 0)
    assert summary["Startup Time"] is None
    assert not [e for e in result.events if e["kind"] in ("launch", "fault")]
    assert all(proc.poll() is None for proc in procs)


def test_the_run_stops_at_max_run_time_with_what_it_recorded(tmp_path):
    started = time.monotonic()
    result = run_locust(tmp_path, "--deployment", "agg-dp1", "--failure", "none", "--clients", "2", "--requests-per-client", "1000", "--max-run-time", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    assert 0 < len(result.records) < 2000
    assert result.summary["Success"] == len(result.records)
    assert time.monotonic() - started < 60


def test_a_deployment_that_fails_to_launch_exits_1_with_one_line_and_still_writes_the_summary(tmp_path):
    deployment = tmp_path / "broken.yaml"
    deployment.write_text(BROKEN_DEPLOYMENT)
    result = run_locust(tmp_path, "--deployment", str(deployment), "--failure", "none")
    assert result.returncode == 1
    last_line = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last_line.startswith("error: component frontend exit code 3 during startup: loading weights failed")
    assert "Traceback" not in result.stderr
    assert json.loads((result.run_dir / "summary.json").read_text())["Success"] == 0


def test_locust_csv_output_keeps_working_beside_the_suite_files(tmp_path, running_graph):
    endpoint, _ = running_graph
    result = run_locust(tmp_path, "--host", endpoint, "--clients", "2", "--requests-per-client", "3", "--csv", str(tmp_path / "locust"))
    assert result.returncode == 0, result.stderr[-2000:]
    stats = (tmp_path / "locust_stats.csv").read_text().splitlines()
    chat = next(line for line in stats if line.startswith("POST,chat/completions,"))
    assert chat.split(",")[2:4] == ["6", "0"]  # request count, failure count
    assert (result.run_dir / "summary.json").is_file()


def test_deployment_host_is_where_the_launched_graph_listens_and_is_reached(tmp_path):
    # `localhost` resolves to 127.0.0.1 here: the address travels through every component's
    # command line and the endpoint, while the traffic stays on loopback.
    result = run_locust(tmp_path, "--deployment", "agg-dp1", "--failure", "none", "--clients", "1", "--requests-per-client", "2", "--deployment-host", "localhost")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.summary["Success"] == 2
    log = (result.run_dir / "test.log.txt").read_text()
    assert "ready in" in log and " at http://localhost:" in log
