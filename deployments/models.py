"""Typed model of a deployment graph file (`deployments/<name>.yaml`).

Two kinds of file. `kind: launch` (the default) is a graph the suite starts and supervises.
Its commands, environment values, probe URLs, the endpoint and the metrics URL are templates,
filled at launch:

    {python}          the interpreter running the suite
    {host}            the loopback address components bind to
    {port}            this replica's port, allocated at launch
    {replica}         this replica's index, from 0
    {urls[ROLE]}      comma-separated base URLs of every replica of ROLE
    {ports[NAME]}     a port named in the file's `ports:` list, one for the whole deployment
    {run_dir}         the run's results directory
    {dynamo[KEY]}     the prepared Dynamo environment (`deployments.dynamo`): `python`,
                      `model_dir`, `replay_trace`, `event_broker`
    {vllm[KEY]}       the prepared vLLM environment (`deployments.vllm`): `vllm`, `python`,
                      `model_dir`, `home`

Ports are never written in the file: each replica gets a free loopback port at launch and
keeps it across restarts.

`extends: NAME` starts from another deployment file and merges this one over it: mappings
key by key, anything else replaced whole.

`kind: attach` (`AttachSpec`) is a stack someone else started: an endpoint, a metrics URL,
and how to find its processes on this host by command line. Nothing there is a template.
"""

import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from faultsuite.errors import ConfigError
from faultsuite.secrets import fill_environment
from faultsuite.suggest import did_you_mean
from faultsuite.yamlfile import KeyPathError, PlainName, StrictModel, read_yaml, validate

__all__ = [
    "BACKEND_FIELDS",
    "DEPLOYMENTS_DIR",
    "AnySpec",
    "AttachSpec",
    "ChildRole",
    "Component",
    "DeploymentSpec",
    "ProcessSelector",
    "ReplicaMetrics",
    "RequestSpec",
    "HttpProbe",
    "LINK_CLIENT",
    "Link",
    "LogProbe",
    "MetricsSpec",
    "RestartPolicy",
    "available_deployments",
    "embedded_deployments",
    "load_deployment",
]

DEPLOYMENTS_DIR = Path(__file__).resolve().parent
TEMPLATE_FIELDS = {"python", "host", "port", "replica", "urls", "ports", "run_dir", "dynamo", "vllm"}
#: Placeholders whose values come from an environment prepared outside the suite's own
#: (`deployments.backend_registry`).
BACKEND_FIELDS = {"dynamo", "vllm"}


def template_fields(text: str) -> list[str]:
    """Field names a template uses, e.g. ["python", "urls[frontend]"]."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def _plain_fields(text: str) -> None:
    """ValueError for a field with a format spec or conversion (`{port:zz}`, `{host!r}`):
    filled at launch, those could fail or mean something else than the value itself."""
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is not None and (spec or conversion):
            suffix = f"!{conversion}" if conversion else f":{spec}"
            raise ValueError(f"{{{name}{suffix}}} in {text!r}: write the field alone, as {{{name}}}")


#: A field, or one key of a mapping field: `port`, `urls[frontend]`; never `.attr` or `[a][b]`.
FIELD_PATTERN = re.compile(r"^(?P<base>[a-z_]+)(\[(?P<key>[^\[\]]+)\])?$")
#: Fields that are mappings, and so take `[KEY]`.
KEYED_FIELDS = {"urls", "ports", *BACKEND_FIELDS}


def check_template(text: str) -> str:
    """Reject a template naming a field other than the documented ones, or using one the way
    filling it at launch could not (`{urls.frontend}`, `{port[0]}`)."""
    try:
        names = template_fields(text)
    except ValueError as exc:
        raise ValueError(f"malformed template {text!r}: {exc}") from None
    _plain_fields(text)
    for name in names:
        match = FIELD_PATTERN.match(name)
        base = match["base"] if match else re.split(r"[.\[]", name)[0]
        if base not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown placeholder {{{base}}} in {text!r}; known: {', '.join(sorted(TEMPLATE_FIELDS))}")
        if match is None or (match["key"] is not None) != (base in KEYED_FIELDS):
            usage = f"{{{base}[KEY]}}" if base in KEYED_FIELDS else f"{{{base}}}"
            raise ValueError(f"{{{name}}} in {text!r}: write it as {usage}")
    return text


Template = Annotated[str, AfterValidator(check_template)]


def check_url(text: str) -> str:
    """An http:// or https:// URL with a host."""
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def check_url_template(text: str) -> str:
    """A template that fills to an http:// or https:// URL: it starts with the scheme, or
    with `{urls[ROLE]}`, which is one."""
    literal, name, _, _ = next(iter(string.Formatter().parse(text)), ("", None, "", None))
    if literal or name is None:
        return check_url(text)
    if not name.startswith("urls["):
        raise ValueError(f"expected a URL template starting with http://, https:// or {{urls[ROLE]}}, got {text!r}")
    return text


