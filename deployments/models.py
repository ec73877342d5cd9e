"""Typed model of a deployment graph file (`deployments/<name>.yaml`).

Commands, probe URLs, the endpoint and the metrics URL are templates, filled at launch:

    {python}          the interpreter running the suite
    {host}            the loopback address components bind to
    {port}            this replica's port, allocated at launch
    {replica}         this replica's index, from 0
    {urls[ROLE]}      comma-separated base URLs of every replica of ROLE

Ports are never written in the file: each replica gets a free loopback port at launch and
keeps it across restarts.
"""

import re
import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from faultsuite.errors import ConfigError
from faultsuite.yamlfile import KeyPathError, StrictModel, load_yaml

__all__ = [
    "DEPLOYMENTS_DIR",
    "ChildRole",
    "Component",
    "DeploymentSpec",
    "HttpProbe",
    "LogProbe",
    "MetricsSpec",
    "RestartPolicy",
    "available_deployments",
    "load_deployment",
]

DEPLOYMENTS_DIR = Path(__file__).resolve().parent
TEMPLATE_FIELDS = {"python", "host", "port", "replica", "urls"}


def template_fields(text: str) -> list[str]:
    """Field names a template uses, e.g. ["python", "urls[frontend]"]."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def check_template(text: str) -> str:
    """Reject a template naming a field other than the documented ones."""
    try:
        names = {name.split("[")[0].split(".")[0] for name in template_fields(text)}
    except ValueError as exc:
        raise ValueError(f"malformed template {text!r}: {exc}") from None
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in {text!r}; known: {', '.join(sorted(TEMPLATE_FIELDS))}")
    return text


Template = Annotated[str, AfterValidator(check_template)]


class HttpProbe(StrictModel):
    """Ready when a GET of `http` answers `status`."""

    http: Template = Field(description="URL template, e.g. http://{host}:{port}/health")
    status: int = 200


class LogProbe(StrictModel):
    """Ready when a line of the component's output or error log matches `log` (a regex)."""

    log: str

    @field_validator("log")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class RestartPolicy(StrictModel):
    policy: Literal["always", "never"] = "always"
    delay_s: float = Field(1.0, ge=0)


class ChildRole(StrictModel):
    """A named subprocess inside a component, found by a regex over its command line."""

    match: str


class Component(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="role, e.g. decode_worker")
    command: list[Template] = Field(min_length=1)
    replicas: int = Field(1, ge=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    ready: HttpProbe | LogProbe | None = None
    ready_timeout_s: float = Field(60.0, gt=0)
    restart: RestartPolicy = RestartPolicy()
    depends_on: list[str] = Field(default_factory=list)
    children: dict[str, ChildRole] = Field(default_factory=dict)


class MetricsSpec(StrictModel):
    url: Template = Field(description="Prometheus text endpoint (template)")
    pending: str | None = Field(None, description="series meaning requests waiting")
    active_workers: str | None = Field(None, description="series meaning workers serving")


class DeploymentSpec(StrictModel):
    kind: Literal["launch"] = "launch"
    name: str
    description: str = ""
    model: str
    endpoint: Template = Field(description="base URL clients use (template)")
    metrics: MetricsSpec | None = None
    components: Annotated[list[Component], Field(min_length=1)]

    @model_validator(mode="after")
    def _graph(self) -> "DeploymentSpec":
        names = [c.name for c in self.components]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise KeyPathError(("components", index, "name"), f"component {name!r} is declared twice")
        for index, component in enumerate(self.components):
            for dependency in component.depends_on:
                if dependency not in names:
                    raise KeyPathError(
                        ("components", index, "depends_on"),
                        f"component {component.name!r} depends on unknown component {dependency!r}",
                    )
        self.start_order()  # raises on a cycle
        self._check_template_references(names)
        return self

    def _check_template_references(self, roles: list[str]) -> None:
        """Every `{urls[ROLE]}` names a component; shared URLs have no replica of their own."""
        shared = {("endpoint",): self.endpoint}
        if self.metrics is not None:
            shared[("metrics", "url")] = self.metrics.url
        per_replica = {}
        for index, component in enumerate(self.components):
            for position, part in enumerate(component.command):
                per_replica[("components", index, "command", position)] = part
            if isinstance(component.ready, HttpProbe):
                per_replica[("components", index, "ready", "http")] = component.ready.http
        for path, text in {**shared, **per_replica}.items():
            for name in template_fields(text):
                if name.startswith("urls[") and name[5:-1] not in roles:
                    raise KeyPathError(path, f"{{{name}}} names no component; components: {', '.join(roles)}")
                if path in shared and name in ("port", "replica"):
                    raise KeyPathError(path, f"{{{name}}} has no value here: it belongs to one replica; use {{urls[ROLE]}}")

    def component(self, role: str) -> Component | None:
        return next((c for c in self.components if c.name == role), None)

    @property
    def roles(self) -> list[str]:
        return [c.name for c in self.components]

    def start_levels(self) -> list[list[Component]]:
        """Components in waves: each wave depends only on earlier ones, so it may start at once."""
        levels: list[list[Component]] = []
        done: set[str] = set()
        remaining = list(self.components)
        while remaining:
            ready = [c for c in remaining if set(c.depends_on) <= done]
            if not ready:
                raise KeyPathError(("components",), f"depends_on has a cycle among {', '.join(c.name for c in remaining)}")
            levels.append(ready)
            done.update(c.name for c in ready)
            remaining = [c for c in remaining if c not in ready]
        return levels

    def start_order(self) -> list[Component]:
        """Components with every dependency before its dependents."""
        return [component for level in self.start_levels() for component in level]


def available_deployments() -> list[str]:
    """Names of the deployments shipped in `deployments/`."""
    return sorted(p.stem for p in DEPLOYMENTS_DIR.glob("*.yaml"))


def load_deployment(name_or_path: str) -> DeploymentSpec:
    """A shipped deployment by name, or any deployment file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = DEPLOYMENTS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"--deployment: unknown deployment {name_or_path!r}; available: {', '.join(available_deployments())}")
    return load_yaml(path, DeploymentSpec)
