"""Resolve an injection's target to processes, only ever within the deployment's own.

A role resolves to the deployment's live replicas of it, and a child role to the processes in
those replicas' own trees that match the role's pattern in the deployment file
(`Deployment.fault_targets`). Nothing else on the host is ever considered, whatever its
command line. Of those, `count` are picked by the injection's `select` rule.

A network fault's target is a link instead: the routes from its caller to the role's
replicas (`Deployment.link_targets`), picked by the same rules, a route standing for the
replica it leads to.
"""

import random
from dataclasses import dataclass

import psutil

from chaos.models import Injection
from deployments.interface import Deployment, FaultTarget, LinkTarget

__all__ = ["Resolution", "resolve"]


@dataclass(frozen=True)
class Resolution:
    """Targets to act on, or the reason there are none ("not applicable")."""

    targets: list[FaultTarget] | list[LinkTarget]
    not_applicable: str = ""


def _select(candidates: list, injection: Injection, index, pid) -> list:
    """`count` of `candidates`: a seeded sample in `index` order, or by the start time of the
    process `pid` gives for each."""
    if injection.select == "random":
        ordered = sorted(candidates, key=index)
        return random.Random(injection.seed).sample(ordered, min(injection.count, len(ordered)))
    ordered = sorted(candidates, key=lambda c: _create_time(pid(c)), reverse=injection.select == "newest")
    return ordered[: injection.count]


def _create_time(pid: int | None) -> float:
    try:
        return float("inf") if pid is None else psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return float("inf")


def resolve(deployment: Deployment, injection: Injection) -> Resolution:
    """Processes `injection` would act on now, or the routes for a network fault, picked by
    its `select` rule and `count`."""
    if injection.link_caller is not None:
        return _resolve_link(deployment, injection, injection.link_caller)
    target = injection.target
    spec = deployment.spec
    if target.role not in spec.roles:
        return Resolution([], f"deployment {spec.name} has no component {target.role!r}")
    if target.child is not None and target.child not in spec.children_of(target.role):
        return Resolution([], f"component {target.role!r} declares no child role {target.child!r}")
    candidates = deployment.fault_targets(target.role, target.child, target.leader_only)
    if not candidates:
        return Resolution([], f"no live {target.describe()} to select")
    return Resolution(_select(candidates, injection, lambda c: c.replica.index, lambda c: c.pid))


def _resolve_link(deployment: Deployment, injection: Injection, caller: str) -> Resolution:
    """Routes of link `caller -> target.role` a network fault would act on now, picked by
    `select` and `count` as if they were the replicas they lead to."""
    role, spec = injection.target.role, deployment.spec
    if role not in spec.roles:
        return Resolution([], f"deployment {spec.name} has no component {role!r}")
    candidates = deployment.link_targets(caller, role)
    if not candidates:
        return Resolution([], f"deployment {spec.name} declares no link {caller} -> {role}")
    replica_pids = {r.index: r.pid for r in deployment.replicas_of(role)}
    return Resolution(_select(candidates, injection, lambda c: c.route.replica, lambda c: replica_pids.get(c.route.replica)))
