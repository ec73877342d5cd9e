"""Typed model of the failure catalogue (`chaos/failures.yaml`).

Each injection names its `kind` (default `signal`); the kinds live in `chaos/kinds.py`,
one small class each, registered with `register_kind`.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, SerializeAsAny, ValidationError, field_validator, model_validator

from chaos.context import FaultContext
from deployments.interface import FaultTarget
from faultsuite.errors import ConfigError
from faultsuite.suggest import did_you_mean
from faultsuite.yamlfile import KeyPathError, PlainName, StrictModel, describe_error, load_yaml

__all__ = [
    "CATALOGUE_PATH",
    "INJECTION_KINDS",
    "Catalogue",
    "Failure",
    "Injection",
    "Repeat",
    "Select",
    "Target",
    "load_catalogue",
    "register_kind",
]

CATALOGUE_PATH = Path(__file__).resolve().parent / "failures.yaml"
#: How an injection picks its targets among the candidates (`chaos.targets`).
Select = Literal["random", "oldest", "newest", "busiest", "holding_oldest_request"]
#: Most injections one `repeat` may make: a storm, not a schedule that cannot fit in memory.
MAX_REPEATS = 10_000


class Target(StrictModel):
    """A component role, or a named child process role inside it."""

    role: str
    child: str | None = None
    leader_only: bool = Field(
        default=False,
        description="signal only the replica's own process, not its process group: its children live on as orphans",
    )

    @model_validator(mode="after")
    def _leader_only_needs_no_child(self) -> "Target":
        if self.leader_only and self.child is not None:
            raise ValueError("leader_only applies to a component's own process; it cannot be combined with child")
        return self

    def describe(self) -> str:
        if self.child is not None:
            return f"{self.child} child of {self.role}"
        return f"{self.role} (its own process only)" if self.leader_only else self.role


class Repeat(StrictModel):
    """Inject again every `every_s` seconds, `times` times in all: a restart storm."""

    every_s: float = Field(gt=0, le=86_400)
    times: int = Field(ge=1, le=MAX_REPEATS)


class Injection(StrictModel):
    """What every kind of fault shares: when, at what, how many, and how they are picked.

    A kind is a subclass with `kind: Literal["name"]`, its own fields, and `apply`, which
    does the damage to the resolved targets. `register_kind` makes the catalogue accept it.
    """

    kind: str
    at_s: float = Field(ge=0, le=604_800, description="seconds after the clients start")
    target: Target
    count: int = Field(1, ge=1, le=10_000, description="how many processes to affect")
    select: Select = Field(
        "random", description="random (seeded), oldest or newest process, or by state: busiest, holding_oldest_request"
    )
    seed: int = Field(0, description="seed of `random` selection, for repeatable runs")
    repeat: Repeat | None = None

    def schedule(self) -> list[float]:
        """Every `at_s` this injection fires at: once, or `repeat.times` times."""
        if self.repeat is None:
            return [self.at_s]
        return [self.at_s + k * self.repeat.every_s for k in range(self.repeat.times)]

    @property
    def signal_name(self) -> str:
        """The signal this kind sends first, for events and dry runs; "" for a kind that
        sends none."""
        return ""

    @property
    def count_is_a_ceiling(self) -> bool:
        """Whether `count` means "at most" (a rolling restart's default: all there are), not
        "this many": finding fewer is then no shortfall."""
        return False

    @property
    def action(self) -> str:
        """What it does, in a word, for dry runs and logs: its signal, else its kind."""
        return self.signal_name or self.kind

    @property
    def link_caller(self) -> str | None:
        """For a kind that acts on a link, not on processes: the link's caller, whose
        connections to `target.role` it faults. None for the others."""
        return None

    def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
        """Do the damage to `targets` through `context.deployment`, recording an event per
        process through `context`."""
        raise NotImplementedError


INJECTION_KINDS: dict[str, type[Injection]] = {}
DEFAULT_KIND = "signal"


def register_kind(cls: type[Injection]) -> type[Injection]:
    """Class decorator: accept `kind: <name>` in failure files, built by `cls`."""
    name = cls.model_fields["kind"].default
    if not isinstance(name, str) or name in INJECTION_KINDS:
        raise TypeError(f"{cls.__name__}: kind must default to a new name, got {name!r}")
    INJECTION_KINDS[name] = cls
    return cls


def parse_injection(data: object, index: int) -> Injection:
    """Validate one injection mapping as the class its `kind` names (default `signal`)."""
    if isinstance(data, Injection):
        return data
    if not isinstance(data, dict):
        raise KeyPathError((index,), "expected a mapping of injection fields")
    kind = data.get("kind", DEFAULT_KIND)
    cls = INJECTION_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise KeyPathError((index, "kind"), f"unknown kind {kind!r}; known: {', '.join(sorted(INJECTION_KINDS))}")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        location, message = describe_error(exc.errors()[0])
        raise KeyPathError((index, *location), message) from None


class Failure(StrictModel):
    description: str = ""
    aliases: list[PlainName] = Field(default_factory=list)
    injections: list[SerializeAsAny[Injection]] = Field(default_factory=list)

    @field_validator("injections", mode="before")
    @classmethod
    def _by_kind(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        return [parse_injection(item, index) for index, item in enumerate(value)]

    def shifted_to(self, first_at_s: float) -> "Failure":
        """The same failure with its first injection at `first_at_s` and the rest moved alike."""
        if not self.injections:
            return self
        delta = first_at_s - min(i.at_s for i in self.injections)
        moved = [i.model_copy(update={"at_s": i.at_s + delta}) for i in self.injections]
        return self.model_copy(update={"injections": moved})

    def reseeded(self, offset: int) -> "Failure":
        """The same failure with every injection's `seed` moved by `offset` (`--seed`)."""
        return self.model_copy(update={"injections": [i.model_copy(update={"seed": i.seed + offset}) for i in self.injections]})

    def with_count(self, count: int) -> "Failure":
        """The same failure with every injection hitting `count` processes."""
        return self.model_copy(update={"injections": [i.model_copy(update={"count": count}) for i in self.injections]})


class Catalogue(StrictModel):
    failures: dict[PlainName, Failure]

    @model_validator(mode="after")
    def _unique_names(self) -> "Catalogue":
        seen = set(self.failures)
        for name, failure in self.failures.items():
            for alias in failure.aliases:
                if alias in seen:
                    raise KeyPathError(("failures", name, "aliases"), f"failure name or alias {alias!r} is used twice")
                seen.add(alias)
        return self

    def resolve(self, name: str) -> tuple[str, Failure]:
        """(canonical name, failure) for a name or alias."""
        if name in self.failures:
            return name, self.failures[name]
        for canonical, failure in self.failures.items():
            if name in failure.aliases:
                return canonical, failure
        raise ConfigError(f"--failure: unknown failure {name!r}{did_you_mean(name, self.names())}; available: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return list(self.failures) + [a for f in self.failures.values() for a in f.aliases]


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    return load_yaml(path, Catalogue)