UrlTemplate = Annotated[str, AfterValidator(check_template), AfterValidator(check_url_template)]
Url = Annotated[str, AfterValidator(check_url)]


def check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


Regex = Annotated[str, AfterValidator(check_regex)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class HttpProbe(StrictModel):
    """Ready when a GET of `http` answers `status`."""

    http: UrlTemplate = Field(description="URL template, e.g. http://{host}:{port}/health")
    status: int = 200


class LogProbe(StrictModel):
    """Ready when a line of the component's output or error log matches `log` (a regex)."""

    log: Regex


class RestartPolicy(StrictModel):
    """When the supervisor starts a replica again after its process exits: `always`;
    `on-failure`, only after a non-zero exit or a signal, so a server that exits 0 when it gives
    up (vLLM's API server after its engine died) stays down; `never`."""

    policy: Literal["always", "on-failure", "never"] = "always"
    delay_s: float = Field(1.0, ge=0)

    def restarts_after(self, returncode: int) -> bool:
        """Whether an exit with `returncode` (negative: killed by that signal) is restarted."""
        return self.policy == "always" or (self.policy == "on-failure" and returncode != 0)


class ChildRole(StrictModel):
    """A named subprocess inside a component, found by a regex over its command line."""

    match: Regex


class ReplicaMetrics(StrictModel):
    """A replica's own Prometheus page, for choosing fault targets by state (`select:
    busiest`, `select: holding_oldest_request`)."""

    url: UrlTemplate = Field(description="the replica's metrics URL (template), e.g. http://{host}:{port}/metrics")
    in_flight: str | None = Field(None, description="series counting the requests the replica holds now")
    oldest_request_age: str | None = Field(None, description="series giving the age (s) of the oldest request it holds")
    progress: str | None = Field(
        None, description="a counter that rises while the replica serves (tokens generated): with in_flight, checks what its health probe says"
    )


class Component(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="role, e.g. decode_worker")
    command: list[Template] = Field(min_length=1)
    replicas: int = Field(1, ge=1)
    env: dict[EnvName, Template] = Field(default_factory=dict, description="over the deployment's own `env`")
    cwd: str | None = None
    ready: HttpProbe | LogProbe | None = None
    ready_timeout_s: float = Field(60.0, gt=0)
    restart: RestartPolicy = RestartPolicy()
    depends_on: list[str] = Field(default_factory=list)
    children: dict[str, ChildRole] = Field(default_factory=dict)
    metrics: ReplicaMetrics | None = Field(None, description="each replica's own metrics, read to choose targets by state")


HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]


def check_header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError("a header value cannot hold a line break or NUL")
    return value


class RequestSpec(StrictModel):
    """What every chat request to this deployment carries beyond the OpenAI fields."""

    integrity: Literal["deterministic"] | None = Field(
        None,
        description="deterministic: the engine's token i is the word `tok<i>` (the embedded engine, Dynamo's "
        "mocker with the suite's replay trace); a 200 answer that skips, repeats or restarts them is corrupt_output",
    )
    headers: dict[HeaderName, Annotated[str, AfterValidator(check_header_value)]] = Field(
        default_factory=dict,
        description="sent with every request, e.g. Authorization: Bearer ${OPENAI_API_KEY}; ${NAME} is filled from "
        "the environment, and the values are never written to a file or a log",
    )

    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="merged into each request body; a string in it may use {max_tokens}, e.g. a replay id",
    )

    @field_validator("extra_body")
    @classmethod
    def _only_max_tokens(cls, value: dict[str, Any]) -> dict[str, Any]:
        for text in _strings(value):
            try:
                unknown = set(template_fields(text)) - {"max_tokens"}
            except ValueError as exc:
                raise ValueError(f"malformed template {text!r}: {exc}") from None
            _plain_fields(text)
            if unknown:
                raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in {text!r}; known: max_tokens")
        return value

    def body_for(self, max_tokens: int) -> dict[str, Any]:
        """`extra_body` with `{max_tokens}` filled in."""
        return _fill(self.extra_body, max_tokens=max_tokens)

    def header_values(self, where: str) -> dict[str, str]:
        """The headers with their `${NAME}` references filled; ConfigError naming `where`
        and the variable for one that is not set."""
        return {name: fill_environment(value, f"{where}: request.headers.{name}") for name, value in self.headers.items()}


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _fill(value: Any, **fields: object) -> Any:
    if isinstance(value, str):
        return value.format(**fields)
    if isinstance(value, dict):
        return {key: _fill(item, **fields) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, **fields) for item in value]
    return value


