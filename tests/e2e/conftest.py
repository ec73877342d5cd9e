"""Fixtures shared by the end-to-end tests."""

import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from deployments.ports import free_port


@pytest.fixture
def running_graph():
    """agg-dp1's processes started by hand: a deployment the suite did not launch."""
    worker, processor, frontend = free_port(), free_port(), free_port()
    commands = [
        ["deployments.sim.worker", "--port", str(worker), "--startup-delay-s", "0.2"],
        ["deployments.sim.processor", "--port", str(processor), "--workers", f"http://127.0.0.1:{worker}"],
        ["deployments.sim.frontend", "--port", str(frontend), "--processors", f"http://127.0.0.1:{processor}"],
    ]
    procs = [
        subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for argv in commands
    ]
    endpoint = f"http://127.0.0.1:{frontend}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(endpoint + "/health", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    try:
        yield endpoint, procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
