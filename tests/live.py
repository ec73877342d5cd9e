"""Helpers for tests that launch a deployment in the test process itself."""

import subprocess
import time
from pathlib import Path

import gevent
import psutil

from deployments.launcher import LaunchedDeployment
from deployments.models import DeploymentSpec
from faultsuite.clock import RunClock
from faultsuite.events import EventLog

__all__ = ["EVENT_TIMEOUT_S", "STUB_ENDPOINT_SCRIPT", "end_started", "eventually", "is_running", "launched"]

EVENT_TIMEOUT_S = 5.0

# Scripts are command templates, so they hold no braces (a brace is a placeholder).
#: Answers any GET or POST with `200 []`: a ready probe and the launcher's warm-up request.
STUB_ENDPOINT_SCRIPT = """\
import http.server, sys
class Stub(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'[]')
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), Stub).serve_forever()
"""


def launched(spec: DeploymentSpec, run_dir: Path, finalizer) -> LaunchedDeployment:
    """`spec` up and ready; `finalizer` registers its teardown before anything starts."""
    events = EventLog(run_dir / "events.csv", RunClock())
    deployment = LaunchedDeployment(spec, run_dir, events)
    finalizer(events.close)
    finalizer(deployment.down)
    deployment.up()
    return deployment


def eventually(check, timeout_s: float = EVENT_TIMEOUT_S) -> bool:
    """Whether `check()` becomes true within `timeout_s`, polling cooperatively."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        gevent.sleep(0.02)
    return bool(check())


def is_running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def end_started(started: list[subprocess.Popen], grace_s: float = 5) -> None:
    """End processes this test started, by pid: SIGTERM (so a parent can end its own
    children), then SIGKILL after `grace_s`."""
    for popen in started:
        if popen.poll() is None:
            popen.terminate()
        try:
            popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