class MetricsSpec(StrictModel):
    url: UrlTemplate = Field(description="Prometheus text endpoint (template)")
    pending: str | None = Field(None, description="series meaning requests waiting")
    active_workers: str | None = Field(None, description="series meaning workers serving")
    migrations: str | None = Field(
        None, description="counter of requests the deployment moved to another worker, e.g. "
        "dynamo_frontend_model_migration_total",
    )


#: A link's caller that is the load itself: the clients' connections to the endpoint.
LINK_CLIENT = "client"
RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class Link(StrictModel):
    """Connections from `caller` to every replica of `callee` pass through the fault proxy
    (`deployments.fault_proxy`), where network faults can be put on them. `caller` is a
    component's role, or `client` for the load's own connections to the endpoint."""

    caller: RoleName
    callee: RoleName

    def describe(self) -> str:
        return f"{self.caller} -> {self.callee}"


def _check_links(links: list[Link], roles: list[str], callers: list[str]) -> None:
    """Each link joins a known caller to another known role, once."""
    for index, link in enumerate(links):
        if link.callee not in roles:
            raise KeyPathError(("links", index, "callee"), f"names no component; components: {', '.join(roles)}")
        if link.caller not in callers:
            raise KeyPathError(("links", index, "caller"), f"names no caller; callers: {', '.join(callers)}")
        if link.caller == link.callee:
            raise KeyPathError(("links", index), f"a link joins two roles, not {link.caller!r} to itself")
        if link in links[:index]:
            raise KeyPathError(("links", index), f"link {link.describe()} is declared twice")


