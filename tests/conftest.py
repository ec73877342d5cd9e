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
"""

import os

import pytest

from tests import (
    gevent_patch,  # noqa: F401  (patch_all, before everything else)
    loopback_guard,  # imported after patch_all, like everything else
)
from deployments.dynamo import DynamoEnvironment, dynamo_environment

REQUIRE_DYNAMO = os.environ.get("FAULTSUITE_REQUIRE_DYNAMO") == "1"


def pytest_configure(config):
    """Nothing may listen on a non-loopback address during the tests (tests/loopback_guard.py)."""
    if loopback_guard.enabled() and not config.pluginmanager.has_plugin("loopback-guard"):
        config.pluginmanager.register(loopback_guard.SessionGuard(), "loopback-guard")


@pytest.fixture(scope="session")
def dynamo() -> DynamoEnvironment:
    """The installed Dynamo environment, its model files built; skips (or fails, under
    FAULTSUITE_REQUIRE_DYNAMO=1) where it is not installed."""
    environment = dynamo_environment()
    if not environment.installed():
        reason = f"the Dynamo backend is not installed in {environment.root}: run `python -m deployments.dynamo install`"
        if REQUIRE_DYNAMO:
            pytest.fail("FAULTSUITE_REQUIRE_DYNAMO=1 but " + reason, pytrace=False)
        pytest.skip(reason)
    environment.model_dir()
    return environment
