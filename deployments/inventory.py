"""Every process of a deployment, including those its killed replicas left behind.

A replica's processes are its current leader and the leader's descendants. Once seen, a
process stays known: when its leader is gone (killed alone, or replaced by a restart) and it
still runs, it is an orphan of that replica. Orphans are what keep GPU memory after a fault,
so the samplers report them and teardown ends them.

A descendant started and orphaned between two snapshots is never seen; snapshots are taken
by the samplers every second and by teardown.
"""

import re
from dataclasses import replace

import psutil

from deployments.interface import Deployment, Replica, TrackedProcess
from deployments.process import running

__all__ = ["ProcessInventory"]


class ProcessInventory:
    """Snapshots of a deployment's processes. One per deployment; not thread-safe (greenlets)."""

    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self._known: dict[int, TrackedProcess] = {}
        self._child_patterns = {
            component: [(role, re.compile(child.match)) for role, child in deployment.spec.children_of(component).items()]
            for component in deployment.spec.roles
        }

    def _role_of(self, component: str, process: psutil.Process) -> str:
        try:
            cmdline = " ".join(process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return "child"
        return next((role for role, pattern in self._child_patterns[component] if pattern.search(cmdline)), "child")

    def _members(self, replica: Replica) -> list[TrackedProcess]:
        if replica.process is None:
            return []
        tracked = []
        for position, process in enumerate(replica.process.group_members()):
            if not running([process]):
                continue  # dead, waiting to be reaped: nothing to sample, nothing to end
            known = self._known.get(process.pid)
            if known is not None and known.process == process and known.leader_pid == replica.process.pid:
                # The same psutil object keeps cpu_percent's baseline. A process seen before it
                # took its title (vLLM's engine names itself once started) is matched again.
                if known.role == "child" and (role := self._role_of(replica.role, process)) != "child":
                    known = replace(known, role=role)
                tracked.append(known)
                continue
            role = "main" if position == 0 else self._role_of(replica.role, process)
            tracked.append(TrackedProcess(process, replica.role, replica.index, role, replica.process.pid))
        return tracked

    def snapshot(self) -> list[TrackedProcess]:
        """The deployment's live processes now, orphans included, by (component, replica, pid)."""
        current = {t.pid: t for replica in self.deployment.replicas for t in self._members(replica)}
        for pid, known in self._known.items():
            if pid not in current and running([known.process]):
                current[pid] = known if known.orphan else replace(known, orphan=True)
        self._known = current
        return sorted(current.values(), key=lambda t: (t.component, t.replica, t.pid))

    def orphans(self) -> list[TrackedProcess]:
        return [t for t in self.snapshot() if t.orphan]
