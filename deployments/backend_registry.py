"""The backends that deployment files may use, by the name of their template field
(`{dynamo[KEY]}`, `{vllm[KEY]}`); each is prepared apart (`deployments.backend`)."""

from collections.abc import Callable, Iterable

from deployments.backend import BackendEnvironment
from deployments.dynamo import dynamo_environment
from deployments.vllm import vllm_environment

__all__ = ["BACKENDS", "require_backends"]

BACKENDS: dict[str, Callable[[], BackendEnvironment]] = {
    "dynamo": dynamo_environment,
    "vllm": vllm_environment,
}


def require_backends(names: Iterable[str]) -> None:
    """ConfigError, in one line with the install command, for the first one not installed."""
    for name in sorted(names):
        BACKENDS[name]().require()
