"""Helpers for tests that launch a deployment in the test process itself."""

import time
from pathlib import Path

import gevent
import psutil

from deployments.launcher import Deployment
from deployments.models import DeploymentSpec
from faultsuite.clock import RunClock
from reports.events import EventLog

__all__ = ["EVENT_TIMEOUT_S", "eventually", "is_running", "launched"]

EVENT_TIMEOUT_S = 5.0


def launched(spec: DeploymentSpec, run_dir: Path, finalizer) -> Deployment:
    """`spec` up and ready; `finalizer` registers its teardown before anything starts."""
    events = EventLog(run_dir / "events.csv", RunClock())
    deployment = Deployment(spec, run_dir, events)
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
