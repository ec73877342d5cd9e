"""Attach to a deployment someone else runs (`kind: attach`): find its processes, never own them.

The file's selectors are regexes over command lines, searched across this host, because these
processes are not the suite's children. That search is bounded on purpose:

- only processes run by the same user as the suite;
- never the suite's own process or its ancestors (whose command lines may quote a selector);
- a selector with `count` must match exactly that many processes, else attaching fails.

Chaos signals a matched process by its pid alone, never its process group: a stack started by
hand often shares one group with the shell or script that started it. Nothing is torn down.

A `links` entry (caller `client`) puts the fault proxy between the clients and the endpoint:
the clients are given the proxy's address, and network faults act there, on the suite's own
side of the wire.

Roles are re-matched at most every `RESCAN_S` whenever someone looks (chaos, the samplers, the
web UI), so a process the owner restarts is found again: it becomes a new replica, with an
`attach` event, and a matched process that is gone gets an `exit` event.

A role that `hosts:` gives a fault agent is another machine's: it is neither checked nor
matched here, and its faults go to that agent (`agent_of`, `locustfiles.fault_agent`).
"""

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from deployments.interface import Deployment, Replica, TrackedProcess
from deployments.inventory import ProcessInventory
from deployments.links import LinkProxy, LinkRoute
from deployments.models import LINK_CLIENT, AttachSpec
from deployments.ports import free_port
from deployments.probes import check_answers
from deployments.warmup import warm_up
from faultsuite.errors import ConfigError
from faultsuite.events import EventKind, EventLog
from faultsuite.layout import RunLayout

__all__ = ["AttachedDeployment", "AttachedProcess", "AttachedReplica", "check_attachable", "matching_processes"]

RESCAN_S = 0.5


@dataclass
class AttachedProcess:
    """A process of someone else's deployment, pinned by pid and start time (psutil's
    identity: the start time since boot, which no change of the system clock moves)."""

    process: psutil.Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        try:
            return self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def group_members(self) -> list[psutil.Process]:
        """The process and its descendants (not its process group, which is not ours)."""
        if not self.alive():
            return []
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@dataclass
class AttachedReplica:
    """One matched process of a role; the attributes the suite reads of a launched replica."""

    role: str
    index: int
    process: AttachedProcess
    state: str = "ready"
    restarts: int = 0

    @property
    def name(self) -> str:
        return f"{self.role}_{self.index}"

    @property
    def pid(self) -> int:
        return self.process.pid


def _excluded_pids() -> set[int]:
    """The suite's own process and its ancestors."""
    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.parents())}


def matching_processes(pattern: str) -> list[psutil.Process]:
    """This user's processes whose command line matches `pattern`, the suite and its ancestors
    excepted, oldest first."""
    regex = re.compile(pattern)
    uid, excluded = os.getuid(), _excluded_pids()
    found = []
    for proc in psutil.process_iter(["pid", "uids", "cmdline", "create_time"]):
        info = proc.info
        if info["pid"] in excluded or info["uids"] is None or info["uids"].real != uid:
            continue
        if regex.search(" ".join(info["cmdline"] or [])):
            found.append(proc)
    return sorted(found, key=lambda p: (p.info["create_time"], p.pid))


def check_attachable(spec: AttachSpec, source: str) -> None:
    """ConfigError in one line, naming `source` (the file), unless the endpoint answers and
    every selector matches (exactly `count` processes, where given)."""
    check_answers(spec.endpoint, f"{source}: endpoint {spec.endpoint}")
    for role, selector in spec.processes.items():
        found = matching_processes(selector.match)
        if not found:
            raise ConfigError(f"{source}: processes.{role}: no process of this user matches {selector.match!r}")
        if selector.count is not None and len(found) != selector.count:
            pids = ", ".join(str(p.pid) for p in found)
            raise ConfigError(f"{source}: processes.{role}: expected {selector.count} processes matching {selector.match!r}, found {len(found)} (pids {pids})")


