"""The one face every deployment shows the rest of the suite, launched or attached.

Chaos, the samplers and the web UI see a deployment only through `Deployment`:

- where it serves: `endpoint`, `metrics_url`, and the file it was made from (`spec`);
- what runs: `replicas` by role (each a `Replica`), and `snapshot()` of every process,
  orphans included (`TrackedProcess`);
- its life: `up()` and `down()`;
- what faults do to it: `fault_targets()` names the processes a fault on a role could reach,
  and `signal()` sends one of them a signal. A fault kind never signals a pid itself. Faults
  that are not signals are actions here too: `link_targets()` names the routes of a declared
  link (`deployments.links`), and `put_toxic()` and `heal_link()` act on one; `will_replace()`
  and `ready_replacement()` replace a replica (a rolling restart: the stop is a signal), and
  `hold_down()` keeps a killed one down for a given time.
  Processes on other hosts are new actions here, next to those;
- what a replica holds now, for choosing targets by state: `replica_metric()`; what its
  health probe says, to check it against what it serves: `replica_healthy()`.

Which class stands behind it is decided once, by `deployments.factory.open_deployment`.
"""

import logging
import os
import re
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import psutil

from deployments.links import LinkError, LinkProxy, LinkRoute
from deployments.models import AnySpec
from faultsuite.bounded_http import HttpError, fetch
from faultsuite.events import EventLog, FaultOutcome, TargetScope
from faultsuite.prometheus import series_totals

__all__ = ["Deployment", "FaultTarget", "LinkTarget", "ProcessSnapshots", "Replica", "ProcessHandle", "TrackedProcess"]

log = logging.getLogger(__name__)

#: A replica's metrics page larger than this is not read.
METRICS_PAGE_BYTES = 4 * 1024 * 1024


class ProcessHandle(Protocol):
    """A replica's current process, as the suite reads it."""

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def group_members(self) -> list[psutil.Process]:
        """The process and its live descendants, leader first."""
        ...


class Replica(Protocol):
    """One replica of a role, across its restarts (launched) or one matched process (attached)."""

    role: str
    index: int
    state: str
    restarts: int

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def process(self) -> ProcessHandle | None: ...


@dataclass(frozen=True)
class TrackedProcess:
    """One process of the deployment. `role` is "main" for a replica's own process, a child
    role of the deployment file ("engine") for a matching descendant, else "child"."""

    process: psutil.Process
    component: str
    replica: int
    role: str
    leader_pid: int  # the replica's leader when this process was seen: its process group id
    orphan: bool = False  # that leader is gone (killed alone, or replaced by a restart)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def instance(self) -> str:
        """`decode_worker_1`, as in the replica's log directory and events."""
        return f"{self.component}_{self.replica}"


class ProcessSnapshots(Protocol):
    """What the samplers read: the deployment's live processes now, orphans included."""

    def snapshot(self) -> list[TrackedProcess]: ...


@dataclass(frozen=True)
class FaultTarget:
    """One process a fault can reach: a replica's whole process group, its leader alone, or
    one child process (`child` names its role)."""

    replica: Replica
    pid: int
    scope: TargetScope
    child: str | None = None
    #: Why this one was chosen, when it was chosen by state (its reading), for the event.
    chosen_because: str = ""


@dataclass(frozen=True)
class LinkTarget:
    """One route of a declared link a network fault can reach; `pid` is the fault proxy's."""

    route: LinkRoute
    pid: int
    chosen_because: str = ""