class DeploymentSpec(StrictModel):
    """A graph the suite launches (`kind: launch`)."""

    kind: Literal["launch"] = "launch"
    name: PlainName
    description: str = ""
    model: str
    endpoint: UrlTemplate = Field(description="base URL clients use (template)")
    metrics: MetricsSpec | None = None
    request: RequestSpec = RequestSpec()
    env: dict[EnvName, Template] = Field(default_factory=dict, description="environment of every component")
    ports: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        default_factory=list, description="names of extra ports, one each for the whole deployment: {ports[NAME]}"
    )
    port_range: tuple[int, int] | None = Field(
        None,
        description="[low, high]: take every port from this range instead of the default, a free port from 10000 "
        "to just below the kernel's ephemeral range (where no outgoing connection can take it first)",
    )
    components: Annotated[list[Component], Field(min_length=1)]
    links: list[Link] = Field(
        default_factory=list,
        description="connections to put behind the fault proxy, for network faults: the caller's {urls[CALLEE]} "
        "(the endpoint's, for caller `client`) then leads to the proxy",
    )
    matrix: bool = Field(
        True,
        description="whether the fault-tolerance matrix (tests/fault_tolerance) runs this deployment's failures: "
        "false for one sized for a benchmark, too heavy for every CI run",
    )

    @field_validator("port_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1024 <= value[0] <= value[1] <= 65535:
            raise ValueError(f"expected [low, high] with 1024 <= low <= high <= 65535, got {list(value)}")
        return value

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
        _check_links(self.links, names, [LINK_CLIENT, *names])
        self._check_links_carry_traffic()
        return self

    def _check_links_carry_traffic(self) -> None:
        """A link whose caller never uses `{urls[CALLEE]}` would carry nothing: every fault
        put on it would silently do nothing."""
        shared, per_replica = self._templates()
        for index, link in enumerate(self.links):
            if link.caller == LINK_CLIENT:
                texts = [shared[("endpoint",)]]
            else:
                position = self.roles.index(link.caller)
                texts = [text for path, text in per_replica.items() if path[0] == "env" or path[:2] == ("components", position)]
            if not any(f"urls[{link.callee}]" in template_fields(text) for text in texts):
                where = "the endpoint" if link.caller == LINK_CLIENT else f"component {link.caller!r}"
                raise KeyPathError(("links", index), f"{where} never uses {{urls[{link.callee}]}}: the link would carry nothing")

    def links_from(self, caller: str) -> list[Link]:
        return [link for link in self.links if link.caller == caller]

    def _templates(self) -> tuple[dict[tuple, str], dict[tuple, str]]:
        """(templates shared by the deployment, templates filled per replica), by key path."""
        shared = {("endpoint",): self.endpoint}
        if self.metrics is not None:
            shared[("metrics", "url")] = self.metrics.url
        per_replica = {("env", key): value for key, value in self.env.items()}
        for index, component in enumerate(self.components):
            for position, part in enumerate(component.command):
                per_replica[("components", index, "command", position)] = part
            for key, value in component.env.items():
                per_replica[("components", index, "env", key)] = value
            if isinstance(component.ready, HttpProbe):
                per_replica[("components", index, "ready", "http")] = component.ready.http
            if component.metrics is not None:
                per_replica[("components", index, "metrics", "url")] = component.metrics.url
        return shared, per_replica

    def _check_template_references(self, roles: list[str]) -> None:
        """Every `{urls[ROLE]}` names a component and every `{ports[NAME]}` a declared port;
        shared URLs have no replica of their own."""
        shared, per_replica = self._templates()
        for path, text in {**shared, **per_replica}.items():
            for name in template_fields(text):
                if name.startswith("urls[") and name[5:-1] not in roles:
                    raise KeyPathError(path, f"{{{name}}} names no component; components: {', '.join(roles)}")
                if name.startswith("ports[") and name[6:-1] not in self.ports:
                    raise KeyPathError(path, f"{{{name}}} names no port; declared ports: {', '.join(self.ports) or 'none'}")
                if path in shared and name in ("port", "replica"):
                    raise KeyPathError(path, f"{{{name}}} has no value here: it belongs to one replica; use {{urls[ROLE]}}")

    @property
    def backends(self) -> set[str]:
        """Prepared environments its templates use, e.g. {"dynamo"}; empty for the embedded graph."""
        shared, per_replica = self._templates()
        used = {name.split("[")[0] for text in {**shared, **per_replica}.values() for name in template_fields(text)}
        return used & BACKEND_FIELDS

    def component(self, role: str) -> Component | None:
        return next((c for c in self.components if c.name == role), None)

    def children_of(self, role: str) -> dict[str, ChildRole]:
        """The named child roles inside `role`'s processes."""
        component = self.component(role)
        return component.children if component is not None else {}

    def replica_metrics(self, role: str) -> ReplicaMetrics | None:
        component = self.component(role)
        return component.metrics if component is not None else None

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


class ProcessSelector(StrictModel):
    """How to find an attached role's processes: a regex over each process's command line."""

    match: Regex = Field(description="regex searched in the space-joined command line")
    count: int | None = Field(None, ge=1, description="how many processes must match when attaching")
    children: dict[str, ChildRole] = Field(default_factory=dict, description="named subprocesses, among its descendants")


#: A fault agent's name (`--fault-agent`): a host name, or any name made of its characters.
AGENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class AttachSpec(StrictModel):
    """A deployment someone else runs (`kind: attach`): the suite launches nothing, tears
    nothing down, and signals only single processes its selectors match (never a group)."""

    kind: Literal["attach"]
    name: PlainName
    description: str = ""
    model: str
    endpoint: Url = Field(description="base URL clients use, e.g. http://127.0.0.1:8000")
    metrics: MetricsSpec | None = None
    request: RequestSpec = RequestSpec()
    select_from: Literal["host"] = Field(
        description="where selectors look: `host`, every process on this host run by this user; "
        "required, because these processes are not the suite's children"
    )
    processes: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], ProcessSelector] = Field(min_length=1)
    links: list[Link] = Field(
        default_factory=list,
        description="at most the clients' own link to the endpoint (caller `client`, callee the role serving it), "
        "put behind the fault proxy for network faults",
    )
    hosts: dict[Annotated[str, Field(pattern=AGENT_NAME)], list[str]] = Field(
        default_factory=dict,
        description="fault agents and the roles each owns, e.g. {gpu-node-1: [decode_worker]}: a Locust worker started "
        "with --fault-agent NAME matches those roles' selectors on its own host and applies their faults; this host "
        "matches the other roles",
    )

    @model_validator(mode="after")
    def _client_link_only(self) -> "AttachSpec":
        _check_links(self.links, self.roles, [LINK_CLIENT])
        if len(self.links) > 1:
            raise KeyPathError(("links", 1), "an attached deployment has one endpoint: at most one link, from client")
        if self.links and self.endpoint.startswith("https://"):
            raise KeyPathError(("links", 0), "an https endpoint cannot be proxied: its certificate names its own host, not the proxy's")
        return self

    @model_validator(mode="after")
    def _each_role_one_agent(self) -> "AttachSpec":
        owner: dict[str, str] = {}
        for agent, roles in self.hosts.items():
            for index, role in enumerate(roles):
                if role not in self.processes:
                    raise KeyPathError(("hosts", agent, index), f"names no role of processes; roles: {', '.join(self.roles)}")
                if role in owner:
                    raise KeyPathError(("hosts", agent, index), f"role {role!r} is already {owner[role]}'s: one agent owns a role")
                owner[role] = agent
        return self

    @property
    def roles(self) -> list[str]:
        return list(self.processes)

    def agent_of(self, role: str) -> str | None:
        """The fault agent that owns `role`, None when this host does."""
        return next((agent for agent, roles in self.hosts.items() if role in roles), None)

    def here(self) -> "AttachSpec":
        """The file as this host sees it: the roles no agent owns."""
        return self.model_copy(update={"processes": {r: s for r, s in self.processes.items() if self.agent_of(r) is None}})

    def owned_by(self, agent: str) -> "AttachSpec":
        """The file as `agent` sees it on its host: its own roles, no link and no agents."""
        owned = self.hosts.get(agent, [])
        return self.model_copy(update={"processes": {r: s for r, s in self.processes.items() if r in owned}, "links": [], "hosts": {}})

    def children_of(self, role: str) -> dict[str, ChildRole]:
        selector = self.processes.get(role)
        return selector.children if selector is not None else {}

    def replica_metrics(self, role: str) -> ReplicaMetrics | None:
        """None: an attached process's own metrics are not declared."""
        return None

    @property
    def backends(self) -> set[str]:
        return set()


