"""A dry run: what each failure would signal in a deployment, with pids, touching nothing."""

import psutil

from chaos.models import Failure
from chaos.targets import resolve
from deployments.interface import Deployment, FaultTarget, LinkTarget
from faultsuite.events import TargetScope

__all__ = ["describe_plan"]


def _command(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return "?"


def describe_plan(deployment: Deployment, failures: dict[str, Failure]) -> list[str]:
    """One line per failure heading, then one per process each firing would signal now.

    Targets are resolved as they would be at the fault (same selection rule and seed), against
    the processes running at the moment of the dry run; a role a fault agent owns (`hosts:`)
    is named with its agent, since only that agent sees its processes.
    """
    lines = [f"Dry run on {deployment.spec.name}: nothing is signalled."]
    for name, failure in failures.items():
        if not failure.injections:
            lines.append(f"failure {name}: injects nothing")
            continue
        lines.append(f"failure {name}:")
        for injection in failure.injections:
            when = ", ".join(f"{at:g}" for at in injection.schedule())
            agent = deployment.agent_of(injection.target.role)
            if agent is not None:
                # Another host's processes: that agent resolves them, at the fault.
                lines.append(f"  at {when} s  {injection.action}  {injection.target.describe()}: sent to fault agent {agent}, which picks its targets on its own host")
                continue
            resolution = resolve(deployment, injection)
            if not resolution.targets:
                lines.append(f"  at {when} s  {injection.action}  not applicable: {resolution.not_applicable}")
                continue
            for target in resolution.targets:
                lines.append(f"  at {when} s  {injection.action}  {_describe(target)}")
    return lines


def _describe(target: FaultTarget | LinkTarget) -> str:
    if isinstance(target, LinkTarget):
        route = target.route
        return f"link {route.caller} -> {route.callee}_{route.replica}  fault proxy pid {target.pid}"
    what = {
        TargetScope.CHILD: f"{target.child} child of {target.replica.name}",
        TargetScope.GROUP: f"process group of {target.replica.name}",
        TargetScope.LEADER: f"process of {target.replica.name} (not its group)",
    }[target.scope]
    return f"{what}  pid {target.pid}  ({_command(target.pid)})"
