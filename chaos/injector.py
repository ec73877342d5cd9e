"""Inject a failure on schedule: a timer per injection, started when the clients start.

Each firing sleeps until its absolute offset on the run's clock (never a relative sleep
after other work), resolves its targets at that moment, and hands them to its kind, which
writes one event per process with the scheduled and actual time, pid, signal and outcome,
and then one `proof` event per delivered fault (`chaos.proof`).
A `repeat` fires the same injection again and again: each time at whatever now runs there.

An injection on a role that a fault agent on another host owns (`Deployment.agent_of`) is
handed to that agent instead (`chaos.agents`), or recorded `not_delivered` when it cannot be.
Every event says which host acted, and which agent there.
"""

import logging
import socket

import gevent

from chaos.agents import FaultAgents
from chaos.context import FaultContext
from chaos.models import Failure, Injection
from chaos.proof import Proofs
from chaos.targets import resolve
from deployments.interface import Deployment
from faultsuite.clock import RunClock
from faultsuite.events import EventKind, FaultOutcome

__all__ = ["FaultScheduler"]

log = logging.getLogger(__name__)


class FaultScheduler:
    """Runs one failure's injections against a deployment, through its interface."""

    def __init__(self, name: str, failure: Failure, deployment: Deployment, clock: RunClock, agents: FaultAgents | None = None, agent: str = ""):
        """`agents` carries injections to the fault agents of other hosts (None: this run has
        none); `agent` names this process when it is one."""
        self.name = name
        self.failure = failure
        self.deployment = deployment
        self.clock = clock
        self.agents = agents
        self.agent = agent
        self.host = socket.gethostname()
        self.proofs = Proofs()
        self._scheduled: list[tuple[float, gevent.Greenlet]] = []

    def start(self, origin_offset_s: float) -> None:
        """Schedule every firing of every injection at `origin_offset_s + at` on the run clock."""
        for injection in self.failure.injections:
            for at_s in injection.schedule():
                at = origin_offset_s + at_s
                self._scheduled.append((at, gevent.spawn(self._run, injection, at)))

    def stop(self) -> None:
        """Cancel what has not fired, end what is under way (a hang is continued, a link
        healed), and decide every proof still waiting."""
        gevent.killall([greenlet for _, greenlet in self._scheduled])
        self._scheduled = []
        self.proofs.settle()
        if self.agents is not None:
            self.agents.stop()

    def fire(self, injection: Injection, scheduled_offset_s: float | None) -> None:
        """Apply `injection` now, in the background, as one scheduled at `scheduled_offset_s`
        (a fault agent's, sent by the runner when it was due); `stop` ends it like the others."""
        self._scheduled.append((self.clock.offset(), gevent.spawn(self.inject, injection, scheduled_offset_s)))

    def next_fault_in_s(self) -> float | None:
        """Seconds until the next pending injection, None when none is pending."""
        now = self.clock.offset()
        pending = [at for at, greenlet in self._scheduled if not greenlet.dead and at > now]
        return None if not pending else min(pending) - now

    def _not_applicable(self, injection: Injection, outcome: FaultOutcome, why: str, scheduled_offset_s: float | None) -> None:
        """Log and record that `injection` could not act as asked: not at all, or on fewer
        targets than it asked for (`outcome`), and `why`."""
        log.warning("failure %s %s: %s", self.name, outcome, why)
        self.deployment.events.emit(
            EventKind.NOT_APPLICABLE,
            component=injection.target.role,
            signal=injection.signal_name,
            outcome=outcome,
            scheduled_offset_s=scheduled_offset_s,
            detail=f"failure {self.name}: {why}",
            failure=self.name,
            agent=self.agent,
            host=self.host,
        )

    def _run(self, injection: Injection, scheduled_offset_s: float) -> None:
        gevent.sleep(max(0.0, scheduled_offset_s - self.clock.offset()))
        self.inject(injection, scheduled_offset_s)

    def inject(self, injection: Injection, scheduled_offset_s: float | None = None) -> None:
        """Resolve the injection's targets now and apply its kind to them; or hand it to the
        fault agent that owns its role."""
        agent = self.deployment.agent_of(injection.target.role)
        if agent is not None:
            self._send_to_agent(agent, injection, scheduled_offset_s)
            return
        resolution = resolve(self.deployment, injection)
        if not resolution.targets:
            self._not_applicable(injection, FaultOutcome.NOT_APPLICABLE, resolution.not_applicable, scheduled_offset_s)
            return
        found = len(resolution.targets)
        if found < injection.count and not injection.count_is_a_ceiling:
            # It still fires, on what there is; but the run must not pass for what was asked.
            what = f"{injection.count} {injection.target.describe()} asked for, {found} found; {found} hit"
            self._not_applicable(injection, FaultOutcome.FEWER_TARGETS, what, scheduled_offset_s)
        injection.apply(resolution.targets, FaultContext(self.name, self.deployment, scheduled_offset_s, self.proofs, self.agent, self.host))

    def _send_to_agent(self, agent: str, injection: Injection, scheduled_offset_s: float | None) -> None:
        """Hand the injection to `agent`, whose events come back through `agents`; or record
        why it could not be."""
        why = "this run has no fault agents (they are Locust workers: run with --master)" if self.agents is None else None
        if why is None:
            why = self.agents.send(agent, self.name, injection, scheduled_offset_s)
        if why is None:
            log.info("failure %s: %s on %s handed to fault agent %s", self.name, injection.action, injection.target.describe(), agent)
            return
        log.warning("failure %s not delivered: fault agent %s not reached: %s", self.name, agent, why)
        self.deployment.events.emit(
            EventKind.FAULT,
            component=injection.target.role,
            signal=injection.signal_name,
            outcome=FaultOutcome.NOT_DELIVERED,
            scheduled_offset_s=scheduled_offset_s,
            detail=f"failure {self.name}: fault agent {agent} not reached: {why}",
            failure=self.name,
            child=injection.target.child or "",
            agent=agent,
        )
