"""Load a YAML file into a typed model, turning every problem into one ConfigError line.

The line names the file, the key path and what was expected, e.g.
`deployments/x.yaml: components.0.replicas: input should be greater than or equal to 1`.

A file is bounded before it is believed: at most `MAX_FILE_BYTES`, UTF-8 text, and aliases
that expand to at most `MAX_EXPANDED_NODES` nodes (a "billion laughs" file is refused, not
expanded). Numbers in any model are finite: `.inf` and `.nan` are errors.
"""

from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faultsuite.errors import ConfigError
from faultsuite.textfile import read_bounded_text

__all__ = [
    "MAX_EXPANDED_NODES",
    "MAX_FILE_BYTES",
    "KeyPathError",
    "PlainName",
    "StrictModel",
    "describe_error",
    "load_yaml",
    "read_yaml",
    "validate",
    "validation_message",
]

Model = TypeVar("Model", bound=BaseModel)

#: The largest declarative file read; anything larger is refused unread.
MAX_FILE_BYTES = 1024 * 1024
#: How many nodes a document may hold once its aliases are expanded.
MAX_EXPANDED_NODES = 100_000


#: A name that becomes one segment of a results path (a deployment's, a failure's): letters,
#: digits, '.', '_', '-', never a path of its own.
PlainName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="letters, digits, '.', '_', '-'")]


class StrictModel(BaseModel):
    """Base of every declarative model: unknown keys are errors, instances are immutable,
    numbers are finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


def _expanded_nodes(root: yaml.Node) -> int:
    """How many nodes `root` holds with every alias expanded, counted without expanding:
    each distinct node once, weighted by how often it is reached. Raises ValueError for a
    document that reaches itself."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            in_progress.discard(key)
            sizes[key] = min(MAX_EXPANDED_NODES + 1, 1 + sum(sizes[id(child)] for child in children))
            continue
        if key in in_progress:
            raise ValueError("an alias refers to a node that contains it")
        in_progress.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _parse(text: str) -> object:
    """The YAML document of `text`, refusing alias expansion past MAX_EXPANDED_NODES."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node) > MAX_EXPANDED_NODES:
            raise ValueError(f"aliases expand to more than {MAX_EXPANDED_NODES:,} nodes")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> object:
    """Parsed YAML of `path`; a missing, oversized, non-UTF-8 or malformed file is a ConfigError."""
    text = read_bounded_text(path, MAX_FILE_BYTES)
    try:
        return _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a declarative file") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: refused: {exc}") from None


def load_yaml(path: Path, model: type[Model], context: dict | None = None) -> Model:
    """Validate the YAML document at `path` as `model`."""
    return validate(path, read_yaml(path), model, context)


def validate(path: Path, data: object, model: type[Model], context: dict | None = None) -> Model:
    """Validate `data`, read from `path`, as `model`; problems name `path`."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a declarative file") from None
