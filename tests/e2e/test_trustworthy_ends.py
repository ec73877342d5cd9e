"""Runs that end other than as planned still tell the truth: a launch that fails is exit 1
and meets no expectation; a signal ends the run cleanly with its reports and exit 128 + N; a
disk that fills stops the load and says from which request on records were lost."""

import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from deployments.ports import free_port
from faultsuite.records import read_records
from tests.e2e.harness import (
    REPO,
    as_if_interactive,
    kill_tagged,
    locust_command,
    run_locust,
    start_locust,
    tagged_environment,
    wait_for_no_tagged_processes,
    web_ui_running,
)

pytestmark = pytest.mark.e2e

NO_ORPHANS_WITHIN_S = 15
EXPECT = ["--expect", "no_errors; failed <= 0"]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def graph_with_one_port(tmp_path) -> str:
    """agg-dp1 squeezed into a port range of one port, for its three components."""
    port = free_port()
    path = tmp_path / "squeezed.yaml"
    path.write_text(f"extends: agg-dp1\nname: squeezed\nport_range: [{port}, {port}]\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(lambda tmp_path: ["--deployment", graph_with_one_port(tmp_path)], id="port range too small"),
        pytest.param(lambda _tmp: ["--deployment", "agg-dp1", "--deployment-host", "192.0.2.1"], id="an address not of this machine"),
    ],
)
def test_a_launch_that_fails_is_exit_1_with_one_error_line_and_no_expectation_met(tmp_path, options):
    result = run_locust(tmp_path, *options(tmp_path), *EXPECT)

    assert (result.returncode, len(error_lines(result.stderr)), "Traceback" in result.stderr) == (1, 1, False), result.stderr[-3000:]
    assert "expectation failed: no_errors: failed (the run made no request" in result.stderr


def test_ctrl_c_while_launching_exits_130_and_the_summary_says_interrupted(tmp_path):
    proc, tag, run_dir = start_locust(tmp_path, "--deployment", "agg-dp4")
    try:
        events = run_dir / "events.csv"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (events.exists() and ",launch," in events.read_text()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr[-3000:]
        assert "Interrupted by SIGINT" in (run_dir / "summary.md").read_text()
        assert wait_for_no_tagged_processes(tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(tag)


def test_sigterm_mid_run_writes_every_report_exits_143_and_leaves_no_process(tmp_path):
    proc, tag, run_dir = start_locust(tmp_path, "--deployment", "agg-dp1", "--requests-per-client", "200")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(run_dir.glob("client_*.jsonl")):
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 143, stderr[-3000:]
        for name in ("summary.csv", "summary.md", "requests.csv", "report.html"):
            assert (run_dir / name).is_file(), name
        assert "Interrupted by SIGTERM" in (run_dir / "summary.md").read_text()
        assert wait_for_no_tagged_processes(tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(tag)


#: Bytes any one file of the run may hold: records outgrow it, run.json and events do not.
FILE_SIZE_LIMIT = 16 * 1024


def test_a_disk_that_fills_stops_the_load_says_so_once_and_leaves_a_readable_directory(tmp_path):
    """RLIMIT_FSIZE makes every write past the limit fail (EFBIG), as a full disk would."""
    run_dir = tmp_path / "run"
    clients, per_client = 2, 150  # about 30 KB of records per client: past the limit

    def limited_and_interactive():
        as_if_interactive()
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    done = subprocess.run(
        locust_command("--results-dir", str(run_dir), "--deployment", "agg-dp1", "--failure", "none",
                       "--clients", str(clients), "--requests-per-client", str(per_client), "--max-tokens", "2"),
        cwd=tmp_path, env=tagged_environment("disk-full"), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=240, preexec_fn=limited_and_interactive, check=False,
    )  # fmt: skip

    lost = [line for line in error_lines(done.stderr) if "records lost from request" in line]
    assert (done.returncode, len(lost), "Traceback" in done.stderr) == (1, 1, False), done.stderr[-3000:]
    assert "disk full" in lost[0]
    records = read_records(run_dir)
    assert 0 < len(records) < clients * per_client
    assert len({(r.client, r.seq) for r in records}) == len(records)  # no request sent twice
    rebuilt = subprocess.run([sys.executable, "-m", "reports", str(run_dir)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "records lost from request" in (run_dir / "summary.md").read_text()


def test_a_broken_failure_catalogue_is_one_error_line_naming_it(tmp_path):
    """A copy of the project whose chaos/failures.yaml is malformed."""
    copy = tmp_path / "project"
    for package in ("faultsuite", "locustfiles", "chaos", "deployments", "reports", "samplers", "gate"):
        shutil.copytree(REPO / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "chaos" / "failures.yaml").write_text("failures:\n  decode_worker: [unclosed\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(copy / "locustfiles" / "fault_tolerance.py"), "--headless", "--dry-run"],
        cwd=copy, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert (done.returncode, error_lines(done.stderr)[-1:], "Traceback" in done.stderr) == (
        2, [line for line in error_lines(done.stderr) if "failures.yaml: invalid YAML" in line][-1:], False,
    ), done.stderr[-3000:]  # fmt: skip
    assert "unrecognized arguments" not in done.stderr


def test_sigterm_to_the_web_ui_mid_run_writes_the_reports_and_exits_143(tmp_path):
    from tests.e2e.test_web_ui import post, swarm_form

    with web_ui_running(tmp_path) as (proc, base, tag):
        assert post(base, "/swarm", swarm_form("none", clients=2, requests_per_client=200))["success"] is True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(tmp_path.glob("results/agg-dp1/*/client_*.jsonl")):
            time.sleep(0.2)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        (run_dir,) = tmp_path.glob("results/agg-dp1/*")

        assert proc.returncode == 143, (tmp_path / "locust.err").read_text()[-3000:]
        assert "Interrupted by SIGTERM" in (run_dir / "summary.md").read_text()
        assert (run_dir / "report.html").is_file()
        assert wait_for_no_tagged_processes(tag, NO_ORPHANS_WITHIN_S) == []
