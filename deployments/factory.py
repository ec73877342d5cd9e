"""The one place that knows which kind of deployment a file describes.

A deployment file is either a graph to launch (`DeploymentSpec`) or a stack someone else runs
(`AttachSpec`, `kind: attach`); everything else in the suite holds a `Deployment`.
"""

from pathlib import Path

from deployments.attached import AttachedDeployment, check_attachable
from deployments.interface import Deployment
from deployments.launcher import LaunchedDeployment
from deployments.models import AnySpec, AttachSpec
from faultsuite.events import EventLog

__all__ = ["check_before_launch", "open_deployment", "with_endpoint"]


def open_deployment(spec: AnySpec, run_dir: Path, events: EventLog, *, host: str = "127.0.0.1", source: str = "") -> Deployment:
    """The deployment `spec` describes, not yet up. `host` is where a launched one listens;
    `source` (the file given) names an attached one in its error messages."""
    if isinstance(spec, AttachSpec):
        return AttachedDeployment(spec, events, source=source, run_dir=run_dir)
    return LaunchedDeployment(spec, run_dir, events, host=host)


def check_before_launch(spec: AnySpec, source: str) -> None:
    """What can be checked of `spec` before anything starts, as one ConfigError line: an
    attached deployment's endpoint must answer and the selectors of this host's roles match
    (a fault agent's are matched on its own host)."""
    if isinstance(spec, AttachSpec):
        check_attachable(spec.here(), source)


def with_endpoint(spec: AnySpec, endpoint: str) -> AnySpec:
    """`spec` with the endpoint given on the command line (`--host`): it wins over an
    attached deployment's file; a launched one is reached where it was launched."""
    if isinstance(spec, AttachSpec):
        return spec.model_copy(update={"endpoint": endpoint})
    return spec