class Deployment(ABC):
    """A deployment the suite runs against. Subclasses set `spec` and `events`, say whether
    a replica's process group is theirs to signal (`signals_groups`), and set `links` when
    the file declares any."""

    spec: AnySpec
    events: EventLog
    #: True when each replica leads a process group of the suite's making, so a fault on the
    #: replica may signal the whole group; False for processes someone else started.
    signals_groups: bool
    #: The fault proxy in front of the declared links; None when the file declares none.
    links: LinkProxy | None = None

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """The base URL clients send requests to."""

    @property
    @abstractmethod
    def metrics_url(self) -> str | None:
        """The Prometheus URL the watcher scrapes; None when the deployment has none."""

    @property
    @abstractmethod
    def replicas(self) -> list[Replica]:
        """Every replica, live or not, in a stable order."""

    @abstractmethod
    def snapshot(self) -> list[TrackedProcess]:
        """The deployment's live processes now, orphans included, by (component, replica, pid)."""

    @abstractmethod
    def up(self) -> float | None:
        """Bring the deployment up (or find it) and warm it up; returns the startup time in
        seconds, or None when nothing was launched. Raises a FaultSuiteError on failure."""

    @abstractmethod
    def down(self) -> None:
        """End whatever the suite started; safe to call twice."""

    def replicas_of(self, role: str) -> list[Replica]:
        return [r for r in self.replicas if r.role == role]

    def hold_down(self, replica: Replica, seconds: float | None) -> bool:
        """Keep the replica down `seconds` after its next exit before the supervisor restarts
        it (instead of its policy's `delay_s`): an outage of a given length; None takes that
        back. False when this deployment does not restart processes (an attached one)."""
        return False

    def will_replace(self, replica: Replica) -> bool:
        """Arrange for the replica's next exit to be followed at once by a new process in its
        place, whatever its restart policy; False when this deployment cannot start
        processes (an attached one), so nothing may be stopped for a replacement."""
        return False

    def ready_replacement(self, replica: Replica, old_pid: int, timeout_s: float) -> int | None:
        """Wait until a process other than `old_pid` serves as the replica (ready); its pid,
        or None when none was within `timeout_s`."""
        return None

    def replica_metrics_url(self, replica: Replica) -> str | None:
        """The replica's own Prometheus URL (its component's `metrics.url`); None when the
        file declares none."""
        return None

    def replica_health_url(self, replica: Replica) -> tuple[str, int] | None:
        """The replica's own health probe, as (URL, the status that means healthy); None when
        it has none over HTTP."""
        return None

    def replica_healthy(self, replica: Replica, timeout_s: float = 1.0) -> bool | None:
        """Whether the replica's health probe answers healthy now (no answer is not healthy);
        None when it has no HTTP probe."""
        probe = self.replica_health_url(replica)
        if probe is None:
            return None
        url, healthy_status = probe
        try:
            return fetch(url, timeout_s, METRICS_PAGE_BYTES)[0] == healthy_status
        except (OSError, HttpError, ValueError):
            return False

    def replica_metric(self, replica: Replica, series: str, timeout_s: float = 1.0) -> float | None:
        """`series` on the replica's own metrics page now, summed over its labels; None when
        it has no page, does not answer, or lacks the series."""
        return self.replica_metrics(replica, [series], timeout_s).get(series)

    def replica_metrics(self, replica: Replica, series: list[str], timeout_s: float = 1.0) -> dict[str, float]:
        """Each of `series` found on one read of the replica's own metrics page, summed over
        its labels; empty when it has no page or does not answer."""
        url = self.replica_metrics_url(replica)
        if url is None:
            return {}
        try:
            status, page = fetch(url, timeout_s, METRICS_PAGE_BYTES)
            return series_totals(page, series) if status == 200 else {}
        except (OSError, HttpError, ValueError):
            return {}

    def agent_of(self, role: str) -> str | None:
        """The fault agent on another host that owns `role` (an attach file's `hosts:`), whose
        faults go there; None when this host acts on it itself."""
        return None

    def fault_targets(self, role: str, child: str | None = None, leader_only: bool = False) -> list[FaultTarget]:
        """What a fault on `role` could reach now, one target per live replica: its process
        group (or its own process, with `leader_only` or when the group is not ours), or each
        of its descendants whose command line matches child role `child`."""
        live = [r for r in self.replicas_of(role) if r.process is not None and r.process.alive()]
        if child is None:
            scope = TargetScope.GROUP if self.signals_groups and not leader_only else TargetScope.LEADER
            return [FaultTarget(r, r.process.pid, scope) for r in live]  # type: ignore[union-attr]
        pattern = re.compile(self.spec.children_of(role)[child].match)
        targets = []
        for replica in live:
            for proc in replica.process.group_members()[1:]:  # type: ignore[union-attr]
                try:
                    if pattern.search(" ".join(proc.cmdline())):
                        targets.append(FaultTarget(replica, proc.pid, TargetScope.CHILD, child))
                except psutil.NoSuchProcess:
                    continue
        return targets

    def link_targets(self, caller: str, callee: str) -> list[LinkTarget]:
        """The routes of link `caller -> callee`, one per replica of the callee, while the
        fault proxy runs; none when the link is not declared."""
        links = self.links
        if links is None or not links.alive():
            return []
        return [LinkTarget(route, links.pid) for route in links.routes_between(caller, callee)]  # type: ignore[arg-type]

    def put_toxic(self, target: LinkTarget, toxic: dict) -> tuple[FaultOutcome, dict]:
        """Put `toxic` on the target's route: (DELIVERED, the route's counters then), or
        (PROCESS_GONE, {}) when the proxy is gone or would not take it."""
        return self._on_link(target, lambda links: links.apply(target.route, toxic))

    def heal_link(self, target: LinkTarget) -> tuple[FaultOutcome, dict]:
        """Take the route's toxic off: (DELIVERED, the route's counters), or (PROCESS_GONE, {})."""
        return self._on_link(target, lambda links: links.heal(target.route))

    def _on_link(self, target: LinkTarget, action) -> tuple[FaultOutcome, dict]:
        links = self.links
        if links is None or links.pid != target.pid or not links.alive():
            return FaultOutcome.PROCESS_GONE, {}
        try:
            return FaultOutcome.DELIVERED, action(links)["counters"]
        except LinkError as exc:
            log.warning("%s", exc)
            return FaultOutcome.PROCESS_GONE, {}

    def signal(self, target: FaultTarget, sig: signal.Signals) -> FaultOutcome:
        """Send `sig` to the target: its process group for a group target, else its pid; but
        only while it is verifiably still the process the target was resolved to (its
        replica's current, unreaped process, or a live descendant of it), never to a pid
        that may have been reused since. PROCESS_GONE otherwise."""
        process = target.replica.process
        if process is None or not process.alive():
            return FaultOutcome.PROCESS_GONE
        try:
            if target.scope == TargetScope.CHILD:
                child = next((p for p in process.group_members()[1:] if p.pid == target.pid), None)
                if child is None:
                    return FaultOutcome.PROCESS_GONE
                child.send_signal(sig)  # psutil checks the start time: a reused pid is refused
            elif process.pid != target.pid:
                return FaultOutcome.PROCESS_GONE  # restarted since: a new process, not the target
            elif target.scope == TargetScope.GROUP:
                os.killpg(target.pid, sig)
            else:
                os.kill(target.pid, sig)
        except (ProcessLookupError, psutil.NoSuchProcess):
            return FaultOutcome.PROCESS_GONE
        return FaultOutcome.DELIVERED
