"""Launch a deployment graph, supervise it, and tear it down without leaving anything behind.

`LaunchedDeployment.up()` starts the fault proxy of the file's `links` first (see
`deployments.links`), then the components in dependency order (each wave of components whose
dependencies are ready, with all their replicas, in parallel), waits on each replica's ready probe, then sends a warm-up request; the startup
time runs from the first launch to the warm-up's success. From then on a supervisor greenlet
per replica notices its exit, and restarts it per its restart policy after `delay_s`, on the
same port; or at once, whatever its policy, when chaos asked to replace it (`will_replace`:
a rolling restart). Every launch, exit, restart and ready is an event with pid and outcome.

`LaunchedDeployment.down()` stops the supervisors, SIGTERMs every replica's process group, waits up
to a grace period, then SIGKILLs what is left, including descendants that left the group and orphans of
replicas that were killed alone or restarted (see `deployments.inventory`).
"""

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import gevent
import psutil

from deployments.backend_registry import BACKENDS
from deployments.interface import Deployment, TrackedProcess
from deployments.inventory import ProcessInventory
from deployments.links import LinkProxy, LinkRoute
from deployments.models import LINK_CLIENT, Component, DeploymentSpec, HttpProbe
from deployments.ports import free_port, listen_ports
from deployments.probes import probe_once, wait_until
from deployments.process import ReplicaProcess, describe_returncode, running
from deployments.warmup import warm_up
from faultsuite.errors import LaunchError
from faultsuite.events import EventKind, EventLog, FaultOutcome
from faultsuite.layout import RunLayout

__all__ = ["LaunchedDeployment", "Replica"]

log = logging.getLogger(__name__)

ReplicaState = Literal["pending", "starting", "ready", "exited", "stopped"]


@dataclass
class Replica:
    """One replica of a component, across its restarts. `process` is the current one."""

    component: Component
    index: int
    port: int
    log_dir: Path
    process: ReplicaProcess | None = None
    state: ReplicaState = "pending"
    restarts: int = 0
    supervisor: gevent.Greenlet | None = field(default=None, repr=False)
    #: Set by `will_replace`: the next exit is a replacement's, restarted at once whatever the policy.
    replacing: bool = False
    #: Set by `hold_down`: the next restart waits this long instead of the policy's `delay_s`.
    down_for_s: float | None = None

    @property
    def role(self) -> str:
        return self.component.name

    @property
    def name(self) -> str:
        """`decode_worker_2`, or the role alone for a single replica (its log folder's name)."""
        return self.role if self.component.replicas == 1 else f"{self.role}_{self.index}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


