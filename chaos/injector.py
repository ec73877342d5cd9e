"""Inject a failure on schedule: a timer per injection, started when the clients start.

Each injection sleeps until its absolute offset on the run's clock (never a relative sleep
after other work), resolves its targets at that moment, signals them, and writes one event
per process with the scheduled and actual time, pid, signal and outcome.
"""

import logging
import os
import signal

import gevent

from chaos.models import Failure, Injection
from chaos.targets import resolve
from deployments.launcher import Deployment
from faultsuite.clock import RunClock
from reports.events import EventLog

__all__ = ["FaultScheduler"]

log = logging.getLogger(__name__)


class FaultScheduler:
    """Runs one failure's injections against a launched deployment."""

    def __init__(self, name: str, failure: Failure, deployment: Deployment, events: EventLog, clock: RunClock):
        self.name = name
        self.failure = failure
        self.deployment = deployment
        self.events = events
        self.clock = clock
        self._scheduled: list[tuple[float, gevent.Greenlet]] = []

    def start(self, origin_offset_s: float) -> None:
        """Schedule every injection at `origin_offset_s + at_s` on the run clock."""
        for injection in self.failure.injections:
            at = origin_offset_s + injection.at_s
            self._scheduled.append((at, gevent.spawn(self._run, injection, at)))

    def stop(self) -> None:
        gevent.killall([greenlet for _, greenlet in self._scheduled])
        self._scheduled = []

    def next_fault_in_s(self) -> float | None:
        """Seconds until the next pending injection, None when none is pending."""
        pending = [at for at, greenlet in self._scheduled if not greenlet.dead]
        return None if not pending else max(0.0, min(pending) - self.clock.offset())

    def _run(self, injection: Injection, scheduled_offset_s: float) -> None:
        gevent.sleep(max(0.0, scheduled_offset_s - self.clock.offset()))
        self.inject(injection, scheduled_offset_s)

    def inject(self, injection: Injection, scheduled_offset_s: float | None = None) -> None:
        resolution = resolve(self.deployment, injection)
        target = injection.target
        if not resolution.targets:
            log.warning("failure %s not applicable: %s", self.name, resolution.not_applicable)
            self.events.emit(
                "not_applicable",
                component=target.role,
                signal=injection.signal,
                outcome="not applicable",
                scheduled_offset_s=scheduled_offset_s,
                detail=f"failure {self.name}: {resolution.not_applicable}",
            )
            return
        sig = signal.Signals[injection.signal]
        for chosen in resolution.targets:
            try:
                if chosen.scope == "group":
                    os.killpg(chosen.pid, sig)
                else:
                    os.kill(chosen.pid, sig)
                outcome = "delivered"
            except ProcessLookupError:
                outcome = "process gone"
            self.events.emit(
                "fault",
                component=chosen.replica.role,
                replica=chosen.replica.index,
                pid=chosen.pid,
                signal=injection.signal,
                outcome=outcome,
                scheduled_offset_s=scheduled_offset_s,
                detail=f"failure {self.name}: " + (f"{chosen.child} child" if chosen.child else "process group"),
            )
