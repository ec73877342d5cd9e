"""Load a YAML file into a typed model, turning every problem into one ConfigError line.

The line names the file, the key path and what was expected, e.g.
`deployments/x.yaml: components.0.replicas: input should be greater than or equal to 1`.
"""

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from faultsuite.errors import ConfigError

__all__ = ["KeyPathError", "StrictModel", "describe_error", "load_yaml", "read_yaml", "validate", "validation_message"]

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every declarative model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyPathError(ValueError):
    """Raised by a validator about a key below the one it validates, e.g. a check of the
    whole component list that blames `components.1.depends_on`: `path` is appended to the
    validator's own location in the message."""

    def __init__(self, path: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.path = path


def describe_error(error: dict) -> tuple[tuple[str | int, ...], str]:
    """(key path, lower-case message) of one entry of `ValidationError.errors()`."""
    location = tuple(error["loc"])
    message = error["msg"]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError):
        message = str(cause)  # our own words, without pydantic's "Value error, " prefix
    if isinstance(cause, KeyPathError):
        location += cause.path
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return location, message[0].lower() + message[1:]


def validation_message(error: ValidationError) -> str:
    """The first problem of a ValidationError as `key.path: message`."""
    location, message = describe_error(error.errors()[0])
    path = ".".join(str(part) for part in location) or "(top level)"
    more = len(error.errors()) - 1
    return f"{path}: {message}" + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def read_yaml(path: Path) -> object:
    """Parsed YAML of `path`; a missing file or a syntax error is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None


def load_yaml(path: Path, model: type[Model], context: dict | None = None) -> Model:
    """Validate the YAML document at `path` as `model`."""
    return validate(path, read_yaml(path), model, context)


def validate(path: Path, data: object, model: type[Model], context: dict | None = None) -> Model:
    """Validate `data`, read from `path`, as `model`; problems name `path`."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
