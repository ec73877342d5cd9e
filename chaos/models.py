"""Typed model of the failure catalogue (`chaos/failures.yaml`)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from faultsuite.errors import ConfigError
from faultsuite.yamlfile import KeyPathError, StrictModel, load_yaml

__all__ = ["CATALOGUE_PATH", "Catalogue", "Failure", "Injection", "Target", "load_catalogue"]

CATALOGUE_PATH = Path(__file__).resolve().parent / "failures.yaml"


class Target(StrictModel):
    """A component role, or a named child process role inside it."""

    role: str
    child: str | None = None

    def describe(self) -> str:
        return self.role if self.child is None else f"{self.child} child of {self.role}"


class Injection(StrictModel):
    at_s: float = Field(ge=0, description="seconds after the clients start")
    target: Target
    count: int = Field(1, ge=1, description="how many processes to signal")
    signal: Literal["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT"] = "SIGKILL"
    select: Literal["random", "oldest", "newest"] = "random"
    seed: int = Field(0, description="seed of `random` selection, for repeatable runs")


class Failure(StrictModel):
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    injections: list[Injection] = Field(default_factory=list)

    def shifted_to(self, first_at_s: float) -> "Failure":
        """The same failure with its first injection at `first_at_s` and the rest moved alike."""
        if not self.injections:
            return self
        delta = first_at_s - min(i.at_s for i in self.injections)
        moved = [i.model_copy(update={"at_s": i.at_s + delta}) for i in self.injections]
        return self.model_copy(update={"injections": moved})


    def with_count(self, count: int) -> "Failure":
        """The same failure with every injection hitting `count` processes."""
        return self.model_copy(update={"injections": [i.model_copy(update={"count": count}) for i in self.injections]})


class Catalogue(StrictModel):
    failures: dict[str, Failure]

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
        raise ConfigError(f"--failure: unknown failure {name!r}; available: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return list(self.failures) + [a for f in self.failures.values() for a in f.aliases]


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    return load_yaml(path, Catalogue)
