"""Whether a failure can act on a deployment at all, from the files alone: every injection's
role, child role and link is declared. (A run also finds out live, per injection, with the
processes it finds: chaos.targets.)"""

from chaos.models import Failure
from deployments.models import AnySpec

__all__ = ["why_not_applicable"]


def why_not_applicable(failure: Failure, spec: AnySpec) -> str:
    """The first reason an injection of `failure` has nothing to act on in `spec`, or ""."""
    links = {(link.caller, link.callee) for link in spec.links}
    for injection in failure.injections:
        role = injection.target.role
        if role not in spec.roles:
            return f"no component {role!r}"
        child = injection.target.child
        if child is not None and child not in spec.children_of(role):
            return f"{role} declares no child role {child!r}"
        caller = injection.link_caller
        if caller is not None and (caller, role) not in links:
            return f"no link {caller} -> {role}"
    return ""