AnySpec = DeploymentSpec | AttachSpec


def available_deployments() -> list[str]:
    """Names of the deployments shipped in `deployments/`."""
    return sorted(p.stem for p in DEPLOYMENTS_DIR.glob("*.yaml"))


def embedded_deployments() -> list[str]:
    """Shipped deployments that run on the embedded simulated graph alone: nothing to install."""
    return [name for name in available_deployments() if isinstance(spec := load_deployment(name), DeploymentSpec) and not spec.backends]


def _merged(base: object, override: object) -> object:
    """Mappings merge key by key, recursively; anything else in `override` replaces `base`."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: _merged(base.get(key), value) for key, value in override.items()}}
    return override


def _with_base(path: Path, data: object, seen: tuple[Path, ...] = ()) -> object:
    """`extends: NAME` (a shipped deployment, or a path relative to this file): the base
    document with this one merged over it."""
    if not isinstance(data, dict) or "extends" not in data:
        return data
    base_name = data.pop("extends")
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: extends: expected a deployment name or path, got {base_name!r}")
    base_path = path.parent / base_name if base_name.endswith((".yaml", ".yml")) else DEPLOYMENTS_DIR / f"{base_name}.yaml"
    if not base_path.exists():
        known = available_deployments()
        raise ConfigError(f"{path}: extends: unknown deployment {base_name!r}{did_you_mean(base_name, known)}; available: {', '.join(known)}")
    if base_path.resolve() in seen:
        raise ConfigError(f"{path}: extends: {base_name!r} extends itself, through {' -> '.join(p.name for p in seen)}")
    base = _with_base(base_path, read_yaml(base_path), (*seen, path.resolve()))
    return _merged(base, data)


def load_deployment(name_or_path: str) -> AnySpec:
    """A shipped deployment by name, or any deployment file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = DEPLOYMENTS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = available_deployments()
            raise ConfigError(f"--deployment: unknown deployment {name_or_path!r}{did_you_mean(name_or_path, known)}; available: {', '.join(known)}")
    data = _with_base(path, read_yaml(path))
    kind = data.get("kind", "launch") if isinstance(data, dict) else "launch"
    if kind not in ("launch", "attach"):
        raise ConfigError(f"{path}: kind: unknown kind {kind!r}; known: launch, attach")
    return validate(path, data, AttachSpec if kind == "attach" else DeploymentSpec)
