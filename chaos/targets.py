"""Resolve an injection's target to processes, only ever within the deployment's own.

A role resolves to live replicas: those the launcher started, or, for an attached deployment,
the processes its selectors matched (`deployments.attached`). A child role resolves to
processes in those replicas' own trees whose command line matches the role's pattern in the
deployment file. Nothing else on the host is ever considered, whatever its command line.

A launched replica is signalled as its whole process group (unless `leader_only`); an
attached one only ever by its own pid.
"""

import random
import re
from dataclasses import dataclass
from typing import Literal

import psutil

from chaos.models import Injection
from deployments.attached import AttachedDeployment, AttachedReplica
from deployments.launcher import Deployment, Replica

__all__ = ["Resolution", "SignalTarget", "resolve"]


@dataclass(frozen=True)
class SignalTarget:
    """One thing to signal: a replica's whole process group, its leader alone, or one child."""

    replica: "Replica | AttachedReplica"
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


def resolve(deployment: "Deployment | AttachedDeployment", injection: Injection) -> Resolution:
    """Processes `injection` would signal now, picked by its `select` rule and `count`."""
    target = injection.target
    spec = deployment.spec
    if target.role not in spec.roles:
        return Resolution([], f"deployment {spec.name} has no component {target.role!r}")
    children = spec.children_of(target.role)
    if target.child is not None and target.child not in children:
        return Resolution([], f"component {target.role!r} declares no child role {target.child!r}")

    live = [r for r in deployment.replicas_of(target.role) if r.process is not None and r.process.alive()]
    if target.child is None:
        scope = "group" if deployment.signals_groups and not target.leader_only else "leader"
        candidates = [SignalTarget(r, r.process.pid, scope) for r in live]  # type: ignore[union-attr]
    else:
        pattern = re.compile(children[target.child].match)
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
