"""The web UI, whose Start launches and kills processes, listens on loopback unless told."""

import subprocess
import sys
import time

import psutil
import pytest

from deployments.ports import free_port
from tests.e2e.harness import LOCUSTFILE

pytestmark = pytest.mark.e2e


def test_the_web_ui_listens_only_on_loopback_by_default(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--web-port", str(port)],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        listening: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not listening:
            listening = [c.laddr.ip for c in psutil.Process(proc.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
            time.sleep(0.2)

        assert listening == ["127.0.0.1"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
