"""`--list-deployments`, `--list-failures` and `--validate`: what a user can run, and whether
what they wrote would run, without launching anything."""

from chaos.applicability import why_not_applicable
from chaos.models import load_catalogue
from deployments.models import AnySpec, available_deployments, load_deployment
from locustfiles.scenario import Scenario

__all__ = ["deployment_lines", "failure_lines", "validation_lines"]

NAME_WIDTH = 30


def _row(name: str, text: str) -> str:
    return f"  {name:<{NAME_WIDTH}}{text}" if len(name) < NAME_WIDTH else f"  {name}\n  {'':<{NAME_WIDTH}}{text}"


def _shipped() -> dict[str, AnySpec]:
    return {name: load_deployment(name) for name in available_deployments()}


def deployment_lines() -> list[str]:
    """`--list-deployments`: every shipped deployment, its description, kind and install."""
    lines = ["Deployments (--deployment NAME, or a YAML path; shipped in deployments/):"]
    for name, spec in _shipped().items():
        kind = "attach: starts nothing, finds your processes" if spec.kind == "attach" else f"{len(spec.roles)} role" + "s" * (len(spec.roles) > 1)
        needs = "".join(f"; needs python -m deployments.{backend} install" for backend in sorted(spec.backends))
        lines.append(_row(name, f"{spec.description or '(no description)'} [{kind}{needs}]"))
    return lines


def failure_lines() -> list[str]:
    """`--list-failures`: every failure, its description, and the shipped deployments it
    applies to."""
    specs = _shipped()
    lines = ["Failures (--failure NAME; chaos/failures.yaml):"]
    for name, failure in load_catalogue().failures.items():
        also = f" (also: {', '.join(failure.aliases)})" if failure.aliases else ""
        lines.append(_row(name + also, failure.description or "(no description)"))
        if not failure.injections:
            continue
        fits = [d for d, spec in specs.items() if not why_not_applicable(failure, spec)]
        if len(fits) == len(specs):
            where = "every deployment"
        elif not fits:
            where = "no shipped deployment (a deployment of your own that has its roles)"
        elif len(fits) > len(specs) / 2:
            where = "every deployment but " + ", ".join(d for d in specs if d not in fits)
        else:
            where = ", ".join(fits)
        lines.append(_row("", f"applies to: {where}"))
    return lines


def validation_lines(scenario: Scenario) -> list[str]:
    """What `--validate` found in a scenario that parsed: what would run, and a failure that
    would have nothing to act on."""
    load = scenario.load
    deployment = scenario.deployment
    shape = f"{load.total_requests} requests, open loop" if load.open_loop else f"{load.clients} clients x {load.requests_per_client} requests"
    lines = [f"valid: deployment {scenario.deployment_name}, failure {scenario.failure_name}, {shape}; nothing was launched"]
    if deployment is not None and (reason := why_not_applicable(scenario.failure, deployment)):
        lines.append(f"note: failure {scenario.failure_name} is not applicable to {deployment.name} ({reason}): the run would record that and signal nothing")
    return lines
