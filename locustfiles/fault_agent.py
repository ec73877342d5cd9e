"""Fault agents: Locust workers that also apply the faults of roles on their own host.

    runner:  locust -f locustfiles/fault_tolerance.py --headless --master --expect-workers N \
                    --deployment by-hand.yaml --failure decode_worker [run options]
    agent:   locust -f locustfiles/fault_tolerance.py --worker --master-host HOST --fault-agent gpu-node-1

The attach file's `hosts:` says which agent owns which roles (`hosts: {gpu-node-1:
[decode_worker]}`). The runner (the master) matches only the other roles on its own host; when
a fault on an agent's role is due, its scheduler hands the injection to that agent
(`chaos.agents.FaultAgents`), which matches the role's selectors on its host, applies the fault
there with the suite's own chaos code, and sends back every event, stamped on the run's clock
and naming the agent and its host. The runner writes them into the run's events.csv.

    agent  → runner  ft_agent        {"agent": str, "host": str}       once, when the worker starts
    runner → agent   ft_fault        {"failure": str, "injection": dict, "scheduled_offset_s": float | None,
                                      "deployment": AttachSpec as a dict, "wall_origin": float}
    agent  → runner  ft_fault_event  {"event": Event fields}            each event of a fault, as it happens
    runner → agent   ft_fault_stop   {}                                 the run ends: continue hangs, settle proofs
    agent  → runner  ft_fault_stopped {}                                done: its last events went before this

An agent that never said `ft_agent`, or whose worker has left the run or stopped answering
Locust's heartbeats, cannot take its fault: the runner records it `not_delivered`, naming why.
Agents are told their faults at the moment they are due, so their delay is one message's.
"""

import logging
import re
import socket
import sys
import time
from dataclasses import asdict
from enum import Enum

import gevent
from locust import events
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from chaos.injector import FaultScheduler
from chaos.models import Failure, Injection, parse_injection
from deployments.attached import AttachedDeployment
from deployments.models import AGENT_NAME, AttachSpec
from faultsuite.clock import RunClock
from faultsuite.events import Event, EventKind, TargetScope, log_line
from locustfiles.run import controller_of

__all__ = ["AgentRegistry", "ForwardedEvents"]

log = logging.getLogger(__name__)

AGENT, FAULT, FAULT_EVENT, FAULT_STOP, FAULT_STOPPED = "ft_agent", "ft_fault", "ft_fault_event", "ft_fault_stop", "ft_fault_stopped"
#: How long the runner waits for its agents to end what they have under way, at the run's end.
STOP_TIMEOUT_S = 10.0


# -- the runner's end -------------------------------------------------------------------------


class AgentRegistry:
    """On the master: the agents that said hello, and the way faults go to them and events back.
    A run's scheduler reaches it as its `chaos.agents.FaultAgents`."""

    def __init__(self, runner: MasterRunner):
        self.runner = runner
        self.agents: dict[str, tuple[str, str]] = {}  # agent name -> (its worker's node id, its host)
        self.stopping: set[str] = set()  # the node ids of agents told to stop, until they say so
        #: The run the agents' events belong to: the last one that sent them a fault. It is
        #: stopping, no longer the controller's current one, when the last events come in.
        self.run = None
        runner.register_message(AGENT, self._on_agent)
        runner.register_message(FAULT_EVENT, self._on_event)
        runner.register_message(FAULT_STOPPED, lambda environment, msg: self.stopping.discard(msg.node_id))

    def _on_agent(self, environment, msg) -> None:
        name, host = msg.data["agent"], msg.data["host"]
        known = self.agents.get(name)
        if known is not None and known[0] != msg.node_id and self._unreachable(known[0]) is None:
            log.error("two workers call themselves fault agent %s (on %s and %s); the first keeps the name", name, known[1], host)
            return
        self.agents[name] = (msg.node_id, host)
        log.info("fault agent %s joined from %s (worker %s)", name, host, msg.node_id)

    def _unreachable(self, node_id: str) -> str | None:
        """Why the worker `node_id` cannot take a message now; None when it can."""
        try:
            node = self.runner.clients[node_id]
        except KeyError:
            return "has left the run"
        if node.state == STATE_MISSING:
            return "stopped answering Locust's heartbeats"
        return None

    def send(self, agent: str, failure_name: str, injection: Injection, scheduled_offset_s: float | None) -> str | None:
        run = controller_of(self.runner.environment).current
        if agent not in self.agents:
            joined = ", ".join(sorted(self.agents)) or "none"
            return f"not connected (agents connected: {joined})"
        node_id, host = self.agents[agent]
        why = self._unreachable(node_id)
        if why is not None:
            return f"its worker on {host} {why}"
        if run is None or run.deployment is None or not isinstance(run.deployment.spec, AttachSpec):
            return "no attached deployment to act on"  # only an attach file names agents
        message = {
            "failure": failure_name,
            "injection": injection.model_dump(mode="json"),
            "scheduled_offset_s": scheduled_offset_s,
            "deployment": run.deployment.spec.owned_by(agent).model_dump(mode="json"),
            "wall_origin": run.clock.wall_origin,
        }
        self.runner.send_message(FAULT, message, client_id=node_id)
        self.run = run
        return None

    def stop(self) -> None:
        """Tell every reachable agent to end its faults, and wait (`STOP_TIMEOUT_S` at most)
        until each says it has: its events, sent before, are then written."""
        self.stopping = {node_id for node_id, _ in self.agents.values() if self._unreachable(node_id) is None}
        for node_id in self.stopping:
            self.runner.send_message(FAULT_STOP, {}, client_id=node_id)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.stopping and time.monotonic() < deadline:
            gevent.sleep(0.02)
        if self.stopping:
            log.warning("%d fault agent(s) did not confirm the end of their faults within %.0f s", len(self.stopping), STOP_TIMEOUT_S)

    def _on_event(self, environment, msg) -> None:
        run = self.run
        fields = dict(msg.data["event"])
        if run is None:
            log.warning("an event of fault agent %s arrived before any fault was sent: %s", fields.get("agent"), fields)
            return
        kind = EventKind(fields.pop("kind"))
        at = (fields.pop("time"), fields.pop("offset_s"))
        if fields["scope"] is not None:
            fields["scope"] = TargetScope(fields["scope"])
        run.events.emit(kind, at, **fields)


