"""Deployment files written by tests, and the one-line message a bad one is rejected with."""

from pathlib import Path

import pytest
import yaml

from deployments.models import load_deployment
from faultsuite.errors import ConfigError

__all__ = ["rejection", "write_yaml"]


def write_yaml(directory: Path, data: dict, name: str) -> Path:
    """`data` as the YAML file `directory/name`, keys in the order given."""
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def rejection(path: Path) -> str:
    """The message loading the file at `path` is rejected with; it must be one line."""
    with pytest.raises(ConfigError) as caught:
        load_deployment(str(path))
    message = str(caught.value)
    assert "\n" not in message
    return message
