"""The same run started from Locust's web UI: options in the form, Start launches the deployment."""

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from deployments.ports import free_port
from tests.e2e.harness import (
    LOCUSTFILE,
    kill_tagged,
    tagged_environment,
    tagged_processes,
)

pytestmark = pytest.mark.e2e

SUITE_OPTIONS = ("deployment", "failure", "fault_at", "clients", "requests_per_client", "request_timeout", "sla_latency", "results_dir")


def wait_for(check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return None


@pytest.fixture
def web_ui(tmp_path):
    port = free_port()
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--web-host", "127.0.0.1", "--web-port", str(port)],
        cwd=tmp_path,
        env=tagged_environment(tag),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def page() -> str | None:
        try:
            with urllib.request.urlopen(base + "/", timeout=2) as response:
                return response.read().decode()
        except OSError:
            return None

    html = wait_for(page, 30)
    try:
        yield base, html, tag, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        kill_tagged(tag)


def test_the_suite_options_appear_in_the_web_ui_form(web_ui):
    _, html, _, _ = web_ui
    assert html is not None
    for option in SUITE_OPTIONS:
        assert f'"{option}": {{' in html, option


def test_start_in_the_web_ui_launches_runs_and_tears_down(web_ui, tmp_path):
    base, _, tag, ui_pid = web_ui
    run_dir = tmp_path / "ui-run"
    form = {
        "user_count": "1",
        "spawn_rate": "1",
        "host": "",
        "deployment": "agg-dp1",
        "failure": "decode_worker",
        "clients": "2",
        "requests_per_client": "8",
        "fault_at": "1",
        "results_dir": str(run_dir),
    }
    request = urllib.request.Request(base + "/swarm", data=urllib.parse.urlencode(form).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["success"] is True
    summary_file = wait_for(lambda: (run_dir / "summary.json").is_file() and run_dir / "summary.json", 90)
    assert summary_file, "the run never wrote its summary"
    summary = json.loads(summary_file.read_text())
    assert summary["Failure"] == "decode_worker"
    assert summary["Success"] + summary["Failed"] == 16
    # The UI process stays up between runs; everything it launched must be gone.
    assert wait_for(lambda: not [p for p in tagged_processes(tag) if p.pid != ui_pid], 10)
