"""Resolve an injection's target to processes, only ever within the deployment's own.

A role resolves to the deployment's live replicas of it, and a child role to the processes in
those replicas' own trees that match the role's pattern in the deployment file
(`Deployment.fault_targets`). Nothing else on the host is ever considered, whatever its
command line. Of those, `count` are picked by the injection's `select` rule.
"""

import random
from dataclasses import dataclass

import psutil

from chaos.models import Injection
from deployments.interface import Deployment, FaultTarget

__all__ = ["Resolution", "resolve"]


@dataclass(frozen=True)
class Resolution:
    """Targets to act on, or the reason there are none ("not applicable")."""

    targets: list[FaultTarget]
    not_applicable: str = ""


def _select(candidates: list[FaultTarget], injection: Injection) -> list[FaultTarget]:
    if injection.select == "random":
        ordered = sorted(candidates, key=lambda c: c.replica.index)
        return random.Random(injection.seed).sample(ordered, min(injection.count, len(ordered)))
    ordered = sorted(candidates, key=_create_time, reverse=injection.select == "newest")
    return ordered[: injection.count]


def _create_time(target: FaultTarget) -> float:
    try:
        return psutil.Process(target.pid).create_time()
    except psutil.NoSuchProcess:
        return float("inf")


def resolve(deployment: Deployment, injection: Injection) -> Resolution:
    """Processes `injection` would act on now, picked by its `select` rule and `count`."""
    target = injection.target
    spec = deployment.spec
    if target.role not in spec.roles:
        return Resolution([], f"deployment {spec.name} has no component {target.role!r}")
    if target.child is not None and target.child not in spec.children_of(target.role):
        return Resolution([], f"component {target.role!r} declares no child role {target.child!r}")
    candidates = deployment.fault_targets(target.role, target.child, target.leader_only)
    if not candidates:
        return Resolution([], f"no live {target.describe()} to select")
    return Resolution(_select(candidates, injection))