class LaunchedDeployment(Deployment):
    """A launched deployment graph; logs under `run_dir/<replica>/`, events into `events`."""

    #: The launcher makes each replica the leader of a process group of its own.
    signals_groups = True

    def __init__(self, spec: DeploymentSpec, run_dir: Path, events: EventLog, host: str = "127.0.0.1"):
        """Allocates the ports and prepares any backend the templates use (`{dynamo[...]}`,
        `{vllm[...]}`: ConfigError when it is not installed); starts nothing."""
        self.spec = spec
        self.run_dir = run_dir
        self.events = events
        self.host = host
        self._stopping = False
        self._down = False
        self._ports_taken: set[int] = set()
        layout = RunLayout(run_dir)
        self._replicas: list[Replica] = [
            Replica(component, index, self._allocate_port(), layout.component_logs(component.name if component.replicas == 1 else f"{component.name}_{index}"))
            for component in spec.components
            for index in range(component.replicas)
        ]
        self.inventory = ProcessInventory(self)
        self._direct_urls = {role: ",".join(f"http://{host}:{r.port}" for r in self.replicas if r.role == role) for role in spec.roles}
        self.links = self._link_proxy(layout) if spec.links else None
        self._values: dict[str, object] = {
            "python": sys.executable,
            "host": host,
            "ports": {name: self._allocate_port() for name in spec.ports},
            "run_dir": str(run_dir.resolve()),
        }
        for backend in spec.backends:
            self._values[backend] = BACKENDS[backend]().template_values()

    def _allocate_port(self) -> int:
        """A free port for one replica or named port, never one given out already: from the
        file's `port_range`, else below the ephemeral range (`listen_ports`)."""
        port = free_port(self.host, self.spec.port_range or listen_ports(), frozenset(self._ports_taken))
        self._ports_taken.add(port)
        return port

    def _link_proxy(self, layout: RunLayout) -> LinkProxy:
        """One route per declared link and replica of its callee, on ports of its own."""
        routes = [
            LinkRoute(link.caller, link.callee, replica.index, self._allocate_port(), self.host, replica.port)
            for link in self.spec.links
            for replica in self.replicas_of(link.callee)
        ]
        return LinkProxy(routes, self.host, self._allocate_port(), layout.component_logs("fault_proxy"))

    # -- templates -------------------------------------------------------------------------

    def urls_seen_by(self, caller: str | None) -> dict[str, str]:
        """`{urls[ROLE]}` as `caller` gets it: through the fault proxy for a declared link
        from `caller` (a role, or `client`), else straight to the replicas."""
        urls = dict(self._direct_urls)
        if self.links is not None and caller is not None:
            for link in self.spec.links_from(caller):
                urls[link.callee] = ",".join(self.links.url_of(r) for r in self.links.routes_between(caller, link.callee))
        return urls

    def render(self, template: str, replica: Replica | None = None, caller: str | None = None) -> str:
        """Fill a template; `caller` is who will use its URLs (`urls_seen_by`): a replica's own
        role for its command and environment, `client` for the endpoint, None for the suite's
        own probes and scrapes, which never cross a link."""
        values = {**self._values, "urls": self.urls_seen_by(caller)}
        if replica is not None:
            values.update(port=replica.port, replica=replica.index)
        return template.format(**values)

    @property
    def endpoint(self) -> str:
        return self.render(self.spec.endpoint, caller=LINK_CLIENT)

    @property
    def metrics_url(self) -> str | None:
        return self.render(self.spec.metrics.url) if self.spec.metrics else None

    @property
    def replicas(self) -> list[Replica]:
        return self._replicas

    def hold_down(self, replica: Replica, seconds: float | None) -> bool:  # type: ignore[override]
        replica.down_for_s = seconds
        return True

    def will_replace(self, replica: Replica) -> bool:  # type: ignore[override]
        replica.replacing = True
        return True

    def ready_replacement(self, replica: Replica, old_pid: int, timeout_s: float) -> int | None:  # type: ignore[override]
        replaced = wait_until(
            lambda: replica.state == "ready" and replica.pid not in (None, old_pid), timeout_s, interval_s=0.05, give_up=lambda: self._stopping
        )
        return replica.pid if replaced else None

    def replica_metrics_url(self, replica: Replica) -> str | None:  # type: ignore[override]
        metrics = replica.component.metrics
        return None if metrics is None else self.render(metrics.url, replica)

    def replica_health_url(self, replica: Replica) -> tuple[str, int] | None:  # type: ignore[override]
        ready = replica.component.ready
        return (self.render(ready.http, replica), ready.status) if isinstance(ready, HttpProbe) else None

    def snapshot(self) -> list[TrackedProcess]:
        return self.inventory.snapshot()

    # -- lifecycle -------------------------------------------------------------------------

    def _spawn(self, replica: Replica, kind: Literal["launch", "restart"]) -> None:
        if self._stopping:
            raise LaunchError(f"component {replica.name}: not started, the deployment is being torn down")
        component = replica.component
        own = {**self.spec.env, **component.env}
        env = {**os.environ, **{key: self.render(value, replica, replica.role) for key, value in own.items()}, "PYTHONUNBUFFERED": "1"}
        argv = [self.render(part, replica, replica.role) for part in component.command]
        replica.state = "starting"
        try:
            replica.process = ReplicaProcess(argv, env, component.cwd, replica.log_dir)
        except (OSError, ValueError) as exc:  # ValueError: an argument or variable no process can have
            replica.state = "exited"
            self.events.emit(kind, component=replica.role, replica=replica.index, outcome="failed", detail=str(exc))
            raise LaunchError(f"component {replica.name}: cannot start {argv[0]!r}: {getattr(exc, 'strerror', None) or exc}") from None
        self.events.emit(kind, component=replica.role, replica=replica.index, pid=replica.pid, outcome="started", detail=f"port {replica.port}")

    def _await_ready(self, replica: Replica) -> bool:
        """Wait for the replica's probe; False if it exited or timed out first."""
        component, process = replica.component, replica.process
        assert process is not None
        url = self.render(component.ready.http, replica) if isinstance(component.ready, HttpProbe) else ""
        ready = wait_until(
            lambda: probe_once(component.ready, url, replica.log_dir, process.log_offsets),
            component.ready_timeout_s,
            give_up=lambda: not process.alive() or self._stopping,
        )
        if ready:
            replica.state = "ready"
            self.events.emit(EventKind.READY, component=replica.role, replica=replica.index, pid=process.pid, outcome="ready")
        return ready

    def _launch_and_wait(self, replica: Replica) -> LaunchError | None:
        """Start a replica and wait until it is ready; the error is returned, not raised,
        because it crosses a greenlet (which would print a traceback for a raised one)."""
        try:
            self._spawn(replica, "launch")
        except LaunchError as exc:
            return exc
        if self._await_ready(replica):
            replica.supervisor = gevent.spawn(self._supervise, replica)
            return None
        process = replica.process
        assert process is not None
        if process.alive():
            return LaunchError(f"component {replica.name} (pid {process.pid}) not ready within {replica.component.ready_timeout_s:g} s; see {replica.log_dir}/error.log")
        reason = describe_returncode(process.popen.returncode)
        last = process.last_error_line()
        return LaunchError(f"component {replica.name} {reason} during startup" + (f": {last}" if last else "") + f" (see {replica.log_dir}/error.log)")

    def up(self, warmup_timeout_s: float = 60.0) -> float:
        """Launch everything and return the startup time; on failure, tear down and raise."""
        started = time.monotonic()
        try:
            if self.links is not None:
                self.links.start({**os.environ, "PYTHONUNBUFFERED": "1"})
                self.events.emit(EventKind.LAUNCH, component="fault_proxy", pid=self.links.pid, outcome="started", detail=f"{len(self.links.routes)} routes")
            for level in self.spec.start_levels():
                jobs = [gevent.spawn(self._launch_and_wait, r) for c in level for r in self.replicas_of(c.name)]
                gevent.joinall(jobs)
                for job in jobs:
                    error = job.value if job.successful() else job.exception
                    if error is not None:
                        raise error
            warm_up(self.endpoint, self.spec, self.events, warmup_timeout_s)
        except BaseException:
            if not self._stopping:  # else down() is already under way, called by someone else
                self.down()
            raise
        return time.monotonic() - started

    def _signal_orphan(self, orphan: TrackedProcess, sig: signal.Signals) -> None:
        try:
            orphan.process.send_signal(sig)
            outcome = FaultOutcome.DELIVERED
        except psutil.NoSuchProcess:
            outcome = FaultOutcome.PROCESS_GONE  # its group's signal got there first
        self.events.emit(EventKind.STOP, component=orphan.component, replica=orphan.replica, pid=orphan.pid, signal=sig.name, outcome=outcome, detail=f"orphan of pid {orphan.leader_pid}")

    def _supervise(self, replica: Replica) -> None:
        while True:
            process = replica.process
            assert process is not None
            returncode = process.popen.wait()
            if self._stopping:
                return
            replica.state = "exited"
            restart = replica.component.restart
            replacing, replica.replacing = replica.replacing, False
            held, replica.down_for_s = replica.down_for_s, None
            restarting = replacing or restart.restarts_after(returncode)
            left_down = "" if restarting else f"not restarted: restart policy {restart.policy}"
            self.events.emit(EventKind.EXIT, component=replica.role, replica=replica.index, pid=process.pid, outcome=describe_returncode(returncode), detail=left_down)
            if not restarting:
                return
            gevent.sleep(0.0 if replacing else restart.delay_s if held is None else held)
            if self._stopping:
                return
            replica.restarts += 1
            try:
                self._spawn(replica, "restart")
            except LaunchError as exc:
                log.error("%s", exc)
                return
            self._await_ready(replica)

    def down(self, grace_s: float = 5.0) -> None:
        """Stop supervising, then end every replica's process group and every orphan:
        SIGTERM, then SIGKILL. A second call does nothing."""
        if self._down:
            return
        self._down = self._stopping = True
        gevent.killall([r.supervisor for r in self.replicas if r.supervisor is not None])
        started = [r for r in self.replicas if r.process is not None]
        alive = [r for r in started if r.process.alive()]  # type: ignore[union-attr]
        members = {r.name: r.process.group_members() for r in started}  # type: ignore[union-attr]
        # Left behind by replicas killed alone or restarted: no current group may hold them.
        orphans = self.inventory.orphans()
        # Every started group is signalled: a dead leader's children may still hold it.
        for replica in started:
            if replica.process.signal_group(signal.SIGTERM):  # type: ignore[union-attr]
                self.events.emit(EventKind.STOP, component=replica.role, replica=replica.index, pid=replica.pid, signal="SIGTERM", outcome=FaultOutcome.DELIVERED)
        for orphan in orphans:
            self._signal_orphan(orphan, signal.SIGTERM)
        wait_until(lambda: not any(r.process.alive() for r in alive), grace_s, interval_s=0.05)  # type: ignore[union-attr]
        for replica in started:
            if running(members[replica.name]) and replica.process.signal_group(signal.SIGKILL):  # type: ignore[union-attr]
                self.events.emit(EventKind.STOP, component=replica.role, replica=replica.index, pid=replica.pid, signal="SIGKILL", outcome=FaultOutcome.DELIVERED)
        for replica in alive:
            returncode = replica.process.popen.wait()  # type: ignore[union-attr]
            self.events.emit(EventKind.EXIT, component=replica.role, replica=replica.index, pid=replica.pid, outcome=describe_returncode(returncode), detail="teardown", teardown=True)
        for replica in started:
            replica.state = "stopped"
        # Descendants that left their group (setsid, double fork) are still ours to end.
        leftovers = [p for procs in members.values() for p in running(procs)]
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        for orphan in orphans:
            if running([orphan.process]):
                self._signal_orphan(orphan, signal.SIGKILL)
                leftovers.append(orphan.process)
        psutil.wait_procs(leftovers, timeout=grace_s)
        if self.links is not None:
            self.links.stop()  # last: the components' own teardown may still cross it
