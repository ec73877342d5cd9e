"""Resolve an injection's target to processes, only ever within the deployment's own.

A role resolves to the deployment's live replicas of it, and a child role to the processes in
those replicas' own trees that match the role's pattern in the deployment file
(`Deployment.fault_targets`). Nothing else on the host is ever considered, whatever its
command line. Of those, `count` are picked by the injection's `select` rule: a seeded random
sample, the oldest or newest processes, or by state, read from each replica's own metrics
page (its component's `metrics:`) at that moment: `busiest` holds the most requests in flight
(`in_flight`), `holding_oldest_request` the oldest live request (`oldest_request_age`). The
readings go into the fault's event.

A network fault's target is a link instead: the routes from its caller to the role's
replicas (`Deployment.link_targets`), picked by the same rules, a route standing for the
replica it leads to.
"""

import random
from dataclasses import dataclass, replace

import gevent
import psutil

from chaos.models import Injection
from deployments.interface import Deployment, FaultTarget, LinkTarget

__all__ = ["Resolution", "resolve"]


@dataclass(frozen=True)
class Resolution:
    """Targets to act on, or the reason there are none ("not applicable")."""

    targets: list[FaultTarget] | list[LinkTarget]
    not_applicable: str = ""


#: For each state rule, the `metrics:` field naming the series it reads.
STATE_FIELDS = {"busiest": "in_flight", "holding_oldest_request": "oldest_request_age"}


def _select(deployment: Deployment, role: str, candidates: list, injection: Injection, replica_of, pid_of) -> Resolution:
    """`count` of `candidates` by the injection's `select` rule; each stands for the replica
    `replica_of` gives, and is as old as the process `pid_of` gives."""
    if injection.select in STATE_FIELDS:
        return _by_state(deployment, role, candidates, injection, replica_of)
    if injection.select == "random":
        ordered = sorted(candidates, key=lambda c: replica_of(c).index)
        return Resolution(random.Random(injection.seed).sample(ordered, min(injection.count, len(ordered))))
    ordered = sorted(candidates, key=lambda c: _create_time(pid_of(c)), reverse=injection.select == "newest")
    return Resolution(ordered[: injection.count])


def _by_state(deployment: Deployment, role: str, candidates: list, injection: Injection, replica_of) -> Resolution:
    field = STATE_FIELDS[injection.select]
    metrics = deployment.spec.replica_metrics(role)
    series = getattr(metrics, field) if metrics is not None else None
    if series is None:
        return Resolution([], f"component {role!r} declares no metrics.{field} to select the {injection.select.replace('_', ' ')} by")
    # All at once: the fault waits on the slowest reading, not on their sum.
    reads = [gevent.spawn(deployment.replica_metric, replica_of(c), series) for c in candidates]
    gevent.joinall(reads)
    readings = [(read.value, c) for read, c in zip(reads, candidates)]
    answered = sorted(((value, c) for value, c in readings if value is not None), key=lambda vc: (-vc[0], replica_of(vc[1]).index))
    if not answered:
        return Resolution([], f"no replica of {role} answered its metrics ({series})")
    seen = ", ".join(f"{replica_of(c).name}={value:g}" for value, c in answered)
    because = f"select {injection.select}: {series} {seen}"
    return Resolution([replace(c, chosen_because=because) for _, c in answered[: injection.count]])


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
    return _select(deployment, target.role, candidates, injection, lambda c: c.replica, lambda c: c.pid)


def _resolve_link(deployment: Deployment, injection: Injection, caller: str) -> Resolution:
    """Routes of link `caller -> target.role` a network fault would act on now, picked by
    `select` and `count` as if they were the replicas they lead to."""
    role, spec = injection.target.role, deployment.spec
    if role not in spec.roles:
        return Resolution([], f"deployment {spec.name} has no component {role!r}")
    candidates = deployment.link_targets(caller, role)
    if not candidates:
        return Resolution([], f"deployment {spec.name} declares no link {caller} -> {role}")
    replicas = {r.index: r for r in deployment.replicas_of(role)}
    return _select(deployment, role, candidates, injection, lambda c: replicas[c.route.replica], lambda c: replicas[c.route.replica].pid)
