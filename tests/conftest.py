"""Shared test setup.

gevent monkey-patches the standard library the moment Locust is imported. Doing it first makes
every test see the same patched world whatever order modules are imported in: pyproject.toml
loads tests/gevent_patch.py as a plugin (`-p`) before any other, and importing it here patches
too when `addopts` is overridden.

Tests against real NVIDIA Dynamo (frontend + mocker engines, on CPU: `tests/dynamo`, and the
Dynamo findings) take the `dynamo` fixture. They need the Dynamo backend (`python -m
deployments.dynamo install`). Where it is missing they skip, with that command as the reason;
under FAULTSUITE_REQUIRE_DYNAMO=1 (set by `.ci/run`, which installs it) they fail instead, so
CI can never pass them by skipping.

Tests against real vLLM on CPU (the vLLM findings) take the `vllm` fixture, and skip or fail
the same way: `python -m deployments.vllm install`, FAULTSUITE_REQUIRE_VLLM=1.
"""

import os

import pytest

from tests import (
    gevent_patch,  # noqa: F401  (patch_all, before everything else)
    loopback_guard,  # imported after patch_all, like everything else
)
from deployments.backend import BackendEnvironment
from deployments.dynamo import DynamoEnvironment, dynamo_environment
from deployments.vllm import VllmEnvironment, vllm_environment

REQUIRE_DYNAMO = os.environ.get("FAULTSUITE_REQUIRE_DYNAMO") == "1"
REQUIRE_VLLM = os.environ.get("FAULTSUITE_REQUIRE_VLLM") == "1"


def pytest_configure(config):
    """Nothing may listen on a non-loopback address during the tests (tests/loopback_guard.py)."""
    if loopback_guard.enabled() and not config.pluginmanager.has_plugin("loopback-guard"):
        config.pluginmanager.register(loopback_guard.SessionGuard(), "loopback-guard")


def installed_backend(environment: BackendEnvironment, required_by: str | None) -> BackendEnvironment:
    """`environment`, its model files built; a skip with the install hint where it is not
    installed, or a failure when `required_by` (the variable that asks for it) is set."""
    if not environment.installed():
        reason = f"the {environment.LABEL} backend is not installed in {environment.root}: {environment.INSTALL_HINT}"
        if required_by is not None:
            pytest.fail(f"{required_by}=1 but " + reason, pytrace=False)
        pytest.skip(reason)
    environment.model_dir()
    return environment


@pytest.fixture(scope="session")
def dynamo() -> DynamoEnvironment:
    """The installed Dynamo environment, its model files built; skips (or fails, under
    FAULTSUITE_REQUIRE_DYNAMO=1) where it is not installed."""
    return installed_backend(dynamo_environment(), "FAULTSUITE_REQUIRE_DYNAMO" if REQUIRE_DYNAMO else None)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def vllm() -> VllmEnvironment:
    """The installed vLLM environment, its tiny model built; skips (or fails, under
    FAULTSUITE_REQUIRE_VLLM=1) where it is not installed."""
    return installed_backend(vllm_environment(), "FAULTSUITE_REQUIRE_VLLM" if REQUIRE_VLLM else None)  # type: ignore[return-value]
