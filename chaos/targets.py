"""Resolve an injection's target to processes, only ever within the launched process tree.

A role resolves to live replicas the launcher started; a child role to processes in those
replicas' own trees whose command line matches the role's pattern in the deployment file.
Nothing on the host outside the deployment is ever considered, whatever its command line.
"""

import random
import re
from dataclasses import dataclass
from typing import Literal

import psutil

from chaos.models import Injection
from deployments.launcher import Deployment, Replica

__all__ = ["Resolution", "SignalTarget", "resolve"]


@dataclass(frozen=True)
class SignalTarget:
    """One thing to signal: a replica's whole process group, its leader alone, or one child."""

    replica: Replica
    pid: int
    scope: Literal["group", "leader", "child"]
    child: str | None = None


@dataclass(frozen=True)
class Resolution:
    """Targets to signal, or the reason there are none ("not applicable")."""

    targets: list[SignalTarget]
    not_applicable: str = ""


def _select(candidates: list, injection: Injection, started_at) -> list:
    if injection.select == "random":
        ordered = sorted(candidates, key=lambda c: c.replica.index)
        return random.Random(injection.seed).sample(ordered, min(injection.count, len(ordered)))
    ordered = sorted(candidates, key=started_at, reverse=injection.select == "newest")
    return ordered[: injection.count]


def _create_time(target: SignalTarget) -> float:
    try:
        return psutil.Process(target.pid).create_time()
    except psutil.NoSuchProcess:
        return float("inf")


def resolve(deployment: Deployment, injection: Injection) -> Resolution:
    """Processes `injection` would signal now, picked by its `select` rule and `count`."""
    target = injection.target
    component = deployment.spec.component(target.role)
    if component is None:
        return Resolution([], f"deployment {deployment.spec.name} has no component {target.role!r}")
    if target.child is not None and target.child not in component.children:
        return Resolution([], f"component {target.role!r} declares no child role {target.child!r}")

    live = [r for r in deployment.replicas_of(target.role) if r.process is not None and r.process.alive()]
    if target.child is None:
        scope = "leader" if target.leader_only else "group"
        candidates = [SignalTarget(r, r.process.pid, scope) for r in live]  # type: ignore[union-attr]
    else:
        pattern = re.compile(component.children[target.child].match)
        candidates = []
        for replica in live:
            for proc in replica.process.group_members()[1:]:  # type: ignore[union-attr]
                try:
                    if pattern.search(" ".join(proc.cmdline())):
                        candidates.append(SignalTarget(replica, proc.pid, "child", target.child))
                except psutil.NoSuchProcess:
                    continue
    if not candidates:
        return Resolution([], f"no live {target.describe()} to select")
    return Resolution(_select(candidates, injection, _create_time))