# -- an agent's end -------------------------------------------------------------------------


class ForwardedEvents:
    """An agent's event log: each event is stamped here, on the run's clock, with the agent and
    its host, and sent to the runner, which writes it. What an `EventLog` offers chaos."""

    def __init__(self, runner: WorkerRunner, clock: RunClock, agent: str, host: str):
        self.runner, self.clock, self.agent, self.host = runner, clock, agent, host

    def emit(self, kind: EventKind, at: tuple[float, float] | None = None, **attrs) -> Event:
        wall, offset = self.clock.stamp() if at is None else at
        event = Event(time=wall, offset_s=offset, kind=kind, **{"agent": self.agent, "host": self.host, **attrs})
        fields = {name: value.value if isinstance(value, Enum) else value for name, value in asdict(event).items()}
        self.runner.send_message(FAULT_EVENT, {"event": fields})
        log.info("%s", log_line(event))
        return event


class _Agent:
    """On a worker started with `--fault-agent NAME`: applies the faults the runner sends."""

    def __init__(self, runner: WorkerRunner, name: str):
        self.runner = runner
        self.name = name
        self.host = socket.gethostname()
        self.schedulers: list[FaultScheduler] = []
        self.deployments: dict[float, AttachedDeployment] = {}
        runner.register_message(FAULT, self._on_fault)
        runner.register_message(FAULT_STOP, self._on_stop)
        # A worker that quits without the runner's word (its master gone) ends its faults too:
        # no process is left stopped by a hang nobody will continue.
        runner.environment.events.quitting.add_listener(lambda **_: self._stop_all())
        runner.send_message(AGENT, {"agent": name, "host": self.host})
        log.info("fault agent %s on %s: waiting for faults", name, self.host)

    def _on_fault(self, environment, msg) -> None:
        data = msg.data
        clock = RunClock.joined(data["wall_origin"])
        # One view of the deployment per run (its clock's origin), so that a process already
        # matched is not announced again at every fault.
        deployment = self.deployments.get(data["wall_origin"])
        if deployment is None:
            spec = AttachSpec.model_validate(data["deployment"])
            events = ForwardedEvents(self.runner, clock, self.name, self.host)
            deployment = self.deployments[data["wall_origin"]] = AttachedDeployment(spec, events, source=f"fault agent {self.name}")
        injection = parse_injection(data["injection"], 0)
        scheduler = FaultScheduler(data["failure"], Failure(injections=[injection]), deployment, clock, agent=self.name)
        self.schedulers.append(scheduler)
        scheduler.fire(injection, data["scheduled_offset_s"])

    def _on_stop(self, environment, msg) -> None:
        self._stop_all()
        self.runner.send_message(FAULT_STOPPED, {})

    def _stop_all(self) -> None:
        schedulers, self.schedulers = self.schedulers, []
        gevent.joinall([gevent.spawn(s.stop) for s in schedulers])


_agents: dict[object, "AgentRegistry | _Agent"] = {}  # by runner


def registry_of(runner) -> AgentRegistry | None:
    """The master's agent registry; None in any other process."""
    registry = _agents.get(runner)
    return registry if isinstance(registry, AgentRegistry) else None


def _bad_agent_option(name: str, runner) -> str | None:
    """Why `--fault-agent NAME` cannot be, in this process; None when it can (or is not given)."""
    if not name:
        return None
    if not isinstance(runner, WorkerRunner):
        return "--fault-agent: only a Locust worker (--worker) is a fault agent; the master sends it the faults of its roles"
    if not re.fullmatch(AGENT_NAME, name):
        return f"--fault-agent: {name!r} is not an agent name (letters, digits, '.', '-' and '_', as a host name)"
    return None


@events.init.add_listener
def _connect(environment, runner=None, **_kwargs) -> None:
    """The master listens for agents from the start; a worker with --fault-agent says hello.
    A bad --fault-agent is one line and exit code 2."""
    name = getattr(environment.parsed_options, "fault_agent", "") or ""
    why = _bad_agent_option(name, runner)
    if why is not None:
        sys.stderr.write(f"error: {why}\n")
        sys.stderr.flush()
        sys.exit(2)
    if isinstance(runner, MasterRunner):
        _agents[runner] = AgentRegistry(runner)
    elif name:
        _agents[runner] = _Agent(runner, name)