class AttachedDeployment(Deployment):
    """A running deployment found by its selectors, behind the same interface as a launched one."""

    #: A foreign process's group may hold its owner's shell: only pids are signalled.
    signals_groups = False

    def __init__(self, spec: AttachSpec, events: EventLog, source: str = "", run_dir: Path | None = None):
        """`run_dir` holds the fault proxy's logs; it is needed when the file declares a link."""
        self.spec = spec
        self.local = spec.here()  # the roles this host matches: those no fault agent owns
        self.events = events
        self.source = source or spec.name  # the file, for error messages
        self._replicas: list[AttachedReplica] = []
        self._scanned_at = float("-inf")
        self.inventory = ProcessInventory(self)
        if spec.links:
            if run_dir is None:
                raise ValueError("an attached deployment with links needs a run directory for the fault proxy's logs")
            self.links = self._link_proxy(run_dir)

    def _link_proxy(self, run_dir: Path) -> LinkProxy:
        """One route, from a loopback port to the endpoint's host and port."""
        parts = urlsplit(self.spec.endpoint)
        host = "127.0.0.1"
        route = LinkRoute(LINK_CLIENT, self.spec.links[0].callee, 0, free_port(host), parts.hostname or host, parts.port or 80)
        return LinkProxy([route], host, free_port(host), RunLayout(run_dir).component_logs("fault_proxy"))

    @property
    def endpoint(self) -> str:
        """The file's endpoint, or the fault proxy's address in front of it."""
        if self.links is None:
            return self.spec.endpoint
        parts = urlsplit(self.spec.endpoint)
        return parts._replace(netloc=f"{self.links.host}:{self.links.routes[0].listen_port}").geturl()

    @property
    def metrics_url(self) -> str | None:
        return self.spec.metrics.url if self.spec.metrics else None

    def agent_of(self, role: str) -> str | None:
        return self.spec.agent_of(role)

    # -- processes -------------------------------------------------------------------------

    @property
    def replicas(self) -> list[Replica]:
        """Every matched process, live or gone, re-matched at most every RESCAN_S."""
        if time.monotonic() - self._scanned_at >= RESCAN_S:
            self.rescan()
        return list(self._replicas)

    def snapshot(self) -> list[TrackedProcess]:
        return self.inventory.snapshot()

    def rescan(self) -> None:
        """Match every selector now: new processes become replicas, vanished ones are marked."""
        self._scanned_at = time.monotonic()
        for replica in self._replicas:
            if replica.state == "ready" and not replica.process.alive():
                replica.state = "exited"
                self.events.emit(EventKind.EXIT, component=replica.role, replica=replica.index, pid=replica.pid, outcome="gone", detail="attached process no longer runs")
        known = {r.process.process for r in self._replicas}
        for role, selector in self.local.processes.items():
            for proc in matching_processes(selector.match):
                try:
                    attached = AttachedProcess(proc)
                except psutil.NoSuchProcess:
                    continue
                if attached.process in known:
                    continue
                index = len([r for r in self._replicas if r.role == role])
                self._replicas.append(AttachedReplica(role, index, attached))
                self.events.emit(EventKind.ATTACH, component=role, replica=index, pid=attached.pid, outcome="matched", detail=" ".join(proc.info["cmdline"] or [])[:200])

    # -- lifecycle -------------------------------------------------------------------------

    def up(self, warmup_timeout_s: float = 30.0) -> float | None:
        """Check (`check_attachable`), match every role's processes, send the warm-up request.
        Nothing is launched, so there is no startup time: None."""
        check_attachable(self.local, self.source)
        self.rescan()
        if self.links is not None:
            self.links.start(dict(os.environ))
            self.events.emit(EventKind.LAUNCH, component="fault_proxy", pid=self.links.pid, outcome="started", detail=f"in front of {self.spec.endpoint}")
        try:
            warm_up(self.endpoint, self.spec, self.events, warmup_timeout_s)
        except BaseException:
            self.down()
            raise
        return None

    def down(self) -> None:
        """Nothing of the deployment's to tear down, its processes are their owner's: only
        the fault proxy, when the suite started one."""
        if self.links is not None:
            self.links.stop()
